//! Proxbox's own database: SQLite (a file, the default) or PostgreSQL (for several
//! instances). One schema, two dialect-specific migration folders, queries written once
//! in the SQL both understand (`$1` placeholders, `RETURNING`, BIGINT millisecond times).

pub mod api_keys;
pub mod endpoints;
pub mod inventory;
pub mod job_stats;
pub mod jobs;
pub mod mirror;
pub mod runners;
pub mod schedules;
pub mod sessions;
pub mod settings;
pub mod sync_objects;
pub mod throttle;
pub mod users;
pub mod watched;

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Connection, Executor};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Read-only SQLite connections.
const SQLITE_READERS: u32 = 6;

/// Each reader's page cache, in KiB (SQLite's default is 2 MB): pages read again soon are
/// in the operating system's file cache anyway, and six full caches were memory the server
/// held for the busiest moment's scans.
const SQLITE_READER_CACHE_KIB: u32 = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Query(#[from] sqlx::Error),
}

/// A failed query seen by a caller is an internal error: logged in full, shown as a
/// message that says where the details are.
impl From<DbError> for crate::error::AppError {
    fn from(error: DbError) -> Self {
        crate::error::AppError::internal(error)
    }
}

#[derive(Clone)]
pub struct Db {
    /// Writes, transactions, and everything on PostgreSQL.
    pool: AnyPool,
    /// SQLite: read-only connections beside the writers, so that page loads and streams
    /// never queue behind a write waiting for SQLite's one write lock (WAL lets them read
    /// meanwhile). PostgreSQL: the same pool.
    readers: AnyPool,
    backend: Backend,
    /// For connections outside the pool (PostgreSQL `LISTEN`); may hold a password.
    url: std::sync::Arc<str>,
}

impl Db {
    /// Opens (creating a SQLite file when missing) and migrates the database.
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(DbError::UnsupportedUrl(redact_url(url)));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url).map_err(DbError::Connect)?;
        let pool = AnyPoolOptions::new()
            // SQLite allows one writer: two connections (one may be busy with a transaction
            // while a caller reads or writes outside it) keep writers from spinning on its lock.
            .max_connections(if backend == Backend::Sqlite { 2 } else { 16 })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(
                            // The busy timeout first: switching to WAL waits on other
                            // connections too.
                            "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                             PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            // A caller that went away between BEGIN and holding its transaction (a run
            // stopped by cancel or timeout) hands its connection back still inside that
            // transaction, on SQLite with the write lock held: such a connection is closed
            // (which rolls back) instead of serving the next caller.
            .after_release(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
            .connect_with(options.clone())
            .await
            .map_err(DbError::Connect)?;
        let mut db = Db {
            readers: pool.clone(),
            pool,
            backend,
            url: url.into(),
        };
        db.migrate().await?;
        if backend == Backend::Sqlite {
            // After the migration: the file exists and is in WAL mode.
            db.readers = AnyPoolOptions::new()
                .max_connections(SQLITE_READERS)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute(
                            format!(
                                "PRAGMA busy_timeout = 10000; PRAGMA query_only = ON; \
                                 PRAGMA foreign_keys = ON; PRAGMA cache_size = -{SQLITE_READER_CACHE_KIB};"
                            )
                            .as_str(),
                        )
                        .await?;
                        Ok(())
                    })
                })
                .connect_with(options)
                .await
                .map_err(DbError::Connect)?;
        }
        Ok(db)
    }

    async fn migrate(&self) -> Result<(), DbError> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&self.pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
        }
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// For queries that only read (outside a transaction).
    pub fn readers(&self) -> &AnyPool {
        &self.readers
    }

    /// A transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), waiting up to the busy timeout for it: a deferred transaction
    /// that read first fails at once (SQLITE_BUSY, no wait) when another connection wrote
    /// in between.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL the database was opened with (never log it: use [`redact_url`]).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A cheap round trip, for health checks.
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.readers.close().await;
        self.pool.close().await;
    }
}

/// Is this error a violated UNIQUE constraint (on either database)?
/// Without the URL's password: a `Db` shows up in logs and panics.
impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .field("url", &redact_url(&self.url))
            .finish_non_exhaustive()
    }
}

impl Db {
    /// The database's clock in milliseconds since the epoch, as SQL: heartbeats and their
    /// staleness are measured with the one clock every instance shares.
    pub fn clock_sql(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000 AS BIGINT)",
        }
    }
}

pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The URL without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}
