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
    /// One node or guest of the (then only) endpoint; `None`: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<SyncTarget>,
    /// The run deletes orphans (`true`) or keeps them (`false`) whatever the setting says;
    /// `None`: the setting decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_orphans: Option<bool>,
}

impl JobScope {
    /// The stages as one label: `full-update`, `devices,vm-disks`.
    pub fn stage_label(&self) -> String {
        self.stages.join(",")
    }

    /// The stages and target, for people: `full-update · guest 105`.
    pub fn title(&self) -> String {
        match &self.target {
            Some(target) => format!("{} · {}", self.stage_label(), target.describe()),
            None => self.stage_label(),
        }
    }
}

/// One node (its device and interfaces: a node page's "Sync this node") or one guest
/// (every stage that keeps something of it: the VM panel's "Sync this guest").
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SyncTarget {
    Node { name: String },
    Guest { vmid: u64 },
}

impl SyncTarget {
    /// As the jobs table keeps it: `node:pve1`, `guest:105`.
    pub fn as_stored(&self) -> String {
        match self {
            SyncTarget::Node { name } => format!("node:{name}"),
            SyncTarget::Guest { vmid } => format!("guest:{vmid}"),
        }
    }

    pub fn parse(raw: &str) -> Option<SyncTarget> {
        match raw.split_once(':')? {
            ("node", name) if !name.is_empty() => Some(SyncTarget::Node { name: name.into() }),
            ("guest", vmid) => Some(SyncTarget::Guest {
                vmid: vmid.parse().ok()?,
            }),
            _ => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            SyncTarget::Node { name } => format!("node {name}"),
            SyncTarget::Guest { vmid } => format!("guest {vmid}"),
        }
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

/// Adoptions a job page lists (its counts cover them all).
pub const TAKEOVER_LISTED: usize = 500;

/// A job with where it stands and one page of its event log, for the job page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDetail {
    pub job: JobSummary,
    /// The whole log folded (up to `last_seq`).
    pub progress: crate::models::JobProgress,
    pub last_seq: i64,
    /// The page of the log the filter asked for.
    pub log: crate::models::LogPage,
    /// Names of the job's Proxmox endpoints (those still configured).
    pub endpoint_names: Vec<String>,
    /// A pending job: why it has not started, and what to do about it.
    pub waiting: Option<String>,
    /// What it took over from another tool (a dry run: would), the adoptions listed up to
    /// [`TAKEOVER_LISTED`].
    pub takeover: crate::models::TakeoverReport,
    /// The server's clock when this was read (milliseconds since the Unix epoch).
    pub as_of: i64,
}

/// Where a job stands, without its log: what a live view of it starts from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSnapshot {
    pub job: JobSummary,
    pub progress: crate::models::JobProgress,
    /// The last event folded into `progress`: a stream resumes after it.
    pub last_seq: i64,
    /// The server's clock when the job was read, so that the elapsed time the browser
    /// first shows is the one the server rendered.
    pub as_of: i64,
}

impl JobSnapshot {
    pub fn of(detail: &JobDetail) -> JobSnapshot {
        JobSnapshot {
            job: detail.job.clone(),
            progress: detail.progress.clone(),
            last_seq: detail.last_seq,
            as_of: detail.as_of,
        }
    }
}

/// Milliseconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`, the same on the server
/// and in the browser (so that hydration finds what the server rendered).
pub fn format_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
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
    /// The watcher saw a change in Proxmox (`web-1 moved pve1 → pve2 by alice@pve`), or
    /// queued the job that carries one to NetBox.
    Watched {
        endpoint: String,
        change: String,
    },
    Pong,
}

impl Broadcast {
    /// The `type`s of the broadcasts after which a dashboard reads its data again (a sync
    /// started or ended, a change seen in Proxmox), for a reader that needs no more than
    /// the type.
    pub const SYNC_NEWS: [&'static str; 3] = ["sync_started", "sync_end", "watched"];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_as_utc() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(1_795_459_759_000), "2026-11-23 18:49:19 UTC");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn sync_news_names_the_types_of_sync_started_sync_end_and_watched() {
        let started = Broadcast::SyncStarted {
            job_id: 1,
            stages: "devices".into(),
        };
        let ended = Broadcast::SyncEnd {
            job_id: 1,
            status: JobStatus::Completed,
            complete: Complete {
                ok: true,
                message: "done".into(),
                result: None,
                errors: None,
            },
        };
        let watched = Broadcast::Watched {
            endpoint: "lab".into(),
            change: "web-1 started".into(),
        };
        let types: Vec<_> = [started, ended, watched, Broadcast::Pong]
            .iter()
            .map(|b| {
                serde_json::to_value(b).unwrap()["type"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(types[..3], Broadcast::SYNC_NEWS);
        assert!(!Broadcast::SYNC_NEWS.contains(&types[3].as_str()));
    }

    #[test]
    fn broadcasts_carry_their_type_and_the_complete_payload() {
        let end = Broadcast::SyncEnd {
            job_id: 3,
            status: JobStatus::Failed,
            complete: Complete {
                ok: false,
                message: "failed".into(),
                result: None,
                errors: None,
            },
        };
        assert_eq!(
            serde_json::to_value(&end).unwrap(),
            serde_json::json!({"type": "sync_end", "job_id": 3, "status": "failed", "ok": false, "message": "failed"})
        );
    }
}
