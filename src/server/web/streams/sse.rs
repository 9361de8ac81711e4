//! The stream of one job: replay from the log, then tail it live ([`JobFollower`]), as
//! server-sent events. Whatever goes wrong, a client reading it gets `error` then
//! `complete` (framing in `server::sse_wire`).

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::follow::{Followed, JobFollower};
use crate::server::infra::metrics::OpenClient;
use crate::server::web::sse_wire::{event_stream, failure_frames, frame, KEEPALIVE, SHUTTING_DOWN};

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

/// Streams what `follower` reads — the job's log first, then live events — until its
/// `complete` frame.
pub fn job_stream(follower: JobFollower, open: OpenClient) -> Response {
    // Counted as open for as long as the body lives.
    let frames = futures::stream::unfold((follower, open), |(mut follower, open)| async move {
        let frame = match follower.next().await? {
            Followed::Event(event) => frame(Some(event.seq), &event.name, &event.data),
            Followed::Idle => KEEPALIVE.to_string(),
            Followed::ShuttingDown => SHUTTING_DOWN.to_string(),
            Followed::Failed(error) => failure_frames("stream", &error),
        };
        Some((
            Ok::<Bytes, Infallible>(Bytes::from(frame)),
            (follower, open),
        ))
    });
    event_stream(StatusCode::OK, Body::from_stream(frames))
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
