//! `backup-routines`: the cluster's scheduled backup jobs (`/cluster/backup`: schedule,
//! next run, storage, mode, compression, retention, which guests), kept in Proxbox's
//! database for the backups page and its coverage report. A job gone from Proxmox is kept,
//! marked stale with when it was last seen, not deleted.

use proxbox_pve::BackupJob;

use crate::events::StepStatus;
use crate::models::{BackupRoutineRecord, RecordKind, Selection};
use crate::server::sync::context::SyncContext;
use crate::server::sync::failure::StageError;
use crate::server::sync::inventory::{self, plan_records, Record, RecordPlan, WhenGone};
use crate::server::sync::report::StageReport;
use crate::server::sync::state::RunState;

pub fn record(job: &BackupJob) -> Record {
    let mut vmids = job.vmid.clone();
    vmids.sort_unstable();
    let mut exclude = job.exclude.clone();
    exclude.sort_unstable();
    let body = BackupRoutineRecord {
        id: job.id.clone(),
        schedule: job.schedule.clone(),
        storage: job.storage.clone(),
        selection: Selection {
            all: job.all.unwrap_or(false),
            vmids,
            pool: job.pool.clone(),
            exclude,
            node: job.node.clone(),
        },
        enabled: job.enabled.unwrap_or(true),
        mode: job.mode.clone(),
        compress: job.compress.clone(),
        prune_backups: job.prune_backups.clone(),
        notes_template: job.notes_template.clone(),
        comment: job.comment.clone(),
        next_run: job.next_run,
    };
    Record::new(
        RecordKind::BackupRoutine,
        job.id.clone(),
        job.id.clone(),
        &body,
    )
    .on(job.node.as_deref(), None, None)
}

pub async fn run(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    _state: &mut RunState,
) -> Result<(), StageError> {
    report.substep(
        "read-proxmox",
        StepStatus::Started,
        "Reading the backup jobs from Proxmox",
    );
    let mut plans: Vec<RecordPlan> = Vec::new();
    for source in &ctx.sources {
        let jobs = source.pve.backup_jobs().await?.value;
        let stored = ctx
            .db
            .inventory(source.endpoint_id, RecordKind::BackupRoutine, None)
            .await?;
        plans.push(plan_records(
            RecordKind::BackupRoutine,
            source.endpoint_id,
            WhenGone::MarkStale,
            &stored,
            jobs.iter().map(record).collect(),
            |_| true,
        ));
    }
    report.substep(
        "read-proxmox",
        StepStatus::Completed,
        format!(
            "{} backup jobs",
            plans.iter().map(RecordPlan::listed).sum::<usize>()
        ),
    );
    inventory::discover_and_apply(ctx, report, "backup routines", &plans).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_job_keeps_its_selection_in_a_stable_order() {
        let job = BackupJob {
            id: "backup-nightly".into(),
            schedule: Some("02:00".into()),
            storage: Some("pbs".into()),
            node: None,
            vmid: Vec::new(),
            all: Some(true),
            pool: None,
            exclude: vec![113, 103],
            enabled: None,
            mode: Some("snapshot".into()),
            compress: Some("zstd".into()),
            prune_backups: Some("keep-daily=7".into()),
            notes_template: None,
            comment: None,
            next_run: Some(1),
        };
        let record = record(&job);
        assert_eq!(record.row.key, "backup-nightly");
        let body: BackupRoutineRecord = serde_json::from_str(&record.row.body).unwrap();
        assert!(body.enabled, "a job without `enabled` runs");
        assert_eq!(body.selection.exclude, [103, 113]);
        assert_eq!(body.selection.describe(), "all guests except 103, 113");
        let reordered = BackupJob {
            exclude: vec![103, 113],
            ..job
        };
        assert_eq!(
            super::record(&reordered).row.body,
            record.row.body,
            "the same job, the same record: no update"
        );
    }
}
