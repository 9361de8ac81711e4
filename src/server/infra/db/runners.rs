//! The processes that run jobs, as they last reported themselves, and what keeps a
//! pending job waiting.

use super::{Db, DbError};

/// A process that reported no sign of life for a day is forgotten.
const FORGET_AFTER_MS: i64 = 86_400_000;

/// Why a pending job has not started, as the database shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitFacts {
    /// A running job that holds one of its endpoints: (job id, endpoint id).
    pub blocked_by: Option<(i64, i64)>,
    /// Workers of the processes seen alive lately, this one's included.
    pub live_workers: i64,
    /// Jobs running now, anywhere.
    pub running: i64,
    /// Pending jobs queued before it (workers take jobs in order).
    pub ahead: i64,
}

impl Db {
    /// This process runs `workers` workers (0: it only serves), said now.
    pub async fn report_runner(&self, instance: &str, workers: usize) -> Result<(), DbError> {
        let now = self.clock_sql();
        sqlx::query(&format!(
            "INSERT INTO job_runners (instance, workers, seen_at) VALUES ($1, $2, {now}) \
             ON CONFLICT (instance) DO UPDATE SET workers = excluded.workers, seen_at = excluded.seen_at"
        ))
        .bind(instance)
        .bind(workers as i64)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Forgets the processes silent for a day (housekeeping); returns how many.
    pub async fn prune_job_runners(&self) -> Result<u64, DbError> {
        let done = sqlx::query(&format!(
            "DELETE FROM job_runners WHERE seen_at < {} - $1",
            self.clock_sql()
        ))
        .bind(FORGET_AFTER_MS)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// This process stops: it runs no worker any more.
    pub async fn forget_runner(&self, instance: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM job_runners WHERE instance = $1")
            .bind(instance)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// What keeps pending job `job_id` waiting, asked by process `instance` that runs
    /// `own_workers` now (its own report may be a few seconds old); other processes count
    /// when they reported within `alive_within_ms`.
    pub async fn wait_facts(
        &self,
        job_id: i64,
        instance: &str,
        own_workers: usize,
        alive_within_ms: i64,
    ) -> Result<WaitFacts, DbError> {
        let blocked_by: Option<(i64, i64)> = sqlx::query_as(
            "SELECT l.job_id, l.endpoint_id FROM job_endpoints je \
             JOIN endpoint_locks l ON l.endpoint_id = je.endpoint_id \
             WHERE je.job_id = $1 AND l.job_id <> $1 ORDER BY l.job_id LIMIT 1",
        )
        .bind(job_id)
        .fetch_optional(self.readers())
        .await?;
        let (live_workers, running, ahead): (i64, i64, i64) = sqlx::query_as(&format!(
            "SELECT \
               (SELECT CAST(COALESCE(SUM(workers), 0) AS BIGINT) FROM job_runners WHERE seen_at > {} - $2 AND instance <> $3), \
               (SELECT COUNT(*) FROM jobs WHERE status = 'running'), \
               (SELECT COUNT(*) FROM jobs WHERE status = 'pending' AND id < $1)",
            self.clock_sql()
        ))
        .bind(job_id)
        .bind(alive_within_ms)
        .bind(instance)
        .fetch_one(self.readers())
        .await?;
        Ok(WaitFacts {
            blocked_by,
            live_workers: live_workers + own_workers as i64,
            running,
            ahead,
        })
    }
}
