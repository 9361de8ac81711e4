//! Who is asking: sessions for people, API keys for machines, CSRF tokens for forms.

pub mod client;
pub mod middleware;
pub mod policy;

use crate::error::AppError;
use crate::server::infra::crypto::{random_token, token_hash};
use crate::server::infra::db::api_keys::ApiKeyInfo;
use crate::server::infra::db::sessions::SessionUser;
use crate::server::services::credentials;
use crate::server::web::state::{AppState, WebSettings};

pub const SESSION_COOKIE: &str = "proxbox_session";
pub const CSRF_COOKIE: &str = "proxbox_csrf";

/// The session cookie's name: with `__Host-` when cookies are `Secure`, so that the
/// browser takes it only from this host over HTTPS, with `Path=/` and no `Domain` (a
/// sibling subdomain cannot plant or overwrite it).
pub fn session_cookie_name(web: &WebSettings) -> &'static str {
    if web.cookie_secure {
        "__Host-proxbox_session"
    } else {
        SESSION_COOKIE
    }
}

/// The CSRF cookie's name, prefixed like [`session_cookie_name`].
pub fn csrf_cookie_name(web: &WebSettings) -> &'static str {
    if web.cookie_secure {
        "__Host-proxbox_csrf"
    } else {
        CSRF_COOKIE
    }
}
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const CSRF_FIELD: &str = "csrf";
pub const API_KEY_HEADER: &str = "x-proxbox-api-key";

/// The identity of one request, put into the request's extensions by the middleware.
#[derive(Debug, Clone)]
pub struct RequestAuth {
    pub user: Option<SessionUser>,
    pub api_key: Option<ApiKeyInfo>,
    /// The CSRF token this client must echo on state-changing requests.
    pub csrf: String,
    /// Hash of the session cookie, when one was presented (valid or not).
    pub session_hash: Option<String>,
    pub client_ip: Option<String>,
}

/// The caller of a request as the auth middleware resolved it: an extractor, so handlers
/// take it as an argument. `None` only on public paths.
#[derive(Debug, Clone)]
pub struct Caller(pub Option<RequestAuth>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Caller, Self::Rejection> {
        Ok(Caller(parts.extensions.get::<RequestAuth>().cloned()))
    }
}

/// Who is asking, by name, for what a handler records (a job's `requested_by`, a
/// setting's or schedule's change): an extractor; `anonymous` on public paths.
#[derive(Debug, Clone)]
pub struct Requester(pub String);

impl Requester {
    pub fn of(auth: Option<&RequestAuth>) -> Requester {
        Requester(
            auth.and_then(RequestAuth::name)
                .unwrap_or_else(|| "anonymous".into()),
        )
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Requester {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Requester, Self::Rejection> {
        Ok(Requester::of(parts.extensions.get::<RequestAuth>()))
    }
}

impl RequestAuth {
    pub fn is_authenticated(&self) -> bool {
        self.user.is_some() || self.api_key.is_some()
    }

    /// Who is asking, as logs and job records name them: the user name, or
    /// `api-key:<name>`; `None` when neither is signed in.
    pub fn name(&self) -> Option<String> {
        match (&self.user, &self.api_key) {
            (Some(user), _) => Some(user.username.clone()),
            (None, Some(key)) => Some(format!("api-key:{}", key.name)),
            (None, None) => None,
        }
    }
}

/// Checks a login, with the limits of [`checked_password`]. Returns the new session's
/// cookie token.
pub async fn login(
    state: &AppState,
    username: &str,
    password: &str,
    client_ip: Option<&str>,
) -> Result<String, AppError> {
    let user =
        credentials::checked_password(&state.db, username, password, client_ip, "login").await?;
    let token = random_token();
    state
        .db
        .create_session(&token_hash(&token), user.id, state.web.session_ttl_ms)
        .await?;
    tracing::info!(user = %user.username, "login");
    Ok(token)
}

/// The caller's rights as they stand now, for a connection that outlives its request (a
/// socket, a live stream): its session or key read again, then `permission` checked.
/// Refused when the session ended (logged out, user removed, expired), the key was revoked,
/// or the role or scopes no longer allow it.
pub async fn recheck(
    state: &AppState,
    auth: &RequestAuth,
    permission: crate::models::Permission,
) -> Result<RequestAuth, AppError> {
    let mut now = auth.clone();
    if auth.user.is_some() {
        let hash = auth.session_hash.as_deref().unwrap_or_default();
        now.user = state
            .db
            .session_user(hash, state.web.session_ttl_ms)
            .await?;
        if now.user.is_none() {
            return Err(AppError::Unauthorized);
        }
    }
    if let Some(key) = &auth.api_key {
        now.api_key = state.db.api_key_by_id(key.id).await?;
        if now.api_key.is_none() {
            return Err(AppError::Unauthorized);
        }
    }
    policy::check(&now, Some(policy::Need::Permission(permission)))?;
    Ok(now)
}

/// The `Set-Cookie` header of the session cookie (`HttpOnly`, `SameSite=Lax`, `Secure` when
/// configured); without a token it expires the cookie.
pub fn session_cookie(token: Option<&str>, web: &WebSettings) -> http::HeaderValue {
    let max_age = if token.is_some() {
        web.session_ttl_ms / 1000
    } else {
        0
    };
    let secure = if web.cookie_secure { "; Secure" } else { "" };
    let cookie = format!(
        "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        session_cookie_name(web),
        token.unwrap_or("")
    );
    http::HeaderValue::from_str(&cookie).expect("session tokens are URL-safe base64")
}

/// A GET that starts a job, and the WebSocket, must not be something another site can
/// make a logged-in browser do: with a session cookie, only this site's own pages (or an
/// address typed in the browser) may call them. `Sec-Fetch-Site` says where a request
/// comes from; a browser that does not send it still sends `Origin` (always on a
/// WebSocket) or `Referer`, which must name this host; a cookie request with none of the
/// three is refused. API-key clients send no cookies and are not at risk.
pub fn cross_site_refusal(
    headers: &http::HeaderMap,
    auth: Option<&RequestAuth>,
) -> Option<AppError> {
    let with_key_only = auth.is_some_and(|a| a.api_key.is_some() && a.user.is_none());
    if with_key_only {
        return None;
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let same_site = match header("sec-fetch-site") {
        Some(site) => matches!(site, "same-origin" | "none"),
        None => {
            let host = header("host").unwrap_or_default();
            let names_host = |url: &str| {
                url::Url::parse(url).ok().is_some_and(|url| {
                    let authority = match (url.host_str(), url.port()) {
                        (Some(h), Some(p)) => format!("{h}:{p}"),
                        (Some(h), None) => h.to_string(),
                        _ => return false,
                    };
                    !host.is_empty() && authority.eq_ignore_ascii_case(host)
                })
            };
            match (header("origin"), header("referer")) {
                (Some(origin), _) => names_host(origin),
                (None, Some(referer)) => names_host(referer),
                (None, None) => false,
            }
        }
    };
    (!same_site).then_some(AppError::Csrf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_cookies_are_bound_to_this_host() {
        let mut web = WebSettings {
            cookie_secure: true,
            session_ttl_ms: 3_600_000,
            health_refresh_secs: 30,
            trusted_proxies: Default::default(),
        };
        let cookie = session_cookie(Some("token"), &web);
        let cookie = cookie.to_str().unwrap();
        assert!(
            cookie.starts_with("__Host-proxbox_session=token; Path=/;"),
            "{cookie}"
        );
        assert!(
            cookie.ends_with("; Secure") && !cookie.contains("Domain"),
            "{cookie}"
        );
        assert_eq!(csrf_cookie_name(&web), "__Host-proxbox_csrf");
        web.cookie_secure = false;
        let plain = session_cookie(Some("token"), &web);
        assert!(plain
            .to_str()
            .unwrap()
            .starts_with("proxbox_session=token;"));
        assert_eq!(csrf_cookie_name(&web), "proxbox_csrf");
    }
}
