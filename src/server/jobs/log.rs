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
use crate::server::db::jobs::StoredEvent;
use crate::server::db::Db;
use crate::server::sync::sink::EventSink;

/// Most events one write carries.
const MAX_BATCH: usize = 500;

/// Where a job's run emits. Holds back `complete`, so that the job's row is final before
/// any subscriber sees the end of the stream (see [`JobSink::take_complete`]).
pub struct JobSink {
    sender: mpsc::UnboundedSender<SyncEvent>,
    complete: Mutex<Option<Complete>>,
}

impl JobSink {
    pub fn new(sender: mpsc::UnboundedSender<SyncEvent>) -> JobSink {
        JobSink {
            sender,
            complete: Mutex::new(None),
        }
    }

    pub fn take_complete(&self) -> Option<Complete> {
        self.complete
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Sends the held-back `complete` (or any last event) into the log.
    pub fn finish(self, complete: Complete) {
        let _ = self.sender.send(SyncEvent::Complete(complete));
    }
}

impl EventSink for JobSink {
    fn emit(&self, event: SyncEvent) {
        match event {
            SyncEvent::Complete(complete) => {
                *self.complete.lock().unwrap_or_else(|p| p.into_inner()) = Some(complete);
            }
            // A closed writer means the process is going down; the run stops with it.
            other => {
                let _ = self.sender.send(other);
            }
        }
    }
}

/// Writes a job's events as they come until the sender side closes; returns the last
/// sequence number written.
pub async fn write_log(
    db: Db,
    hub: JobHub,
    job_id: i64,
    mut last_seq: i64,
    mut events: mpsc::UnboundedReceiver<SyncEvent>,
    instance: Arc<str>,
) -> i64 {
    let mut batch = Vec::new();
    while let Some(first) = events.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match events.try_recv() {
                Ok(event) => batch.push(event),
                Err(_) => break,
            }
        }
        last_seq = append(&db, &hub, job_id, last_seq, batch.drain(..), &instance).await;
    }
    last_seq
}

/// Numbers, stores and publishes events after `last_seq`; returns the new last number.
/// A database that refuses the write is retried a few times; if it keeps failing the
/// events are still published (watchers see them) and the failure is logged.
pub async fn append(
    db: &Db,
    hub: &JobHub,
    job_id: i64,
    last_seq: i64,
    events: impl Iterator<Item = SyncEvent>,
    instance: &str,
) -> i64 {
    let stored: Vec<StoredEvent> = events
        .enumerate()
        .map(|(i, event)| StoredEvent {
            seq: last_seq + 1 + i as i64,
            name: event.name().to_string(),
            data: event.payload_json(),
        })
        .collect();
    let Some(newest) = stored.last().map(|e| e.seq) else {
        return last_seq;
    };
    let notice = format!("e:{instance}:{job_id}:{newest}");
    let mut delay = Duration::from_millis(50);
    for attempt in 1..=5 {
        match db.append_job_events(job_id, &stored, Some(&notice)).await {
            Ok(()) => break,
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
    newest
}
