//! The `devices` stage against the Proxmox simulator and the real NetBox.

use proxbox::events::{ItemStatus, SyncEvent};
use proxbox::models::{ProxmoxCredentials, ProxmoxEndpointInput};
use proxbox::server::crypto::SecretBox;
use proxbox::server::db::Db;
use proxbox::server::sync::context::{ClusterSource, SyncContext};
use proxbox::server::sync::overwrite::OverwritePolicy;
use proxbox::server::sync::report::StageReport;
use proxbox::server::sync::sink::CollectSink;
use proxbox::server::sync::stages::devices;
use proxbox_netbox::models::{Cluster, Device, Site};
use proxbox_netbox::{NetboxClient, NetboxOptions};
use proxbox_pve::{Credentials, PveClient, PveOptions};

use crate::support::*;

async fn endpoint(db: &Db) -> i64 {
    let input = ProxmoxEndpointInput {
        name: "lab".into(),
        url: "http://127.0.0.1:1".into(),
        credentials: ProxmoxCredentials::Token {
            token_id: "root@pam!proxbox".into(),
            secret: Some("s".into()),
        },
        verify_tls: true,
        ca_pem: None,
        timeout_secs: 30,
        enabled: true,
    };
    db.insert_proxmox_endpoint(&input, &SecretBox::from_key_text(TEST_KEY).unwrap())
        .await
        .unwrap()
}

/// Runs the stage once and returns the statuses of its items, in order.
async fn run_devices(
    db: &Db,
    netbox: &NetboxClient,
    sim: &pve_sim::RunningSim,
    endpoint_id: i64,
) -> Vec<(String, ItemStatus)> {
    let c = sim.credentials();
    let pve = PveClient::new(PveOptions::new(
        sim.http_url.clone().unwrap(),
        Credentials::token(&c.token_id, Some(&c.token_secret)),
    ))
    .unwrap();
    let sink = CollectSink::default();
    let ctx = SyncContext {
        db,
        netbox,
        sources: vec![ClusterSource {
            endpoint_id,
            endpoint_name: "lab".into(),
            pve,
        }],
        policy: OverwritePolicy::default(),
        sink: &sink,
    };
    let mut report = StageReport::new(&sink, "devices");
    devices::run(&ctx, &mut report)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    sink.events()
        .into_iter()
        .filter_map(|e| match e {
            SyncEvent::ItemProgress(p) => Some((p.name, p.status)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn nodes_become_devices_once_and_a_resync_writes_nothing() {
    let (url, token) = netbox_env();
    let netbox = NetboxClient::new(NetboxOptions::new(url, token)).unwrap();
    let name = format!(
        "dev{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros()
            % 0xffffff
    );
    let sim = pve_sim::start(pve_sim::SimOptions::local(pve_sim::ClusterSpec {
        seed: 9,
        name: name.clone(),
        index: 0,
        nodes: 3,
        guests: 5,
    }))
    .await
    .unwrap();
    let cluster_name = name.clone();
    let test_db = TestDb::new(Backend::Sqlite).await;
    let db = Db::connect(&test_db.url).await.unwrap();
    let endpoint_id = endpoint(&db).await;

    let first = run_devices(&db, &netbox, &sim, endpoint_id).await;
    assert_eq!(first.len(), 3);
    assert!(
        first.iter().all(|(_, s)| *s == ItemStatus::Created),
        "{first:?}"
    );
    let clusters = netbox
        .list::<Cluster>(&[("name", cluster_name.clone())])
        .await
        .unwrap();
    assert_eq!(clusters.len(), 1);
    let in_cluster = netbox
        .list::<Device>(&[("cluster_id", clusters[0].id.to_string())])
        .await
        .unwrap();
    assert_eq!(in_cluster.len(), 3);

    // Nothing changed: nothing written, every node skipped.
    let (_, writes_before) = netbox.request_counts();
    let second = run_devices(&db, &netbox, &sim, endpoint_id).await;
    assert_eq!(
        netbox.request_counts().1,
        writes_before,
        "a resync with nothing changed writes nothing"
    );
    assert!(
        second.iter().all(|(_, s)| *s == ItemStatus::Skipped),
        "{second:?}"
    );

    // A node goes offline: exactly that device is updated.
    sim.state.cluster.write().await.nodes[1].online = false;
    let third = run_devices(&db, &netbox, &sim, endpoint_id).await;
    let updated: Vec<_> = third
        .iter()
        .filter(|(_, s)| *s == ItemStatus::Updated)
        .collect();
    assert_eq!(updated.len(), 1, "{third:?}");
    assert_eq!(updated[0].0, format!("{name}-pve02"));

    // Proxbox's database lost: the devices are re-adopted, not duplicated.
    let fresh_db = TestDb::new(Backend::Sqlite).await;
    let fresh = Db::connect(&fresh_db.url).await.unwrap();
    let fresh_endpoint = endpoint(&fresh).await;
    let adopted = run_devices(&fresh, &netbox, &sim, fresh_endpoint).await;
    assert!(
        adopted.iter().all(|(_, s)| *s == ItemStatus::Skipped),
        "{adopted:?}"
    );
    assert_eq!(
        netbox
            .list::<Device>(&[("cluster_id", clusters[0].id.to_string())])
            .await
            .unwrap()
            .len(),
        3
    );

    // Clean up this test's namespace.
    netbox
        .delete::<Device>(&in_cluster.iter().map(|d| d.id).collect::<Vec<_>>())
        .await
        .unwrap();
    netbox.delete::<Cluster>(&[clusters[0].id]).await.unwrap();
    let sites = netbox
        .list::<Site>(&[("slug", format!("proxmox-{name}"))])
        .await
        .unwrap();
    netbox
        .delete::<Site>(&sites.iter().map(|s| s.id).collect::<Vec<_>>())
        .await
        .unwrap();
    sim.stop().await;
}
