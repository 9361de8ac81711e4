//! A job's progress folded from its events: per-stage state and counts, errors, and the
//! overall outcome. The job page folds the stored log on the server; the live panel folds
//! the same events as they stream in the browser.

use serde::{Deserialize, Serialize};

use crate::events::{Counts, ErrorDetail, StepStatus, SyncEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageState {
    Pending,
    Running,
    Completed,
    Failed,
}

impl StageState {
    pub fn as_str(self) -> &'static str {
        match self {
            StageState::Pending => "pending",
            StageState::Running => "running",
            StageState::Completed => "completed",
            StageState::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageProgress {
    pub name: String,
    pub state: StageState,
    pub counts: Counts,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobProgress {
    pub stages: Vec<StageProgress>,
    pub errors: Vec<ErrorDetail>,
    /// `Some(ok)` once `complete` arrived.
    pub finished: Option<bool>,
    pub message: String,
    /// Nodes and guests found by discovery.
    pub discovered: u64,
}

impl JobProgress {
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a SyncEvent>) -> JobProgress {
        let mut progress = JobProgress::default();
        for event in events {
            progress.apply(event);
        }
        progress
    }

    fn stage(&mut self, name: &str) -> &mut StageProgress {
        if let Some(index) = self.stages.iter().position(|s| s.name == name) {
            return &mut self.stages[index];
        }
        self.stages.push(StageProgress {
            name: name.to_string(),
            state: StageState::Pending,
            counts: Counts::default(),
        });
        self.stages.last_mut().expect("just pushed")
    }

    /// Takes one more event into account.
    pub fn apply(&mut self, event: &SyncEvent) {
        match event {
            SyncEvent::Discovery(d) => {
                self.discovered = d.count;
                self.message = d.message.clone();
                let planned = d
                    .metadata
                    .get("stages")
                    .and_then(|s| s.as_array())
                    .cloned()
                    .unwrap_or_default();
                for name in planned.iter().filter_map(|n| n.as_str()) {
                    self.stage(name);
                }
            }
            SyncEvent::Step(step) => {
                let state = match step.status {
                    StepStatus::Started => StageState::Running,
                    StepStatus::Completed => StageState::Completed,
                    StepStatus::Failed => StageState::Failed,
                };
                self.message = step.message.clone();
                self.stage(&step.step).state = state;
            }
            SyncEvent::ItemProgress(item) => {
                self.stage(&item.phase).counts.add(item.status);
            }
            SyncEvent::PhaseSummary(summary) => {
                self.stage(&summary.phase).counts = summary.result;
            }
            SyncEvent::ErrorDetail(detail) => self.errors.push(detail.clone()),
            SyncEvent::Complete(complete) => {
                self.finished = Some(complete.ok);
                self.message = complete.message.clone();
            }
            SyncEvent::Substep(_) | SyncEvent::Error(_) => {}
        }
    }

    /// Items handled so far out of those discovery announced, in whole percent for a
    /// progress bar (integers: formatting floats would cost the browser bundle ~8 KB).
    pub fn percent(&self) -> u64 {
        let done: u64 = self.stages.iter().map(|s| s.counts.total).sum();
        let expected = self.discovered.max(1) * self.stages.len().max(1) as u64;
        match self.finished {
            Some(_) => 100,
            None => (done * 100 / expected).min(99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Complete, Step};

    fn step(name: &str, status: StepStatus) -> SyncEvent {
        SyncEvent::Step(Step {
            step: name.into(),
            status,
            message: format!("{name} {status:?}"),
            result: None,
        })
    }

    #[test]
    fn steps_drive_the_stage_states_and_complete_the_outcome() {
        let mut events = vec![
            step("devices", StepStatus::Started),
            step("devices", StepStatus::Completed),
            step("virtual-machines", StepStatus::Started),
        ];
        let running = JobProgress::from_events(&events);
        let states: Vec<_> = running
            .stages
            .iter()
            .map(|s| (s.name.as_str(), s.state))
            .collect();
        assert_eq!(
            states,
            [
                ("devices", StageState::Completed),
                ("virtual-machines", StageState::Running)
            ]
        );
        assert_eq!(running.finished, None);
        assert!(running.percent() < 100);

        events.push(step("virtual-machines", StepStatus::Failed));
        events.push(SyncEvent::Complete(Complete {
            ok: false,
            message: "failed".into(),
            result: None,
            errors: None,
        }));
        let ended = JobProgress::from_events(&events);
        assert_eq!(ended.stages[1].state, StageState::Failed);
        assert_eq!(ended.finished, Some(false));
        assert_eq!(ended.percent(), 100);
    }
}
