//! Turns what a stage does into events: substeps, one `item_progress` per object, the
//! `phase_summary` with its counts.

use std::time::Instant;

use crate::events::*;

use super::failure::{StageError, RUN_PHASE};
use super::sink::EventSink;

/// What a plan remarks on an item besides its outcome.
#[derive(Debug, Clone, Default)]
pub struct Remarks {
    /// Fields that could not be read, or why an object was left alone.
    pub warning: Option<String>,
    pub takeover: Option<Takeover>,
}

pub struct StageReport<'a> {
    sink: &'a dyn EventSink,
    phase: &'static str,
    started: Instant,
    total: u64,
    pub counts: Counts,
}

impl<'a> StageReport<'a> {
    pub fn new(sink: &'a dyn EventSink, phase: &'static str) -> StageReport<'a> {
        StageReport {
            sink,
            phase,
            started: Instant::now(),
            total: 0,
            counts: Counts::default(),
        }
    }

    pub fn elapsed(&self) -> Timing {
        Timing {
            elapsed_ms: self.started.elapsed().as_millis() as u64,
        }
    }

    /// `more` objects are about to be reported: the stage's total grows when the items
    /// reported so far and these exceed what its discovery announced.
    pub fn expect_more(&mut self, more: usize) {
        self.total = self.total.max(self.counts.total + more as u64);
    }

    /// The stage's own `discovery`: the objects it works through, as it read them. They
    /// are the stage's expected total; objects found while planning add to it.
    pub fn discover(&mut self, what: &str, items: Vec<Item>) {
        self.total = items.len() as u64;
        let mut metadata = std::collections::BTreeMap::new();
        metadata.insert(
            format!("total_{}", what.replace(' ', "_")),
            serde_json::json!(items.len()),
        );
        let message = format!("Discovered {} {what} to synchronize", items.len());
        self.sink.emit(SyncEvent::Discovery(Discovery::new(
            self.phase, message, items, metadata,
        )));
    }

    pub fn substep(&self, substep: &str, status: StepStatus, message: impl Into<String>) {
        self.substep_timed(substep, status, message, self.elapsed());
    }

    /// A substep with a timing of its own (a chunk of writes: how long that chunk took).
    pub fn substep_timed(
        &self,
        substep: &str,
        status: StepStatus,
        message: impl Into<String>,
        timing: Timing,
    ) {
        self.sink.emit(SyncEvent::Substep(Substep {
            event: "substep".into(),
            phase: self.phase.into(),
            substep: substep.into(),
            status,
            message: message.into(),
            item: None,
            timing: Some(timing),
            result: None,
        }));
    }

    /// One object's outcome. `what` is its kind in words ("device").
    pub fn item(
        &mut self,
        name: &str,
        kind: &str,
        what: &str,
        status: ItemStatus,
        netbox_id: Option<u64>,
        error: Option<StageError>,
    ) {
        self.item_noted(
            name,
            kind,
            what,
            status,
            netbox_id,
            error,
            Remarks::default(),
        );
    }

    /// [`item`](Self::item) with what the plan remarked: fields that could not be read
    /// (skipped, not fatal), and how another tool's object was taken over.
    #[allow(clippy::too_many_arguments)]
    pub fn item_noted(
        &mut self,
        name: &str,
        kind: &str,
        what: &str,
        status: ItemStatus,
        netbox_id: Option<u64>,
        error: Option<StageError>,
        remarks: Remarks,
    ) {
        self.counts.add(status);
        let planned = matches!(
            status,
            ItemStatus::WouldCreate | ItemStatus::WouldUpdate | ItemStatus::WouldDelete
        );
        let verb = match (&remarks.takeover, status) {
            (Some(Takeover::Conflict(_)), _) => "Conflict over",
            (Some(Takeover::Adopted(_)), _) if planned => "Would adopt",
            (Some(Takeover::Adopted(_)), ItemStatus::Failed) => "Failed to adopt",
            (Some(Takeover::Adopted(_)), _) => "Adopted",
            (None, ItemStatus::Failed) => "Failed",
            (None, ItemStatus::Skipped) => "Unchanged",
            (None, _) if planned => "Planned",
            (None, _) => "Synced",
        };
        let rule = match &remarks.takeover {
            Some(Takeover::Adopted(rule)) => format!(" ({rule})"),
            _ => String::new(),
        };
        let mut item = Item::new(name, kind);
        item.netbox_id = netbox_id;
        if let Some(e) = &error {
            self.sink.emit(self.error_detail(Some(item.clone()), e));
        }
        self.sink.emit(SyncEvent::ItemProgress(ItemProgress {
            event: "item_progress".into(),
            phase: self.phase.into(),
            name: name.into(),
            kind: kind.into(),
            status,
            operation: status,
            message: format!("{RUN_PHASE}: {verb} {what} {name}{rule}"),
            item,
            progress: Progress::new(self.counts.total, self.total.max(self.counts.total)),
            id: netbox_id,
            error: error.map(|e| e.message),
            warning: remarks.warning,
            timing: None,
            takeover: remarks.takeover,
        }));
    }

    /// The `error_detail` of a failure in this stage, for one item or the whole stage.
    pub fn error_detail(&self, item: Option<Item>, error: &StageError) -> SyncEvent {
        SyncEvent::ErrorDetail(error.detail_event(self.phase, item))
    }

    pub fn phase(&self) -> &'static str {
        self.phase
    }

    pub fn summary(&self, status: StepStatus, message: impl Into<String>) -> SyncEvent {
        SyncEvent::PhaseSummary(PhaseSummary::new(
            self.phase,
            status,
            message,
            self.counts,
            self.elapsed(),
        ))
    }
}
