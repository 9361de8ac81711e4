//! Who is asking: sessions for people, API keys for machines, CSRF tokens for forms.

pub mod client;
pub mod middleware;
pub mod policy;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use std::time::Duration;

use argon2::Argon2;

use super::crypto::{random_token, token_hash};
use super::db::api_keys::ApiKeyInfo;
use super::db::sessions::SessionUser;
use super::db::throttle::FREE_FAILURES;
use super::db::users::User;
use super::db::Db;
use super::state::{AppState, WebSettings};
use crate::error::AppError;
use crate::models::Scope;

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
pub const API_KEY_PREFIX: &str = "pbx_";

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

impl RequestAuth {
    pub fn is_authenticated(&self) -> bool {
        self.user.is_some() || self.api_key.is_some()
    }
}

/// Argon2 hashes in progress at once, every caller together (each takes ~19 MiB and a
/// core): 500 parallel password checks wait their turn instead of taking 10 GB.
static ARGON2_TURNS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

pub async fn hash_password(password: String) -> Result<String, AppError> {
    let _turn = ARGON2_TURNS.acquire().await.map_err(internal)?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(|e| AppError::Internal(format!("password hashing failed: {e}")))?
    .map_err(|e| AppError::Internal(format!("password hashing failed: {e}")))
}

pub async fn verify_password(hash: String, password: String) -> bool {
    let Ok(_turn) = ARGON2_TURNS.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// Password checks past the lock check at once: parallel guesses cannot all slip past it
/// before the first failure is counted.
static LOGIN_TURNS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// A hash to verify against when the user does not exist, so that timing does not tell.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Vy6Yg4tCMJE3BH0RTJBmvfmXPb0GpLrkt2UXFG1pSXY";

/// Failures one client may make across all names before it is locked out.
const FREE_CLIENT_FAILURES: i64 = 30;
/// The longest a check for a much-guessed name waits before it is made.
const MAX_SLOWDOWN_MS: i64 = 3_000;

/// Checks a login, with the limits of [`checked_password`]. Returns the new session's
/// cookie token.
pub async fn login(
    state: &AppState,
    username: &str,
    password: &str,
    client_ip: Option<&str>,
) -> Result<String, AppError> {
    let user = checked_password(&state.db, username, password, client_ip, "login").await?;
    let token = random_token();
    state
        .db
        .create_session(&token_hash(&token), user.id, state.web.session_ttl_ms)
        .await
        .map_err(internal)?;
    tracing::info!(user = %user.username, "login");
    Ok(token)
}

/// The user whose password `password` is (for `purpose`: `login`, `password change`, as
/// the log names a failure), checked with throttling per name and client,
/// per client, and (slowing down, never refusing) per name — for a login and for the
/// current password a password change asks for alike, so that a stolen session cookie
/// guesses no faster than a stranger at the login form.
pub async fn checked_password(
    db: &Db,
    username: &str,
    password: &str,
    client_ip: Option<&str>,
    purpose: &'static str,
) -> Result<User, AppError> {
    // One spelling of the name for the lookup and the throttle, so " admin" is no new subject.
    let username = username.trim();
    let name = username.to_lowercase();
    let client = client_ip.unwrap_or("-");
    // Locked out: this name from this client (one client guessing one password), and this
    // client altogether (guessing many names; looser). The name alone is only slowed down,
    // so that guesses from elsewhere cannot lock its owner out.
    let locking = [
        (format!("pair:{name}@{client}"), FREE_FAILURES),
        (format!("client:{client}"), FREE_CLIENT_FAILURES),
    ];
    let user_subject = format!("user:{name}");
    let refuse_if_locked = || async {
        let mut locked_ms = 0;
        for (subject, _) in &locking {
            locked_ms = locked_ms.max(db.login_locked_for(subject).await.map_err(internal)?);
        }
        match locked_ms {
            0 => Ok(()),
            ms => Err(AppError::Throttled((ms as u64).div_ceil(1000))),
        }
    };
    refuse_if_locked().await?;
    let slow_ms = db.login_locked_for(&user_subject).await.map_err(internal)?;
    if slow_ms > 0 {
        tokio::time::sleep(Duration::from_millis(slow_ms.min(MAX_SLOWDOWN_MS) as u64)).await;
    }
    let _turn = LOGIN_TURNS.acquire().await.map_err(internal)?;
    refuse_if_locked().await?;
    let user = db.user_by_name(username).await.map_err(internal)?;
    let hash = user
        .as_ref()
        .map_or(DUMMY_HASH.to_string(), |u| u.password_hash.clone());
    let valid = verify_password(hash, password.to_string()).await;
    match user {
        Some(user) if valid => {
            for subject in [&locking[0].0, &user_subject] {
                db.clear_login_failures(subject).await.map_err(internal)?;
            }
            Ok(user)
        }
        _ => {
            for (subject, free) in &locking {
                db.record_login_failure(subject, *free)
                    .await
                    .map_err(internal)?;
            }
            db.record_login_failure(&user_subject, FREE_FAILURES)
                .await
                .map_err(internal)?;
            // "failed login" / "failed password change": what fail2ban-style filters match.
            tracing::warn!(user = ?username, client, "failed {purpose}");
            Err(AppError::BadCredentials)
        }
    }
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
            .await
            .map_err(internal)?;
        if now.user.is_none() {
            return Err(AppError::Unauthorized);
        }
    }
    if let Some(key) = &auth.api_key {
        now.api_key = state.db.api_key_by_id(key.id).await.map_err(internal)?;
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

/// Creates an API key with `scopes` and returns it (shown once; only its hash is kept).
pub async fn create_api_key(db: &Db, name: &str, scopes: &[Scope]) -> Result<String, AppError> {
    let key = format!("{API_KEY_PREFIX}{}", random_token());
    let prefix: String = key.chars().take(API_KEY_PREFIX.len() + 6).collect();
    db.create_api_key(name, &prefix, &token_hash(&key), scopes)
        .await
        .map_err(internal)?;
    Ok(key)
}

/// A random password that is easy to type: 20 characters from an unambiguous alphabet.
pub fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
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

pub fn internal(error: impl std::fmt::Display) -> AppError {
    tracing::error!(%error, "internal error");
    AppError::Internal("Proxbox hit an internal error; the server log has the details.".into())
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

    #[tokio::test]
    async fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(hash.clone(), "correct horse".into()).await);
        assert!(!verify_password(hash, "wrong".into()).await);
    }

    #[test]
    fn dummy_hash_parses() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let (a, b) = (generate_password(), generate_password());
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
    }
}
