//! Passwords and API keys: Argon2 hashing with a bound on the hashes at once, the checked
//! password of a login or a password change (throttled per name and client), new API keys
//! and generated passwords. Used by the web's login, the account pages and the command line.

use std::time::Duration;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

use crate::error::AppError;
use crate::models::Scope;
use crate::server::infra::crypto::{random_token, token_hash};
use crate::server::infra::db::throttle::FREE_FAILURES;
use crate::server::infra::db::users::User;
use crate::server::infra::db::Db;

/// What every API key starts with (so that a leaked one is recognised by scanners).
pub const API_KEY_PREFIX: &str = "pbx_";

/// Argon2 hashes in progress at once, every caller together (each takes ~19 MiB and a
/// core): 500 parallel password checks wait their turn instead of taking 10 GB.
static ARGON2_TURNS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

pub async fn hash_password(password: String) -> Result<String, AppError> {
    let _turn = ARGON2_TURNS.acquire().await.map_err(AppError::internal)?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(|e| AppError::Internal(format!("password hashing failed: {e}")))?
    .map_err(|e| AppError::Internal(format!("password hashing failed: {e}")))
}

pub async fn verify_password(hash: String, password: String) -> bool {
    let Ok(_turn) = ARGON2_TURNS.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// Password checks past the lock check at once: parallel guesses cannot all slip past it
/// before the first failure is counted.
static LOGIN_TURNS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// A hash to verify against when the user does not exist, so that timing does not tell.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Vy6Yg4tCMJE3BH0RTJBmvfmXPb0GpLrkt2UXFG1pSXY";

/// Failures one client may make across all names before it is locked out.
const FREE_CLIENT_FAILURES: i64 = 30;
/// The longest a check for a much-guessed name waits before it is made.
const MAX_SLOWDOWN_MS: i64 = 3_000;

/// The user whose password `password` is (for `purpose`: `login`, `password change`, as
/// the log names a failure), checked with throttling per name and client,
/// per client, and (slowing down, never refusing) per name — for a login and for the
/// current password a password change asks for alike, so that a stolen session cookie
/// guesses no faster than a stranger at the login form.
pub async fn checked_password(
    db: &Db,
    username: &str,
    password: &str,
    client_ip: Option<&str>,
    purpose: &'static str,
) -> Result<User, AppError> {
    // One spelling of the name for the lookup and the throttle, so " admin" is no new subject.
    let username = username.trim();
    let name = username.to_lowercase();
    let client = client_ip.unwrap_or("-");
    // Locked out: this name from this client (one client guessing one password), and this
    // client altogether (guessing many names; looser). The name alone is only slowed down,
    // so that guesses from elsewhere cannot lock its owner out.
    let locking = [
        (format!("pair:{name}@{client}"), FREE_FAILURES),
        (format!("client:{client}"), FREE_CLIENT_FAILURES),
    ];
    let user_subject = format!("user:{name}");
    let refuse_if_locked = || async {
        let mut locked_ms = 0;
        for (subject, _) in &locking {
            locked_ms = locked_ms.max(db.login_locked_for(subject).await?);
        }
        match locked_ms {
            0 => Ok(()),
            ms => Err(AppError::Throttled((ms as u64).div_ceil(1000))),
        }
    };
    refuse_if_locked().await?;
    let slow_ms = db.login_locked_for(&user_subject).await?;
    if slow_ms > 0 {
        tokio::time::sleep(Duration::from_millis(slow_ms.min(MAX_SLOWDOWN_MS) as u64)).await;
    }
    let _turn = LOGIN_TURNS.acquire().await.map_err(AppError::internal)?;
    refuse_if_locked().await?;
    let user = db.user_by_name(username).await?;
    let hash = user
        .as_ref()
        .map_or(DUMMY_HASH.to_string(), |u| u.password_hash.clone());
    let valid = verify_password(hash, password.to_string()).await;
    match user {
        Some(user) if valid => {
            for subject in [&locking[0].0, &user_subject] {
                db.clear_login_failures(subject).await?;
            }
            Ok(user)
        }
        _ => {
            for (subject, free) in &locking {
                db.record_login_failure(subject, *free).await?;
            }
            db.record_login_failure(&user_subject, FREE_FAILURES)
                .await?;
            // "failed login" / "failed password change": what fail2ban-style filters match.
            tracing::warn!(user = ?username, client, "failed {purpose}");
            Err(AppError::BadCredentials)
        }
    }
}

/// Creates an API key with `scopes` and returns it (shown once; only its hash is kept).
pub async fn create_api_key(db: &Db, name: &str, scopes: &[Scope]) -> Result<String, AppError> {
    let key = format!("{API_KEY_PREFIX}{}", random_token());
    let prefix: String = key.chars().take(API_KEY_PREFIX.len() + 6).collect();
    db.create_api_key(name, &prefix, &token_hash(&key), scopes)
        .await?;
    Ok(key)
}

/// A random password that is easy to type: 20 characters from an unambiguous alphabet.
pub fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_hash_and_verify() {
        let hash = hash_password("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(hash.clone(), "correct horse".into()).await);
        assert!(!verify_password(hash, "wrong".into()).await);
    }

    #[test]
    fn dummy_hash_parses() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let (a, b) = (generate_password(), generate_password());
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
    }
}
