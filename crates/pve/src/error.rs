//! Failures of a Proxmox request, classified so that a person knows what to do next.

use std::fmt;

pub use proxbox_peer::ErrorKind;
use proxbox_peer::TransportProblem;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PveError {
    pub kind: ErrorKind,
    /// What went wrong, naming the endpoint and path.
    pub message: String,
    /// What a person can do about it.
    pub suggestion: String,
    /// The HTTP status, when Proxmox answered.
    pub status: Option<u16>,
}

impl fmt::Display for PveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.suggestion)
    }
}

impl std::error::Error for PveError {}

impl PveError {
    pub fn new(
        kind: ErrorKind,
        message: impl Into<String>,
        suggestion: impl Into<String>,
    ) -> PveError {
        PveError {
            kind,
            message: message.into(),
            suggestion: suggestion.into(),
            status: None,
        }
    }

    /// Whether a read may be tried again (connection trouble and server errors only).
    pub fn is_retryable(&self) -> bool {
        match self.kind {
            ErrorKind::Connection => true,
            ErrorKind::Internal => self.status.is_some_and(|s| s >= 500),
            _ => false,
        }
    }

    /// Classifies an HTTP error status. `reason` is Proxmox's reason phrase or error body,
    /// which carries its actual message (e.g. "permission check failed").
    pub fn from_status(
        status: u16,
        base: &str,
        path: &str,
        reason: &str,
        timeout_secs: u64,
    ) -> PveError {
        let what = format!("Proxmox at {base} answered {status} for {path}");
        let what = if reason.is_empty() {
            what
        } else {
            format!("{what}: {reason}")
        };
        let (kind, suggestion) = match status {
            401 => (
                ErrorKind::Authentication,
                "Check the endpoint's token ID and secret (or user and password): the token may be wrong, expired or deleted.".to_string(),
            ),
            403 => (
                ErrorKind::Permission,
                "Give the token the PVEAuditor role on / (and VM.Monitor for guest-agent reads), or turn off \
                 'Privilege Separation' on the token so it has its user's rights."
                    .to_string(),
            ),
            404 => (ErrorKind::NotFound, "The object is gone or the URL is not a Proxmox VE API; check the endpoint URL.".to_string()),
            429 => (ErrorKind::RateLimit, "Proxmox is rate-limiting requests: lower the endpoint's concurrency and retry later.".to_string()),
            400 => (ErrorKind::Validation, "Proxmox refused the request's parameters; this is a Proxbox bug worth reporting.".to_string()),
            408 | 504 => (
                ErrorKind::Timeout,
                format!("Proxmox did not answer in time; raise the endpoint's request timeout (now {timeout_secs} s)."),
            ),
            // 595: pveproxy could not reach the node that owns the object.
            595 | 502 | 503 => (
                ErrorKind::Connection,
                "Proxmox could not reach a cluster node: check that every node is online and the cluster is quorate.".to_string(),
            ),
            _ => (ErrorKind::Internal, "Proxmox reported an internal error; its syslog (journalctl -u pveproxy) has details.".to_string()),
        };
        PveError {
            kind,
            message: what,
            suggestion,
            status: Some(status),
        }
    }

    /// Classifies a transport failure (no HTTP answer).
    pub fn from_transport(
        error: &reqwest::Error,
        base: &str,
        path: &str,
        timeout_secs: u64,
    ) -> PveError {
        match TransportProblem::of(error) {
            TransportProblem::Timeout => PveError::new(
                ErrorKind::Timeout,
                format!("Proxmox at {base} did not answer {path} within {timeout_secs} s"),
                format!("Raise the endpoint's request timeout (now {timeout_secs} s) or check the cluster's load."),
            ),
            TransportProblem::Tls(why) => PveError::new(
                ErrorKind::Connection,
                format!("The TLS certificate of {base} is not trusted: {why}"),
                "Paste the cluster's CA certificate (/etc/pve/pve-root-ca.pem on a node) into the endpoint's 'Custom CA' \
                 field, or turn off 'Verify TLS' for this endpoint.",
            ),
            other => PveError::new(
                ErrorKind::Connection,
                format!("Proxmox is unreachable at {base} ({path}): {}", other.describe()),
                "Check the endpoint URL and port (8006), that pveproxy runs on the node, and that no firewall blocks Proxbox.",
            ),
        }
    }

    pub fn malformed(base: &str, path: &str, detail: impl fmt::Display) -> PveError {
        PveError::new(
            ErrorKind::Validation,
            format!("Proxmox at {base} sent a malformed answer for {path}: {detail}"),
            "Check that the URL points at the Proxmox VE API (port 8006) and not at a proxy or login page.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_categories_with_advice() {
        let e = PveError::from_status(
            401,
            "https://pve:8006",
            "/nodes",
            "authentication failure",
            30,
        );
        assert_eq!(e.kind, ErrorKind::Authentication);
        assert!(e.message.contains("authentication failure"));
        assert_eq!(
            PveError::from_status(403, "b", "/p", "", 30).kind,
            ErrorKind::Permission
        );
        assert!(PveError::from_status(403, "b", "/p", "", 30)
            .suggestion
            .contains("PVEAuditor"));
        assert_eq!(
            PveError::from_status(404, "b", "/p", "", 30).kind,
            ErrorKind::NotFound
        );
        assert_eq!(
            PveError::from_status(429, "b", "/p", "", 30).kind,
            ErrorKind::RateLimit
        );
        assert_eq!(
            PveError::from_status(595, "b", "/p", "", 30).kind,
            ErrorKind::Connection
        );
        assert!(PveError::from_status(504, "b", "/p", "", 45)
            .suggestion
            .contains("45 s"));
        let e500 = PveError::from_status(500, "b", "/p", "", 30);
        assert_eq!(e500.kind, ErrorKind::Internal);
        assert!(e500.is_retryable());
        assert!(!PveError::from_status(401, "b", "/p", "", 30).is_retryable());
    }
}
