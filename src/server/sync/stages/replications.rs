//! `replications`: the cluster's storage replication jobs (`/cluster/replication`), kept
//! in Proxbox's database. A job gone from Proxmox is kept, marked stale with when it was
//! last seen: an operator wants to know that a replication stopped existing. (The
//! documented `/nodes/{node}/replication` status returns only job ids, so no status is kept.)

use proxbox_pve::ReplicationJob;

use crate::events::StepStatus;
use crate::models::{RecordKind, ReplicationRecord};
use crate::server::sync::cluster_view::{cluster_view, ClusterView};
use crate::server::sync::context::SyncContext;
use crate::server::sync::failure::StageError;
use crate::server::sync::inventory::{self, plan_records, Record, RecordPlan, WhenGone};
use crate::server::sync::report::StageReport;
use crate::server::sync::state::RunState;

pub fn record(job: &ReplicationJob, view: &ClusterView) -> Record {
    let body = ReplicationRecord {
        id: job.id.clone(),
        guest: job.guest,
        kind: job.kind.clone(),
        source: job.source.clone(),
        target: job.target.clone(),
        schedule: job.schedule.clone(),
        rate: job.rate,
        disabled: job.disable.unwrap_or(false),
        comment: job.comment.clone(),
    };
    let name = match job.guest.and_then(|vmid| view.guest(vmid, None)) {
        Some(guest) => format!("{} ({} → {})", job.id, guest.name, job.target),
        None => format!("{} (→ {})", job.id, job.target),
    };
    Record::new(RecordKind::Replication, job.id.clone(), name, &body).on(
        job.source.as_deref(),
        job.guest,
        None,
    )
}

pub async fn run(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &mut RunState,
) -> Result<(), StageError> {
    report.substep(
        "read-proxmox",
        StepStatus::Started,
        "Reading the replication jobs from Proxmox",
    );
    let mut plans: Vec<RecordPlan> = Vec::new();
    for source in &ctx.sources {
        let view = cluster_view(state, source).await?;
        let jobs = source.pve.replication_jobs().await?.value;
        let scope = &state.scope;
        let wanted = jobs
            .iter()
            .filter(|job| scope.has_guest(job.guest))
            .map(|job| record(job, &view))
            .collect();
        let stored = ctx
            .db
            .inventory(source.endpoint_id, RecordKind::Replication, None)
            .await?;
        plans.push(plan_records(
            RecordKind::Replication,
            source.endpoint_id,
            WhenGone::MarkStale,
            &stored,
            wanted,
            |r| scope.has_guest(r.vmid.map(|v| v as u64)),
        ));
    }
    report.substep(
        "read-proxmox",
        StepStatus::Completed,
        format!(
            "{} replication jobs",
            plans.iter().map(RecordPlan::listed).sum::<usize>()
        ),
    );
    inventory::discover_and_apply(ctx, report, "replication jobs", &plans).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replication_job_is_named_with_its_guest_and_target() {
        let job = ReplicationJob {
            id: "101-0".into(),
            kind: "local".into(),
            guest: Some(101),
            target: "pve2".into(),
            source: Some("pve1".into()),
            schedule: Some("*/15".into()),
            rate: None,
            disable: None,
            comment: None,
        };
        let unknown = record(&job, &ClusterView::default());
        assert_eq!(unknown.label.name, "101-0 (→ pve2)");
        assert_eq!(unknown.row.node.as_deref(), Some("pve1"));
        let body: ReplicationRecord = serde_json::from_str(&unknown.row.body).unwrap();
        assert!(!body.disabled, "a job without `disable` runs");
        assert_eq!(body.schedule.as_deref(), Some("*/15"));
    }
}
