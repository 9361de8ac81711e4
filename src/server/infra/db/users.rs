use sqlx::FromRow;

use super::{now_ms, Db, DbError};
use crate::models::Role;

#[derive(Debug, Clone, FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    /// As stored: `admin`, `operator` or `viewer` (see [`User::role`]).
    #[sqlx(rename = "role")]
    pub stored_role: String,
    /// 0 or 1 (see the migration's note on flags).
    pub must_change_password: i64,
    pub created_at: i64,
}

impl User {
    /// The stored role; an unreadable one (edited by hand) reads as the least.
    pub fn role(&self) -> Role {
        Role::parse(&self.stored_role).unwrap_or(Role::Viewer)
    }
}

/// Why a user cannot be removed or demoted.
#[derive(Debug)]
pub enum UserChange {
    Done,
    NotFound,
    /// It is the last admin: Proxbox would have no one left to administer it.
    LastAdmin,
}

const USER_COLUMNS: &str = "id, username, password_hash, role, must_change_password, created_at";

impl Db {
    pub async fn user_count(&self) -> Result<i64, DbError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(self.readers())
            .await?)
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>, DbError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(self.readers())
        .await?)
    }

    pub async fn users(&self) -> Result<Vec<User>, DbError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users ORDER BY username"
        ))
        .fetch_all(self.readers())
        .await?)
    }

    /// A new user; `one_time` makes the password one that must be changed at first login.
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        one_time: bool,
    ) -> Result<i64, DbError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO users (username, password_hash, is_admin, role, must_change_password, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(username)
        .bind(password_hash)
        .bind(i64::from(role == Role::Admin))
        .bind(role.as_str())
        .bind(i64::from(one_time))
        .bind(now_ms())
        .fetch_one(self.pool())
        .await?)
    }

    /// Sets a new password and ends the user's sessions; `one_time` makes it one that must
    /// be changed at the next login. Returns false for an unknown user.
    pub async fn set_password(
        &self,
        username: &str,
        password_hash: &str,
        one_time: bool,
    ) -> Result<bool, DbError> {
        let mut tx = self.begin_write().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET password_hash = $1, must_change_password = $2 WHERE username = $3 RETURNING id",
        )
        .bind(password_hash)
        .bind(i64::from(one_time))
        .bind(username)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(id) = id {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(id.is_some())
    }

    /// Sets the password a user chose, keeping the session they chose it in.
    pub async fn change_own_password(
        &self,
        user_id: i64,
        password_hash: &str,
        keep_session: &str,
    ) -> Result<(), DbError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE users SET password_hash = $1, must_change_password = 0 WHERE id = $2")
            .bind(password_hash)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
            .bind(user_id)
            .bind(keep_session)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Changes a user's role, never taking it from the last admin.
    pub async fn set_role(&self, username: &str, role: Role) -> Result<UserChange, DbError> {
        self.change_user(username, Some(role)).await
    }

    /// Removes a user and their sessions, never the last admin.
    pub async fn remove_user(&self, username: &str) -> Result<UserChange, DbError> {
        self.change_user(username, None).await
    }

    /// One transaction for both changes, so that two admins demoting each other at once
    /// cannot leave none.
    async fn change_user(&self, username: &str, role: Option<Role>) -> Result<UserChange, DbError> {
        let mut tx = self.begin_write().await?;
        let current: Option<String> =
            sqlx::query_scalar("SELECT role FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(current) = current else {
            return Ok(UserChange::NotFound);
        };
        let loses_admin = current == Role::Admin.as_str() && role != Some(Role::Admin);
        if loses_admin {
            // PostgreSQL locks the admins' rows (SQLite's write transaction is exclusive).
            let lock = match self.backend() {
                super::Backend::Postgres => " FOR UPDATE",
                super::Backend::Sqlite => "",
            };
            let admins: Vec<i64> =
                sqlx::query_scalar(&format!("SELECT id FROM users WHERE role = $1{lock}"))
                    .bind(Role::Admin.as_str())
                    .fetch_all(&mut *tx)
                    .await?;
            if admins.len() <= 1 {
                return Ok(UserChange::LastAdmin);
            }
        }
        match role {
            Some(role) => {
                sqlx::query("UPDATE users SET role = $1, is_admin = $2 WHERE username = $3")
                    .bind(role.as_str())
                    .bind(i64::from(role == Role::Admin))
                    .bind(username)
                    .execute(&mut *tx)
                    .await?;
            }
            None => {
                sqlx::query(
                    "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE username = $1)",
                )
                .bind(username)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM users WHERE username = $1")
                    .bind(username)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(UserChange::Done)
    }
}
