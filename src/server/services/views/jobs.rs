//! The read model of a job for its page and the live views: its row, its log folded, and a
//! page of its log. Pages and components call it through their server functions.

use crate::error::AppError;
use crate::models::{JobDetail, JobSnapshot, LogFilter};
use crate::server::services::Services;

/// Job `id` with where it stands and the page of its log that `filter` asks for.
pub async fn load_job(
    state: &Services,
    id: i64,
    filter: &LogFilter,
) -> Result<JobDetail, AppError> {
    let (job, digest) = read_job(state, id).await?;
    let log = crate::server::jobs::digest::log_page(&state.db, id, &digest, filter).await?;
    let endpoints = state.db.proxmox_endpoints().await?;
    let waiting = match job.status {
        crate::models::JobStatus::Pending => Some(
            state
                .jobs
                .waiting_reason(id, |endpoint| {
                    endpoints
                        .iter()
                        .find(|e| e.id == endpoint)
                        .map(|e| e.name.clone())
                })
                .await?,
        ),
        _ => None,
    };
    let endpoint_names = endpoints
        .into_iter()
        .filter(|e| job.scope.endpoint_ids.contains(&e.id))
        .map(|e| e.name)
        .collect();
    let mut takeover = digest.takeover.finished();
    takeover.adoptions.truncate(crate::models::TAKEOVER_LISTED);
    Ok(JobDetail {
        job,
        takeover,
        progress: digest.progress,
        last_seq: digest.last_seq,
        log,
        endpoint_names,
        waiting,
        as_of: crate::server::infra::db::now_ms(),
    })
}

/// Job `id` as a live view starts from.
pub async fn load_snapshot(state: &Services, id: i64) -> Result<JobSnapshot, AppError> {
    let (job, digest) = read_job(state, id).await?;
    Ok(JobSnapshot {
        job,
        progress: digest.progress,
        last_seq: digest.last_seq,
        as_of: crate::server::infra::db::now_ms(),
    })
}

/// The job's row (read first, so that the fold covers at least what it says happened)
/// and its log folded.
async fn read_job(
    state: &Services,
    id: i64,
) -> Result<
    (
        crate::models::JobSummary,
        crate::server::jobs::digest::LogDigest,
    ),
    AppError,
> {
    let read_row = || async {
        state
            .db
            .job(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("Job {id}")))
    };
    let mut job = read_row().await?.summary();
    let digest = state.jobs.digest(id).await?;
    // The job's end and its `complete` commit together; a log read after the row may hold
    // an end the row did not show yet. Read the row again then, or the page would show a
    // finished log under a running job that no stream would ever end.
    if job.status.is_active() && digest.progress.finished.is_some() {
        job = read_row().await?.summary();
    }
    Ok((job, digest))
}
