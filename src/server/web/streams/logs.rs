//! `GET /logs/stream`: the server's log lines (kept by `infra::log_ring`) as an event
//! stream for the logs page's live view, for admins only, re-checked at every keepalive.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use tokio::sync::broadcast;

use crate::error::AppError;
use crate::models::{LogLine, Permission, ServerLogFilter};
use crate::server::infra::log_ring::{ring, CAPACITY};
use crate::server::web::auth::{recheck, Caller};
use crate::server::web::respond::Wants;
use crate::server::web::sse_wire::{event_stream, failure_frames, frame, KEEPALIVE, SHUTTING_DOWN};
use crate::server::web::state::AppState;

/// `GET /logs/stream?after=SEQ&level=&target=`: the kept lines after `after`, then each
/// new one, as `log` events (the logs page's live view).
///
/// The caller's rights are read again at every keepalive: a demoted or removed admin's
/// stream ends with the refusal's frames.
pub async fn stream(
    State(state): State<AppState>,
    Caller(auth): Caller,
    Query(query): Query<StreamQuery>,
) -> Response {
    let Some(auth) = auth else {
        return AppError::Unauthorized.render(Wants::Events);
    };
    let filter = ServerLogFilter {
        level: query.level,
        target: query.target,
    };
    // Subscribed before reading the kept lines, so that none falls between the two.
    let live = ring().subscribe();
    let backlog = ring().recent(&filter, query.after, CAPACITY);
    let last = backlog.last().map_or(query.after, |line| line.seq);
    let keepalive = state.jobs.settings().keepalive;
    let shutdown = state.jobs.shutting_down();
    let start = futures::stream::iter(
        backlog
            .into_iter()
            .map(|line| Ok::<Bytes, Infallible>(Bytes::from(log_frame(&line)))),
    );
    let tail = futures::stream::unfold(
        (live, last, shutdown, filter, false),
        move |(mut live, mut last, mut shutdown, filter, done)| {
            let (state, auth) = (state.clone(), auth.clone());
            async move {
                if done {
                    return None;
                }
                loop {
                    let (text, ended) = tokio::select! {
                        received = live.recv() => match received {
                            Ok(line) if line.seq > last && filter.admits(&line) => {
                                last = line.seq;
                                (log_frame(&line), false)
                            }
                            Ok(_) => continue,
                            // Too slow for the live channel: say so, then go on with what comes.
                            Err(broadcast::error::RecvError::Lagged(missed)) => (
                                frame(None, "lagged", &serde_json::json!({ "missed": missed }).to_string()),
                                false,
                            ),
                            Err(broadcast::error::RecvError::Closed) => return None,
                        },
                        _ = tokio::time::sleep(keepalive) => match recheck(&state, &auth, Permission::Administer).await {
                            Ok(_) => (KEEPALIVE.to_string(), false),
                            Err(refusal) => (failure_frames("stream", &refusal.as_stage_error()), true),
                        },
                        () = crate::server::jobs::going_down(&mut shutdown) => (SHUTTING_DOWN.to_string(), true),
                    };
                    return Some((
                        Ok::<Bytes, Infallible>(Bytes::from(text)),
                        (live, last, shutdown, filter, ended),
                    ));
                }
            }
        },
    );
    event_stream(
        StatusCode::OK,
        Body::from_stream(futures::StreamExt::chain(start, tail)),
    )
}

fn log_frame(line: &LogLine) -> String {
    frame(Some(line.seq as i64), "log", &line.to_wire())
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct StreamQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    level: String,
    #[serde(default)]
    target: String,
}
