//! The server's recent log lines, kept in memory for the logs page (`/logs`, admins): a
//! `tracing` layer beside the one that writes stderr, so that the page shows what the
//! journal shows — the same lines, as filtered by `PROXBOX_LOG`, with no more in them (the
//! logs carry no secrets: secrets are redacted where they are held, and the login name is
//! quoted). The last [`CAPACITY`] lines are kept; live viewers get each new one.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer};

use crate::error::AppError;
use crate::models::{LogLine, Permission, ServerLogFilter};
use crate::server::auth::{recheck, Caller};
use crate::server::respond::Wants;
use crate::server::sse_wire::{event_stream, failure_frames, frame, KEEPALIVE, SHUTTING_DOWN};
use crate::server::state::AppState;

/// Lines kept (about 0.5 MB at a typical 200 bytes a line).
pub const CAPACITY: usize = 2_000;
/// Longest message kept; the rest is cut with a mark.
const MAX_MESSAGE: usize = 2_000;

pub struct LogRing {
    lines: Mutex<VecDeque<Arc<LogLine>>>,
    next_seq: Mutex<u64>,
    live: broadcast::Sender<Arc<LogLine>>,
}

impl LogRing {
    fn new() -> LogRing {
        LogRing {
            lines: Mutex::new(VecDeque::with_capacity(CAPACITY)),
            next_seq: Mutex::new(1),
            live: broadcast::channel(256).0,
        }
    }

    fn push(&self, level: &str, target: &str, message: String) {
        let line = {
            let mut seq = self.next_seq.lock().unwrap_or_else(|p| p.into_inner());
            let line = Arc::new(LogLine {
                seq: *seq,
                at: crate::server::db::now_ms(),
                level: level.to_string(),
                target: target.to_string(),
                message,
            });
            *seq += 1;
            let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
            if lines.len() == CAPACITY {
                lines.pop_front();
            }
            lines.push_back(line.clone());
            line
        };
        let _ = self.live.send(line);
    }

    /// The kept lines after `after` that `filter` admits, oldest first, at most `limit`
    /// (the newest ones).
    pub fn recent(&self, filter: &ServerLogFilter, after: u64, limit: usize) -> Vec<LogLine> {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let mut chosen: Vec<LogLine> = lines
            .iter()
            .rev()
            .filter(|line| line.seq > after && filter.admits(line))
            .take(limit)
            .map(|line| (**line).clone())
            .collect();
        chosen.reverse();
        chosen
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LogLine>> {
        self.live.subscribe()
    }
}

/// The process's ring (the logging layer writes it, the page reads it).
pub fn ring() -> &'static LogRing {
    static RING: OnceLock<LogRing> = OnceLock::new();
    RING.get_or_init(LogRing::new)
}

/// The `tracing` layer that keeps lines in [`ring`].
pub struct RingLayer;

impl<S: tracing::Subscriber> Layer<S> for RingLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut text = LineText::default();
        event.record(&mut text);
        let metadata = event.metadata();
        ring().push(metadata.level().as_str(), metadata.target(), text.finish());
    }
}

/// The message, then ` field=value` for each field, as the text log writes them.
#[derive(Default)]
struct LineText {
    message: String,
    fields: String,
}

impl LineText {
    fn finish(self) -> String {
        let mut text = self.message;
        text.push_str(&self.fields);
        if text.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str(" …(cut)");
        }
        text
    }
}

impl Visit for LineText {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn lines_are_kept_with_their_fields_filtered_and_the_oldest_dropped() {
        let subscriber = tracing_subscriber::registry().with(RingLayer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "proxbox::server::jobs::worker", job = 7, status = "completed", "job ended");
            tracing::warn!(target: "proxbox::server::cli", "a warning\nwith a second line");
        });
        let all = ring().recent(&ServerLogFilter::default(), 0, CAPACITY);
        let ended = all
            .iter()
            .find(|l| l.message.starts_with("job ended"))
            .expect("the line is kept");
        assert_eq!(ended.message, "job ended job=7 status=\"completed\"");
        assert_eq!(ended.level, "INFO");
        let warnings = ring().recent(
            &ServerLogFilter {
                level: "warn".into(),
                target: "server::cli".into(),
            },
            0,
            10,
        );
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].seq > ended.seq);

        for i in 0..CAPACITY {
            ring().push("DEBUG", "filler", format!("line {i}"));
        }
        let kept = ring().recent(&ServerLogFilter::default(), 0, usize::MAX);
        assert_eq!(kept.len(), CAPACITY);
        assert!(
            kept.iter().all(|l| l.target == "filler"),
            "the oldest lines went first"
        );
        assert_eq!(ring().recent(&ServerLogFilter::default(), 0, 3).len(), 3);
    }
}
