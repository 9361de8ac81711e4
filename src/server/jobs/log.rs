//! The job log writer: the run emits into an unbounded channel (never waiting), and one
//! task per job drains it, numbering events, writing them in batches and then publishing
//! them. Batches form by themselves: whatever arrived while the previous write was in
//! flight goes into the next one, so a fast run costs few transactions and a slow one
//! sees every event within one database round trip. A terminal event is written the
//! moment it arrives, like any other.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::hub::{JobHub, LoggedEvent};
use crate::events::{Complete, SyncEvent};
use crate::models::JobStatus;
use crate::server::infra::db::jobs::{FinishGuard, JobEnd, StoredEvent};
use crate::server::infra::db::Db;
use crate::server::infra::metrics::{Metrics, StageClock};
use crate::server::sync::sink::EventSink;

/// Most events one write carries.
const MAX_BATCH: usize = 500;

/// What the log writer receives: the run's events, then how the job ended.
// Nearly every item is an event: boxing it to shrink the rare `End` would cost an
// allocation per event.
#[allow(clippy::large_enum_variant)]
pub enum LogItem {
    Event(SyncEvent),
    /// The last item: `complete` is logged together with the job's final status.
    End(JobStatus, Complete),
}

/// Where a job's run emits. Holds back `complete`, which the runner sends with the job's
/// status once it knows it (see [`JobSink::finish`]).
pub struct JobSink {
    sender: mpsc::UnboundedSender<LogItem>,
    complete: Mutex<Option<Complete>>,
    metrics: Arc<Metrics>,
    stages: StageClock,
}

impl JobSink {
    pub fn new(sender: mpsc::UnboundedSender<LogItem>, metrics: Arc<Metrics>) -> JobSink {
        JobSink {
            sender,
            complete: Mutex::new(None),
            metrics,
            stages: StageClock::default(),
        }
    }

    pub fn take_complete(&self) -> Option<Complete> {
        self.complete
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Ends the log: `complete` and the job's status are written in one transaction.
    pub fn finish(self, status: JobStatus, complete: Complete) {
        let _ = self.sender.send(LogItem::End(status, complete));
    }
}

impl EventSink for JobSink {
    fn emit(&self, event: SyncEvent) {
        self.metrics.observe_event(&event, &self.stages);
        match event {
            SyncEvent::Complete(complete) => {
                *self.complete.lock().unwrap_or_else(|p| p.into_inner()) = Some(complete);
            }
            // A closed writer means the process is going down; the run stops with it.
            other => {
                let _ = self.sender.send(LogItem::Event(other));
            }
        }
    }
}

/// Writes a job's events as they come until its end (or until the sender side closes);
/// returns whether the job's end was recorded.
pub async fn write_log(
    db: Db,
    hub: JobHub,
    job_id: i64,
    mut last_seq: i64,
    mut items: mpsc::UnboundedReceiver<LogItem>,
    instance: Arc<str>,
) -> bool {
    let mut batch = Vec::new();
    while let Some(first) = items.recv().await {
        let mut end = None;
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                LogItem::Event(event) => batch.push(event),
                LogItem::End(status, complete) => {
                    batch.push(SyncEvent::Complete(complete.clone()));
                    end = Some((status, complete));
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                next = items.try_recv().ok();
            }
        }
        let finish = end.as_ref().map(|(status, complete)| JobEnd {
            guard: FinishGuard::Running,
            status: *status,
            complete,
        });
        let (seq, recorded) = append(
            &db,
            &hub,
            job_id,
            last_seq,
            batch.drain(..),
            &instance,
            finish.as_ref(),
        )
        .await;
        last_seq = seq;
        if end.is_some() {
            return recorded;
        }
    }
    false
}

/// Numbers, stores and publishes events after `last_seq` (with `end`, also the job's
/// end); returns the new last number and whether it was stored. A database that refuses
/// the write is retried a few times; if it keeps failing the events are still published
/// (watchers see them) and the failure is logged.
pub async fn append(
    db: &Db,
    hub: &JobHub,
    job_id: i64,
    last_seq: i64,
    events: impl Iterator<Item = SyncEvent>,
    instance: &str,
    end: Option<&JobEnd<'_>>,
) -> (i64, bool) {
    let stored: Vec<StoredEvent> = events
        .enumerate()
        .map(|(i, event)| StoredEvent {
            seq: last_seq + 1 + i as i64,
            name: event.name().to_string(),
            data: event.payload_json(),
        })
        .collect();
    let newest = stored.last().map_or(last_seq, |e| e.seq);
    let notice = format!("e:{instance}:{job_id}:{newest}");
    let mut delay = Duration::from_millis(50);
    let mut recorded = false;
    for attempt in 1..=5 {
        match db
            .append_job_events(job_id, &stored, Some(&notice), end)
            .await
        {
            Ok(true) => {
                recorded = true;
                break;
            }
            Ok(false) => {
                tracing::warn!(
                    job = job_id,
                    "the job was ended elsewhere; its last events are dropped"
                );
                return (last_seq, false);
            }
            Err(e) if attempt < 5 => {
                tracing::warn!(job = job_id, error = %e, attempt, "job log write failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 4;
            }
            Err(e) => {
                tracing::error!(job = job_id, error = %e, events = stored.len(), "job log write failed; these events are only streamed live");
            }
        }
    }
    let logged: Vec<Arc<LoggedEvent>> = stored
        .into_iter()
        .map(|e| Arc::new(LoggedEvent::from(e)))
        .collect();
    hub.publish(job_id, &logged);
    (newest, recorded)
}
