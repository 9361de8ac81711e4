//! Stored settings and the record of who changed what (settings and schedules).

use sqlx::FromRow;

use super::{now_ms, Db, DbError};

/// One change to record: `None` is the default, or a schedule that did not exist
/// before or does not after.
#[derive(Debug, Clone, Copy)]
pub struct SettingChange<'a> {
    pub name: &'a str,
    pub old: Option<&'a str>,
    pub new: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SettingChangeRow {
    pub id: i64,
    pub name: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub changed_by: String,
    pub changed_at: i64,
}

impl Db {
    /// Every stored setting, by name.
    pub async fn stored_settings(&self) -> Result<Vec<(String, String)>, DbError> {
        Ok(
            sqlx::query_as("SELECT name, value FROM settings ORDER BY name")
                .fetch_all(self.readers())
                .await?,
        )
    }

    /// Stores the new values and records every change, in one transaction: a failure
    /// leaves the settings and their record as they were.
    pub async fn save_settings(
        &self,
        changes: &[SettingChange<'_>],
        by: &str,
    ) -> Result<(), DbError> {
        let mut tx = self.begin_write().await?;
        let now = now_ms();
        for change in changes {
            match change.new {
                Some(value) => {
                    sqlx::query(
                        "INSERT INTO settings (name, value, updated_at, updated_by) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE \
                         SET value = excluded.value, updated_at = excluded.updated_at, \
                         updated_by = excluded.updated_by",
                    )
                    .bind(change.name)
                    .bind(value)
                    .bind(now)
                    .bind(by)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM settings WHERE name = $1")
                        .bind(change.name)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            record(&mut tx, change, by, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a change made elsewhere (a schedule's).
    pub async fn record_change(&self, change: &SettingChange<'_>, by: &str) -> Result<(), DbError> {
        let mut tx = self.begin_write().await?;
        record(&mut tx, change, by, now_ms()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The newest changes first.
    pub async fn setting_changes(&self, limit: i64) -> Result<Vec<SettingChangeRow>, DbError> {
        Ok(sqlx::query_as(
            "SELECT id, name, old_value, new_value, changed_by, changed_at FROM setting_changes \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.readers())
        .await?)
    }
}

async fn record(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    change: &SettingChange<'_>,
    by: &str,
    at: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO setting_changes (name, old_value, new_value, changed_by, changed_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(change.name)
    .bind(change.old)
    .bind(change.new)
    .bind(by)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
