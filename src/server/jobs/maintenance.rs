//! Once per poll interval: end the jobs of instances that died, and start scheduled syncs
//! that are due (never beside an active job of the same endpoint).

use std::sync::Arc;

use super::{end_job, Inner, Jobs};
use crate::events::ErrorCategory;
use crate::models::{JobScope, JobStatus};
use crate::server::db::jobs::{FinishGuard, ScheduleRow};
use crate::server::db::{now_ms, DbError};
use crate::server::sync::failure::StageError;

pub(crate) async fn maintain(inner: Arc<Inner>) {
    let mut shutdown = inner.shutdown.subscribe();
    let mut tick = tokio::time::interval(inner.settings.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let stale_before = now_ms() - inner.settings.stale_after.as_millis() as i64;
        if let Err(e) = recover_interrupted(&inner, stale_before).await {
            tracing::warn!(error = %e, "could not check for interrupted jobs");
        }
        if let Err(e) = run_due_schedules(&inner).await {
            tracing::warn!(error = %e, "could not check the schedules");
        }
    }
}

/// Ends, as failed, every running job without a heartbeat since `stale_before`, with an
/// error in its log; it can be run again with "run now".
pub(crate) async fn recover_interrupted(inner: &Inner, stale_before: i64) -> Result<(), DbError> {
    for job_id in inner.db.stale_running_jobs(stale_before).await? {
        let error = StageError {
            category: ErrorCategory::Internal,
            message: "The job was interrupted: the Proxbox process running it stopped".into(),
            detail:
                "Everything written to NetBox before the stop is recorded; the rest was not done."
                    .into(),
            suggestion:
                "Run the job again (Run now); a sync continues from what NetBox already has.".into(),
        };
        if end_job(
            inner,
            job_id,
            FinishGuard::StaleSince(stale_before),
            JobStatus::Failed,
            &error,
        )
        .await?
        {
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
        // Whoever moves the schedule on acts on this tick; other instances skip it.
        let next = now + schedule.interval_secs * 1000;
        if !inner.db.advance_schedule(&schedule, next).await? {
            continue;
        }
        run_schedule(inner, &schedule).await?;
    }
    Ok(())
}

async fn run_schedule(inner: &Arc<Inner>, schedule: &ScheduleRow) -> Result<(), DbError> {
    if inner.db.endpoint_busy(schedule.endpoint_id).await? {
        tracing::info!(
            schedule = schedule.id,
            endpoint = schedule.endpoint_id,
            "scheduled sync skipped: a job for this endpoint is still active"
        );
        return Ok(());
    }
    let scope = JobScope {
        stages: schedule
            .stages
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        endpoint_ids: vec![schedule.endpoint_id],
        dry_run: false,
        target: None,
    };
    let jobs = Jobs(inner.clone());
    match jobs
        .enqueue(&scope, "schedule", None, Some(schedule.id))
        .await
    {
        Ok(enqueued) => {
            inner
                .db
                .set_schedule_job(schedule.id, enqueued.job_id)
                .await?
        }
        Err(e) => tracing::warn!(schedule = schedule.id, error = %e, "scheduled sync not started"),
    }
    Ok(())
}
