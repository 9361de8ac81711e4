//! The dashboard's data: cluster cards and keepalive checks against the simulator, a dead
//! host and the real NetBox; the server-rendered page; a sync started from the overlay.

use proxbox::models::{
    ClusterCard, DashboardData, HealthReport, JobSnapshot, JobStatus, ProxmoxCredentials,
    ProxmoxEndpointInput,
};
use proxbox::server::infra::crypto::SecretBox;
use serde_json::Value;

use crate::jobs_support::*;
use crate::support::*;
use crate::sync_support::unique;

/// An endpoint of the lab's cluster under another name, or of a host that is gone.
async fn add_endpoint(lab: &JobsLab, name: &str, url: &str, enabled: bool) -> i64 {
    let c = lab.sim.credentials();
    lab.app
        .db
        .insert_proxmox_endpoint(
            &ProxmoxEndpointInput {
                name: name.into(),
                url: url.into(),
                credentials: ProxmoxCredentials::Token {
                    token_id: c.token_id.clone(),
                    secret: Some(c.token_secret.clone()),
                },
                verify_tls: true,
                ca_pem: None,
                timeout_secs: 5,
                enabled,
                watch: true,
            },
            &SecretBox::from_key_text(TEST_KEY).unwrap(),
        )
        .await
        .unwrap()
}

/// A loopback address nothing listens on.
fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

async fn get_json<T: serde::de::DeserializeOwned>(lab: &JobsLab, path: &str) -> T {
    let response = lab.get(path).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn cards_and_keepalive_checks_say_what_each_peer_answered() {
    let lab = JobsLab::start(Backend::Sqlite, "cards", 91, 9).await;
    let dead = add_endpoint(&lab, &unique("gone"), &dead_url(), true).await;
    let off = add_endpoint(&lab, &unique("off"), &dead_url(), false).await;
    let cluster: Value = reqwest::get(format!(
        "{}/_sim/cluster",
        lab.sim.http_url.as_deref().unwrap()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();

    let cards: Vec<ClusterCard> = get_json(&lab, "/api/read_cluster_cards").await;
    assert_eq!(cards.len(), 3);
    let card = |id: i64| cards.iter().find(|c| c.endpoint_id == id).unwrap();
    let good = card(lab.endpoint_id).inventory.clone().expect("inventory");
    assert_eq!(good.version, cluster["version"].as_str().unwrap());
    assert_eq!(good.nodes, 2);
    assert_eq!(good.nodes_online, 2);
    assert_eq!(good.vms as u64, cluster["qemu"].as_u64().unwrap());
    assert_eq!(good.containers as u64, cluster["lxc"].as_u64().unwrap());
    assert!(good.warnings.is_empty(), "{:?}", good.warnings);
    let (message, suggestion) = card(dead).error.clone().expect("what failed");
    assert!(card(dead).inventory.is_none());
    assert!(
        !message.is_empty() && !suggestion.is_empty(),
        "{message} / {suggestion}"
    );
    assert!(!card(off).enabled);
    assert!(
        card(off).inventory.is_none() && card(off).error.is_none(),
        "a disabled endpoint is not asked"
    );

    let report: HealthReport = get_json(&lab, "/api/check_peers").await;
    assert_eq!(report.refresh_secs, 30);
    let peer = |key: &str| report.peers.iter().find(|p| p.key == key);
    let good = peer(&format!("proxmox-{}", lab.endpoint_id)).unwrap();
    assert!(good.ok && good.latency_ms.is_some(), "{good:?}");
    assert!(good.detail.starts_with("Proxmox VE "), "{good:?}");
    let down = peer(&format!("proxmox-{dead}")).unwrap();
    assert!(!down.ok && down.latency_ms.is_none(), "{down:?}");
    assert!(down.suggestion.as_deref().is_some_and(|s| !s.is_empty()));
    assert!(
        peer(&format!("proxmox-{off}")).is_none(),
        "no badge for a disabled endpoint"
    );
    let netbox = peer("netbox").unwrap();
    assert!(
        netbox.ok && netbox.detail.starts_with("NetBox "),
        "{netbox:?}"
    );
    assert_eq!(peer("database").unwrap().detail, "SQLite");

    // Both answer only to someone logged in.
    let anonymous = lab
        .app
        .client
        .get(lab.app.url("/api/check_peers"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    lab.stop().await;
}

#[tokio::test]
async fn the_page_is_rendered_from_one_read_and_the_overlay_starts_syncs() {
    let lab = JobsLab::start(Backend::Sqlite, "dash", 92, 4).await;
    lab.app.login().await;
    let before: DashboardData = get_json(&lab, "/api/dashboard").await;
    assert!(before.current.is_none() && before.recent.is_empty());
    assert_eq!(before.overview.proxmox.len(), 1);

    // The overlay's server function: refused without the CSRF token, else the job.
    let refused = lab
        .app
        .post_form("/api/start_sync", &[("stage", "devices")])
        .await;
    assert_eq!(refused.status(), 403);
    let csrf = lab.app.csrf().await;
    let started = lab
        .app
        .post_form("/api/start_sync", &[("csrf", &csrf), ("stage", "devices")])
        .await;
    assert_eq!(started.status(), 200);
    let snapshot: JobSnapshot = started.json().await.unwrap();
    assert_eq!(snapshot.job.scope.stage_label(), "devices");
    assert!(snapshot.job.requested_by.contains(ADMIN));
    let job = lab.wait_until_ended(snapshot.job.id).await;
    assert_status(&job, JobStatus::Completed);

    let after: DashboardData = get_json(&lab, "/api/dashboard").await;
    let current = after.current.expect("the last job");
    assert_eq!(current.job.id, job.id);
    assert_eq!(current.progress.percent(), 100);
    assert!(current.last_seq > 0);
    assert_eq!(after.recent.first().map(|j| j.id), Some(job.id));

    // Without JavaScript: the cards are skeletons, the panel and the forms are there.
    let html = lab.app.get_text("/").await;
    assert!(html.contains("Reading the cluster…"), "{html}");
    assert!(
        html.contains(&format!("data-job=\"{}\"", job.id)),
        "job panel"
    );
    assert!(html.contains("action=\"/sync/full-update\""), "sync forms");
    assert!(
        html.contains(&format!("name=\"csrf\" value=\"{csrf}\"")),
        "forms carry the token"
    );
    lab.stop().await;
}
