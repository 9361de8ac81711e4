//! `text/event-stream` responses: the framing, the stream of one job (replay from the log,
//! then tail it live) and the short error streams that stand in when there is no job to
//! stream. Whatever goes wrong, a client reading a stream gets `error` then `complete`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast::error::RecvError;

use crate::error::AppError;
use crate::events::{ErrorCategory, SyncEvent};
use crate::server::db::Db;
use crate::server::http::status_of;
use crate::server::jobs::hub::{JobHub, LoggedEvent};
use crate::server::sync::failure::failure_ending;
use crate::server::sync::failure::StageError;

/// Events read from the log per query while replaying.
const REPLAY_PAGE: i64 = 500;

/// One frame: `id:` (when the event is in a log), `event:`, and the data split into
/// `data:` lines (a line break inside the data would otherwise end the field).
pub fn frame(id: Option<i64>, name: &str, data: &str) -> String {
    let mut out = String::with_capacity(data.len() + name.len() + 32);
    if let Some(id) = id {
        out.push_str(&format!("id: {id}\n"));
    }
    out.push_str("event: ");
    out.push_str(name);
    out.push('\n');
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        out.push('\n');
    }
    out.push('\n');
    out
}

pub const KEEPALIVE: &str = ": keepalive\n\n";

/// Whether a path answers with an event stream (also its errors).
pub fn is_stream_path(path: &str) -> bool {
    path.ends_with("/stream")
}

fn stream_headers(status: StatusCode, body: Body) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The failure as it ends every stream: `error_detail`, `error`, `complete ok=false`.
pub fn failure_frames(error: &StageError) -> String {
    failure_ending("stream", error)
        .iter()
        .map(|event| frame(None, event.name(), &event.payload_json()))
        .collect()
}

/// An [`AppError`] in the words of a stream's failure.
pub fn stage_error(error: &AppError) -> StageError {
    let (category, suggestion) = match error {
        AppError::Unauthorized | AppError::BadCredentials => (
            ErrorCategory::Authentication,
            "Log in again, or send a valid API key in the X-Proxbox-API-Key header.",
        ),
        AppError::Csrf => (
            ErrorCategory::Permission,
            "Start the sync from the Proxbox page itself, or call it with an API key.",
        ),
        AppError::NotFound(_) => (
            ErrorCategory::NotFound,
            "Check the id in the address; the jobs page lists the existing jobs.",
        ),
        AppError::Throttled(_) => (ErrorCategory::RateLimit, "Wait, then try again."),
        AppError::Validation(_) | AppError::BadRequest(_) | AppError::Precondition(_) => (
            ErrorCategory::Validation,
            "Fix what the message names, then start the sync again.",
        ),
        AppError::Internal(_) | AppError::Transport(_) => (
            ErrorCategory::Internal,
            "Look at the Proxbox server log for the cause, then try again.",
        ),
    };
    StageError {
        category,
        message: error.to_string(),
        detail: "The stream could not be served.".into(),
        suggestion: suggestion.into(),
    }
}

/// A complete stream that only reports a failure, with the HTTP status of the error
/// (a plugin reading the body still gets the frames it understands).
pub fn error_stream(error: &AppError) -> Response {
    stream_headers(
        status_of(error),
        Body::from(failure_frames(&stage_error(error))),
    )
}

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
    };
    let frames = futures::stream::unfold(state, |mut state| async move {
        let frame = state.next_frame().await?;
        Some((Ok::<Bytes, Infallible>(Bytes::from(frame)), state))
    });
    stream_headers(StatusCode::OK, Body::from_stream(frames))
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
        failure_frames(&stage_error(&error))
    }
}

/// Reads the events of an SSE body back (tests and the headless tools): `(id, event)`.
pub fn parse_frames(body: &str) -> Vec<(Option<i64>, SyncEvent)> {
    body.split("\n\n")
        .filter_map(|block| {
            let (mut id, mut name, mut data) = (None, None, Vec::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.parse().ok();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    name = Some(v);
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push(v);
                }
            }
            SyncEvent::from_frame(name?, &data.join("\n"))
                .ok()
                .map(|e| (id, e))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_has_its_id_event_and_one_data_line_per_line() {
        assert_eq!(
            frame(Some(7), "step", r#"{"a":1}"#),
            "id: 7\nevent: step\ndata: {\"a\":1}\n\n"
        );
        assert_eq!(
            frame(None, "error", "line one\nline two\r\nthree"),
            "event: error\ndata: line one\ndata: line two\ndata: three\n\n"
        );
        assert_eq!(KEEPALIVE, ": keepalive\n\n");
    }

    #[test]
    fn failure_frames_end_with_complete_not_ok() {
        let body = failure_frames(&stage_error(&AppError::NotFound("Job 9".into())));
        let events = parse_frames(&body);
        let names: Vec<&str> = events.iter().map(|(_, e)| e.name()).collect();
        assert_eq!(names, ["error_detail", "error", "complete"]);
        assert!(events.iter().all(|(id, _)| id.is_none()));
        match &events[0].1 {
            SyncEvent::ErrorDetail(d) => assert_eq!(d.category, ErrorCategory::NotFound),
            other => panic!("expected error_detail, got {other:?}"),
        }
        match &events[2].1 {
            SyncEvent::Complete(c) => assert!(!c.ok),
            other => panic!("expected complete, got {other:?}"),
        }
    }

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
