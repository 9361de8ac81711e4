//! One middleware in front of every route: resolves the session or API key, issues the
//! CSRF cookie, refuses state-changing requests without the matching CSRF token, and sends
//! anonymous visitors to the login page.

use std::net::SocketAddr;

use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use super::{policy, RequestAuth, API_KEY_HEADER, CSRF_FIELD, CSRF_HEADER};
use crate::error::AppError;
use crate::server::infra::crypto::{random_token, same_secret, token_hash};
use crate::server::web::respond::Wants;
use crate::server::web::state::AppState;

/// Largest form body the CSRF check reads (forms here are small; WASM uploads don't exist).
const MAX_FORM_BYTES: usize = 1 << 20;

pub async fn authenticate(
    State(state): State<AppState>,
    jar: CookieJar,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_string();
    let wants = Wants::of(&path, request.headers());
    let client_ip =
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| {
                super::client::client_address(
                    addr.ip(),
                    request.headers(),
                    &state.web.trusted_proxies,
                )
                .to_string()
            });

    let (csrf_seed, new_csrf_cookie) = match jar.get(super::csrf_cookie_name(&state.web)) {
        Some(cookie) if cookie.value().len() >= 32 => (cookie.value().to_string(), None),
        _ => {
            let seed = random_token();
            (seed.clone(), Some(seed))
        }
    };
    let session_token = jar
        .get(super::session_cookie_name(&state.web))
        .map(|c| c.value().to_string());
    let session_hash = session_token.as_deref().map(token_hash);
    let user = match &session_hash {
        Some(hash) => match state.db.session_user(hash, state.web.session_ttl_ms).await {
            Ok(user) => user,
            Err(e) => return unavailable(wants, e),
        },
        None => None,
    };
    // Bound to the browser's cookie and to its session: a token seen before login (or by
    // someone who planted the cookie) is worthless after it.
    let session_binding = if user.is_some() {
        session_hash.as_deref().unwrap_or("")
    } else {
        ""
    };
    let csrf = state
        .secrets
        .mac("csrf", &format!("{csrf_seed}|{session_binding}"));
    let extended_session = user
        .as_ref()
        .is_some_and(|u| u.extended)
        .then_some(session_token)
        .flatten();
    let presented_key = request
        .headers()
        .get(API_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let api_key = match presented_key {
        Some(key) => match state.db.api_key_by_hash(&token_hash(key.trim())).await {
            Ok(found) => found,
            Err(e) => return unavailable(wants, e),
        },
        None => None,
    };
    let auth = RequestAuth {
        user,
        api_key,
        csrf: csrf.clone(),
        session_hash,
        client_ip,
    };

    // Cookies ride along on cross-site form posts; an API key header cannot. So requests
    // that carry only an API key need no CSRF token, and every other one does.
    let state_changing = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if state_changing && !(auth.api_key.is_some() && auth.user.is_none()) {
        let (ok, rebuilt) = csrf_token_matches(request, &csrf).await;
        request = match rebuilt {
            Some(request) if ok => request,
            _ => return refuse(wants, &path, AppError::Csrf),
        };
    }

    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let need = policy::need(request.method(), route.as_deref(), &path);
    if let Err(error) = policy::check(&auth, need) {
        return refuse(wants, &path, error);
    }
    if auth.user.as_ref().is_some_and(|u| u.must_change_password)
        && !policy::serves_one_time_password(route.as_deref(), need)
    {
        if wants == Wants::Page {
            return Redirect::to(policy::PASSWORD_PAGE).into_response();
        }
        return refuse(
            wants,
            &path,
            AppError::Forbidden(format!(
                "Your password is a one-time password: change it at {} first.",
                policy::PASSWORD_PAGE
            )),
        );
    }

    request.extensions_mut().insert(auth);
    let mut response = next.run(request).await;
    if let Some(token) = extended_session {
        response.headers_mut().append(
            header::SET_COOKIE,
            super::session_cookie(Some(&token), &state.web),
        );
    }
    if let Some(seed) = new_csrf_cookie {
        let cookie = Cookie::build((super::csrf_cookie_name(&state.web), seed))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(state.web.cookie_secure)
            .build();
        if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Looks for the token in the `X-CSRF-Token` header, else in the `csrf` field of a
/// url-encoded body. Returns the request rebuilt around the body it had to read.
async fn csrf_token_matches(request: Request, expected: &str) -> (bool, Option<Request>) {
    if let Some(token) = request
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        return (same_secret(token, expected), Some(request));
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return (false, Some(request));
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
        return (false, None);
    };
    let found = url::form_urlencoded::parse(&bytes)
        .any(|(key, value)| key == CSRF_FIELD && same_secret(&value, expected));
    (found, Some(Request::from_parts(parts, Body::from(bytes))))
}

/// An anonymous browser asking for a page goes to the login page (and comes back after);
/// everything else is refused in the form it asked for.
fn refuse(wants: Wants, path: &str, error: AppError) -> Response {
    if error == AppError::Unauthorized && wants == Wants::Page {
        let target = format!(
            "/login?next={}",
            url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>()
        );
        return Redirect::to(&target).into_response();
    }
    error.render(wants)
}

fn unavailable(wants: Wants, error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "database unavailable while authenticating");
    AppError::Internal("Proxbox cannot reach its database; the server log has the details.".into())
        .render(wants)
}
