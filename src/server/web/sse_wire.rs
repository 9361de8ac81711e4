//! Server-sent events on the wire: frames with `id:`, `event:` and `data:` lines, the
//! keepalive comment, the response headers, and the frames every failed stream ends with.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::events::SyncEvent;
use crate::server::sync::failure::{failure_ending, StageError};

/// One frame: `id:` (when the event is in a log), `event:`, and the data split into
/// `data:` lines at every line break an `EventSource` knows (CRLF, LF and a lone CR), so
/// that none of them ends the field early; the data arrives with LF line breaks.
pub fn frame(id: Option<i64>, name: &str, data: &str) -> String {
    let mut out = String::with_capacity(data.len() + name.len() + 32);
    if let Some(id) = id {
        out.push_str(&format!("id: {id}\n"));
    }
    out.push_str("event: ");
    out.push_str(name);
    out.push('\n');
    for line in data.replace("\r\n", "\n").split(['\n', '\r']) {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out
}

pub const KEEPALIVE: &str = ": keepalive\n\n";

/// The last frame of a stream the server ends because it is going down: a comment (no
/// event), so an `EventSource` reconnects and resumes after its `Last-Event-ID`.
pub const SHUTTING_DOWN: &str = ": proxbox is shutting down; reconnect to resume\n\n";

/// Whether a path answers with an event stream (also its errors).
pub fn is_stream_path(path: &str) -> bool {
    path.ends_with("/stream")
}

/// An event-stream response: its content type, and the headers that keep proxies from
/// caching or buffering it (docs/contract.md, "Events").
pub fn event_stream(status: StatusCode, body: Body) -> Response {
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
pub fn failure_frames(phase: &str, error: &StageError) -> String {
    failure_ending(phase, error)
        .iter()
        .map(|event| frame(None, event.name(), &event.payload_json()))
        .collect()
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
    use crate::error::AppError;
    use crate::events::ErrorCategory;

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
        let body = failure_frames(
            "stream",
            &AppError::NotFound("Job 9".into()).as_stage_error(),
        );
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
}
