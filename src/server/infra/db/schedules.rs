//! Schedules: sync an endpoint's stage set every N seconds or at the times of a cron
//! expression. One schedule per endpoint and stage set; the maintenance loop of whichever
//! instance moves a due schedule on first starts its job.

use sqlx::FromRow;

use super::{is_unique_violation, now_ms, Db, DbError};
use crate::server::infra::cron::Cron;

const COLUMNS: &str =
    "id, endpoint_id, stages, interval_secs, cron, enabled, next_run_at, last_job_id";

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ScheduleRow {
    pub id: i64,
    pub endpoint_id: i64,
    pub stages: String,
    pub interval_secs: Option<i64>,
    pub cron: Option<String>,
    pub enabled: i64,
    pub next_run_at: i64,
    pub last_job_id: Option<i64>,
}

/// When a schedule runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleRule {
    Every { secs: i64 },
    Cron(Cron),
}

impl ScheduleRule {
    /// The first run after `now_ms`.
    pub fn next_after(&self, now_ms: i64) -> i64 {
        match self {
            ScheduleRule::Every { secs } => now_ms + secs.max(&1) * 1000,
            // A checked expression always has a next time; a year on is the safe fallback.
            ScheduleRule::Cron(cron) => {
                cron.next_after(now_ms).unwrap_or(now_ms + 366 * 86_400_000)
            }
        }
    }

    /// `every 30 minutes`, `cron 30 2 * * * (UTC)`.
    pub fn describe(&self) -> String {
        match self {
            ScheduleRule::Every { secs } if secs % 60 == 0 => {
                let minutes = secs / 60;
                format!(
                    "every {minutes} minute{}",
                    if minutes == 1 { "" } else { "s" }
                )
            }
            ScheduleRule::Every { secs } => format!("every {secs} s"),
            ScheduleRule::Cron(cron) => format!("cron {cron} (UTC)"),
        }
    }

    fn columns(&self) -> (Option<i64>, Option<String>) {
        match self {
            ScheduleRule::Every { secs } => (Some(*secs), None),
            ScheduleRule::Cron(cron) => (None, Some(cron.as_str().to_string())),
        }
    }
}

impl ScheduleRow {
    /// The stored rule; a cron text that no longer parses (written by a later version)
    /// reads as `None`, and the schedule is not run.
    pub fn rule(&self) -> Option<ScheduleRule> {
        match (&self.cron, self.interval_secs) {
            (Some(text), _) => Cron::parse(text).ok().map(ScheduleRule::Cron),
            (None, Some(secs)) => Some(ScheduleRule::Every { secs }),
            (None, None) => None,
        }
    }

    /// What the change record says of it: `every 30 minutes, enabled`.
    pub fn summary(&self) -> String {
        let when = self
            .rule()
            .map(|r| r.describe())
            .unwrap_or_else(|| "an unreadable rule".into());
        format!(
            "{when}, {}",
            if self.enabled != 0 {
                "enabled"
            } else {
                "disabled"
            }
        )
    }
}

/// Why a schedule could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleSaveError {
    #[error("the endpoint already has a schedule for these stages")]
    Duplicate,
    #[error(transparent)]
    Db(#[from] DbError),
}

fn save_error(e: sqlx::Error) -> ScheduleSaveError {
    match is_unique_violation(&e) {
        true => ScheduleSaveError::Duplicate,
        false => ScheduleSaveError::Db(e.into()),
    }
}

impl Db {
    /// Creates the schedule of an endpoint and stage set, or changes the one it has; the
    /// first run is the rule's next time from now. Returns the schedule's id.
    pub async fn save_schedule(
        &self,
        endpoint_id: i64,
        stages: &str,
        rule: &ScheduleRule,
        enabled: bool,
    ) -> Result<i64, ScheduleSaveError> {
        let (interval_secs, cron) = rule.columns();
        let updated: Option<i64> = sqlx::query_scalar(
            "UPDATE schedules SET interval_secs = $1, cron = $2, enabled = $3, next_run_at = $4 \
             WHERE endpoint_id = $5 AND stages = $6 RETURNING id",
        )
        .bind(interval_secs)
        .bind(cron)
        .bind(i64::from(enabled))
        .bind(rule.next_after(now_ms()))
        .bind(endpoint_id)
        .bind(stages)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| ScheduleSaveError::Db(e.into()))?;
        match updated {
            Some(id) => Ok(id),
            None => {
                self.create_schedule(endpoint_id, stages, rule, enabled)
                    .await
            }
        }
    }

    /// Changes one schedule (by id): its endpoint, stages, rule and whether it runs.
    pub async fn update_schedule(
        &self,
        id: i64,
        endpoint_id: i64,
        stages: &str,
        rule: &ScheduleRule,
        enabled: bool,
    ) -> Result<bool, ScheduleSaveError> {
        let (interval_secs, cron) = rule.columns();
        let done = sqlx::query(
            "UPDATE schedules SET endpoint_id = $1, stages = $2, interval_secs = $3, cron = $4, \
             enabled = $5, next_run_at = $6 WHERE id = $7",
        )
        .bind(endpoint_id)
        .bind(stages)
        .bind(interval_secs)
        .bind(cron)
        .bind(i64::from(enabled))
        .bind(rule.next_after(now_ms()))
        .bind(id)
        .execute(self.pool())
        .await
        .map_err(save_error)?;
        Ok(done.rows_affected() > 0)
    }

    /// Creates a schedule; an endpoint has one schedule per stage set.
    pub async fn create_schedule(
        &self,
        endpoint_id: i64,
        stages: &str,
        rule: &ScheduleRule,
        enabled: bool,
    ) -> Result<i64, ScheduleSaveError> {
        let (interval_secs, cron) = rule.columns();
        sqlx::query_scalar(
            "INSERT INTO schedules (endpoint_id, stages, interval_secs, cron, enabled, next_run_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(endpoint_id)
        .bind(stages)
        .bind(interval_secs)
        .bind(cron)
        .bind(i64::from(enabled))
        .bind(rule.next_after(now_ms()))
        .fetch_one(self.pool())
        .await
        .map_err(save_error)
    }

    pub async fn schedules(&self) -> Result<Vec<ScheduleRow>, DbError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM schedules ORDER BY endpoint_id, id"
        ))
        .fetch_all(self.readers())
        .await?)
    }

    pub async fn schedule(&self, id: i64) -> Result<Option<ScheduleRow>, DbError> {
        Ok(
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM schedules WHERE id = $1"))
                .bind(id)
                .fetch_optional(self.readers())
                .await?,
        )
    }

    /// Removes one schedule by id.
    pub async fn delete_schedule(&self, id: i64) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM schedules WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Enabled schedules whose time has come.
    pub async fn due_schedules(&self, now: i64) -> Result<Vec<ScheduleRow>, DbError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM schedules WHERE enabled = 1 AND next_run_at <= $1 ORDER BY next_run_at"
        ))
        .bind(now)
        .fetch_all(self.readers())
        .await?)
    }

    /// Moves a due schedule to its next time, only if nobody (another instance) did so
    /// since it was read: the winner of this update is the one that acts on the tick.
    pub async fn advance_schedule(
        &self,
        schedule: &ScheduleRow,
        next_run_at: i64,
    ) -> Result<bool, DbError> {
        let done =
            sqlx::query("UPDATE schedules SET next_run_at = $1 WHERE id = $2 AND next_run_at = $3")
                .bind(next_run_at)
                .bind(schedule.id)
                .bind(schedule.next_run_at)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn set_schedule_job(&self, schedule_id: i64, job_id: i64) -> Result<(), DbError> {
        sqlx::query("UPDATE schedules SET last_job_id = $1 WHERE id = $2")
            .bind(job_id)
            .bind(schedule_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
