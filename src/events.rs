//! The progress events of a sync: one Rust type shared by the server (engine, job log,
//! SSE streams) and the browser (EventSource consumers), serialised to the field names of
//! docs/contract.md ("Events") plus those the existing NetBox plugin reads
//! (`contracts/proxbox_api_sse_schema.json`): a superset of both.
//!
//! Nothing in here is server-only, so it compiles to WASM unchanged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One event of a sync. On the wire it is an SSE frame `event: <name>` with the variant's
/// payload as `data:`; in the job log it is stored as `{"type": <name>, "data": <payload>}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum SyncEvent {
    Discovery(Discovery),
    Step(Step),
    Substep(Substep),
    ItemProgress(ItemProgress),
    PhaseSummary(PhaseSummary),
    ErrorDetail(ErrorDetail),
    Error(ErrorEvent),
    Complete(Complete),
}

impl SyncEvent {
    /// The SSE `event:` name.
    pub fn name(&self) -> &'static str {
        match self {
            SyncEvent::Discovery(_) => "discovery",
            SyncEvent::Step(_) => "step",
            SyncEvent::Substep(_) => "substep",
            SyncEvent::ItemProgress(_) => "item_progress",
            SyncEvent::PhaseSummary(_) => "phase_summary",
            SyncEvent::ErrorDetail(_) => "error_detail",
            SyncEvent::Error(_) => "error",
            SyncEvent::Complete(_) => "complete",
        }
    }

    /// The SSE `data:` payload (one line of JSON).
    pub fn payload_json(&self) -> String {
        let payload = match self {
            SyncEvent::Discovery(p) => serde_json::to_string(p),
            SyncEvent::Step(p) => serde_json::to_string(p),
            SyncEvent::Substep(p) => serde_json::to_string(p),
            SyncEvent::ItemProgress(p) => serde_json::to_string(p),
            SyncEvent::PhaseSummary(p) => serde_json::to_string(p),
            SyncEvent::ErrorDetail(p) => serde_json::to_string(p),
            SyncEvent::Error(p) => serde_json::to_string(p),
            SyncEvent::Complete(p) => serde_json::to_string(p),
        };
        payload.expect("event payloads are plain data and always serialise")
    }

    /// Reads an SSE frame back (the browser's side of [`name`](Self::name) + [`payload_json`](Self::payload_json)).
    pub fn from_frame(name: &str, data: &str) -> Result<SyncEvent, String> {
        // Straight to the payload's type: the enum's own (adjacently tagged) reader buffers
        // the payload first and would add ~10 KB to the browser bundle.
        fn read<T: serde::de::DeserializeOwned>(data: &str) -> serde_json::Result<T> {
            serde_json::from_str(data)
        }
        let event = match name {
            "discovery" => read(data).map(SyncEvent::Discovery),
            "step" => read(data).map(SyncEvent::Step),
            "substep" => read(data).map(SyncEvent::Substep),
            "item_progress" => read(data).map(SyncEvent::ItemProgress),
            "phase_summary" => read(data).map(SyncEvent::PhaseSummary),
            "error_detail" => read(data).map(SyncEvent::ErrorDetail),
            "error" => read(data).map(SyncEvent::Error),
            "complete" => read(data).map(SyncEvent::Complete),
            other => return Err(format!("unknown event {other:?}")),
        };
        event.map_err(|e| format!("unreadable {name} event: {e}"))
    }

    pub fn is_terminal(&self) -> bool {
        matches!(self, SyncEvent::Complete(_))
    }
}

/// The phase of a run's own events (its first discovery, its `complete`), as the system
/// we replace names it.
pub const RUN_PHASE: &str = "full-update";

/// `current` of `total`, and the percentage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Progress {
    pub current: u64,
    pub total: u64,
    /// A whole percentage is written as an integer (`0`, `100`), as the system we replace
    /// writes the first discovery's; a part as a decimal (`33.3`).
    #[serde(serialize_with = "whole_as_integer")]
    pub percent: f64,
}

fn whole_as_integer<S: serde::Serializer>(percent: &f64, out: S) -> Result<S::Ok, S::Error> {
    if percent.fract() == 0.0 && (0.0..=100.0).contains(percent) {
        out.serialize_u64(*percent as u64)
    } else {
        out.serialize_f64(*percent)
    }
}

impl Progress {
    pub fn new(current: u64, total: u64) -> Progress {
        let percent = if total == 0 {
            100.0
        } else {
            (current as f64 * 100.0 / total as f64).min(100.0)
        };
        Progress {
            current,
            total,
            percent: (percent * 10.0).round() / 10.0,
        }
    }
}

/// Elapsed time of a phase or item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Timing {
    pub elapsed_ms: u64,
}

/// Something a sync works on: a stage in the overall discovery, a node, a guest…
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub name: String,
    /// `stage`, `node`, `qemu`, `lxc`, `interface`, `disk`, `ip`… (SPEC field name).
    #[serde(rename = "type")]
    pub kind: String,
    /// The same, under the name the NetBox plugin reads for objects (a stage of the first
    /// discovery has only `type`, as in the streams of the system we replace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netbox_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netbox_url: Option<String>,
}

impl Item {
    pub fn new(name: impl Into<String>, kind: impl Into<String>) -> Item {
        let kind = kind.into();
        Item {
            name: name.into(),
            item_type: Some(kind.clone()),
            kind,
            netbox_id: None,
            netbox_url: None,
        }
    }

    /// A stage in the first discovery of a run.
    pub fn stage(name: impl Into<String>) -> Item {
        Item {
            name: name.into(),
            kind: "stage".into(),
            item_type: None,
            netbox_id: None,
            netbox_url: None,
        }
    }
}

/// `discovery`: what a run (phase `full-update`) or a stage will work through. First frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discovery {
    pub event: String,
    pub phase: String,
    pub status: String,
    pub message: String,
    pub count: u64,
    pub items: Vec<Item>,
    pub progress: Progress,
    pub metadata: BTreeMap<String, Value>,
}

impl Discovery {
    pub fn new(
        phase: &str,
        message: impl Into<String>,
        items: Vec<Item>,
        metadata: BTreeMap<String, Value>,
    ) -> Discovery {
        let count = items.len() as u64;
        Discovery {
            event: "discovery".into(),
            phase: phase.into(),
            status: "discovered".into(),
            message: message.into(),
            count,
            items,
            progress: Progress::new(0, count),
            metadata,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Started,
    Completed,
    Failed,
}

/// `step`: a stage starting and ending (twice per stage).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub step: String,
    pub status: StepStatus,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
}

/// `substep`: a phase inside a stage (read Proxmox, read NetBox, plan, apply…).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Substep {
    pub event: String,
    pub phase: String,
    pub substep: String,
    pub status: StepStatus,
    pub message: String,
    #[serde(default)]
    pub item: Option<Item>,
    #[serde(default)]
    pub timing: Option<Timing>,
    #[serde(default)]
    pub result: Option<Value>,
}

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Created,
    Updated,
    Deleted,
    Skipped,
    Failed,
    WouldCreate,
    WouldUpdate,
    WouldDelete,
}

impl ItemStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Created => "created",
            ItemStatus::Updated => "updated",
            ItemStatus::Deleted => "deleted",
            ItemStatus::Skipped => "skipped",
            ItemStatus::Failed => "failed",
            ItemStatus::WouldCreate => "would_create",
            ItemStatus::WouldUpdate => "would_update",
            ItemStatus::WouldDelete => "would_delete",
        }
    }
}

/// `item_progress`: one object created, updated, deleted, skipped or failed (or, in a dry
/// run, what would happen to it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemProgress {
    pub event: String,
    pub phase: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: ItemStatus,
    /// The same outcome, under the name the NetBox plugin reads.
    pub operation: ItemStatus,
    pub message: String,
    pub item: Item,
    pub progress: Progress,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub warning: Option<String>,
    #[serde(default)]
    pub timing: Option<Timing>,
    /// How the sync came to an object it did not make: the rule that adopted it, or the
    /// conflict that kept it from taking one. Absent for Proxbox's own objects. The
    /// browser's live views do not show it (the job page renders it on the server), so
    /// the browser build does not read it: its bundle stays under its size target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "hydrate", serde(skip_deserializing))]
    pub takeover: Option<Takeover>,
}

/// Taking over what another tool or an operator put in NetBox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Takeover {
    /// Taken over, by the rule in words (`by name in its cluster`).
    Adopted(String),
    /// Nothing taken, and why (`two VMs named web in cluster lab: 12, 14`).
    Conflict(String),
}

/// Counts of one stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    pub skipped: u64,
    pub failed: u64,
    pub total: u64,
}

impl Counts {
    pub fn add(&mut self, status: ItemStatus) {
        match status {
            ItemStatus::Created | ItemStatus::WouldCreate => self.created += 1,
            ItemStatus::Updated | ItemStatus::WouldUpdate => self.updated += 1,
            ItemStatus::Deleted | ItemStatus::WouldDelete => self.deleted += 1,
            ItemStatus::Skipped => self.skipped += 1,
            ItemStatus::Failed => self.failed += 1,
        }
        self.total += 1;
    }
}

/// `phase_summary`: a stage's counts, once per stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseSummary {
    pub event: String,
    pub phase: String,
    pub status: StepStatus,
    pub message: String,
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    pub skipped: u64,
    pub errors: u64,
    pub result: Counts,
    pub timing: Timing,
}

impl PhaseSummary {
    pub fn new(
        phase: &str,
        status: StepStatus,
        message: impl Into<String>,
        counts: Counts,
        timing: Timing,
    ) -> PhaseSummary {
        PhaseSummary {
            event: "phase_summary".into(),
            phase: phase.into(),
            status,
            message: message.into(),
            created: counts.created,
            updated: counts.updated,
            deleted: counts.deleted,
            skipped: counts.skipped,
            errors: counts.failed,
            result: counts,
            timing,
        }
    }
}

/// The kinds of failure a person can act on differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCategory {
    Connection,
    Authentication,
    Permission,
    Validation,
    NotFound,
    Timeout,
    RateLimit,
    Cancelled,
    Internal,
}

impl ErrorCategory {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCategory::Connection => "connection",
            ErrorCategory::Authentication => "authentication",
            ErrorCategory::Permission => "permission",
            ErrorCategory::Validation => "validation",
            ErrorCategory::NotFound => "not_found",
            ErrorCategory::Timeout => "timeout",
            ErrorCategory::RateLimit => "rate_limit",
            ErrorCategory::Cancelled => "cancelled",
            ErrorCategory::Internal => "internal",
        }
    }
}

/// `error_detail`: a failure with its category and what to do about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub event: String,
    pub phase: String,
    #[serde(default)]
    pub item: Option<Item>,
    pub category: ErrorCategory,
    pub message: String,
    pub detail: String,
    pub suggestion: String,
    /// Always `null`: Proxbox never sends stack traces to a browser (the plugin expects the key).
    #[serde(default)]
    pub traceback: Option<String>,
}

/// `error`: the run failed (followed by `complete` with `ok: false`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEvent {
    pub step: String,
    pub status: String,
    pub error: String,
    pub detail: String,
}

impl ErrorEvent {
    pub fn new(step: &str, error: impl Into<String>, detail: impl Into<String>) -> ErrorEvent {
        ErrorEvent {
            step: step.into(),
            status: "failed".into(),
            error: error.into(),
            detail: detail.into(),
        }
    }
}

/// `complete`: always the last frame of a stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Complete {
    pub ok: bool,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<Value>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(event: &SyncEvent) -> Value {
        serde_json::from_str(&event.payload_json()).unwrap()
    }

    fn round_trip(event: SyncEvent) -> Value {
        let again = SyncEvent::from_frame(event.name(), &event.payload_json()).unwrap();
        assert_eq!(again, event, "the browser reads back what the server sent");
        let stored: SyncEvent =
            serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        assert_eq!(stored, event, "the job log reads back what it stored");
        payload(&event)
    }

    #[test]
    fn discovery_json_is_pinned() {
        let mut metadata = BTreeMap::new();
        metadata.insert("operation_id".to_string(), json!("job-7"));
        let event = SyncEvent::Discovery(Discovery::new(
            "full-update",
            "Discovered 2 stages",
            vec![Item::stage("devices"), Item::stage("virtual-machines")],
            metadata,
        ));
        assert_eq!(event.name(), "discovery");
        assert_eq!(
            round_trip(event),
            json!({"event": "discovery", "phase": "full-update", "status": "discovered", "message": "Discovered 2 stages",
                   "count": 2, "items": [{"name": "devices", "type": "stage"},
                                         {"name": "virtual-machines", "type": "stage"}],
                   "progress": {"current": 0, "total": 2, "percent": 0}, "metadata": {"operation_id": "job-7"}})
        );
    }

    #[test]
    fn step_and_substep_json_are_pinned() {
        let step = SyncEvent::Step(Step {
            step: "devices".into(),
            status: StepStatus::Started,
            message: "Starting devices synchronization.".into(),
            result: None,
        });
        assert_eq!(
            round_trip(step),
            json!({"step": "devices", "status": "started", "message": "Starting devices synchronization."})
        );
        let substep = SyncEvent::Substep(Substep {
            event: "substep".into(),
            phase: "devices".into(),
            substep: "read-netbox".into(),
            status: StepStatus::Completed,
            message: "Read 3 devices from NetBox".into(),
            item: None,
            timing: Some(Timing { elapsed_ms: 42 }),
            result: Some(json!({"count": 3})),
        });
        assert_eq!(
            round_trip(substep),
            json!({"event": "substep", "phase": "devices", "substep": "read-netbox", "status": "completed",
                   "message": "Read 3 devices from NetBox", "item": null, "timing": {"elapsed_ms": 42}, "result": {"count": 3}})
        );
    }

    #[test]
    fn item_progress_json_is_pinned() {
        let mut item = Item::new("pve01", "node");
        item.netbox_id = Some(4);
        let event = SyncEvent::ItemProgress(ItemProgress {
            event: "item_progress".into(),
            phase: "devices".into(),
            name: "pve01".into(),
            kind: "node".into(),
            status: ItemStatus::Created,
            operation: ItemStatus::Created,
            message: "full-update: Synced device pve01".into(),
            item,
            progress: Progress::new(1, 3),
            id: Some(4),
            error: None,
            warning: None,
            timing: None,
            takeover: None,
        });
        assert_eq!(
            round_trip(event),
            json!({"event": "item_progress", "phase": "devices", "name": "pve01", "type": "node", "status": "created",
                   "operation": "created", "message": "full-update: Synced device pve01",
                   "item": {"name": "pve01", "type": "node", "item_type": "node", "netbox_id": 4},
                   "progress": {"current": 1, "total": 3, "percent": 33.3}, "id": 4, "error": null, "warning": null, "timing": null})
        );
    }

    #[test]
    fn phase_summary_error_detail_error_and_complete_json_are_pinned() {
        let mut counts = Counts::default();
        for status in [
            ItemStatus::Created,
            ItemStatus::Created,
            ItemStatus::Skipped,
            ItemStatus::Failed,
        ] {
            counts.add(status);
        }
        let summary = SyncEvent::PhaseSummary(PhaseSummary::new(
            "devices",
            StepStatus::Completed,
            "Devices synchronization finished.",
            counts,
            Timing { elapsed_ms: 900 },
        ));
        assert_eq!(
            round_trip(summary),
            json!({"event": "phase_summary", "phase": "devices", "status": "completed", "message": "Devices synchronization finished.",
                   "created": 2, "updated": 0, "deleted": 0, "skipped": 1, "errors": 1,
                   "result": {"created": 2, "updated": 0, "deleted": 0, "skipped": 1, "failed": 1, "total": 4},
                   "timing": {"elapsed_ms": 900}})
        );
        let detail = SyncEvent::ErrorDetail(ErrorDetail {
            event: "error_detail".into(),
            phase: "devices".into(),
            item: None,
            category: ErrorCategory::Authentication,
            message: "NetBox refused the API token".into(),
            detail: "403 Invalid v2 token".into(),
            suggestion: "Check the NetBox token".into(),
            traceback: None,
        });
        assert_eq!(
            round_trip(detail),
            json!({"event": "error_detail", "phase": "devices", "item": null, "category": "authentication",
                   "message": "NetBox refused the API token", "detail": "403 Invalid v2 token",
                   "suggestion": "Check the NetBox token", "traceback": null})
        );
        let error = SyncEvent::Error(ErrorEvent::new(
            "full-update",
            "NetBox refused the API token",
            "403",
        ));
        assert_eq!(
            round_trip(error),
            json!({"step": "full-update", "status": "failed", "error": "NetBox refused the API token", "detail": "403"})
        );
        let complete = SyncEvent::Complete(Complete {
            ok: false,
            message: "failed".into(),
            result: None,
            errors: Some(vec![json!({"detail": "403"})]),
        });
        assert!(complete.is_terminal());
        assert_eq!(
            round_trip(complete),
            json!({"ok": false, "message": "failed", "errors": [{"detail": "403"}]})
        );
    }

    #[test]
    fn every_payload_has_the_plugin_contract_fields() {
        // The NetBox plugin's wire contract, as published by proxbox-api.
        let schema: Value =
            serde_json::from_str(include_str!("../contracts/proxbox_api_sse_schema.json")).unwrap();
        let fields = |message: &str| -> Vec<String> {
            serde_json::from_value(schema["payload_fields"][message].clone()).unwrap()
        };
        let contract: [(&str, Vec<String>); 5] = [
            ("discovery", fields("DiscoveryMessage")),
            ("substep", fields("SubstepMessage")),
            ("item_progress", fields("ItemProgressMessage")),
            ("phase_summary", fields("PhaseSummaryMessage")),
            ("error_detail", fields("ErrorDetailMessage")),
        ];
        let samples: [SyncEvent; 5] = [
            SyncEvent::Discovery(Discovery::new("p", "m", vec![], BTreeMap::new())),
            SyncEvent::Substep(Substep {
                event: "substep".into(),
                phase: "p".into(),
                substep: "s".into(),
                status: StepStatus::Started,
                message: "m".into(),
                item: None,
                timing: None,
                result: None,
            }),
            SyncEvent::ItemProgress(ItemProgress {
                event: "item_progress".into(),
                phase: "p".into(),
                name: "n".into(),
                kind: "qemu".into(),
                status: ItemStatus::Skipped,
                operation: ItemStatus::Skipped,
                message: "m".into(),
                item: Item::new("n", "qemu"),
                progress: Progress::new(1, 1),
                id: None,
                error: None,
                warning: None,
                timing: None,
                takeover: None,
            }),
            SyncEvent::PhaseSummary(PhaseSummary::new(
                "p",
                StepStatus::Completed,
                "m",
                Counts::default(),
                Timing::default(),
            )),
            SyncEvent::ErrorDetail(ErrorDetail {
                event: "error_detail".into(),
                phase: "p".into(),
                item: None,
                category: ErrorCategory::Internal,
                message: "m".into(),
                detail: "d".into(),
                suggestion: "s".into(),
                traceback: None,
            }),
        ];
        for ((name, fields), sample) in contract.iter().zip(&samples) {
            assert_eq!(sample.name(), *name);
            let value = payload(sample);
            for field in fields {
                assert!(
                    value.get(field.as_str()).is_some(),
                    "{name} lacks {field}: {value}"
                );
            }
        }
    }
}
