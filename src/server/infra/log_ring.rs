//! The server's recent log lines, kept in memory for the logs page (`/logs`, admins): a
//! `tracing` layer beside the one that writes stderr, so that the page shows what the
//! journal shows — the same lines, as filtered by `PROXBOX_LOG`, with no more in them (the
//! logs carry no secrets: secrets are redacted where they are held, and the login name is
//! quoted). The last [`CAPACITY`] lines are kept; live viewers get each new one.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer};

use crate::models::{LogLine, ServerLogFilter};

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
                at: crate::server::infra::db::now_ms(),
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
