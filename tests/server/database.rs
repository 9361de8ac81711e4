use proxbox::server::infra::db::{Backend as DbBackend, Db};

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
        let expected = sqlx::migrate!("migrations/sqlite").iter().count() as i64;
        assert_eq!(applied, expected, "{backend:?}");
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

#[tokio::test]
async fn the_identity_map_records_updates_marks_and_forgets_on_both_databases() {
    use proxbox::models::{ProxmoxCredentials, ProxmoxEndpointInput};
    const VM: &str = "virtualization.virtualmachine";
    for backend in BACKENDS {
        let test_db = TestDb::new(backend).await;
        let db = Db::connect(&test_db.url).await.unwrap();
        let secrets = proxbox::server::infra::crypto::SecretBox::from_key_text(TEST_KEY).unwrap();
        let input = ProxmoxEndpointInput {
            name: "lab".into(),
            url: "https://pve1:8006".into(),
            credentials: ProxmoxCredentials::Token {
                token_id: "root@pam!x".into(),
                secret: Some("s".into()),
            },
            verify_tls: true,
            ca_pem: None,
            timeout_secs: 30,
            enabled: true,
            watch: true,
        };
        let endpoint = db.insert_proxmox_endpoint(&input, &secrets).await.unwrap();
        // More rows than one statement takes.
        let objects: Vec<(String, i64)> = (0..450)
            .map(|i| (format!("lab/qemu/{}", 100 + i), i + 1))
            .collect();
        db.map_objects(endpoint, VM, &objects).await.unwrap();
        // The same identity twice in one call: the last id wins (no PostgreSQL upsert error).
        db.map_objects(
            endpoint,
            VM,
            &[("lab/qemu/549".into(), 7), ("lab/qemu/549".into(), 450)],
        )
        .await
        .unwrap();
        let mapped = db.mapped_objects(endpoint, VM).await.unwrap();
        assert_eq!(mapped.len(), 450, "{backend:?}");
        assert_eq!(mapped["lab/qemu/100"].netbox_id, 1);

        db.mark_missing(endpoint, VM, &["lab/qemu/100".into()])
            .await
            .unwrap();
        let first_missing =
            db.mapped_objects(endpoint, VM).await.unwrap()["lab/qemu/100"].missing_since;
        assert!(first_missing.is_some(), "{backend:?}");
        db.mark_missing(endpoint, VM, &["lab/qemu/100".into()])
            .await
            .unwrap();
        assert_eq!(
            db.mapped_objects(endpoint, VM).await.unwrap()["lab/qemu/100"].missing_since,
            first_missing,
            "the first time counts"
        );

        // Seen again (re-adopted under a new id): back to present.
        db.map_objects(endpoint, VM, &[("lab/qemu/100".into(), 9999)])
            .await
            .unwrap();
        let again = &db.mapped_objects(endpoint, VM).await.unwrap()["lab/qemu/100"];
        assert_eq!(
            (again.netbox_id, again.missing_since),
            (9999, None),
            "{backend:?}"
        );

        db.unmap_objects(endpoint, VM, &["lab/qemu/101".into()])
            .await
            .unwrap();
        assert_eq!(db.mapped_objects(endpoint, VM).await.unwrap().len(), 449);
        assert!(
            db.mapped_objects(endpoint, "dcim.device")
                .await
                .unwrap()
                .is_empty(),
            "maps are per model"
        );
        db.delete_proxmox_endpoint(endpoint).await.unwrap();
        assert!(
            db.mapped_objects(endpoint, VM).await.unwrap().is_empty(),
            "{backend:?}: removed with its endpoint"
        );
        db.close().await;
        test_db.drop_db().await;
    }
}

/// A write transaction whose caller goes away while it begins (a run stopped by cancel,
/// timeout or a dropped request) leaves no pooled connection inside a transaction: the
/// next writers still get theirs.
// Multi-threaded: dropped connections go back to the pool on other threads meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_abandoned_while_beginning_leave_no_connection_in_a_transaction() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let test_db = TestDb::new(backend).await;
        let db = Db::connect(&test_db.url).await.unwrap();
        for round in 0..400u64 {
            // Polled once (BEGIN goes to the connection), polled again after a pause that
            // sweeps the time BEGIN takes on the connection's own thread, then dropped: many
            // rounds drop it after BEGIN ran, before the caller held the transaction.
            let mut begin = std::pin::pin!(db.begin_write());
            if futures::poll!(begin.as_mut()).is_ready() {
                continue;
            }
            let pause = std::time::Instant::now() + std::time::Duration::from_micros(round);
            while std::time::Instant::now() < pause {
                std::hint::spin_loop();
            }
            let _ = futures::poll!(begin.as_mut());
        }
        for _ in 0..8 {
            let tx = db
                .begin_write()
                .await
                .unwrap_or_else(|e| panic!("{backend:?}: {e}"));
            tx.commit().await.unwrap();
        }
        test_db.drop_db().await;
    }
}

#[tokio::test]
async fn instances_started_side_by_side_make_one_first_admin() {
    let test_db = TestDb::new(Backend::Postgres).await;
    let first = Db::connect(&test_db.url).await.unwrap();
    let second = Db::connect(&test_db.url).await.unwrap();
    // Both find no user before either has hashed its password (Argon2 takes a while).
    let (a, b) = tokio::join!(
        proxbox::server::services::accounts::ensure_first_admin(&first, "admin", None),
        proxbox::server::services::accounts::ensure_first_admin(&second, "admin", None),
    );
    let (a, b) = (a.expect("no error"), b.expect("no error"));
    assert_eq!(
        [a.is_some(), b.is_some()]
            .iter()
            .filter(|made| **made)
            .count(),
        1,
        "one of them made the admin and shows its password"
    );
    assert_eq!(first.user_count().await.unwrap(), 1);
    first.close().await;
    second.close().await;
    test_db.drop_db().await;
}
