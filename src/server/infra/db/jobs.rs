//! Sync jobs, their event logs and per-endpoint locks. A job is claimed with one
//! `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED)` (PostgreSQL; SQLite has one
//! writer and needs no row locks), and its endpoints are locked in the same transaction:
//! the primary key of `endpoint_locks` is what keeps two runs off one Proxmox endpoint,
//! also across instances.

use sqlx::FromRow;

use super::{is_unique_violation, now_ms, Backend, Db, DbError};
use crate::events::Complete;
use crate::models::{JobScope, JobStatus, JobSummary, SyncTarget};

const JOB_COLUMNS: &str = "id, kind, stages, endpoint_ids, dry_run, status, requested_by, \
     created_at, started_at, finished_at, result, cancel_requested, rerun_of, schedule_id, target, \
     delete_orphans";

#[derive(Debug, Clone, FromRow)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub stages: String,
    pub endpoint_ids: String,
    pub dry_run: i64,
    pub status: String,
    pub requested_by: String,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub result: Option<String>,
    pub cancel_requested: i64,
    pub rerun_of: Option<i64>,
    pub schedule_id: Option<i64>,
    pub target: Option<String>,
    pub delete_orphans: Option<i64>,
}

impl JobRow {
    pub fn status(&self) -> JobStatus {
        JobStatus::parse(&self.status).unwrap_or(JobStatus::Failed)
    }

    pub fn scope(&self) -> JobScope {
        JobScope {
            stages: split_list(&self.stages),
            endpoint_ids: split_list(&self.endpoint_ids)
                .iter()
                .filter_map(|id| id.parse().ok())
                .collect(),
            dry_run: self.dry_run != 0,
            target: self.target.as_deref().and_then(SyncTarget::parse),
            delete_orphans: self.delete_orphans.map(|v| v != 0),
        }
    }

    pub fn summary(&self) -> JobSummary {
        JobSummary {
            id: self.id,
            kind: self.kind.clone(),
            scope: self.scope(),
            status: self.status(),
            requested_by: self.requested_by.clone(),
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
            result: self
                .result
                .as_deref()
                .and_then(|text| serde_json::from_str::<Complete>(text).ok()),
            rerun_of: self.rerun_of,
            schedule_id: self.schedule_id,
        }
    }
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .filter(|part| !part.is_empty())
        .map(str::to_string)
        .collect()
}

/// What a new job is and where it came from.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    pub kind: &'a str,
    pub scope: &'a JobScope,
    pub requested_by: &'a str,
    pub rerun_of: Option<i64>,
    pub schedule_id: Option<i64>,
}

impl NewJob<'_> {
    /// Two requests with the same key while a job is active are one job.
    pub fn scope_key(&self) -> String {
        let ids: Vec<String> = self.scope.endpoint_ids.iter().map(i64::to_string).collect();
        let target = self
            .scope
            .target
            .as_ref()
            .map(SyncTarget::as_stored)
            .unwrap_or_default();
        // Old keys had no orphan part; keeping that form for `None` keeps them matching.
        let orphans = match self.scope.delete_orphans {
            None => "",
            Some(true) => "|orphans:delete",
            Some(false) => "|orphans:keep",
        };
        format!(
            "{}|{}|{}|{}|{target}{orphans}",
            self.kind,
            self.scope.stage_label(),
            ids.join(","),
            u8::from(self.scope.dry_run)
        )
    }
}

/// An event as the log stores it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct StoredEvent {
    pub seq: i64,
    pub name: String,
    pub data: String,
}

/// How a job ended, recorded with its last events (see [`Db::append_job_events`]).
#[derive(Debug, Clone, Copy)]
pub struct JobEnd<'a> {
    pub guard: FinishGuard,
    pub status: JobStatus,
    pub complete: &'a Complete,
}

/// Which state a job must still be in for its end to be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishGuard {
    /// Its runner ends it.
    Running,
    /// Cancelled before any worker took it.
    Pending,
    /// Its instance went quiet: no heartbeat for this many milliseconds of the database's
    /// clock (never the clocks of the instances, which may disagree).
    QuietFor(i64),
    /// Any running job: its process is gone (SQLite's one instance starting again).
    Orphaned,
}

/// What a heartbeat found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    Alive {
        cancel_requested: bool,
    },
    /// The job is no longer running under this instance's claim (ended elsewhere as
    /// interrupted): the run must stop, as its endpoints may be another job's now.
    Lost,
}

enum Claim {
    Claimed(Box<JobRow>),
    Nothing,
    Collided,
}

/// The outcome of asking for a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    pub job_id: i64,
    /// The same scope was already pending or running: this is that job.
    pub attached: bool,
}

impl Db {
    /// Creates a pending job, or returns the active job of the same scope.
    pub async fn enqueue_job(&self, job: &NewJob<'_>) -> Result<Enqueued, DbError> {
        let key = job.scope_key();
        // A concurrent request for the same scope may win the unique index; then attach.
        for _ in 0..3 {
            if let Some(job_id) = self.active_job_by_scope(&key).await? {
                return Ok(Enqueued {
                    job_id,
                    attached: true,
                });
            }
            match self.insert_job(job, &key).await {
                Ok(job_id) => {
                    return Ok(Enqueued {
                        job_id,
                        attached: false,
                    })
                }
                Err(DbError::Query(e)) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(DbError::Query(sqlx::Error::Protocol(
            "a job for this scope keeps appearing and disappearing".into(),
        )))
    }

    async fn active_job_by_scope(&self, key: &str) -> Result<Option<i64>, DbError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM jobs WHERE scope_key = $1 AND status IN ('pending', 'running')",
        )
        .bind(key)
        .fetch_optional(self.readers())
        .await?)
    }

    async fn insert_job(&self, job: &NewJob<'_>, key: &str) -> Result<i64, DbError> {
        let mut tx = self.begin_write().await?;
        let ids: Vec<String> = job.scope.endpoint_ids.iter().map(i64::to_string).collect();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO jobs (kind, stages, endpoint_ids, dry_run, scope_key, status, requested_by, \
             created_at, rerun_of, schedule_id, target, delete_orphans) \
             VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(job.kind)
        .bind(job.scope.stage_label())
        .bind(ids.join(","))
        .bind(i64::from(job.scope.dry_run))
        .bind(key)
        .bind(job.requested_by)
        .bind(now_ms())
        .bind(job.rerun_of)
        .bind(job.schedule_id)
        .bind(job.scope.target.as_ref().map(SyncTarget::as_stored))
        .bind(job.scope.delete_orphans.map(i64::from))
        .fetch_one(&mut *tx)
        .await?;
        for endpoint_id in &job.scope.endpoint_ids {
            sqlx::query("INSERT INTO job_endpoints (job_id, endpoint_id) VALUES ($1, $2)")
                .bind(id)
                .bind(endpoint_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// Takes the oldest pending job whose endpoints are all free, marks it running for
    /// `instance` and locks its endpoints. `None` when there is nothing to run now.
    pub async fn claim_job(&self, instance: &str) -> Result<Option<JobRow>, DbError> {
        // A collision means a concurrent claimer took a job of the same endpoint and has
        // committed by the time ours fails (the lock insert waits for it): the next try
        // sees that lock and moves on to a job that can run. Every collision is another
        // claimer's success, so a few tries cover any number of rival claimers in practice.
        for _ in 0..16 {
            match self.try_claim_job(instance).await? {
                Claim::Collided => continue,
                Claim::Claimed(job) => return Ok(Some(*job)),
                Claim::Nothing => return Ok(None),
            }
        }
        Ok(None)
    }

    async fn try_claim_job(&self, instance: &str) -> Result<Claim, DbError> {
        let skip_locked = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let now = self.clock_sql();
        let mut tx = self.begin_write().await?;
        let claimed: Option<JobRow> = sqlx::query_as(&format!(
            "UPDATE jobs SET status = 'running', claimed_by = $1, started_at = {now}, heartbeat_at = {now} \
             WHERE id = (SELECT id FROM jobs j WHERE status = 'pending' AND NOT EXISTS ( \
                 SELECT 1 FROM job_endpoints je JOIN endpoint_locks l ON l.endpoint_id = je.endpoint_id \
                 WHERE je.job_id = j.id) ORDER BY id LIMIT 1{skip_locked}) \
             AND status = 'pending' RETURNING {JOB_COLUMNS}"
        ))
        .bind(instance)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(job) = claimed else {
            return Ok(Claim::Nothing);
        };
        let locked = sqlx::query(
            "INSERT INTO endpoint_locks (endpoint_id, job_id) \
             SELECT endpoint_id, job_id FROM job_endpoints WHERE job_id = $1",
        )
        .bind(job.id)
        .execute(&mut *tx)
        .await;
        match locked {
            // Another claimer locked one of its endpoints a moment ago: leave it pending.
            Err(e) if is_unique_violation(&e) => Ok(Claim::Collided),
            Err(e) => Err(e.into()),
            Ok(_) => {
                tx.commit().await?;
                Ok(Claim::Claimed(Box::new(job)))
            }
        }
    }

    pub async fn job(&self, id: i64) -> Result<Option<JobRow>, DbError> {
        Ok(
            sqlx::query_as(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
                .bind(id)
                .fetch_optional(self.readers())
                .await?,
        )
    }

    /// The newest jobs first, optionally of one status and kind.
    pub async fn jobs(
        &self,
        status: Option<JobStatus>,
        stages: Option<&str>,
        limit: i64,
    ) -> Result<Vec<JobRow>, DbError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE ($1 = '' OR status = $1) AND ($2 = '' OR stages = $2) \
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(status.map(JobStatus::as_str).unwrap_or(""))
        .bind(stages.unwrap_or(""))
        .bind(limit)
        .fetch_all(self.readers())
        .await?)
    }

    /// The stage labels jobs were run with (`full-update`, `devices`…), for a filter.
    pub async fn job_kinds(&self) -> Result<Vec<String>, DbError> {
        Ok(
            sqlx::query_scalar("SELECT DISTINCT stages FROM jobs ORDER BY stages LIMIT 200")
                .fetch_all(self.readers())
                .await?,
        )
    }

    /// The job a dashboard shows: the newest running or pending one, else the newest.
    pub async fn current_job_id(&self) -> Result<Option<i64>, DbError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM jobs ORDER BY CASE WHEN status IN ('running', 'pending') THEN 0 ELSE 1 END, \
             id DESC LIMIT 1",
        )
        .fetch_optional(self.readers())
        .await?)
    }

    /// Tells the database that `instance` still runs the job; answers whether a cancel
    /// was requested (possibly through another instance).
    pub async fn job_heartbeat(&self, id: i64, instance: &str) -> Result<Heartbeat, DbError> {
        let cancel: Option<i64> = sqlx::query_scalar(&format!(
            "UPDATE jobs SET heartbeat_at = {} WHERE id = $1 AND claimed_by = $2 \
             AND status = 'running' RETURNING cancel_requested",
            self.clock_sql()
        ))
        .bind(id)
        .bind(instance)
        .fetch_optional(self.pool())
        .await?;
        Ok(match cancel {
            Some(cancel) => Heartbeat::Alive {
                cancel_requested: cancel != 0,
            },
            None => Heartbeat::Lost,
        })
    }

    /// Asks a job to stop. Returns its status before the request: a pending job is for the
    /// caller to end at once; a running one stops at its next chunk.
    pub async fn request_cancel(&self, id: i64) -> Result<Option<JobStatus>, DbError> {
        let status: Option<String> = sqlx::query_scalar(
            "UPDATE jobs SET cancel_requested = 1 WHERE id = $1 RETURNING status",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(status.as_deref().and_then(JobStatus::parse))
    }

    /// Jobs marked running whose instance has not said it is alive for `quiet_for` ms of
    /// the database's clock (`None`: every running job).
    pub async fn stale_running_jobs(&self, quiet_for: Option<i64>) -> Result<Vec<i64>, DbError> {
        Ok(sqlx::query_scalar(&format!(
            "SELECT id FROM jobs WHERE status = 'running' AND ($1 < 0 OR heartbeat_at < {} - $1) ORDER BY id",
            self.clock_sql()
        ))
        .bind(quiet_for.unwrap_or(-1))
        .fetch_all(self.readers())
        .await?)
    }

    /// Appends events to a job's log in one transaction, and with `end` also records how
    /// the job ended and frees its endpoints, so that the row and the log's `complete`
    /// become visible together. On PostgreSQL the other instances are told (`NOTIFY
    /// proxbox_jobs`) when it commits. False (and nothing written) when `end`'s guard no
    /// longer holds: another path ended the job first.
    pub async fn append_job_events(
        &self,
        job_id: i64,
        events: &[StoredEvent],
        notify: Option<&str>,
        end: Option<&JobEnd<'_>>,
    ) -> Result<bool, DbError> {
        let at = now_ms();
        let mut tx = self.begin_write().await?;
        if let Some(end) = end {
            let now = self.clock_sql();
            let guard = match end.guard {
                FinishGuard::Running => "status = 'running' AND $5 = 0".to_string(),
                FinishGuard::Pending => "status = 'pending' AND $5 = 0".to_string(),
                FinishGuard::QuietFor(_) => {
                    format!("status = 'running' AND heartbeat_at < {now} - $5")
                }
                FinishGuard::Orphaned => "status = 'running' AND $5 = 0".to_string(),
            };
            let quiet_for = match end.guard {
                FinishGuard::QuietFor(ms) => ms,
                _ => 0,
            };
            let done = sqlx::query(&format!(
                "UPDATE jobs SET status = $1, finished_at = $2, result = $3 WHERE id = $4 AND {guard}"
            ))
            .bind(end.status.as_str())
            .bind(at)
            .bind(serde_json::to_string(end.complete).unwrap_or_default())
            .bind(job_id)
            .bind(quiet_for)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM endpoint_locks WHERE job_id = $1")
                .bind(job_id)
                .execute(&mut *tx)
                .await?;
        } else {
            // Only a running job's log grows: once ended (elsewhere, as interrupted) it ends
            // with its `complete`, whatever its old run still emits.
            let running: Option<i64> =
                sqlx::query_scalar("SELECT id FROM jobs WHERE id = $1 AND status = 'running'")
                    .bind(job_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if running.is_none() {
                return Ok(false);
            }
        }
        // 200 rows × 5 values stay far below either database's limit on bound values.
        for chunk in events.chunks(200) {
            let mut sql =
                String::from("INSERT INTO job_events (job_id, seq, name, data, at) VALUES ");
            for i in 0..chunk.len() {
                let n = i * 5;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${})",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5
                ));
            }
            let mut query = sqlx::query(&sql);
            for event in chunk {
                query = query
                    .bind(job_id)
                    .bind(event.seq)
                    .bind(&event.name)
                    .bind(&event.data)
                    .bind(at);
            }
            query.execute(&mut *tx).await?;
        }
        if let (Some(payload), Backend::Postgres) = (notify, self.backend()) {
            sqlx::query("SELECT pg_notify('proxbox_jobs', $1)")
                .bind(payload)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Up to `limit` events of a job after `after_seq`, in order.
    pub async fn job_events_after(
        &self,
        job_id: i64,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, DbError> {
        Ok(sqlx::query_as(
            "SELECT seq, name, data FROM job_events WHERE job_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3",
        )
        .bind(job_id)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(self.readers())
        .await?)
    }

    /// Up to `limit` events of job `job_id` up to `up_to_seq`, after skipping `offset`.
    pub async fn job_events_window(
        &self,
        job_id: i64,
        up_to_seq: i64,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<StoredEvent>, DbError> {
        Ok(sqlx::query_as(
            "SELECT seq, name, data FROM job_events WHERE job_id = $1 AND seq <= $2 \
             ORDER BY seq LIMIT $3 OFFSET $4",
        )
        .bind(job_id)
        .bind(up_to_seq)
        .bind(limit as i64)
        .bind(offset as i64)
        .fetch_all(self.readers())
        .await?)
    }

    /// The events of job `job_id` with the given seqs, in log order.
    pub async fn job_events_by_seq(
        &self,
        job_id: i64,
        seqs: &[i64],
    ) -> Result<Vec<StoredEvent>, DbError> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (0..seqs.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT seq, name, data FROM job_events WHERE job_id = $1 AND seq IN ({}) ORDER BY seq",
            placeholders.join(", ")
        );
        let mut query = sqlx::query_as(&sql).bind(job_id);
        for seq in seqs {
            query = query.bind(*seq);
        }
        Ok(query.fetch_all(self.readers()).await?)
    }

    pub async fn job_last_seq(&self, job_id: i64) -> Result<i64, DbError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM job_events WHERE job_id = $1")
                .bind(job_id)
                .fetch_one(self.readers())
                .await?,
        )
    }

    /// Sends a notification to every instance (PostgreSQL only; SQLite has one instance).
    pub async fn notify_instances(&self, payload: &str) -> Result<(), DbError> {
        if self.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_notify('proxbox_jobs', $1)")
                .bind(payload)
                .execute(self.pool())
                .await?;
        }
        Ok(())
    }

    /// Removes the jobs that ended before `before_ms`, with their logs; returns how many.
    pub async fn prune_finished_jobs(&self, before_ms: i64) -> Result<u64, DbError> {
        let mut tx = self.begin_write().await?;
        let ended = "SELECT id FROM jobs WHERE status IN ('completed', 'failed', 'cancelled') \
                     AND finished_at < $1";
        for table in ["job_events", "job_endpoints"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE job_id IN ({ended})"))
                .bind(before_ms)
                .execute(&mut *tx)
                .await?;
        }
        let done = sqlx::query(&format!("DELETE FROM jobs WHERE id IN ({ended})"))
            .bind(before_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Whether any pending or running job covers the endpoint.
    pub async fn endpoint_busy(&self, endpoint_id: i64) -> Result<bool, DbError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT j.id FROM jobs j JOIN job_endpoints je ON je.job_id = j.id \
             WHERE je.endpoint_id = $1 AND j.status IN ('pending', 'running') LIMIT 1",
        )
        .bind(endpoint_id)
        .fetch_optional(self.readers())
        .await?;
        Ok(found.is_some())
    }
}
