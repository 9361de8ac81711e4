//! Failed-login bookkeeping per subject (a user name, or a client address).

use super::{now_ms, Db, DbError};

/// Failures allowed before a subject is locked out.
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
                .fetch_optional(self.pool())
                .await?;
        Ok(locked_until.map_or(0, |until| (until - now_ms()).max(0)))
    }

    pub async fn record_login_failure(&self, subject: &str) -> Result<(), DbError> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT failures, first_failure_at FROM login_throttle WHERE subject = $1",
        )
        .bind(subject)
        .fetch_optional(&mut *tx)
        .await?;
        let (failures, first) = match row {
            Some((failures, first)) if now - first < WINDOW_MS => (failures + 1, first),
            _ => (1, now),
        };
        let locked_until = if failures > FREE_FAILURES {
            let exponent = (failures - FREE_FAILURES - 1).min(16) as u32;
            now + (1_000 * 2i64.pow(exponent)).min(MAX_LOCK_MS)
        } else {
            0
        };
        sqlx::query("DELETE FROM login_throttle WHERE subject = $1")
            .bind(subject)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO login_throttle (subject, failures, first_failure_at, locked_until) VALUES ($1, $2, $3, $4)",
        )
        .bind(subject)
        .bind(failures)
        .bind(first)
        .bind(locked_until)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn clear_login_failures(&self, subject: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM login_throttle WHERE subject = $1")
            .bind(subject)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
