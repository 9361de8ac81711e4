//! The watcher's history in Proxbox's database: each endpoint keeps its newest 1,000
//! changes, newest first, with the job that carried each (or why none did), on SQLite and
//! PostgreSQL alike.

use proxbox::models::{ProxmoxCredentials, ProxmoxEndpointInput};
use proxbox::server::infra::db::watched::{NewWatched, WATCHED_KEPT};
use proxbox::server::infra::db::Db;

use crate::support::*;

fn endpoint(name: &str) -> ProxmoxEndpointInput {
    ProxmoxEndpointInput {
        name: name.into(),
        url: format!("https://{name}:8006"),
        credentials: ProxmoxCredentials::Token {
            token_id: "root@pam!x".into(),
            secret: Some("s".into()),
        },
        verify_tls: true,
        ca_pem: None,
        timeout_secs: 30,
        enabled: true,
        watch: true,
    }
}

#[tokio::test]
async fn each_endpoint_keeps_its_newest_thousand_changes_on_both_databases() {
    assert_eq!(WATCHED_KEPT, 1_000, "the documented count");
    for backend in BACKENDS {
        let test_db = TestDb::new(backend).await;
        let db = Db::connect(&test_db.url).await.unwrap();
        let secrets = proxbox::server::infra::crypto::SecretBox::from_key_text(TEST_KEY).unwrap();
        let lab = db
            .insert_proxmox_endpoint(&endpoint("lab"), &secrets)
            .await
            .unwrap();
        let other = db
            .insert_proxmox_endpoint(&endpoint("other"), &secrets)
            .await
            .unwrap();
        // 1,005 changes of lab in three looks, and three of the other endpoint.
        let texts: Vec<String> = (0..1_005).map(|i| format!("vm{i} started")).collect();
        for (look, range) in [(0, 0..500), (1, 500..1_000), (2, 1_000..1_005)] {
            let changes: Vec<NewWatched<'_>> = texts[range]
                .iter()
                .map(|text| NewWatched {
                    seen_at: 1_000 + look,
                    change: text,
                    provenance: "qmstart of 100 by a@pve, UPID:x",
                })
                .collect();
            db.record_watched(lab, &changes, None, Some("NetBox is not connected"))
                .await
                .unwrap();
        }
        let few: Vec<NewWatched<'_>> = texts[..3]
            .iter()
            .map(|text| NewWatched {
                seen_at: 5,
                change: text,
                provenance: "p",
            })
            .collect();
        db.record_watched(other, &few, None, Some("why"))
            .await
            .unwrap();

        let kept = db.watched_changes(Some(lab), 2_000).await.unwrap();
        assert_eq!(kept.len(), 1_000, "{backend:?}");
        assert_eq!(
            kept[0].change, "vm1004 started",
            "newest first ({backend:?})"
        );
        assert_eq!(
            kept[999].change, "vm5 started",
            "the five oldest dropped ({backend:?})"
        );
        assert_eq!(kept[0].problem.as_deref(), Some("NetBox is not connected"));
        assert_eq!((kept[0].job_id, kept[0].endpoint.as_str()), (None, "lab"));
        assert_eq!(
            db.watched_changes(Some(other), 2_000).await.unwrap().len(),
            3
        );
        let everywhere = db.watched_changes(None, 4).await.unwrap();
        assert_eq!(
            everywhere
                .iter()
                .map(|r| r.endpoint.as_str())
                .collect::<Vec<_>>(),
            ["other", "other", "other", "lab"],
            "all endpoints, newest first ({backend:?})"
        );
        db.close().await;
        test_db.drop_db().await;
    }
}
