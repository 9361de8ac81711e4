//! Faults of either peer during a sync: the right `error_detail` category and suggestion,
//! `complete ok=false` where the run fails, and no duplicates on the next good run.

use std::time::Duration;

use proxbox::events::{ErrorCategory, ErrorDetail, ItemStatus, SyncEvent};
use proxbox::server::sync::context::{ClusterSource, RunOptions};
use proxbox::server::sync::stage::Stage;
use proxbox_netbox::models::VirtualMachine;
use proxbox_netbox::{NetboxClient, NetboxOptions};
use proxbox_pve::{Credentials, PveClient, PveOptions};

use crate::support::*;
use crate::sync_support::*;

async fn run(
    db: &proxbox::server::infra::db::Db,
    netbox: &NetboxClient,
    source: ClusterSource,
) -> Ran {
    run_with(
        db,
        netbox,
        vec![source],
        &[],
        RunOptions::default(),
        None,
        None,
    )
    .await
}

/// A failed run: its error_detail (category, a suggestion), then error, then complete
/// ok=false as the last three frames.
fn assert_failed_run(ran: &Ran, category: ErrorCategory) -> ErrorDetail {
    assert!(!ran.outcome.ok);
    let names: Vec<&str> = ran
        .events
        .iter()
        .rev()
        .take(2)
        .map(SyncEvent::name)
        .collect();
    assert_eq!(names, ["complete", "error"]);
    assert!(matches!(ran.events.last(), Some(SyncEvent::Complete(c)) if !c.ok));
    let detail = ran
        .error_details()
        .into_iter()
        .next()
        .expect("an error_detail");
    assert_eq!(detail.category, category, "{detail:?}");
    assert!(!detail.suggestion.is_empty(), "{detail:?}");
    detail
}

/// After the fault is gone: the guest that failed (`app-shared`) is created, once, and the
/// cluster holds each of its 6 VMs exactly once.
async fn assert_healed(healed: &Ran, netbox: &NetboxClient, name: &str) {
    let vm_changes: Vec<_> = healed
        .changes()
        .into_iter()
        .filter(|(phase, ..)| phase == "virtual-machines")
        .collect();
    assert_eq!(
        vm_changes,
        [(
            "virtual-machines".to_string(),
            "qemu".to_string(),
            "app-shared".to_string(),
            ItemStatus::Created
        )]
    );
    let vms = netbox
        .list::<VirtualMachine>(&[("cluster", name.to_string())])
        .await
        .unwrap();
    assert_eq!(vms.len(), 6);
}

fn pve(url: String, token: &str, secret: &str, timeout: Duration) -> PveClient {
    let mut options = PveOptions::new(url, Credentials::token(token, Some(secret)));
    options.timeout = timeout;
    options.attempts = 1;
    PveClient::new(options).unwrap()
}

#[tokio::test]
async fn proxmox_faults_fail_the_run_with_their_category() {
    let (netbox, name, sim) = scenario("pvf", 51, 1, 6).await;
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;
    let c = sim.credentials().clone();
    let url = sim.http_url.clone().unwrap();
    let source = |pve: PveClient| ClusterSource {
        endpoint_id,
        endpoint_name: "lab".into(),
        pve,
    };

    // Down: nothing listens.
    let down = pve(
        "http://127.0.0.1:9".into(),
        &c.token_id,
        &c.token_secret,
        Duration::from_secs(5),
    );
    assert_failed_run(
        &run(&db, &netbox, source(down)).await,
        ErrorCategory::Connection,
    );

    // A revoked token.
    let wrong = pve(
        url.clone(),
        &c.token_id,
        "not-the-secret",
        Duration::from_secs(5),
    );
    let detail = assert_failed_run(
        &run(&db, &netbox, source(wrong)).await,
        ErrorCategory::Authentication,
    );
    assert!(
        !detail.message.contains("not-the-secret"),
        "secrets stay out of events"
    );

    // A hang past the request timeout.
    sim.add_fault(pve_sim::Fault {
        path: "/cluster/resources".into(),
        kind: pve_sim::FaultKind::Hang,
        times: Some(1),
    })
    .await;
    let slow = pve(
        url.clone(),
        &c.token_id,
        &c.token_secret,
        Duration::from_millis(500),
    );
    assert_failed_run(
        &run(&db, &netbox, source(slow)).await,
        ErrorCategory::Timeout,
    );

    // One guest's config is not JSON: that guest fails, the rest is synced, the run is ok.
    let node = sim.state.cluster.read().await.guests[&(pve_sim::Kind::Qemu, 101)]
        .node
        .clone();
    sim.add_fault(pve_sim::Fault {
        path: format!("/nodes/{node}/qemu/101/config"),
        kind: pve_sim::FaultKind::Malformed,
        times: None,
    })
    .await;
    let good = || {
        pve(
            url.clone(),
            &c.token_id,
            &c.token_secret,
            Duration::from_secs(10),
        )
    };
    let partial = run(&db, &netbox, source(good())).await;
    assert!(partial.outcome.ok, "{:?}", partial.outcome.error);
    let failed: Vec<_> = partial
        .all("virtual-machines")
        .into_iter()
        .filter(|(_, s)| *s == ItemStatus::Failed)
        .collect();
    assert_eq!(failed, [("app-shared".to_string(), ItemStatus::Failed)]);
    assert!(partial
        .error_details()
        .iter()
        .any(|d| d.item.as_ref().is_some_and(|i| i.name == "app-shared")));

    // Fault gone: the guest is created once, nothing is duplicated.
    sim.clear_faults().await;
    let healed = run(&db, &netbox, source(good())).await;
    assert!(healed.outcome.ok);
    assert_healed(&healed, &netbox, &name).await;

    cleanup(&netbox, &name).await;
    sim.stop().await;
}

#[tokio::test]
async fn netbox_faults_fail_the_run_and_a_refused_object_fails_alone() {
    let (netbox, name, sim) = scenario("nbf", 52, 1, 6).await;
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;

    // NetBox down.
    let mut options = NetboxOptions::new("http://127.0.0.1:9", "nbt_x.y");
    options.attempts = 1;
    let down = NetboxClient::new(options).unwrap();
    assert_failed_run(
        &run(&db, &down, source(&sim, endpoint_id)).await,
        ErrorCategory::Connection,
    );

    // A token NetBox does not know.
    let (url, _) = netbox_env();
    let unknown = NetboxClient::new(NetboxOptions::new(
        url,
        "feedfacefeedfacefeedfacefeedfacefeedface",
    ))
    .unwrap();
    let detail = assert_failed_run(
        &run(&db, &unknown, source(&sim, endpoint_id)).await,
        ErrorCategory::Authentication,
    );
    assert!(
        !detail.message.contains("feedface"),
        "tokens stay out of events"
    );

    // A guest name NetBox refuses (over 64 characters): a 400 inside the bulk chunk. That
    // guest fails with a validation error, the others are created, the run is ok.
    let long = "x".repeat(80);
    sim.state
        .cluster
        .write()
        .await
        .guests
        .get_mut(&(pve_sim::Kind::Qemu, 101))
        .unwrap()
        .name = long.clone();
    let partial = run(&db, &netbox, source(&sim, endpoint_id)).await;
    assert!(partial.outcome.ok, "{:?}", partial.outcome.error);
    let statuses = partial.all("virtual-machines");
    assert_eq!(
        statuses
            .iter()
            .filter(|(_, s)| *s == ItemStatus::Created)
            .count(),
        5
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|(n, s)| *s == ItemStatus::Failed && n == &long)
            .count(),
        1
    );
    let detail = partial
        .error_details()
        .into_iter()
        .find(|d| d.phase == "virtual-machines")
        .unwrap();
    assert_eq!(detail.category, ErrorCategory::Validation);
    assert!(!detail.suggestion.is_empty());
    assert!(matches!(partial.events.last(), Some(SyncEvent::Complete(c)) if c.ok));

    // Name fixed: created once, no duplicates.
    sim.state
        .cluster
        .write()
        .await
        .guests
        .get_mut(&(pve_sim::Kind::Qemu, 101))
        .unwrap()
        .name = "app-shared".into();
    let healed = sync(&db, &netbox, &sim, endpoint_id, &[Stage::VirtualMachines]).await;
    assert_eq!(healed.changes().len(), 1, "{:?}", healed.changes());
    assert_healed(&healed, &netbox, &name).await;

    cleanup(&netbox, &name).await;
    sim.stop().await;
}
