//! Hourly, so that the database does not grow for good: expired sessions, jobs (and their
//! event logs) past the retention setting, forgotten login failures and job runners silent
//! for a day go.

use std::time::Duration;

use crate::server::infra::db::{now_ms, Db, DbError};
use crate::server::jobs::Jobs;

/// What one round removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tidied {
    pub sessions: u64,
    pub jobs: u64,
    pub login_failures: u64,
    pub job_runners: u64,
}

/// One round: finished jobs older than `job_retention` go, with their logs.
pub async fn tidy(db: &Db, job_retention: Duration) -> Result<Tidied, DbError> {
    Ok(Tidied {
        sessions: db.delete_expired_sessions().await?,
        jobs: db
            .prune_finished_jobs(now_ms() - job_retention.as_millis() as i64)
            .await?,
        login_failures: db.prune_login_throttle().await?,
        job_runners: db.prune_job_runners().await?,
    })
}

/// Every hour, with the retention the settings say at that moment.
pub async fn run(jobs: Jobs) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match tidy(jobs.db(), jobs.settings().job_retention).await {
            Ok(tidied) if tidied == Tidied::default() => {}
            Ok(tidied) => {
                if tidied.jobs > 0 {
                    jobs.digests().forget_all();
                }
                tracing::info!(
                    sessions = tidied.sessions,
                    jobs = tidied.jobs,
                    login_failures = tidied.login_failures,
                    job_runners = tidied.job_runners,
                    "old records removed"
                )
            }
            Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
        }
    }
}
