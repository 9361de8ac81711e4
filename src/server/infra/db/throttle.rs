//! Failed-login bookkeeping per subject (a user name, or a client address).

use super::{now_ms, Db, DbError};

/// Failures allowed before a name at one client is locked out.
pub const FREE_FAILURES: i64 = 5;
/// Failures older than this are forgotten.
const WINDOW_MS: i64 = 15 * 60_000;
/// The lockout doubles with each further failure, up to this.
const MAX_LOCK_MS: i64 = 15 * 60_000;

impl Db {
    /// Milliseconds until `subject` may try again (0 when it may now).
    pub async fn login_locked_for(&self, subject: &str) -> Result<i64, DbError> {
        let locked_until: Option<i64> =
            sqlx::query_scalar("SELECT locked_until FROM login_throttle WHERE subject = $1")
                .bind(subject)
                .fetch_optional(self.readers())
                .await?;
        Ok(locked_until.map_or(0, |until| (until - now_ms()).max(0)))
    }

    /// Counts a failure in one atomic statement (concurrent failures all count), then
    /// locks the subject once it has used up its `free` failures.
    pub async fn record_login_failure(&self, subject: &str, free: i64) -> Result<(), DbError> {
        let now = now_ms();
        let failures: i64 = sqlx::query_scalar(
            "INSERT INTO login_throttle (subject, failures, first_failure_at, locked_until) VALUES ($1, 1, $2, 0) \
             ON CONFLICT (subject) DO UPDATE SET \
               failures = CASE WHEN $2 - login_throttle.first_failure_at < $3 THEN login_throttle.failures + 1 ELSE 1 END, \
               first_failure_at = CASE WHEN $2 - login_throttle.first_failure_at < $3 \
                                  THEN login_throttle.first_failure_at ELSE $2 END \
             RETURNING failures",
        )
        .bind(subject)
        .bind(now)
        .bind(WINDOW_MS)
        .fetch_one(self.pool())
        .await?;
        if failures > free {
            let exponent = (failures - free - 1).min(16) as u32;
            let locked_until = now + (1_000 * 2i64.pow(exponent)).min(MAX_LOCK_MS);
            sqlx::query("UPDATE login_throttle SET locked_until = $1 WHERE subject = $2")
                .bind(locked_until)
                .bind(subject)
                .execute(self.pool())
                .await?;
        }
        Ok(())
    }

    /// Forgets the subjects whose failures are outside the window and who are not locked.
    pub async fn prune_login_throttle(&self) -> Result<u64, DbError> {
        let now = now_ms();
        let done = sqlx::query(
            "DELETE FROM login_throttle WHERE locked_until < $1 AND first_failure_at < $2",
        )
        .bind(now)
        .bind(now - WINDOW_MS)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn clear_login_failures(&self, subject: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM login_throttle WHERE subject = $1")
            .bind(subject)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
