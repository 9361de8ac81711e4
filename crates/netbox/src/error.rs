//! Failures of a NetBox request, named after what failed (never an earlier step) and with
//! what to do about it.

use std::fmt;

pub use proxbox_peer::ErrorKind;
use proxbox_peer::TransportProblem;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct NbError {
    pub kind: ErrorKind,
    pub message: String,
    pub suggestion: String,
    pub status: Option<u16>,
    /// NetBox's field errors for a rejected object (`{"name": ["This field is required."]}`).
    pub fields: Option<Value>,
    /// The request provably changed nothing in NetBox — it never arrived (refused
    /// connection, unknown host, 503), or NetBox's database rolled it back whole (a deadlock
    /// with another writer, an integrity error) — so even a create may be sent again without
    /// risking a duplicate.
    pub never_arrived: bool,
}

impl fmt::Display for NbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.suggestion)
    }
}

impl std::error::Error for NbError {}

/// `dcim/device-roles` → `dcim.devicerole`, as NetBox names models in permissions.
/// What of a body a message quotes: its start, marked as cut when it goes on (a page of
/// HTML or a huge validation answer would drown the message, in the job log and the page).
fn clip(text: &str) -> String {
    const QUOTED: usize = 300;
    match text.char_indices().nth(QUOTED) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

pub fn model_label(path: &str) -> String {
    let mut parts = path.trim_matches('/').trim_start_matches("api/").split('/');
    let app = parts.next().unwrap_or_default();
    let plural = parts.next().unwrap_or_default().replace('-', "");
    let singular = if let Some(stem) = plural.strip_suffix("ies") {
        format!("{stem}y")
    } else if let Some(stem) = plural.strip_suffix("sses") {
        format!("{stem}ss")
    } else if let Some(stem) = plural.strip_suffix("addresses") {
        format!("{stem}address")
    } else {
        plural.strip_suffix('s').unwrap_or(&plural).to_string()
    };
    // NetBox's API calls VM interfaces `virtualization/interfaces`.
    match (app, singular.as_str()) {
        ("virtualization", "interface") => "virtualization.vminterface".into(),
        _ => format!("{app}.{singular}"),
    }
}

impl NbError {
    pub fn new(
        kind: ErrorKind,
        message: impl Into<String>,
        suggestion: impl Into<String>,
    ) -> NbError {
        NbError {
            kind,
            message: message.into(),
            suggestion: suggestion.into(),
            status: None,
            fields: None,
            never_arrived: false,
        }
    }

    pub fn from_status(status: u16, method: &str, base: &str, path: &str, body: &str) -> NbError {
        let json: Option<Value> = serde_json::from_str(body).ok();
        let detail = clip(
            json.as_ref()
                .and_then(|v| v.get("detail"))
                .and_then(Value::as_str)
                .unwrap_or_default(),
        );
        let model = model_label(path);
        let writing = method != "GET";
        let (kind, message, suggestion) = match status {
            401 => (
                ErrorKind::Authentication,
                format!("NetBox at {base} refused the API token: {detail}"),
                "Check the NetBox token in Proxbox: it may be mistyped, expired or deleted (v2 tokens look like nbt_<key>.<secret>).".to_string(),
            ),
            403 if is_token_problem(&detail) => (
                ErrorKind::Authentication,
                format!("NetBox at {base} refused the API token: {detail}"),
                "Check the NetBox token in Proxbox: it may be mistyped, expired or deleted (v2 tokens look like nbt_<key>.<secret>).".to_string(),
            ),
            403 => (
                ErrorKind::Permission,
                format!(
                    "the token has no {} permission on {model} ({method} {path}: {detail})",
                    if writing { "write" } else { "read" }
                ),
                format!(
                    "In NetBox, give the token's user the {} permission on {model}, or use a token of a user that has it \
                     (and, for v2 tokens, with 'Write enabled').",
                    if writing { "add / change / delete" } else { "view" }
                ),
            ),
            404 => (
                ErrorKind::NotFound,
                format!("NetBox at {base} has no {path} ({detail})"),
                "Check the NetBox URL (it must be NetBox's base URL) and that the NetBox version is 4.2 or newer.".to_string(),
            ),
            429 => (ErrorKind::RateLimit, format!("NetBox at {base} is rate-limiting requests"), "Lower Proxbox's NetBox concurrency.".to_string()),
            409 => (
                ErrorKind::Validation,
                format!("NetBox refuses to change {model} ({method} {path}): {detail}"),
                "Other objects in NetBox depend on it (it is protected): remove or reassign them in NetBox, then sync again.".to_string(),
            ),
            400 => (
                ErrorKind::Validation,
                format!("NetBox refused the {model} data: {}", clip(&json.as_ref().map(Value::to_string).unwrap_or_else(|| body.to_string()))),
                "Fix the value NetBox names (it may be edited in NetBox, or a NetBox validation rule may forbid it).".to_string(),
            ),
            502..=504 => (
                ErrorKind::Connection,
                format!("NetBox at {base} is unavailable ({status}) for {method} {path}"),
                "Check that NetBox and its workers run; a proxy in front of it answered instead.".to_string(),
            ),
            _ => (
                ErrorKind::Internal,
                format!("NetBox at {base} failed with {status} for {method} {path}: {}", clip(body)),
                "NetBox's log (or the NetBox error report) has the details.".to_string(),
            ),
        };
        NbError {
            kind,
            message,
            suggestion,
            status: Some(status),
            fields: if status == 400 { json } else { None },
            // PostgreSQL aborts a deadlocked transaction whole, and NetBox writes each request
            // (a bulk one too) in one transaction: nothing of it was applied. The same holds
            // for an integrity error at commit — a foreign key to an object another request
            // deleted meanwhile (a write Proxbox gave up on that NetBox still finished): sent
            // again, it reads the object as it is now.
            never_arrived: status == 503
                || (status == 500
                    && (body.contains("deadlock detected") || body.contains("IntegrityError"))),
        }
    }

    pub fn from_transport(
        error: &reqwest::Error,
        base: &str,
        method: &str,
        path: &str,
        timeout_secs: u64,
    ) -> NbError {
        match TransportProblem::of(error) {
            TransportProblem::Timeout => NbError::new(
                ErrorKind::Timeout,
                format!("NetBox at {base} did not answer {method} {path} within {timeout_secs} s"),
                format!("Raise the NetBox request timeout (now {timeout_secs} s), or lower the bulk chunk size."),
            ),
            TransportProblem::Tls(why) => NbError::new(
                ErrorKind::Connection,
                format!("The TLS certificate of NetBox at {base} is not trusted: {why}"),
                "Paste the CA certificate that signed NetBox's certificate into the NetBox endpoint's 'Custom CA', or turn off 'Verify TLS'.",
            ),
            other => NbError {
                never_arrived: matches!(other, TransportProblem::Refused | TransportProblem::UnknownHost),
                ..NbError::new(
                    ErrorKind::Connection,
                    format!("NetBox is unreachable at {base}: {}", other.describe()),
                    "Check the NetBox URL and port, and that NetBox runs and accepts connections from Proxbox.",
                )
            },
        }
    }

    pub fn malformed(base: &str, path: &str, detail: impl fmt::Display) -> NbError {
        NbError::new(
            ErrorKind::Validation,
            format!("NetBox at {base} sent an answer Proxbox cannot read for {path}: {detail}"),
            "Check that the URL is NetBox's base URL (not a login page or proxy) and that NetBox is 4.2 or newer.",
        )
    }

    /// Worth retrying: connection trouble and gateway errors, never a 4xx.
    pub fn is_transient(&self) -> bool {
        self.kind == ErrorKind::Connection && self.status.is_none_or(|s| (502..=504).contains(&s))
    }
}

fn is_token_problem(detail: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    d.contains("token") || d.contains("credentials") || d.contains("authenticat")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_labels_follow_netbox_permission_names() {
        assert_eq!(
            model_label("virtualization/virtual-machines"),
            "virtualization.virtualmachine"
        );
        assert_eq!(model_label("/api/ipam/ip-addresses/"), "ipam.ipaddress");
        assert_eq!(model_label("dcim/mac-addresses"), "dcim.macaddress");
        assert_eq!(model_label("extras/journal-entries"), "extras.journalentry");
        assert_eq!(
            model_label("virtualization/interfaces"),
            "virtualization.vminterface"
        );
        assert_eq!(model_label("dcim/device-roles"), "dcim.devicerole");
        assert_eq!(
            model_label("virtualization/virtual-disks"),
            "virtualization.virtualdisk"
        );
    }

    #[test]
    fn forbidden_writes_name_the_model() {
        let e = NbError::from_status(
            403,
            "POST",
            "http://nb",
            "virtualization/virtual-machines",
            r#"{"detail":"You do not have permission to perform this action."}"#,
        );
        assert_eq!(e.kind, ErrorKind::Permission);
        assert!(
            e.message
                .contains("the token has no write permission on virtualization.virtualmachine"),
            "{e}"
        );
        let bad_token = NbError::from_status(
            403,
            "GET",
            "http://nb",
            "dcim/sites",
            r#"{"detail":"Invalid v2 token"}"#,
        );
        assert_eq!(bad_token.kind, ErrorKind::Authentication);
    }
}
