//! The watcher's history: each change it saw in a Proxmox endpoint and the job that carries
//! it to NetBox (`watched_changes`).

use super::{Db, DbError};

/// How many changes of each endpoint are kept.
pub const WATCHED_KEPT: i64 = 1_000;

/// A change to record.
#[derive(Debug, Clone)]
pub struct NewWatched<'a> {
    /// When the watcher saw it (ms).
    pub seen_at: i64,
    pub change: &'a str,
    pub provenance: &'a str,
}

/// A recorded change with its endpoint's name and its job's state.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct WatchedRow {
    pub id: i64,
    pub endpoint_id: i64,
    pub endpoint: String,
    pub seen_at: i64,
    pub change: String,
    pub provenance: String,
    pub job_id: Option<i64>,
    pub problem: Option<String>,
    pub job_status: Option<String>,
    pub job_finished_at: Option<i64>,
}

impl Db {
    /// Records one look's changes of endpoint `endpoint_id`, all carried by `job_id` (or
    /// by none, for `problem`), and drops that endpoint's changes beyond the newest
    /// [`WATCHED_KEPT`].
    pub async fn record_watched(
        &self,
        endpoint_id: i64,
        changes: &[NewWatched<'_>],
        job_id: Option<i64>,
        problem: Option<&str>,
    ) -> Result<(), DbError> {
        let mut tx = self.pool().begin().await?;
        for change in changes {
            sqlx::query(
                "INSERT INTO watched_changes \
                 (endpoint_id, seen_at, change, provenance, job_id, problem) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(endpoint_id)
            .bind(change.seen_at)
            .bind(change.change)
            .bind(change.provenance)
            .bind(job_id)
            .bind(problem)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "DELETE FROM watched_changes WHERE endpoint_id = $1 AND id <= \
             (SELECT id FROM watched_changes WHERE endpoint_id = $1 \
              ORDER BY id DESC LIMIT 1 OFFSET $2)",
        )
        .bind(endpoint_id)
        .bind(WATCHED_KEPT)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest `limit` changes, of one endpoint or of all, newest first.
    pub async fn watched_changes(
        &self,
        endpoint_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<WatchedRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT w.id, w.endpoint_id, e.name AS endpoint, w.seen_at, w.change, \
             w.provenance, w.job_id, w.problem, j.status AS job_status, \
             j.finished_at AS job_finished_at \
             FROM watched_changes w \
             JOIN proxmox_endpoints e ON e.id = w.endpoint_id \
             LEFT JOIN jobs j ON j.id = w.job_id \
             WHERE $1 IS NULL OR w.endpoint_id = $1 \
             ORDER BY w.id DESC LIMIT $2",
        )
        .bind(endpoint_id)
        .bind(limit)
        .fetch_all(self.readers())
        .await?)
    }
}
