//! The identity map of managed objects: Proxmox identity → NetBox id, per endpoint and model.

use std::collections::HashMap;

use super::{now_ms, Db, DbError};

/// One managed object as the map knows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mapped {
    pub netbox_id: i64,
    pub missing_since: Option<i64>,
    /// Slugs of the tags Proxbox added to the object (and may therefore take off again).
    pub added_tags: Vec<String>,
}

/// Rows per statement: 4 parameters each stays far below SQLite's and PostgreSQL's limits.
const ROWS_PER_STATEMENT: usize = 200;

impl Db {
    /// Everything mapped for one endpoint and model, by identity.
    pub async fn mapped_objects(
        &self,
        endpoint_id: i64,
        model: &str,
    ) -> Result<HashMap<String, Mapped>, DbError> {
        let rows: Vec<(String, i64, Option<i64>, Option<String>)> = sqlx::query_as(
            "SELECT identity, netbox_id, missing_since, added_tags FROM sync_objects WHERE endpoint_id = $1 AND model = $2",
        )
        .bind(endpoint_id)
        .bind(model)
        .fetch_all(self.readers())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(identity, netbox_id, missing_since, added_tags)| {
                (
                    identity,
                    Mapped {
                        netbox_id,
                        missing_since,
                        added_tags: added_tags
                            .and_then(|json| serde_json::from_str(&json).ok())
                            .unwrap_or_default(),
                    },
                )
            })
            .collect())
    }

    /// The NetBox ids other endpoints have mapped for a model: objects Proxbox made for
    /// another cluster, which this one may use but never takes over.
    pub async fn mapped_elsewhere(
        &self,
        endpoint_id: i64,
        model: &str,
    ) -> Result<std::collections::HashSet<u64>, DbError> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT netbox_id FROM sync_objects WHERE endpoint_id <> $1 AND model = $2",
        )
        .bind(endpoint_id)
        .bind(model)
        .fetch_all(self.readers())
        .await?;
        Ok(rows.into_iter().map(|(id,)| id as u64).collect())
    }

    /// The endpoint and identity of the object Proxbox wrote to NetBox id `netbox_id`.
    pub async fn mapped_object(
        &self,
        model: &str,
        netbox_id: i64,
    ) -> Result<Option<(i64, String)>, DbError> {
        Ok(sqlx::query_as(
            "SELECT endpoint_id, identity FROM sync_objects WHERE model = $1 AND netbox_id = $2 \
             ORDER BY endpoint_id LIMIT 1",
        )
        .bind(model)
        .bind(netbox_id)
        .fetch_optional(self.readers())
        .await?)
    }

    /// Records objects as seen now (clearing any `missing_since`), in few statements.
    pub async fn map_objects(
        &self,
        endpoint_id: i64,
        model: &str,
        objects: &[(String, i64)],
    ) -> Result<(), DbError> {
        let now = now_ms();
        // One row per identity (the last one wins): PostgreSQL refuses an upsert that
        // touches the same row twice in one statement.
        let mut unique: Vec<(String, i64)> = objects
            .iter()
            .cloned()
            .collect::<HashMap<_, _>>()
            .into_iter()
            .collect();
        unique.sort();
        let mut tx = self.begin_write().await?;
        for chunk in unique.chunks(ROWS_PER_STATEMENT) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("($1, $2, ${}, ${}, $3, NULL)", 4 + 2 * i, 5 + 2 * i))
                .collect();
            let sql = format!(
                "INSERT INTO sync_objects (endpoint_id, model, identity, netbox_id, last_seen_at, missing_since) VALUES {} \
                 ON CONFLICT (endpoint_id, model, identity) DO UPDATE SET \
                 netbox_id = excluded.netbox_id, last_seen_at = excluded.last_seen_at, missing_since = NULL",
                values.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(endpoint_id).bind(model).bind(now);
            for (identity, netbox_id) in chunk {
                query = query.bind(identity.as_str()).bind(*netbox_id);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records which tags Proxbox added to each object (replacing what was recorded); only
    /// rows that changed are written, so that a resync with nothing new writes nothing.
    pub async fn record_added_tags(
        &self,
        endpoint_id: i64,
        model: &str,
        tags: &[(String, Vec<String>)],
    ) -> Result<(), DbError> {
        if tags.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        for (identity, slugs) in tags {
            let json = (!slugs.is_empty())
                .then(|| serde_json::to_string(slugs).unwrap_or_else(|_| "[]".into()));
            sqlx::query(
                "UPDATE sync_objects SET added_tags = $1 \
                 WHERE endpoint_id = $2 AND model = $3 AND identity = $4",
            )
            .bind(json)
            .bind(endpoint_id)
            .bind(model)
            .bind(identity.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Notes that these objects are gone from Proxmox; the first time counts.
    pub async fn mark_missing(
        &self,
        endpoint_id: i64,
        model: &str,
        identities: &[String],
    ) -> Result<(), DbError> {
        let now = now_ms();
        for identity in identities {
            sqlx::query(
                "UPDATE sync_objects SET missing_since = $1 \
                 WHERE endpoint_id = $2 AND model = $3 AND identity = $4 AND missing_since IS NULL",
            )
            .bind(now)
            .bind(endpoint_id)
            .bind(model)
            .bind(identity.as_str())
            .execute(self.pool())
            .await?;
        }
        Ok(())
    }

    /// Forgets objects (after Proxbox deleted them from NetBox).
    pub async fn unmap_objects(
        &self,
        endpoint_id: i64,
        model: &str,
        identities: &[String],
    ) -> Result<(), DbError> {
        for identity in identities {
            sqlx::query(
                "DELETE FROM sync_objects WHERE endpoint_id = $1 AND model = $2 AND identity = $3",
            )
            .bind(endpoint_id)
            .bind(model)
            .bind(identity.as_str())
            .execute(self.pool())
            .await?;
        }
        Ok(())
    }
}
