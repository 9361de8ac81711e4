//! The stream of one job: replay from the log, then tail it live. Whatever goes wrong, a
//! client reading it gets `error` then `complete` (framing in `server::sse_wire`).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use crate::error::AppError;
use crate::server::db::Db;
use crate::server::jobs::hub::{JobHub, LoggedEvent};
use crate::server::sse_wire::{event_stream, failure_frames, frame, KEEPALIVE, SHUTTING_DOWN};

/// Events read from the log per query while replaying (each stream holds its own page).
const REPLAY_PAGE: i64 = 200;

/// Where a client resumes: after `Last-Event-ID` (header, as EventSource sends it on
/// reconnect) or `?last_event_id=` (for a page reloaded mid-stream).
pub fn resume_point(headers: &HeaderMap, query: Option<i64>) -> i64 {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .or(query)
        .unwrap_or(0)
        .max(0)
}

/// Streams a job from after `after_seq`: the log first, then live events, until its
/// `complete` frame.
pub fn job_stream(
    db: Db,
    hub: JobHub,
    job_id: i64,
    after_seq: i64,
    keepalive: Duration,
    shutdown: watch::Receiver<bool>,
) -> Response {
    let receiver = hub.subscribe(job_id);
    let state = JobStream {
        db,
        hub,
        job_id,
        receiver,
        last_sent: after_seq,
        backlog: VecDeque::new(),
        read_log: true,
        checked_job: false,
        ended_checks: 0,
        done: false,
        keepalive,
        shutdown,
    };
    let frames = futures::stream::unfold(state, |mut state| async move {
        let frame = state.next_frame().await?;
        Some((Ok::<Bytes, Infallible>(Bytes::from(frame)), state))
    });
    event_stream(StatusCode::OK, Body::from_stream(frames))
}

struct JobStream {
    db: Db,
    hub: JobHub,
    job_id: i64,
    receiver: tokio::sync::broadcast::Receiver<Arc<LoggedEvent>>,
    last_sent: i64,
    backlog: VecDeque<Arc<LoggedEvent>>,
    /// Read the log before listening (at the start, and after falling behind).
    read_log: bool,
    checked_job: bool,
    /// How often the log was read to its end without `complete` although the job ended.
    ended_checks: u8,
    done: bool,
    keepalive: Duration,
    /// The process is going down: the stream ends at once, for the client to resume
    /// after its last event id on the next start.
    shutdown: watch::Receiver<bool>,
}

impl JobStream {
    async fn next_frame(&mut self) -> Option<String> {
        loop {
            if self.done {
                return None;
            }
            if let Some(event) = self.backlog.pop_front() {
                if event.seq <= self.last_sent {
                    continue;
                }
                self.last_sent = event.seq;
                self.done = event.is_terminal();
                return Some(frame(Some(event.seq), &event.name, &event.data));
            }
            if self.read_log {
                match self
                    .db
                    .job_events_after(self.job_id, self.last_sent, REPLAY_PAGE)
                    .await
                {
                    Ok(events) if !events.is_empty() => {
                        self.backlog
                            .extend(events.into_iter().map(|e| Arc::new(e.into())));
                        continue;
                    }
                    Ok(_) => self.read_log = false,
                    Err(e) => {
                        tracing::warn!(job = self.job_id, error = %e, "job stream cannot read the log");
                        return Some(self.fail(AppError::Internal(
                            "Proxbox cannot read the job log from its database.".into(),
                        )));
                    }
                }
                if !self.checked_job {
                    self.checked_job = true;
                    if let Some(ending) = self.check_job().await {
                        return Some(ending);
                    }
                }
                continue;
            }
            tokio::select! {
                received = self.receiver.recv() => match received {
                    Ok(event) => self.backlog.push_back(event),
                    // Fell behind the live channel: the log has everything.
                    Err(RecvError::Lagged(_)) => self.read_log = true,
                    Err(RecvError::Closed) => {
                        self.receiver = self.hub.subscribe(self.job_id);
                        self.read_log = true;
                    }
                },
                _ = tokio::time::sleep(self.keepalive) => return Some(KEEPALIVE.to_string()),
                () = crate::server::streams::ws::going_down(&mut self.shutdown) => {
                    self.done = true;
                    return Some(SHUTTING_DOWN.to_string());
                }
            }
        }
    }

    /// After the replay: a job that does not exist, or that ended without a `complete`
    /// in its log, still ends the stream properly.
    async fn check_job(&mut self) -> Option<String> {
        match self.db.job(self.job_id).await {
            Ok(None) => Some(self.fail(AppError::NotFound(format!("Job {}", self.job_id)))),
            // The row and the log's `complete` commit together, so an ended job whose
            // log we read to the end has its `complete` in what we read, unless it was
            // committed between the two reads: read once more before giving up.
            Ok(Some(job)) if !job.status().is_active() => {
                self.ended_checks += 1;
                if self.ended_checks == 1 {
                    self.read_log = true;
                    self.checked_job = false;
                    return None;
                }
                Some(self.fail(AppError::Internal(format!(
                    "Job {} ended ({}) without its final event.",
                    self.job_id,
                    job.status().as_str()
                ))))
            }
            Ok(Some(_)) => None,
            Err(e) => {
                tracing::warn!(job = self.job_id, error = %e, "job stream cannot read the job");
                Some(self.fail(AppError::Internal(
                    "Proxbox cannot read the job from its database.".into(),
                )))
            }
        }
    }

    fn fail(&mut self, error: AppError) -> String {
        self.done = true;
        failure_frames("stream", &error.as_stage_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn resume_point_prefers_the_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(resume_point(&headers, None), 0);
        assert_eq!(resume_point(&headers, Some(4)), 4);
        headers.insert("last-event-id", HeaderValue::from_static(" 12 "));
        assert_eq!(resume_point(&headers, Some(4)), 12);
        headers.insert("last-event-id", HeaderValue::from_static("junk"));
        assert_eq!(resume_point(&headers, None), 0);
    }
}
