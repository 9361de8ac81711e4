//! The HTTP side: authentication, timeouts, bounded concurrency, retries, the `{"data": …}` envelope.

use std::sync::Arc;
use std::time::{Duration, Instant};

use proxbox_peer::body::{read_capped, BodyError, MAX_BODY_BYTES};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::{Mutex, Semaphore};

use crate::error::{ErrorKind, PveError};

/// An error answer's body is read for its message only.
const ERROR_BODY_BYTES: usize = 64 * 1024;

/// How Proxbox logs in to one Proxmox endpoint.
#[derive(Clone)]
pub enum Credentials {
    /// API token: `USER@REALM!TOKENID` and its secret.
    Token { id: String, secret: String },
    /// User (`root@pam`) and password: a ticket from `POST /access/ticket`.
    Password { username: String, password: String },
}

impl Credentials {
    /// Accepts the token whole (`USER@REALM!ID=SECRET`, as Proxmox shows it once) or as id + secret.
    pub fn token(id_or_whole: &str, secret: Option<&str>) -> Credentials {
        let raw = id_or_whole
            .trim()
            .strip_prefix("PVEAPIToken=")
            .unwrap_or(id_or_whole.trim());
        match (secret.filter(|s| !s.is_empty()), raw.split_once('=')) {
            (Some(secret), _) => Credentials::Token {
                id: raw.to_string(),
                secret: secret.to_string(),
            },
            (None, Some((id, secret))) => Credentials::Token {
                id: id.to_string(),
                secret: secret.to_string(),
            },
            (None, None) => Credentials::Token {
                id: raw.to_string(),
                secret: String::new(),
            },
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Token { id, .. } => write!(f, "Token({id}, secret: ***)"),
            Credentials::Password { username, .. } => write!(f, "Password({username}, ***)"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PveOptions {
    /// Base URL, e.g. `https://pve1:8006` (`/api2/json` is added).
    pub url: String,
    pub credentials: Credentials,
    pub verify_tls: bool,
    pub ca_pem: Option<String>,
    pub timeout: Duration,
    pub agent_timeout: Duration,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Attempts per read on connection errors and 5xx (1 = no retry).
    pub attempts: u32,
    /// First retry delay; doubled per attempt.
    pub backoff: Duration,
}

impl PveOptions {
    pub fn new(url: impl Into<String>, credentials: Credentials) -> PveOptions {
        PveOptions {
            url: url.into(),
            credentials,
            verify_tls: true,
            ca_pem: None,
            timeout: Duration::from_secs(30),
            agent_timeout: Duration::from_secs(15),
            concurrency: 8,
            attempts: 3,
            backoff: Duration::from_millis(250),
        }
    }
}

/// Tickets live two hours; renew well before.
const TICKET_RENEW_AFTER: Duration = Duration::from_secs(90 * 60);

#[derive(Clone)]
struct Ticket {
    ticket: String,
    csrf: String,
    obtained: Instant,
}

/// A client for one Proxmox VE endpoint. Cheap to clone; clones share the connection
/// pool, the concurrency limit and the login ticket.
#[derive(Clone)]
pub struct PveClient {
    http: reqwest::Client,
    base: String,
    api: String,
    options: Arc<PveOptions>,
    permits: Arc<Semaphore>,
    ticket: Arc<Mutex<Option<Ticket>>>,
}

impl std::fmt::Debug for PveClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PveClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl PveClient {
    pub fn new(options: PveOptions) -> Result<PveClient, PveError> {
        let base = options
            .url
            .trim()
            .trim_end_matches('/')
            .trim_end_matches("/api2/json")
            .to_string();
        let http = proxbox_peer::http_client(
            &format!("Proxmox at {base}"),
            options.verify_tls,
            options.ca_pem.as_deref(),
            options.timeout,
            options.concurrency,
        )
        .map_err(|e| PveError::new(e.kind, e.message, e.suggestion))?;
        Ok(PveClient {
            http,
            api: format!("{base}/api2/json"),
            base,
            permits: Arc::new(Semaphore::new(options.concurrency.max(1))),
            options: Arc::new(options),
            ticket: Arc::new(Mutex::new(None)),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn options(&self) -> &PveOptions {
        &self.options
    }

    /// `GET` a path below `/api2/json` and return its `data`, retrying connection errors and 5xx.
    pub async fn get_data(&self, path: &str, query: &[(&str, String)]) -> Result<Value, PveError> {
        let o = &self.options;
        proxbox_peer::with_retries(o.attempts, o.backoff, PveError::is_retryable, || {
            self.request(Method::GET, path, query, None, o.timeout)
        })
        .await
    }

    /// Like [`get_data`](Self::get_data) with the guest-agent timeout (the agent answers
    /// through the node, often slower than Proxmox itself).
    pub async fn agent_data(&self, path: &str) -> Result<Value, PveError> {
        let o = &self.options;
        proxbox_peer::with_retries(o.attempts, o.backoff, PveError::is_retryable, || {
            self.request(Method::GET, path, &[], None, o.agent_timeout)
        })
        .await
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        form: Option<&[(&str, String)]>,
        timeout: Duration,
    ) -> Result<Value, PveError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        // Timed once it may go: Proxmox's latency, not the wait for a permit.
        proxbox_peer::observe::timed(
            proxbox_peer::observe::Peer::Proxmox,
            |e: &PveError| e.kind,
            self.exchange(method, path, query, form, timeout),
        )
        .await
    }

    async fn exchange(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        form: Option<&[(&str, String)]>,
        timeout: Duration,
    ) -> Result<Value, PveError> {
        let headers = self.auth_headers(&method).await?;
        let response = self
            .send(method.clone(), path, query, form, timeout, headers)
            .await?;
        // A ticket can be revoked or expire early (clock skew): log in again once.
        if response.status() == StatusCode::UNAUTHORIZED
            && matches!(self.options.credentials, Credentials::Password { .. })
        {
            *self.ticket.lock().await = None;
            let headers = self.auth_headers(&method).await?;
            let response = self
                .send(method, path, query, form, timeout, headers)
                .await?;
            return self.unwrap_data(path, response).await;
        }
        self.unwrap_data(path, response).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        form: Option<&[(&str, String)]>,
        timeout: Duration,
        headers: HeaderMap,
    ) -> Result<reqwest::Response, PveError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.api))
            .headers(headers)
            .timeout(timeout);
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(form) = form {
            request = request.form(form);
        }
        request
            .send()
            .await
            .map_err(|e| PveError::from_transport(&e, &self.base, path, timeout.as_secs()))
    }

    async fn unwrap_data(
        &self,
        path: &str,
        response: reqwest::Response,
    ) -> Result<Value, PveError> {
        let status = response.status();
        if !status.is_success() {
            let reason = status.canonical_reason().unwrap_or_default().to_string();
            let body = read_capped(response, ERROR_BODY_BYTES)
                .await
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_default();
            let detail = proxmox_error_detail(&body).unwrap_or(reason);
            return Err(PveError::from_status(
                status.as_u16(),
                &self.base,
                path,
                &detail,
                self.options.timeout.as_secs(),
            ));
        }
        let bytes = read_capped(response, MAX_BODY_BYTES)
            .await
            .map_err(|e| match e {
                BodyError::Transport(e) => {
                    PveError::from_transport(&e, &self.base, path, self.options.timeout.as_secs())
                }
                too_large => PveError::malformed(&self.base, path, too_large.describe()),
            })?;
        let mut envelope: Value =
            serde_json::from_slice(&bytes).map_err(|e| PveError::malformed(&self.base, path, e))?;
        match envelope.get_mut("data") {
            Some(data) => Ok(data.take()),
            None => Err(PveError::malformed(
                &self.base,
                path,
                "no \"data\" in the answer",
            )),
        }
    }

    async fn auth_headers(&self, method: &Method) -> Result<HeaderMap, PveError> {
        let mut headers = HeaderMap::new();
        let invalid = |_| {
            PveError::new(
                ErrorKind::Validation,
                "the credentials hold characters that cannot be sent",
                "Enter the token or password again.",
            )
        };
        match &self.options.credentials {
            Credentials::Token { id, secret } => {
                headers.insert(
                    AUTHORIZATION,
                    HeaderValue::from_str(&format!("PVEAPIToken={id}={secret}"))
                        .map_err(invalid)?,
                );
            }
            Credentials::Password { .. } => {
                let ticket = self.ticket().await?;
                headers.insert(
                    COOKIE,
                    HeaderValue::from_str(&format!("PVEAuthCookie={}", ticket.ticket))
                        .map_err(invalid)?,
                );
                if method != Method::GET {
                    headers.insert(
                        "CSRFPreventionToken",
                        HeaderValue::from_str(&ticket.csrf).map_err(invalid)?,
                    );
                }
            }
        }
        Ok(headers)
    }

    /// The current ticket, logging in when there is none or it is due for renewal.
    async fn ticket(&self) -> Result<Ticket, PveError> {
        let mut slot = self.ticket.lock().await;
        if let Some(ticket) = slot
            .as_ref()
            .filter(|t| t.obtained.elapsed() < TICKET_RENEW_AFTER)
        {
            return Ok(ticket.clone());
        }
        let Credentials::Password { username, password } = &self.options.credentials else {
            unreachable!("tickets are only used with password credentials")
        };
        // `POST /access/ticket` → `{username, ticket, CSRFPreventionToken}`.
        let form = [
            ("username", username.clone()),
            ("password", password.clone()),
        ];
        let path = "/access/ticket";
        let response = self
            .send(
                Method::POST,
                path,
                &[],
                Some(&form),
                self.options.timeout,
                HeaderMap::new(),
            )
            .await?;
        let data = self.unwrap_data(path, response).await?;
        let field = |key: &str| data.get(key).and_then(Value::as_str).map(str::to_string);
        let (Some(ticket), Some(csrf)) = (field("ticket"), field("CSRFPreventionToken")) else {
            return Err(PveError::malformed(
                &self.base,
                path,
                "the answer has no ticket",
            ));
        };
        let fresh = Ticket {
            ticket,
            csrf,
            obtained: Instant::now(),
        };
        *slot = Some(fresh.clone());
        Ok(fresh)
    }

    /// Forgets the login ticket, so the next request logs in again (tests and rotation).
    pub async fn forget_ticket(&self) {
        *self.ticket.lock().await = None;
    }
}

/// Proxmox puts parameter errors into `{"errors": {...}}` and a message into `message`.
fn proxmox_error_detail(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    if let Some(errors) = value.get("errors").filter(|e| !e.is_null()) {
        return Some(errors.to_string());
    }
    value
        .get("message")
        .and_then(Value::as_str)
        .map(|m| m.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_accepted_whole_or_split() {
        let whole = Credentials::token("PVEAPIToken=root@pam!proxbox=abc-123", None);
        let split = Credentials::token("root@pam!proxbox", Some("abc-123"));
        for creds in [whole, split] {
            match creds {
                Credentials::Token { id, secret } => assert_eq!(
                    (id.as_str(), secret.as_str()),
                    ("root@pam!proxbox", "abc-123")
                ),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn debug_output_hides_secrets() {
        let creds = Credentials::token("root@pam!proxbox", Some("very-secret"));
        assert!(!format!("{creds:?}").contains("very-secret"));
        let password = Credentials::Password {
            username: "root@pam".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{password:?}").contains("hunter2"));
    }
}
