//! Live fan-out inside one instance: a broadcast channel per watched job, fed only with
//! events already in the job log, and one channel of job lifecycle news for the WebSocket.
//!
//! Because a subscriber only ever sees logged events, "replay from the log, then tail"
//! needs no coordination beyond sequence numbers: it skips what it already sent, and when
//! it falls behind (the channel reports `Lagged`) it reads the missed part from the log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::models::Broadcast;

/// Events a subscriber may fall behind by before it has to catch up from the log.
const JOB_CHANNEL_CAPACITY: usize = 4096;
const BROADCAST_CAPACITY: usize = 256;

/// One event of a job's log, serialised once for every subscriber.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEvent {
    pub seq: i64,
    /// The SSE `event:` name.
    pub name: String,
    /// The SSE `data:` payload.
    pub data: String,
}

impl LoggedEvent {
    pub fn is_terminal(&self) -> bool {
        self.name == "complete"
    }
}

impl From<crate::server::infra::db::jobs::StoredEvent> for LoggedEvent {
    fn from(e: crate::server::infra::db::jobs::StoredEvent) -> Self {
        LoggedEvent {
            seq: e.seq,
            name: e.name,
            data: e.data,
        }
    }
}

struct JobChannel {
    sender: broadcast::Sender<Arc<LoggedEvent>>,
    /// The highest sequence number sent, so that the same event is never sent twice when
    /// it arrives both from the local writer and from another instance's notification.
    last_seq: i64,
}

#[derive(Clone)]
pub struct JobHub {
    jobs: Arc<Mutex<HashMap<i64, JobChannel>>>,
    news: broadcast::Sender<Broadcast>,
}

impl Default for JobHub {
    fn default() -> Self {
        JobHub {
            jobs: Arc::default(),
            news: broadcast::channel(BROADCAST_CAPACITY).0,
        }
    }
}

impl std::fmt::Debug for JobHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobHub").finish_non_exhaustive()
    }
}

impl JobHub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, JobChannel>> {
        self.jobs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Live events of a job from now on (subscribe before reading the log, so that nothing
    /// falls between the two).
    pub fn subscribe(&self, job_id: i64) -> broadcast::Receiver<Arc<LoggedEvent>> {
        let mut jobs = self.lock();
        if jobs.len() > 256 {
            jobs.retain(|_, channel| channel.sender.receiver_count() > 0);
        }
        jobs.entry(job_id)
            .or_insert_with(|| JobChannel {
                sender: broadcast::channel(JOB_CHANNEL_CAPACITY).0,
                last_seq: 0,
            })
            .sender
            .subscribe()
    }

    /// Sends logged events to the job's subscribers, skipping those already sent. A job
    /// nobody watches costs nothing; its channel goes away after its last event.
    pub fn publish(&self, job_id: i64, events: &[Arc<LoggedEvent>]) {
        let mut jobs = self.lock();
        let Some(channel) = jobs.get_mut(&job_id) else {
            return;
        };
        let mut ended = false;
        for event in events {
            if event.seq <= channel.last_seq {
                continue;
            }
            channel.last_seq = event.seq;
            ended |= event.is_terminal();
            // An error only means that nobody listens right now.
            let _ = channel.sender.send(event.clone());
        }
        if ended || channel.sender.receiver_count() == 0 {
            jobs.remove(&job_id);
        }
    }

    /// The last sequence number sent for a watched job; `None` when nobody watches it.
    pub fn watched_since(&self, job_id: i64) -> Option<i64> {
        self.lock()
            .get(&job_id)
            .filter(|channel| channel.sender.receiver_count() > 0)
            .map(|channel| channel.last_seq)
    }

    /// The jobs someone in this instance watches.
    pub fn watched_jobs(&self) -> Vec<i64> {
        self.lock()
            .iter()
            .filter(|(_, channel)| channel.sender.receiver_count() > 0)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Tells every open dashboard.
    pub fn announce(&self, news: Broadcast) {
        let _ = self.news.send(news);
    }

    pub fn news(&self) -> broadcast::Receiver<Broadcast> {
        self.news.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64, name: &str) -> Arc<LoggedEvent> {
        Arc::new(LoggedEvent {
            seq,
            name: name.into(),
            data: "{}".into(),
        })
    }

    #[test]
    fn an_event_arriving_twice_is_sent_once() {
        let hub = JobHub::default();
        let mut rx = hub.subscribe(7);
        hub.publish(7, &[event(1, "step"), event(2, "step")]);
        hub.publish(7, &[event(2, "step"), event(3, "step")]);
        let seqs: Vec<i64> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
        assert_eq!(hub.watched_since(7), Some(3));
    }

    #[test]
    fn the_channel_closes_after_the_terminal_event() {
        let hub = JobHub::default();
        let mut rx = hub.subscribe(1);
        hub.publish(1, &[event(1, "complete")]);
        assert_eq!(rx.try_recv().unwrap().seq, 1);
        assert!(matches!(
            rx.try_recv(),
            Err(broadcast::error::TryRecvError::Closed)
        ));
        assert_eq!(hub.watched_since(1), None);
    }

    #[test]
    fn unwatched_jobs_keep_no_channel() {
        let hub = JobHub::default();
        drop(hub.subscribe(3));
        hub.publish(3, &[event(1, "step")]);
        assert_eq!(hub.watched_since(3), None);
        assert!(hub.lock().is_empty());
    }
}
