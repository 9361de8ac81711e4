//! Storage of the Proxmox inventory (see `sync::inventory`): one row per record of a kind
//! and endpoint, and when each kind was last read.

use std::collections::HashMap;

use super::{now_ms, Db, DbError};
use crate::models::RecordKind;

/// A record as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredRecord {
    pub key: String,
    pub node: Option<String>,
    pub vmid: Option<i64>,
    pub at: Option<i64>,
    /// The record as JSON (one of the `models::inventory` types).
    pub body: String,
    pub changed_at: i64,
    pub stale_since: Option<i64>,
    pub last_seen: Option<i64>,
}

impl StoredRecord {
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_str(&self.body).ok()
    }
}

/// A record to store (created or changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    pub key: String,
    pub node: Option<String>,
    pub vmid: Option<i64>,
    pub at: Option<i64>,
    pub body: String,
}

/// What one stage changes in one endpoint's records of one kind.
#[derive(Debug, Default)]
pub struct InventoryChanges<'a> {
    pub upserts: Vec<&'a RecordRow>,
    pub removes: Vec<&'a str>,
    /// Records gone from Proxmox that are kept, marked stale.
    pub stale: Vec<&'a str>,
    /// Records older than this (their `at`, Unix seconds) are removed: task retention.
    pub expire_before: Option<i64>,
}

/// 7 parameters per row: far below SQLite's and PostgreSQL's limits.
const ROWS_PER_STATEMENT: usize = 100;

const COLUMNS: &str = "record_key, node, vmid, at, body, changed_at, stale_since, last_seen";

type Row = (
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    String,
    i64,
    Option<i64>,
    Option<i64>,
);

/// A [`Row`] with its endpoint in front.
type EndpointRow = (
    i64,
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    String,
    i64,
    Option<i64>,
    Option<i64>,
);

fn stored((key, node, vmid, at, body, changed_at, stale_since, last_seen): Row) -> StoredRecord {
    StoredRecord {
        key,
        node,
        vmid,
        at,
        body,
        changed_at,
        stale_since,
        last_seen,
    }
}

impl Db {
    /// Node → how far back its stored task history is complete (Unix seconds).
    pub async fn task_history_reach(
        &self,
        endpoint_id: i64,
    ) -> Result<HashMap<String, i64>, DbError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT node, complete_from FROM task_history_reach WHERE endpoint_id = $1",
        )
        .bind(endpoint_id)
        .fetch_all(self.readers())
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// Records how far back a node's stored task history is complete now.
    pub async fn set_task_history_reach(
        &self,
        endpoint_id: i64,
        node: &str,
        complete_from: i64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO task_history_reach (endpoint_id, node, complete_from) VALUES ($1, $2, $3) \
             ON CONFLICT (endpoint_id, node) DO UPDATE SET complete_from = excluded.complete_from",
        )
        .bind(endpoint_id)
        .bind(node)
        .bind(complete_from)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The backup volumes of an endpoint that NetBox has had a journal entry for.
    pub async fn journaled_backups(
        &self,
        endpoint_id: i64,
    ) -> Result<std::collections::HashSet<String>, DbError> {
        let volids: Vec<String> =
            sqlx::query_scalar("SELECT volid FROM backup_journal WHERE endpoint_id = $1")
                .bind(endpoint_id)
                .fetch_all(self.readers())
                .await?;
        Ok(volids.into_iter().collect())
    }

    /// Records that NetBox has the journal entry of each of `volids`, for ever.
    pub async fn record_journaled_backups(
        &self,
        endpoint_id: i64,
        volids: &[&str],
    ) -> Result<(), DbError> {
        for chunk in volids.chunks(ROWS_PER_STATEMENT) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("($1, ${}, $2)", 3 + i))
                .collect();
            let sql = format!(
                "INSERT INTO backup_journal (endpoint_id, volid, written_at) VALUES {} \
                 ON CONFLICT (endpoint_id, volid) DO NOTHING",
                values.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(endpoint_id).bind(now_ms());
            for volid in chunk {
                query = query.bind(*volid);
            }
            query.execute(self.pool()).await?;
        }
        Ok(())
    }

    /// One endpoint's records of a kind; with `since`, only those whose `at` is at or after
    /// it (the task history inside its retention).
    pub async fn inventory(
        &self,
        endpoint_id: i64,
        kind: RecordKind,
        since: Option<i64>,
    ) -> Result<Vec<StoredRecord>, DbError> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM proxmox_inventory WHERE endpoint_id = $1 AND kind = $2 \
             AND ($3 IS NULL OR at >= $3) ORDER BY record_key"
        ))
        .bind(endpoint_id)
        .bind(kind.as_str())
        .bind(since)
        .fetch_all(self.readers())
        .await?;
        Ok(rows.into_iter().map(stored).collect())
    }

    /// Every endpoint's records of a kind, by endpoint and key (the pages' lists).
    pub async fn inventory_everywhere(
        &self,
        kind: RecordKind,
    ) -> Result<Vec<(i64, StoredRecord)>, DbError> {
        let rows: Vec<EndpointRow> = sqlx::query_as(&format!(
            "SELECT endpoint_id, {COLUMNS} FROM proxmox_inventory WHERE kind = $1 \
                 ORDER BY endpoint_id, record_key"
        ))
        .bind(kind.as_str())
        .fetch_all(self.readers())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(endpoint_id, key, node, vmid, at, body, changed_at, stale_since, last_seen)| {
                    (
                        endpoint_id,
                        stored((
                            key,
                            node,
                            vmid,
                            at,
                            body,
                            changed_at,
                            stale_since,
                            last_seen,
                        )),
                    )
                },
            )
            .collect())
    }

    /// One record by its key.
    pub async fn inventory_record(
        &self,
        endpoint_id: i64,
        kind: RecordKind,
        key: &str,
    ) -> Result<Option<StoredRecord>, DbError> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM proxmox_inventory WHERE endpoint_id = $1 AND kind = $2 \
             AND record_key = $3"
        ))
        .bind(endpoint_id)
        .bind(kind.as_str())
        .bind(key)
        .fetch_optional(self.readers())
        .await?;
        Ok(row.map(stored))
    }

    /// One guest's records of a kind, newest first (the VM panel's tabs).
    pub async fn guest_inventory(
        &self,
        endpoint_id: i64,
        kind: RecordKind,
        vmid: u64,
    ) -> Result<Vec<StoredRecord>, DbError> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM proxmox_inventory WHERE endpoint_id = $1 AND kind = $2 \
             AND vmid = $3 ORDER BY at DESC, record_key"
        ))
        .bind(endpoint_id)
        .bind(kind.as_str())
        .bind(vmid as i64)
        .fetch_all(self.readers())
        .await?;
        Ok(rows.into_iter().map(stored).collect())
    }

    /// (endpoint, vmid) → Unix seconds of the guest's newest backup that Proxmox still
    /// lists (a stale one, gone from its storage, restores nothing).
    pub async fn newest_backups(&self) -> Result<HashMap<(i64, u64), i64>, DbError> {
        let rows: Vec<(i64, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT endpoint_id, vmid, MAX(at) FROM proxmox_inventory \
             WHERE kind = $1 AND vmid IS NOT NULL AND stale_since IS NULL GROUP BY endpoint_id, vmid",
        )
        .bind(RecordKind::Backup.as_str())
        .fetch_all(self.readers())
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(endpoint, vmid, at)| Some(((endpoint, vmid? as u64), at?)))
            .collect())
    }

    /// When each (endpoint, kind) was last read, in milliseconds.
    pub async fn inventory_reads(&self) -> Result<HashMap<(i64, String), i64>, DbError> {
        let rows: Vec<(i64, String, i64)> =
            sqlx::query_as("SELECT endpoint_id, kind, read_at FROM proxmox_inventory_reads")
                .fetch_all(self.readers())
                .await?;
        Ok(rows
            .into_iter()
            .map(|(endpoint, kind, at)| ((endpoint, kind), at))
            .collect())
    }

    /// Writes one stage's changes in one transaction and records the read. Returns how many
    /// rows changed (the read itself not counted).
    pub async fn write_inventory(
        &self,
        endpoint_id: i64,
        kind: RecordKind,
        changes: &InventoryChanges<'_>,
    ) -> Result<u64, DbError> {
        let now = now_ms();
        let kind = kind.as_str();
        let mut changed = 0;
        let mut tx = self.begin_write().await?;
        let previous_read: Option<(i64,)> = sqlx::query_as(
            "SELECT read_at FROM proxmox_inventory_reads WHERE endpoint_id = $1 AND kind = $2",
        )
        .bind(endpoint_id)
        .bind(kind)
        .fetch_optional(&mut *tx)
        .await?;
        for chunk in changes.upserts.chunks(ROWS_PER_STATEMENT) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p = 4 + 5 * i;
                    format!(
                        "($1, $2, ${p}, ${}, ${}, ${}, ${}, $3, NULL, NULL)",
                        p + 1,
                        p + 2,
                        p + 3,
                        p + 4
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO proxmox_inventory (endpoint_id, kind, {COLUMNS}) VALUES {} \
                 ON CONFLICT (endpoint_id, kind, record_key) DO UPDATE SET node = excluded.node, \
                 vmid = excluded.vmid, at = excluded.at, body = excluded.body, \
                 changed_at = excluded.changed_at, stale_since = NULL, last_seen = NULL",
                values.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(endpoint_id).bind(kind).bind(now);
            for row in chunk {
                query = query
                    .bind(row.key.as_str())
                    .bind(row.node.as_deref())
                    .bind(row.vmid)
                    .bind(row.at)
                    .bind(row.body.as_str());
            }
            changed += query.execute(&mut *tx).await?.rows_affected();
        }
        for (keys, sql) in [
            (
                &changes.removes,
                "DELETE FROM proxmox_inventory WHERE endpoint_id = $1 AND kind = $2 AND record_key IN",
            ),
            (
                &changes.stale,
                "UPDATE proxmox_inventory SET stale_since = $3, last_seen = $4 \
                 WHERE endpoint_id = $1 AND kind = $2 AND record_key IN",
            ),
        ] {
            let stale = sql.starts_with("UPDATE");
            let first = if stale { 5 } else { 3 };
            for chunk in keys.chunks(ROWS_PER_STATEMENT) {
                let list: Vec<String> = (0..chunk.len()).map(|i| format!("${}", first + i)).collect();
                let sql = format!("{sql} ({})", list.join(", "));
                let mut query = sqlx::query(&sql).bind(endpoint_id).bind(kind);
                if stale {
                    query = query.bind(now).bind(previous_read.map(|(at,)| at));
                }
                for key in chunk {
                    query = query.bind(*key);
                }
                changed += query.execute(&mut *tx).await?.rows_affected();
            }
        }
        if let Some(before) = changes.expire_before {
            changed += sqlx::query(
                "DELETE FROM proxmox_inventory WHERE endpoint_id = $1 AND kind = $2 AND at < $3",
            )
            .bind(endpoint_id)
            .bind(kind)
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        sqlx::query(
            "INSERT INTO proxmox_inventory_reads (endpoint_id, kind, read_at) VALUES ($1, $2, $3) \
             ON CONFLICT (endpoint_id, kind) DO UPDATE SET read_at = excluded.read_at",
        )
        .bind(endpoint_id)
        .bind(kind)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(changed)
    }
}
