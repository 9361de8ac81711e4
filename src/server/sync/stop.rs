//! Stopping a run between two chunks of writes: cancelled, timed out, or the process going
//! down. Cheap to clone and share with a job.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use super::failure::StageError;
use crate::events::ErrorCategory;

/// Why a run was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Cancelled,
    TimedOut {
        limit_secs: u64,
    },
    /// The process is stopping (SIGTERM, Ctrl-C).
    ShuttingDown,
    /// The job was ended elsewhere while this run went on (its heartbeat found it no longer
    /// running under this instance's claim): its endpoints may be another job's now.
    ClaimLost,
}

/// Asks a running sync to stop at its next check; cheap to clone and share with a job.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<(AtomicU8, AtomicU64)>);

impl StopSignal {
    pub fn cancel(&self) {
        let _ = self
            .0
             .0
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Stops the run because the process is going down (a cancel or timeout that came
    /// first keeps its reason).
    pub fn shut_down(&self) {
        let _ = self
            .0
             .0
            .compare_exchange(0, 3, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Stops the run because its job is no longer its own. Wins over every other reason:
    /// nothing more may be written, whatever else was asked.
    pub fn lose_claim(&self) {
        self.0 .0.store(4, Ordering::SeqCst);
    }

    pub fn time_out(&self, limit_secs: u64) {
        self.0 .1.store(limit_secs, Ordering::SeqCst);
        let _ = self
            .0
             .0
            .compare_exchange(0, 2, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Fails with a `cancelled` (or `timeout`) error once the run was asked to stop. Stages
    /// and `apply` call it between chunks, so a stop never tears a bulk write apart.
    pub fn check(&self) -> Result<(), StageError> {
        match self.reason() {
            None => Ok(()),
            Some(StopReason::Cancelled) => Err(StageError {
                category: ErrorCategory::Cancelled,
                message: "The sync was cancelled".into(),
                detail: "Stopped between two chunks of writes; everything written so far is recorded.".into(),
                suggestion: "Run the sync again when you are ready; it continues from what NetBox already has.".into(),
            }),
            Some(StopReason::ShuttingDown) => Err(StageError {
                category: ErrorCategory::Cancelled,
                message: "Proxbox is shutting down; the sync stopped".into(),
                detail: "Stopped between two chunks of writes; everything written so far is recorded.".into(),
                suggestion: "Run the job again (Run now) once Proxbox is back; it continues from what NetBox already has.".into(),
            }),
            Some(StopReason::ClaimLost) => Err(StageError {
                category: ErrorCategory::Internal,
                message: "The sync stopped: its job was ended as interrupted while it ran".into(),
                detail: "This instance's heartbeat found the job no longer running under its claim (the database was unreachable for longer than the stale limit, or another instance ended it); it stopped before writing more, so that it never runs beside the next sync of its endpoints.".into(),
                suggestion: "Run the job again (Run now); a sync continues from what NetBox already has. If this repeats, check the database connection of this instance.".into(),
            }),
            Some(StopReason::TimedOut { limit_secs }) => Err(StageError {
                category: ErrorCategory::Timeout,
                message: format!("The sync ran longer than its limit of {limit_secs} s"),
                detail: "Stopped between two chunks of writes; everything written so far is recorded.".into(),
                suggestion: "Raise the job wall clock (Settings, or PROXBOX_JOB_TIMEOUT_SECS) or sync fewer stages at once.".into(),
            }),
        }
    }

    pub fn reason(&self) -> Option<StopReason> {
        match self.0 .0.load(Ordering::SeqCst) {
            1 => Some(StopReason::Cancelled),
            3 => Some(StopReason::ShuttingDown),
            4 => Some(StopReason::ClaimLost),
            2 => Some(StopReason::TimedOut {
                limit_secs: self.0 .1.load(Ordering::SeqCst),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_stop_reason_wins() {
        let stop = StopSignal::default();
        assert_eq!(stop.reason(), None);
        stop.shut_down();
        stop.cancel();
        stop.time_out(5);
        assert_eq!(stop.reason(), Some(StopReason::ShuttingDown));
        let timed = StopSignal::default();
        timed.time_out(7);
        timed.shut_down();
        assert_eq!(timed.reason(), Some(StopReason::TimedOut { limit_secs: 7 }));
        timed.lose_claim();
        timed.cancel();
        assert_eq!(
            timed.reason(),
            Some(StopReason::ClaimLost),
            "a lost claim wins"
        );
    }
}
