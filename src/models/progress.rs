//! A job's progress folded from its events: per-stage state and counts, errors, and the
//! overall outcome. The job page folds the stored log on the server; the live panel folds
//! the same events as they stream in the browser.

use serde::{Deserialize, Serialize};

use crate::events::{Counts, ErrorDetail, StepStatus, SyncEvent, RUN_PHASE};

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
    /// The objects the stage's own discovery announced (0 until it arrived).
    #[serde(default)]
    pub expected: u64,
}

impl StageProgress {
    /// How far the stage is, in whole percent: a running stage never reads 100 before its
    /// step completed.
    pub fn percent(&self) -> u64 {
        match self.state {
            StageState::Pending => 0,
            StageState::Completed | StageState::Failed => 100,
            StageState::Running => (self.counts.total * 100 / self.expected.max(1)).min(99),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobProgress {
    pub stages: Vec<StageProgress>,
    pub errors: Vec<ErrorDetail>,
    /// `Some(ok)` once `complete` arrived.
    pub finished: Option<bool>,
    pub message: String,
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
            expected: 0,
        });
        self.stages.last_mut().expect("just pushed")
    }

    /// Takes one more event into account.
    pub fn apply(&mut self, event: &SyncEvent) {
        match event {
            // The run's first discovery lists its stages; each stage's own, its objects.
            SyncEvent::Discovery(d) if d.phase == RUN_PHASE => {
                self.message = d.message.clone();
                for stage in d.items.iter().filter(|i| i.kind == "stage") {
                    self.stage(&stage.name);
                }
            }
            SyncEvent::Discovery(d) => self.stage(&d.phase).expected = d.count,
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

    /// How far the run is, in whole percent for a progress bar: each stage an equal share,
    /// a running one by the objects it handled of those its discovery announced (integers:
    /// formatting floats would cost the browser bundle ~8 KB).
    pub fn percent(&self) -> u64 {
        if self.finished.is_some() {
            return 100;
        }
        let shares: u64 = self.stages.iter().map(StageProgress::percent).sum();
        (shares / self.stages.len().max(1) as u64).min(99)
    }

    /// Whether a discovery or step arrived: the run has something to show.
    pub fn started(&self) -> bool {
        !self.stages.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Complete, Discovery, Item, ItemProgress, ItemStatus, Progress, Step};

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

    fn discovery(phase: &str, items: Vec<Item>) -> SyncEvent {
        SyncEvent::Discovery(Discovery::new(phase, "found", items, Default::default()))
    }

    fn item(phase: &str, status: ItemStatus) -> SyncEvent {
        SyncEvent::ItemProgress(ItemProgress {
            event: "item_progress".into(),
            phase: phase.into(),
            name: "pve0".into(),
            kind: "node".into(),
            status,
            operation: status,
            message: String::new(),
            item: Item::new("pve0", "node"),
            progress: Progress::new(1, 4),
            id: None,
            error: None,
            warning: None,
            timing: None,
            takeover: None,
        })
    }

    #[test]
    fn the_bar_advances_per_stage_and_per_item_of_the_stage() {
        let mut events = vec![discovery(
            RUN_PHASE,
            vec![Item::stage("devices"), Item::stage("virtual-machines")],
        )];
        let announced = JobProgress::from_events(&events);
        assert_eq!(announced.stages.len(), 2, "the stages, not their objects");
        assert_eq!(announced.percent(), 0);
        events.push(step("devices", StepStatus::Started));
        events.push(discovery(
            "devices",
            (0..4)
                .map(|n| Item::new(format!("pve{n}"), "node"))
                .collect(),
        ));
        events.push(item("devices", ItemStatus::Created));
        events.push(item("devices", ItemStatus::Skipped));
        let half = JobProgress::from_events(&events);
        assert_eq!(half.stages[0].expected, 4);
        assert_eq!(half.stages[0].percent(), 50);
        assert_eq!(half.percent(), 25, "half of the first of two stages");
        events.push(item("devices", ItemStatus::Skipped));
        events.push(item("devices", ItemStatus::Skipped));
        assert_eq!(
            JobProgress::from_events(&events).percent(),
            49,
            "a stage with every object reported is not done before its step says so"
        );
        events.push(step("devices", StepStatus::Completed));
        assert_eq!(JobProgress::from_events(&events).percent(), 50);
    }
}
