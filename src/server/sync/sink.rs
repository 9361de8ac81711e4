//! Where a run's events go. The engine emits into whatever sink it is given, so one run can
//! feed a job log, an SSE stream, a terminal progress bar or a test.

use std::sync::Mutex;

use tokio::sync::mpsc;

use crate::events::SyncEvent;

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
