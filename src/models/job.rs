//! Sync jobs as the pages and the JSON API see them, and the WebSocket broadcast.

use serde::{Deserialize, Serialize};

use crate::events::Complete;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Pending,
        JobStatus::Running,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the job can still change (and be cancelled).
    pub fn is_active(self) -> bool {
        matches!(self, JobStatus::Pending | JobStatus::Running)
    }
}

/// What a sync job covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobScope {
    /// Requested stages as named in routes (`full-update`, `devices`…).
    pub stages: Vec<String>,
    /// Proxmox endpoint ids, sorted.
    pub endpoint_ids: Vec<i64>,
    pub dry_run: bool,
}

impl JobScope {
    /// The stages as one label: `full-update`, `devices,vm-disks`.
    pub fn stage_label(&self) -> String {
        self.stages.join(",")
    }
}

/// One job, as listed and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSummary {
    pub id: i64,
    pub kind: String,
    pub scope: JobScope,
    pub status: JobStatus,
    pub requested_by: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// The job's `complete` payload once it ended.
    pub result: Option<Complete>,
    pub rerun_of: Option<i64>,
    pub schedule_id: Option<i64>,
}

/// Pushed to every open dashboard over the WebSocket `/ws`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Broadcast {
    SyncStarted {
        job_id: i64,
        stages: String,
    },
    /// With the job's `complete` payload (`ok`, `message`, `result` / `errors`).
    SyncEnd {
        job_id: i64,
        status: JobStatus,
        #[serde(flatten)]
        complete: Complete,
    },
    Pong,
}
