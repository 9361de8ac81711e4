use super::{now_ms, Db, DbError};
use crate::models::Scope;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyInfo {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<Scope>,
}

/// A key as the API keys page lists it (never the key itself: only its hash is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub info: ApiKeyInfo,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

type KeyRow = (i64, String, String, Option<String>, i64, Option<i64>);

/// How exactly "last used" is kept: once a minute is enough to see a key is in use.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

fn key_row((id, name, prefix, scopes, created_at, last_used_at): KeyRow) -> ApiKeyRow {
    ApiKeyRow {
        info: ApiKeyInfo {
            id,
            name,
            prefix,
            // Unreadable scopes (edited by hand) grant nothing.
            scopes: scopes
                .as_deref()
                .and_then(|s| Scope::split(s).ok())
                .unwrap_or_default(),
        },
        created_at,
        last_used_at,
    }
}

impl Db {
    pub async fn create_api_key(
        &self,
        name: &str,
        prefix: &str,
        key_hash: &str,
        scopes: &[Scope],
    ) -> Result<i64, DbError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO api_keys (name, prefix, key_hash, scopes, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(name)
        .bind(prefix)
        .bind(key_hash)
        .bind(Scope::join(scopes))
        .bind(now_ms())
        .fetch_one(self.pool())
        .await?)
    }

    /// The key with this hash. Only a key that exists is marked used, and at most once a
    /// minute: a request with a made-up key reads and never writes (on SQLite a write
    /// would wait for, and hold up, the job log writer).
    pub async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKeyInfo>, DbError> {
        let row: Option<KeyRow> = sqlx::query_as(
            "SELECT id, name, prefix, scopes, created_at, last_used_at FROM api_keys \
             WHERE key_hash = $1",
        )
        .bind(key_hash)
        .fetch_optional(self.readers())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let now = now_ms();
        let stale = row
            .5
            .is_none_or(|used| used < now - LAST_USED_RESOLUTION_MS);
        if stale {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
                .bind(now)
                .bind(row.0)
                .execute(self.pool())
                .await?;
        }
        Ok(Some(key_row(row).info))
    }

    /// The key with this id as it is now (its scopes may have changed; `None`: revoked).
    /// Read only: an open stream re-checking its key is no use of it.
    pub async fn api_key_by_id(&self, id: i64) -> Result<Option<ApiKeyInfo>, DbError> {
        let row: Option<KeyRow> = sqlx::query_as(
            "SELECT id, name, prefix, scopes, created_at, last_used_at FROM api_keys WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.readers())
        .await?;
        Ok(row.map(|row| key_row(row).info))
    }

    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRow>, DbError> {
        let rows: Vec<KeyRow> = sqlx::query_as(
            "SELECT id, name, prefix, scopes, created_at, last_used_at FROM api_keys ORDER BY name",
        )
        .fetch_all(self.readers())
        .await?;
        Ok(rows.into_iter().map(key_row).collect())
    }

    /// Gives the keys made before scopes existed the `admin` scope (what they could do
    /// then); returns their names, for the log's warning.
    pub async fn migrate_unscoped_api_keys(&self) -> Result<Vec<String>, DbError> {
        let mut tx = self.begin_write().await?;
        let names: Vec<String> =
            sqlx::query_scalar("SELECT name FROM api_keys WHERE scopes IS NULL ORDER BY name")
                .fetch_all(&mut *tx)
                .await?;
        sqlx::query("UPDATE api_keys SET scopes = $1 WHERE scopes IS NULL")
            .bind(Scope::Admin.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(names)
    }

    pub async fn delete_api_key(&self, name: &str) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM api_keys WHERE name = $1")
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
