//! How a stage fails: [`StageError`] in the terms of an `error_detail` event, and the frames
//! every failed stream ends with ([`failure_ending`]), also those that fail before or outside
//! the engine.

use serde_json::json;

use proxbox_netbox::NbError;
use proxbox_pve::PveError;

pub use crate::events::RUN_PHASE;
use crate::events::{Complete, ErrorCategory, ErrorDetail, ErrorEvent, Item, SyncEvent};

/// Why a stage stopped, in the terms of an `error_detail` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageError {
    pub category: ErrorCategory,
    pub message: String,
    pub detail: String,
    pub suggestion: String,
}

impl StageError {
    pub fn new(
        category: ErrorCategory,
        message: impl Into<String>,
        detail: impl Into<String>,
        suggestion: impl Into<String>,
    ) -> StageError {
        StageError {
            category,
            message: message.into(),
            detail: detail.into(),
            suggestion: suggestion.into(),
        }
    }

    /// This error as the payload of an `error_detail` event of `phase`.
    pub fn detail_event(&self, phase: &str, item: Option<Item>) -> ErrorDetail {
        ErrorDetail {
            event: "error_detail".into(),
            phase: phase.into(),
            item,
            category: self.category,
            message: self.message.clone(),
            detail: self.detail.clone(),
            suggestion: self.suggestion.clone(),
            traceback: None,
        }
    }
}

/// `error_detail`, `error` and `complete ok=false` for a run that failed in `phase`: how
/// every failed stream ends, also those that fail before or outside the engine (a job
/// interrupted by a restart, cancelled while waiting, or whose endpoints are gone).
pub fn failure_ending(phase: &str, error: &StageError) -> [SyncEvent; 3] {
    [
        SyncEvent::ErrorDetail(error.detail_event(phase, None)),
        SyncEvent::Error(ErrorEvent::new(
            phase,
            error.message.clone(),
            error.detail.clone(),
        )),
        SyncEvent::Complete(Complete {
            ok: false,
            message: format!("{RUN_PHASE}: {}", error.message),
            result: None,
            errors: Some(vec![json!({
                "phase": phase,
                "category": error.category,
                "message": error.message,
                "detail": error.detail,
                "suggestion": error.suggestion,
            })]),
        }),
    ]
}

fn category(kind: proxbox_pve::ErrorKind) -> ErrorCategory {
    use proxbox_pve::ErrorKind as K;
    match kind {
        K::Connection => ErrorCategory::Connection,
        K::Authentication => ErrorCategory::Authentication,
        K::Permission => ErrorCategory::Permission,
        K::Validation => ErrorCategory::Validation,
        K::NotFound => ErrorCategory::NotFound,
        K::Timeout => ErrorCategory::Timeout,
        K::RateLimit => ErrorCategory::RateLimit,
        K::Internal => ErrorCategory::Internal,
    }
}

impl From<PveError> for StageError {
    fn from(e: PveError) -> Self {
        StageError {
            category: category(e.kind),
            detail: e.message.clone(),
            message: e.message,
            suggestion: e.suggestion,
        }
    }
}

impl From<NbError> for StageError {
    fn from(e: NbError) -> Self {
        let detail = e
            .fields
            .as_ref()
            .map_or_else(|| e.message.clone(), |f| f.to_string());
        StageError {
            category: category(e.kind),
            message: e.message,
            detail,
            suggestion: e.suggestion,
        }
    }
}

impl From<crate::server::infra::db::DbError> for StageError {
    fn from(e: crate::server::infra::db::DbError) -> Self {
        StageError {
            category: ErrorCategory::Internal,
            message: format!("Proxbox's database failed: {e}"),
            detail: e.to_string(),
            suggestion: "Check that Proxbox's database is reachable and has free space, then run the sync again.".into(),
        }
    }
}
