//! Storage of the NetBox mirror (see `sync::mirror`): its objects, the filters it answers
//! completely, and how far into NetBox's change log it is.

use super::{Db, DbError};

/// How far the mirror has followed NetBox's change log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MirrorState {
    pub settled_change: i64,
    /// JSON `[[from, to, read_at_ms], …]`.
    pub recent_changes: String,
    pub full_read_at: i64,
    pub version: i64,
    /// The fields the copy keeps per model when it was built; a Proxbox that reads other
    /// fields rebuilds it instead of comparing against bodies that lack them.
    pub shape: String,
    /// The newest change log entry followed, as "id time" (empty: not known).
    pub cursor_entry: String,
}

/// The mirror of one NetBox as stored.
#[derive(Debug, Default)]
pub struct StoredMirror {
    pub state: MirrorState,
    /// (object type, id, JSON body).
    pub objects: Vec<(String, i64, String)>,
    /// (object type, filter field, value).
    pub coverage: Vec<(String, String, String)>,
}

/// What a run changed in the mirror.
#[derive(Debug, Default)]
pub struct MirrorChanges {
    /// The copy was rebuilt: everything stored before goes.
    pub rebuilt: bool,
    pub state: MirrorState,
    pub upserts: Vec<(String, i64, String)>,
    pub removals: Vec<(String, i64)>,
    pub coverage: Vec<(String, String, String)>,
}

/// Rows per statement: 4 parameters each stays far below SQLite's and PostgreSQL's limits.
const ROWS_PER_STATEMENT: usize = 200;

fn placeholders(rows: usize) -> String {
    (0..rows)
        .map(|i| format!("($1, ${}, ${}, ${})", 2 + 3 * i, 3 + 3 * i, 4 + 3 * i))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Db {
    pub async fn load_mirror(&self, netbox: &str) -> Result<Option<StoredMirror>, DbError> {
        let state: Option<(i64, String, i64, i64, String, String)> = sqlx::query_as(
            "SELECT settled_change, recent_changes, full_read_at, version, shape, cursor_entry \
             FROM netbox_mirror_state WHERE netbox = $1",
        )
        .bind(netbox)
        .fetch_optional(self.readers())
        .await?;
        let Some((settled_change, recent_changes, full_read_at, version, shape, cursor_entry)) =
            state
        else {
            return Ok(None);
        };
        let objects = sqlx::query_as(
            "SELECT object_type, id, body FROM netbox_mirror_objects WHERE netbox = $1",
        )
        .bind(netbox)
        .fetch_all(self.readers())
        .await?;
        let coverage = sqlx::query_as(
            "SELECT object_type, field, value FROM netbox_mirror_coverage WHERE netbox = $1",
        )
        .bind(netbox)
        .fetch_all(self.readers())
        .await?;
        Ok(Some(StoredMirror {
            state: MirrorState {
                settled_change,
                recent_changes,
                full_read_at,
                version,
                shape,
                cursor_entry,
            },
            objects,
            coverage,
        }))
    }

    /// Stores a run's changes when the stored state is still the one the run started from
    /// (`base_version`, `None` for none stored); answers whether it did. A run that lost the
    /// race leaves its changes out: the next run follows the change log from the winner's
    /// state and catches up.
    pub async fn save_mirror(
        &self,
        netbox: &str,
        base_version: Option<i64>,
        changes: &MirrorChanges,
    ) -> Result<bool, DbError> {
        let mut tx = self.begin_write().await?;
        let s = &changes.state;
        let claimed = match base_version {
            Some(version) => sqlx::query(
                "UPDATE netbox_mirror_state SET settled_change = $1, recent_changes = $2, full_read_at = $3, shape = $6, cursor_entry = $7, version = version + 1 \
                 WHERE netbox = $4 AND version = $5",
            )
            .bind(s.settled_change)
            .bind(s.recent_changes.as_str())
            .bind(s.full_read_at)
            .bind(netbox)
            .bind(version)
            .bind(s.shape.as_str())
            .bind(s.cursor_entry.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected(),
            None => sqlx::query(
                "INSERT INTO netbox_mirror_state (netbox, settled_change, recent_changes, full_read_at, version, shape, cursor_entry) \
                 VALUES ($1, $2, $3, $4, 1, $5, $6) ON CONFLICT (netbox) DO NOTHING",
            )
            .bind(netbox)
            .bind(s.settled_change)
            .bind(s.recent_changes.as_str())
            .bind(s.full_read_at)
            .bind(s.shape.as_str())
            .bind(s.cursor_entry.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected(),
        };
        if claimed != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        if changes.rebuilt {
            for table in ["netbox_mirror_objects", "netbox_mirror_coverage"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE netbox = $1"))
                    .bind(netbox)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        for (object_type, id) in &changes.removals {
            sqlx::query(
                "DELETE FROM netbox_mirror_objects WHERE netbox = $1 AND object_type = $2 AND id = $3",
            )
            .bind(netbox)
            .bind(object_type.as_str())
            .bind(*id)
            .execute(&mut *tx)
            .await?;
        }
        for chunk in changes.upserts.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO netbox_mirror_objects (netbox, object_type, id, body) VALUES {} \
                 ON CONFLICT (netbox, object_type, id) DO UPDATE SET body = excluded.body",
                placeholders(chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(netbox);
            for (object_type, id, body) in chunk {
                query = query
                    .bind(object_type.as_str())
                    .bind(*id)
                    .bind(body.as_str());
            }
            query.execute(&mut *tx).await?;
        }
        for chunk in changes.coverage.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO netbox_mirror_coverage (netbox, object_type, field, value) VALUES {} \
                 ON CONFLICT (netbox, object_type, field, value) DO NOTHING",
                placeholders(chunk.len())
            );
            let mut query = sqlx::query(&sql).bind(netbox);
            for (object_type, field, value) in chunk {
                query = query
                    .bind(object_type.as_str())
                    .bind(field.as_str())
                    .bind(value.as_str());
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
