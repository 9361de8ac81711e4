use super::{now_ms, Db, DbError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyInfo {
    pub id: i64,
    pub name: String,
    pub prefix: String,
}

impl Db {
    pub async fn create_api_key(
        &self,
        name: &str,
        prefix: &str,
        key_hash: &str,
    ) -> Result<i64, DbError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO api_keys (name, prefix, key_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(name)
        .bind(prefix)
        .bind(key_hash)
        .bind(now_ms())
        .fetch_one(self.pool())
        .await?)
    }

    /// The key with this hash, marking it used.
    pub async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKeyInfo>, DbError> {
        let row: Option<(i64, String, String)> = sqlx::query_as(
            "UPDATE api_keys SET last_used_at = $1 WHERE key_hash = $2 RETURNING id, name, prefix",
        )
        .bind(now_ms())
        .bind(key_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(id, name, prefix)| ApiKeyInfo { id, name, prefix }))
    }

    pub async fn delete_api_key(&self, name: &str) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM api_keys WHERE name = $1")
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
