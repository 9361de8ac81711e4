use proxbox::server::db::{Backend as DbBackend, Db};

use crate::support::*;

const TABLES: [&str; 6] = [
    "users",
    "sessions",
    "login_throttle",
    "api_keys",
    "proxmox_endpoints",
    "netbox_endpoints",
];

#[tokio::test]
async fn migrations_run_on_sqlite_and_postgres_and_are_idempotent() {
    for backend in BACKENDS {
        let test_db = TestDb::new(backend).await;
        let db = Db::connect(&test_db.url)
            .await
            .unwrap_or_else(|e| panic!("{backend:?}: {e}"));
        let expected = match backend {
            Backend::Sqlite => DbBackend::Sqlite,
            Backend::Postgres => DbBackend::Postgres,
        };
        assert_eq!(db.backend(), expected);
        for table in TABLES {
            let count: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(db.pool())
                .await
                .unwrap_or_else(|e| panic!("{backend:?}: table {table}: {e}"));
            assert_eq!(count, 0);
        }
        db.close().await;
        // A second start finds the schema in place and applies nothing twice.
        let again = Db::connect(&test_db.url).await.unwrap();
        let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(again.pool())
            .await
            .unwrap();
        assert_eq!(applied, 1, "{backend:?}");
        again.close().await;
        test_db.drop_db().await;
    }
}

#[tokio::test]
async fn sqlite_runs_in_wal_mode() {
    let test_db = TestDb::new(Backend::Sqlite).await;
    let db = Db::connect(&test_db.url).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    db.close().await;
}

#[tokio::test]
async fn unsupported_urls_get_advice() {
    let err = Db::connect("mysql://root@localhost/x").await.unwrap_err();
    assert!(err.to_string().contains("sqlite://"), "{err}");
}
