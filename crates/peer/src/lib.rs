//! What Proxbox's clients for its two HTTP peers — Proxmox VE and NetBox — share: the error
//! categories of the progress events, TLS settings per endpoint, the reading of transport
//! failures, and retries with backoff.

pub mod body;
pub mod observe;
pub mod tls;

use std::future::Future;
use std::time::Duration;

/// The categories of docs/contract.md ("Events") that a request to a peer can fail with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    Connection,
    Authentication,
    Permission,
    Validation,
    NotFound,
    Timeout,
    RateLimit,
    Internal,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connection => "connection",
            ErrorKind::Authentication => "authentication",
            ErrorKind::Permission => "permission",
            ErrorKind::Validation => "validation",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Timeout => "timeout",
            ErrorKind::RateLimit => "rate_limit",
            ErrorKind::Internal => "internal",
        }
    }
}

/// Why a request got no HTTP answer, in words a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportProblem {
    Timeout,
    /// The peer's certificate is not trusted; the text says why.
    Tls(&'static str),
    Refused,
    UnknownHost,
    /// The connection broke before the answer was complete.
    Closed,
    Other(String),
}

impl TransportProblem {
    pub fn of(error: &reqwest::Error) -> TransportProblem {
        if error.is_timeout() {
            return TransportProblem::Timeout;
        }
        let chain = error_chain(error);
        if let Some(why) = tls_problem(&chain) {
            return TransportProblem::Tls(why);
        }
        if chain.contains("Connection refused") || chain.contains("ConnectionRefused") {
            TransportProblem::Refused
        } else if chain.contains("dns error") || chain.contains("failed to lookup") {
            TransportProblem::UnknownHost
        } else if chain.contains("reset")
            || chain.contains("closed")
            || chain.contains("IncompleteMessage")
        {
            TransportProblem::Closed
        } else {
            TransportProblem::Other(chain)
        }
    }

    /// Short words for messages: "connection refused", "the host name does not resolve"…
    pub fn describe(&self) -> String {
        match self {
            TransportProblem::Timeout => "no answer in time".into(),
            TransportProblem::Tls(why) => format!("its TLS certificate is not trusted: {why}"),
            TransportProblem::Refused => "connection refused".into(),
            TransportProblem::UnknownHost => "the host name does not resolve".into(),
            TransportProblem::Closed => "the connection was closed before an answer".into(),
            TransportProblem::Other(text) => text.clone(),
        }
    }
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(inner) = source {
        parts.push(format!("{inner:?}"));
        parts.push(inner.to_string());
        source = inner.source();
    }
    parts.join(": ")
}

fn tls_problem(chain: &str) -> Option<&'static str> {
    if chain.contains("UnknownIssuer") || chain.contains("unknown issuer") {
        Some("it is signed by an unknown issuer (self-signed?)")
    } else if chain.contains("NotValidForName") || chain.contains("not valid for name") {
        Some("it is not valid for this host name")
    } else if chain.contains("Expired") {
        Some("it has expired")
    } else if chain.contains("InvalidCertificate") || chain.contains("invalid peer certificate") {
        Some("it failed verification")
    } else {
        None
    }
}

/// Why an HTTP client for an endpoint could not be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupError {
    pub kind: ErrorKind,
    pub message: String,
    pub suggestion: &'static str,
}

/// The HTTP client of one endpoint: its TLS settings, connection timeout and pool size.
/// `peer` names the endpoint in messages ("Proxmox at https://pve1:8006").
pub fn http_client(
    peer: &str,
    verify_tls: bool,
    ca_pem: Option<&str>,
    timeout: Duration,
    concurrency: usize,
) -> Result<reqwest::Client, SetupError> {
    let tls = tls::client_config(verify_tls, ca_pem).map_err(|e| SetupError {
        kind: ErrorKind::Validation,
        message: format!("TLS settings of {peer}: {e}"),
        suggestion: "Paste the CA certificate again, in PEM form.",
    })?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .pool_max_idle_per_host(concurrency.max(1))
        // Servers close idle keep-alive connections after a few seconds (gunicorn's default
        // is 2 s). Reusing one the server is closing loses the request mid-flight ("closed
        // before an answer"), and a write lost so cannot be retried safely: let idle
        // connections go before the server does.
        .pool_idle_timeout(Duration::from_millis(1500))
        .user_agent(concat!("proxbox/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SetupError {
            kind: ErrorKind::Internal,
            message: format!("cannot build the HTTP client for {peer}: {e}"),
            suggestion: "Report this as a bug.",
        })
}

/// Retries `call` up to `attempts` times in all while `retryable(error)` holds, waiting
/// `backoff`, then twice as long, and so on.
pub async fn with_retries<T, E, F, Fut>(
    attempts: u32,
    backoff: Duration,
    retryable: impl Fn(&E) -> bool,
    call: F,
) -> Result<T, E>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let attempts = attempts.max(1);
    let mut delay = backoff;
    let mut attempt = 1;
    loop {
        match call().await {
            Err(error) if attempt < attempts && retryable(&error) => {
                tracing::debug!(%error, attempt, "retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            result => return result,
        }
    }
}
