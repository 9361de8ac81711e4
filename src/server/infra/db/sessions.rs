use super::{now_ms, Db, DbError};
use crate::models::Role;

/// A logged-in session, found by the hash of its cookie token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
    /// The password is a one-time one: nothing but changing it is allowed.
    pub must_change_password: bool,
    /// This request moved the expiry on; the cookie's lifetime should follow.
    pub extended: bool,
}

/// Refresh `last_seen_at` at most this often, so page views don't all write.
const TOUCH_EVERY_MS: i64 = 60_000;

/// The longest a session lives from its login, whatever its activity: a week.
pub const ABSOLUTE_LIFETIME_MS: i64 = 7 * 86_400_000;

impl Db {
    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: i64,
        ttl_ms: i64,
    ) -> Result<(), DbError> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now)
        .bind(now + ttl_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The session's user, extending a sliding expiry; `None` when unknown, expired, or
    /// older than [`ABSOLUTE_LIFETIME_MS`] however active (a stolen cookie kept busy does
    /// not live for ever).
    pub async fn session_user(
        &self,
        token_hash: &str,
        ttl_ms: i64,
    ) -> Result<Option<SessionUser>, DbError> {
        let now = now_ms();
        let row: Option<(i64, String, String, i64, i64)> = sqlx::query_as(
            "SELECT s.user_id, u.username, u.role, u.must_change_password, s.last_seen_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND s.created_at > $3",
        )
        .bind(token_hash)
        .bind(now)
        .bind(now - ABSOLUTE_LIFETIME_MS)
        .fetch_optional(self.readers())
        .await?;
        let Some((user_id, username, role, must_change_password, last_seen_at)) = row else {
            return Ok(None);
        };
        let extended = now - last_seen_at > TOUCH_EVERY_MS;
        if extended {
            sqlx::query(
                "UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE token_hash = $3",
            )
            .bind(now)
            .bind(now + ttl_ms)
            .bind(token_hash)
            .execute(self.pool())
            .await?;
        }
        Ok(Some(SessionUser {
            user_id,
            username,
            role: Role::parse(&role).unwrap_or(Role::Viewer),
            must_change_password: must_change_password != 0,
            extended,
        }))
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn delete_expired_sessions(&self) -> Result<u64, DbError> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now_ms())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
