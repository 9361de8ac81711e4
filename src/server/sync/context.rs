//! What a run works with: its Proxmox clusters, its NetBox, its rules, its event sink.

use proxbox_netbox::{NbError, NetboxClient};
use proxbox_pve::{PveClient, PveError};

use super::overwrite::OverwritePolicy;
use super::sink::EventSink;
use crate::events::ErrorCategory;
use crate::server::db::Db;

/// One Proxmox endpoint of a run.
pub struct ClusterSource {
    pub endpoint_id: i64,
    pub endpoint_name: String,
    pub pve: PveClient,
}

pub struct SyncContext<'a> {
    pub db: &'a Db,
    pub netbox: &'a NetboxClient,
    pub sources: Vec<ClusterSource>,
    pub policy: OverwritePolicy,
    pub sink: &'a dyn EventSink,
}

/// Why a stage stopped, in the terms of an `error_detail` event.
#[derive(Debug, Clone, PartialEq)]
pub struct StageError {
    pub category: ErrorCategory,
    pub message: String,
    pub detail: String,
    pub suggestion: String,
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

impl From<crate::server::db::DbError> for StageError {
    fn from(e: crate::server::db::DbError) -> Self {
        StageError {
            category: ErrorCategory::Internal,
            message: format!("Proxbox's database failed: {e}"),
            detail: e.to_string(),
            suggestion: "Check that Proxbox's database is reachable and has free space, then run the sync again.".into(),
        }
    }
}

/// `Lab Cluster 1` → `lab-cluster-1`, as NetBox slugs are.
pub fn slugify(text: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-').chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::slugify;

    #[test]
    fn slugs_are_netbox_shaped() {
        assert_eq!(slugify("Lab Cluster 1"), "lab-cluster-1");
        assert_eq!(slugify("  pve--01_a "), "pve-01-a");
    }
}
