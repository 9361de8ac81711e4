//! Users and API keys as an administrator manages them, from the command line or (later)
//! the users and keys pages: each operation checks its input, and refusals say what to do.

use crate::error::AppError;
use crate::models::{Role, Scope};
use crate::server::infra::db::users::{User, UserChange};
use crate::server::infra::db::Db;
use crate::server::services::credentials;
use crate::validation::FieldErrors;

/// On a database without users, creates the first admin with `password` or a generated
/// one; returns the generated one to show. Instances started side by side on one
/// PostgreSQL race for it: the one that loses finds the admin made, not an error.
pub async fn ensure_first_admin(
    db: &Db,
    username: &str,
    password: Option<&str>,
) -> Result<Option<(String, String)>, String> {
    if db.user_count().await.map_err(|e| e.to_string())? > 0 {
        return Ok(None);
    }
    let (password, show) = match password.filter(|p| !p.is_empty()) {
        Some(given) => (given.to_string(), false),
        None => (credentials::generate_password(), true),
    };
    let hash = credentials::hash_password(password.clone())
        .await
        .map_err(|e| e.to_string())?;
    match db.create_user(username, &hash, Role::Admin, false).await {
        Ok(_) => {
            tracing::info!(user = %username, "created the first admin");
            Ok(show.then(|| (username.to_string(), password)))
        }
        Err(crate::server::infra::db::DbError::Query(e))
            if crate::server::infra::db::is_unique_violation(&e) =>
        {
            tracing::info!(user = %username, "another instance created the first admin");
            Ok(None)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The longest user or key name accepted.
const MAX_NAME: usize = 64;

/// A user or key name: 1 to 64 letters, digits, `.`, `_`, `-` or `@`.
fn check_name(field: &str, name: &str) -> Result<String, AppError> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        return Ok(name.to_string());
    }
    Err(FieldErrors::one(
        field,
        format!("Use 1 to {MAX_NAME} letters, digits, '.', '_', '-' or '@'."),
    )
    .into())
}

/// Adds a user with a one-time password (returned, to hand over once).
pub async fn add_user(db: &Db, username: &str, role: Role) -> Result<String, AppError> {
    let username = check_name("username", username)?;
    if db.user_by_name(&username).await?.is_some() {
        return Err(FieldErrors::one(
            "username",
            format!("A user named {username:?} exists already."),
        )
        .into());
    }
    let password = credentials::generate_password();
    let hash = credentials::hash_password(password.clone()).await?;
    db.create_user(&username, &hash, role, true).await?;
    tracing::info!(user = %username, role = role.as_str(), "user added");
    Ok(password)
}

/// Gives a user a new one-time password (returned) and ends their sessions.
pub async fn reset_password(db: &Db, username: &str) -> Result<String, AppError> {
    let password = credentials::generate_password();
    let hash = credentials::hash_password(password.clone()).await?;
    if !db.set_password(username.trim(), &hash, true).await? {
        return Err(AppError::NotFound(format!("The user {username:?}")));
    }
    tracing::info!(user = %username.trim(), "one-time password issued");
    Ok(password)
}

fn changed(username: &str, change: UserChange) -> Result<(), AppError> {
    match change {
        UserChange::Done => Ok(()),
        UserChange::NotFound => Err(AppError::NotFound(format!("The user {username:?}"))),
        UserChange::LastAdmin => Err(AppError::Precondition(format!(
            "{username:?} is the last admin; give another user the admin role first."
        ))),
    }
}

pub async fn set_role(db: &Db, username: &str, role: Role) -> Result<(), AppError> {
    changed(username, db.set_role(username.trim(), role).await?)?;
    tracing::info!(user = %username.trim(), role = role.as_str(), "role changed");
    Ok(())
}

pub async fn remove_user(db: &Db, username: &str) -> Result<(), AppError> {
    changed(username, db.remove_user(username.trim()).await?)?;
    tracing::info!(user = %username.trim(), "user removed");
    Ok(())
}

pub async fn users(db: &Db) -> Result<Vec<User>, AppError> {
    db.users().await.map_err(AppError::internal)
}

/// Creates an API key (returned once) with at least one scope.
pub async fn create_api_key(db: &Db, name: &str, scopes: &[Scope]) -> Result<String, AppError> {
    let name = check_name("name", name)?;
    if scopes.is_empty() {
        return Err(
            FieldErrors::one("scopes", "Give at least one scope: read, sync or admin.").into(),
        );
    }
    let taken = db.api_keys().await?.iter().any(|k| k.info.name == name);
    if taken {
        return Err(
            FieldErrors::one("name", format!("An API key named {name:?} exists already.")).into(),
        );
    }
    let key = credentials::create_api_key(db, &name, scopes).await?;
    tracing::info!(key = %name, scopes = %Scope::join(scopes), "API key created");
    Ok(key)
}

/// Gives the keys made before scopes existed the `admin` scope, warning about each.
pub async fn migrate_unscoped_api_keys(db: &Db) -> Result<(), AppError> {
    for name in db.migrate_unscoped_api_keys().await? {
        tracing::warn!(
            key = %name,
            "API key from before scopes: it now has the admin scope (what it could do before); \
             create a key with only the scopes it needs (sync, for the NetBox plugin) and revoke this one"
        );
    }
    Ok(())
}
