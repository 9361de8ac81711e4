//! Where a run's events go. The engine emits into whatever sink it is given, so one run can
//! feed a job log, an SSE stream, a terminal progress bar or a test.

use std::sync::Mutex;

use tokio::sync::mpsc;

use crate::events::SyncEvent;
use crate::models::TakeoverReport;

pub trait EventSink: Send + Sync {
    /// Takes one event. Must not block: a slow consumer must never slow the sync.
    fn emit(&self, event: SyncEvent);
}

/// Sends events into an unbounded channel (the job runner drains it into the job log).
pub struct ChannelSink(pub mpsc::UnboundedSender<SyncEvent>);

impl EventSink for ChannelSink {
    fn emit(&self, event: SyncEvent) {
        // A closed receiver means nobody records this run any more; the run itself goes on.
        let _ = self.0.send(event);
    }
}

/// Keeps every event in memory, in order (tests and the headless `proxbox sync`).
#[derive(Default)]
pub struct CollectSink(Mutex<Vec<SyncEvent>>);

impl CollectSink {
    pub fn events(&self) -> Vec<SyncEvent> {
        self.0
            .lock()
            .expect("no panics while holding the lock")
            .clone()
    }
}

impl EventSink for CollectSink {
    fn emit(&self, event: SyncEvent) {
        self.0
            .lock()
            .expect("no panics while holding the lock")
            .push(event);
    }
}

/// Passes every event on, and tallies what the run took over from another tool (the
/// takeover report `proxbox sync` ends with).
pub struct Tallying<'a> {
    inner: &'a dyn EventSink,
    report: Mutex<TakeoverReport>,
}

impl<'a> Tallying<'a> {
    pub fn new(inner: &'a dyn EventSink) -> Tallying<'a> {
        Tallying {
            inner,
            report: Mutex::default(),
        }
    }

    pub fn report(self) -> TakeoverReport {
        self.report
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .finished()
    }
}

impl EventSink for Tallying<'_> {
    fn emit(&self, event: SyncEvent) {
        if let (SyncEvent::ItemProgress(item), Ok(mut report)) = (&event, self.report.lock()) {
            report.tally(item);
        }
        self.inner.emit(event);
    }
}

/// Writes each event as one line of JSON, `{"event": NAME, "data": PAYLOAD}`, flushed at
/// once (`proxbox sync --output json`, for scripts that read the run as it goes).
pub struct JsonLines<W: std::io::Write + Send>(pub Mutex<W>);

impl<W: std::io::Write + Send> EventSink for JsonLines<W> {
    fn emit(&self, event: SyncEvent) {
        let line = format!(
            "{{\"event\":{},\"data\":{}}}\n",
            serde_json::Value::from(event.name()),
            event.payload_json()
        );
        // A closed pipe must not stop the sync: write errors are ignored.
        if let Ok(mut out) = self.0.lock() {
            let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
        }
    }
}

/// Sends each event to several sinks.
pub struct FanOut<'a>(pub Vec<&'a dyn EventSink>);

impl EventSink for FanOut<'_> {
    fn emit(&self, event: SyncEvent) {
        if let Some((last, rest)) = self.0.split_last() {
            for sink in rest {
                sink.emit(event.clone());
            }
            last.emit(event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Complete, ErrorEvent};

    #[test]
    fn json_lines_writes_one_parseable_object_per_event() {
        let sink = JsonLines(Mutex::new(Vec::new()));
        sink.emit(SyncEvent::Error(ErrorEvent::new(
            "devices",
            "line one\nline two",
            "d",
        )));
        sink.emit(SyncEvent::Complete(Complete {
            ok: true,
            message: "done".into(),
            result: None,
            errors: None,
        }));
        let text = String::from_utf8(sink.0.into_inner().unwrap()).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["event"], "error");
        assert_eq!(lines[0]["data"]["error"], "line one\nline two");
        assert_eq!(lines[1]["event"], "complete");
        assert_eq!(lines[1]["data"]["ok"], true);
    }

    #[test]
    fn fan_out_keeps_order_in_every_sink() {
        let (a, b) = (CollectSink::default(), CollectSink::default());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let channel = ChannelSink(tx);
        let all = FanOut(vec![&a, &b, &channel]);
        all.emit(SyncEvent::Error(ErrorEvent::new(
            "devices", "boom", "detail",
        )));
        all.emit(SyncEvent::Complete(Complete {
            ok: false,
            message: "failed".into(),
            result: None,
            errors: None,
        }));
        for sink in [&a, &b] {
            let names: Vec<_> = sink.events().iter().map(SyncEvent::name).collect();
            assert_eq!(names, ["error", "complete"]);
        }
        assert_eq!(rx.try_recv().unwrap().name(), "error");
        assert!(rx.try_recv().unwrap().is_terminal());
    }

    #[test]
    fn a_gone_receiver_does_not_stop_the_sender() {
        let (tx, rx) = mpsc::unbounded_channel();
        drop(rx);
        ChannelSink(tx).emit(SyncEvent::Error(ErrorEvent::new("x", "y", "z")));
    }
}
