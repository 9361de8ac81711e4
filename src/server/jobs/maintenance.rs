//! Once per poll interval: end the jobs of instances that died, and start scheduled syncs
//! that are due (never beside an active job of the same endpoint).

use std::sync::Arc;

use super::{end_job, Inner, Jobs, SyncRequest};
use crate::error::AppError;
use crate::events::ErrorCategory;
use crate::models::JobStatus;
use crate::server::infra::db::jobs::Enqueued;
use crate::server::infra::db::jobs::FinishGuard;
use crate::server::infra::db::schedules::ScheduleRow;
use crate::server::infra::db::{now_ms, DbError};
use crate::server::sync::failure::StageError;

/// Ticks between two reads of the stored settings (each job also reads them at its start).
const SETTINGS_EVERY_TICKS: u64 = 10;
/// How often this process tells the others (and waiting jobs' pages) how many workers it
/// runs; it counts as gone after three reports missed ([`runner_alive_within_ms`]).
const RUNNER_REPORT_EVERY_TICKS: u64 = 5;

/// How recent a process's report must be for its workers to count.
pub(crate) fn runner_alive_within_ms(poll: std::time::Duration) -> i64 {
    (poll * RUNNER_REPORT_EVERY_TICKS as u32 * 3).as_millis() as i64
}

pub(crate) async fn maintain(inner: Arc<Inner>) {
    let mut shutdown = inner.shutdown.subscribe();
    let mut tick = tokio::time::interval(inner.base.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for round in 1u64.. {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => {
                if let Err(e) = inner.db.forget_runner(&inner.instance).await {
                    tracing::debug!(error = %e, "could not withdraw this process from the job runners");
                }
                return;
            }
        }
        if round % RUNNER_REPORT_EVERY_TICKS == 1 {
            let workers = *inner.workers_wanted.borrow();
            if let Err(e) = inner.db.report_runner(&inner.instance, workers).await {
                tracing::warn!(error = %e, "could not report this process's workers");
            }
        }
        // Changes another instance saved (workers, keepalive) reach this one within this.
        if round % SETTINGS_EVERY_TICKS == 0 {
            if let Err(e) = inner.reload_settings().await {
                tracing::warn!(error = %e, "could not read the settings");
            }
        }
        let quiet_for = Some(inner.base.stale_after.as_millis() as i64);
        if let Err(e) = recover_interrupted(&inner, quiet_for).await {
            tracing::warn!(error = %e, "could not check for interrupted jobs");
        }
        if let Err(e) = run_due_schedules(&inner).await {
            tracing::warn!(error = %e, "could not check the schedules");
        }
    }
}

/// Ends, as failed, every running job without a heartbeat for `quiet_for` ms (`None`:
/// every running job), with an error in its log; it can be run again with "run now".
pub(crate) async fn recover_interrupted(
    inner: &Inner,
    quiet_for: Option<i64>,
) -> Result<(), DbError> {
    let guard = match quiet_for {
        Some(ms) => FinishGuard::QuietFor(ms),
        None => FinishGuard::Orphaned,
    };
    for job_id in inner.db.stale_running_jobs(quiet_for).await? {
        let error = StageError {
            category: ErrorCategory::Internal,
            message: "The job was interrupted: the Proxbox process running it stopped".into(),
            detail:
                "Everything written to NetBox before the stop is recorded; the rest was not done."
                    .into(),
            suggestion:
                "Run the job again (Run now); a sync continues from what NetBox already has.".into(),
        };
        if end_job(inner, job_id, guard, JobStatus::Failed, &error).await? {
            tracing::warn!(
                job = job_id,
                "job marked failed: its process stopped while it ran"
            );
        }
    }
    Ok(())
}

async fn run_due_schedules(inner: &Arc<Inner>) -> Result<(), DbError> {
    let now = now_ms();
    for schedule in inner.db.due_schedules(now).await? {
        let rule = schedule.rule();
        // Whoever moves the schedule on acts on this tick; other instances skip it.
        let next = match &rule {
            Some(rule) => rule.next_after(now),
            None => now + 3_600_000,
        };
        if !inner.db.advance_schedule(&schedule, next).await? {
            continue;
        }
        if rule.is_none() {
            tracing::warn!(schedule = schedule.id, cron = ?schedule.cron, "schedule skipped: its rule cannot be read; change it on the settings page");
            continue;
        }
        run_schedule(inner, &schedule).await?;
    }
    Ok(())
}

async fn run_schedule(inner: &Arc<Inner>, schedule: &ScheduleRow) -> Result<(), DbError> {
    let enabled = inner
        .db
        .proxmox_endpoint(schedule.endpoint_id)
        .await?
        .is_some_and(|endpoint| endpoint.enabled != 0);
    if !enabled {
        tracing::info!(
            schedule = schedule.id,
            endpoint = schedule.endpoint_id,
            "scheduled sync skipped: its Proxmox endpoint is disabled; enable it on the Endpoints page"
        );
        return Ok(());
    }
    if inner.db.endpoint_busy(schedule.endpoint_id).await? {
        tracing::info!(
            schedule = schedule.id,
            endpoint = schedule.endpoint_id,
            "scheduled sync skipped: a job for this endpoint is still active"
        );
        return Ok(());
    }
    if let Err(e) = Jobs(inner.clone())
        .start_schedule(schedule, "schedule")
        .await
    {
        tracing::warn!(schedule = schedule.id, error = %e, "scheduled sync not started");
    }
    Ok(())
}

impl Jobs {
    /// Enqueues the job of a schedule (its tick, or "run now" on the settings page) and
    /// records it as the schedule's last job.
    pub async fn start_schedule(
        &self,
        schedule: &ScheduleRow,
        requested_by: &str,
    ) -> Result<Enqueued, AppError> {
        // Checked as every request is: stages known, endpoint there, NetBox configured.
        let scope = self
            .resolve_scope(&SyncRequest {
                stages: schedule
                    .stages
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
                endpoint_ids: vec![schedule.endpoint_id],
                dry_run: false,
                target: None,
                delete_orphans: None,
            })
            .await?;
        let enqueued = self
            .enqueue(&scope, requested_by, None, Some(schedule.id))
            .await?;
        self.db()
            .set_schedule_job(schedule.id, enqueued.job_id)
            .await?;
        Ok(enqueued)
    }
}
