//! `GET /streams/check/stream`: a short test stream for the streams check page — five
//! `tick` events 400 ms apart, each with the server's clock, then `done` — so that the
//! browser can tell whether whatever sits between it and Proxbox delivers frames one by
//! one or holds them back until the response ends.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::Response;

use crate::server::web::sse_wire::{event_stream, frame};

pub const TICKS: u64 = 5;
pub const TICK_EVERY: Duration = Duration::from_millis(400);

pub async fn test_stream() -> Response {
    let frames = futures::stream::unfold(0u64, |n| async move {
        if n > TICKS {
            return None;
        }
        if n > 0 {
            tokio::time::sleep(TICK_EVERY).await;
        }
        let text = if n < TICKS {
            let data =
                serde_json::json!({ "n": n + 1, "sent_at": crate::server::infra::db::now_ms() });
            frame(None, "tick", &data.to_string())
        } else {
            frame(None, "done", "{}")
        };
        Some((Ok::<Bytes, Infallible>(Bytes::from(text)), n + 1))
    });
    event_stream(StatusCode::OK, Body::from_stream(frames))
}
