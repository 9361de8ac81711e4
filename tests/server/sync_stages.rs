//! Sync stages against the Proxmox simulator and the real NetBox.

use proxbox::events::{ItemStatus, SyncEvent};
use proxbox::models::{ProxmoxCredentials, ProxmoxEndpointInput};
use proxbox::server::crypto::SecretBox;
use proxbox::server::db::Db;
use proxbox::server::sync::context::{ClusterSource, SyncContext};
use proxbox::server::sync::overwrite::OverwritePolicy;
use proxbox::server::sync::report::StageReport;
use proxbox::server::sync::sink::CollectSink;
use proxbox::server::sync::stages::{devices, virtual_machines, vm_disks};
use proxbox_netbox::models::{Cluster, Device, Site, VirtualDisk, VirtualMachine};
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

/// Runs the devices stage once and returns the statuses of its items, in order.
async fn run_devices(
    db: &Db,
    netbox: &NetboxClient,
    sim: &pve_sim::RunningSim,
    endpoint_id: i64,
) -> Vec<(String, ItemStatus)> {
    run_stages(db, netbox, sim, endpoint_id, 1).await
}

/// Runs the first `depth` stages (devices, virtual-machines, vm-disks) and returns the items
/// of the last one.
async fn run_stages(
    db: &Db,
    netbox: &NetboxClient,
    sim: &pve_sim::RunningSim,
    endpoint_id: i64,
    depth: usize,
) -> Vec<(String, ItemStatus)> {
    stage_items(db, netbox, sim, endpoint_id, depth)
        .await
        .into_iter()
        .map(|p| (p.name, p.status))
        .collect()
}

/// The `item_progress` events of the last of the first `depth` stages.
async fn stage_items(
    db: &Db,
    netbox: &NetboxClient,
    sim: &pve_sim::RunningSim,
    endpoint_id: i64,
    depth: usize,
) -> Vec<proxbox::events::ItemProgress> {
    let c = sim.credentials();
    let pve = PveClient::new(PveOptions::new(
        sim.http_url.clone().unwrap(),
        Credentials::token(&c.token_id, Some(&c.token_secret)),
    ))
    .unwrap();
    // One sink per stage, so that the items of the last stage can be told apart.
    let sinks = [
        CollectSink::default(),
        CollectSink::default(),
        CollectSink::default(),
    ];
    let mut ctx = SyncContext {
        db,
        netbox,
        sources: vec![ClusterSource {
            endpoint_id,
            endpoint_name: "lab".into(),
            pve,
        }],
        policy: OverwritePolicy::default(),
        sink: &sinks[0],
    };
    let fail = |e: proxbox::server::sync::context::StageError| -> ! { panic!("{e:?}") };
    let clusters = devices::run(&ctx, &mut StageReport::new(&sinks[0], "devices"))
        .await
        .unwrap_or_else(|e| fail(e));
    if depth >= 2 {
        ctx.sink = &sinks[1];
        let guests = virtual_machines::run(
            &ctx,
            &mut StageReport::new(&sinks[1], "virtual-machines"),
            &clusters,
        )
        .await
        .unwrap_or_else(|e| fail(e));
        if depth >= 3 {
            ctx.sink = &sinks[2];
            vm_disks::run(&ctx, &mut StageReport::new(&sinks[2], "vm-disks"), &guests)
                .await
                .unwrap_or_else(|e| fail(e));
        }
    }
    for sink in &sinks {
        for event in sink.events() {
            if let SyncEvent::ItemProgress(p) = event {
                assert_ne!(
                    p.status,
                    ItemStatus::Failed,
                    "{} {}: {:?}",
                    p.phase,
                    p.name,
                    p.error
                );
            }
        }
    }
    let last = &sinks[depth.clamp(1, 3) - 1];
    last.events()
        .into_iter()
        .filter_map(|e| match e {
            SyncEvent::ItemProgress(p) => Some(p),
            _ => None,
        })
        .collect()
}

/// A fresh Proxbox database of the given kind with one Proxmox endpoint in it.
async fn proxbox_db(backend: Backend) -> (TestDb, Db, i64) {
    let test_db = TestDb::new(backend).await;
    let db = Db::connect(&test_db.url).await.unwrap();
    let endpoint_id = endpoint(&db).await;
    (test_db, db, endpoint_id)
}

/// Runs the first `depth` stages again with nothing changed: no NetBox write, every item skipped.
async fn assert_resync_writes_nothing(
    db: &Db,
    netbox: &NetboxClient,
    sim: &pve_sim::RunningSim,
    endpoint_id: i64,
    depth: usize,
) {
    let (_, writes_before) = netbox.request_counts();
    let again = run_stages(db, netbox, sim, endpoint_id, depth).await;
    assert_eq!(
        netbox.request_counts().1,
        writes_before,
        "a resync with nothing changed writes nothing"
    );
    assert!(
        again.iter().all(|(_, s)| *s == ItemStatus::Skipped),
        "{again:?}"
    );
}

/// A NetBox client, a name no other test uses, and a simulated cluster of that name.
async fn scenario(
    prefix: &str,
    seed: u64,
    nodes: usize,
    guests: usize,
) -> (NetboxClient, String, pve_sim::RunningSim) {
    let (url, token) = netbox_env();
    let netbox = NetboxClient::new(NetboxOptions::new(url, token)).unwrap();
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros();
    let name = format!("{prefix}{:x}", micros % 0xffffff);
    let spec = pve_sim::ClusterSpec {
        seed,
        name: name.clone(),
        index: 0,
        nodes,
        guests,
    };
    let sim = pve_sim::start(pve_sim::SimOptions::local(spec))
        .await
        .unwrap();
    (netbox, name, sim)
}

/// Removes what a test's cluster left in NetBox: its VMs, devices, cluster and site.
async fn cleanup(netbox: &NetboxClient, name: &str) {
    for cluster in netbox
        .list::<Cluster>(&[("name", name.to_string())])
        .await
        .unwrap()
    {
        let filter = [("cluster_id", cluster.id.to_string())];
        let vms: Vec<u64> = netbox
            .list::<VirtualMachine>(&filter)
            .await
            .unwrap()
            .iter()
            .map(|v| v.id)
            .collect();
        netbox.delete::<VirtualMachine>(&vms).await.unwrap();
        let devices: Vec<u64> = netbox
            .list::<Device>(&filter)
            .await
            .unwrap()
            .iter()
            .map(|d| d.id)
            .collect();
        netbox.delete::<Device>(&devices).await.unwrap();
        netbox.delete::<Cluster>(&[cluster.id]).await.unwrap();
    }
    let sites: Vec<u64> = netbox
        .list::<Site>(&[("slug", format!("proxmox-{name}"))])
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    netbox.delete::<Site>(&sites).await.unwrap();
}

#[tokio::test]
async fn nodes_become_devices_once_and_a_resync_writes_nothing() {
    let (netbox, name, sim) = scenario("dev", 9, 3, 5).await;
    let cluster_name = name.clone();
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;

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
    assert_resync_writes_nothing(&db, &netbox, &sim, endpoint_id, 1).await;

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
    let (_fresh_db, fresh, fresh_endpoint) = proxbox_db(Backend::Sqlite).await;
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

    cleanup(&netbox, &name).await;
    sim.stop().await;
}

#[tokio::test]
async fn guests_become_virtual_machines_without_collisions_and_changes_are_exact() {
    let (netbox, name, sim) = scenario("vms", 4, 2, 12).await;
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Postgres).await;

    let first = run_stages(&db, &netbox, &sim, endpoint_id, 2).await;
    assert_eq!(first.len(), 12);
    assert!(
        first.iter().all(|(_, s)| *s == ItemStatus::Created),
        "{first:?}"
    );
    let cluster = netbox
        .list::<Cluster>(&[("name", name.clone())])
        .await
        .unwrap()
        .remove(0);
    let vms = netbox
        .list::<VirtualMachine>(&[("cluster_id", cluster.id.to_string())])
        .await
        .unwrap();
    assert_eq!(vms.len(), 12);
    assert!(
        vms.iter().any(|v| v.name == "special-qemu-100")
            && vms.iter().any(|v| v.name == "special-lxc-100"),
        "QEMU 100 and LXC 100 both exist"
    );

    assert_resync_writes_nothing(&db, &netbox, &sim, endpoint_id, 2).await;

    // Rename one guest and stop another: exactly two updates.
    {
        let mut c = sim.state.cluster.write().await;
        c.guests.get_mut(&(pve_sim::Kind::Qemu, 101)).unwrap().name = "app-renamed".into();
        let running = c
            .guests
            .values_mut()
            .find(|g| g.running && g.vmid != 101)
            .unwrap();
        running.running = false;
    }
    let third = run_stages(&db, &netbox, &sim, endpoint_id, 2).await;
    let updated: Vec<_> = third
        .iter()
        .filter(|(_, s)| *s == ItemStatus::Updated)
        .map(|(n, _)| n.clone())
        .collect();
    assert_eq!(updated.len(), 2, "{third:?}");
    assert!(updated.contains(&"app-renamed".to_string()));
    assert_eq!(
        netbox
            .list::<VirtualMachine>(&[("cluster_id", cluster.id.to_string())])
            .await
            .unwrap()
            .len(),
        12,
        "renamed, not duplicated"
    );

    // An operator's edit of a field Proxbox sets only on create survives a resync.
    let vm = netbox
        .list::<VirtualMachine>(&[
            ("cluster_id", cluster.id.to_string()),
            ("name", "app-renamed".to_string()),
        ])
        .await
        .unwrap()
        .remove(0);
    netbox
        .update::<VirtualMachine, _>(&[proxbox_netbox::models::VirtualMachineWrite {
            id: Some(vm.id),
            description: Some("owned by team A".into()),
            ..Default::default()
        }])
        .await
        .unwrap();
    run_stages(&db, &netbox, &sim, endpoint_id, 2).await;
    assert_eq!(
        netbox
            .get::<VirtualMachine>(vm.id)
            .await
            .unwrap()
            .description,
        "owned by team A"
    );

    cleanup(&netbox, &name).await;
    sim.stop().await;
}

#[tokio::test]
async fn guest_disks_become_virtual_disks_and_follow_resizes_and_removals() {
    let (netbox, name, sim) = scenario("dsk", 6, 2, 8).await;
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;
    let expected: usize = sim
        .state
        .cluster
        .read()
        .await
        .guests
        .values()
        .map(|g| g.disks.len())
        .sum();

    let first = run_stages(&db, &netbox, &sim, endpoint_id, 3).await;
    assert_eq!(first.len(), expected);
    assert!(
        first.iter().all(|(_, s)| *s == ItemStatus::Created),
        "{first:?}"
    );

    assert_resync_writes_nothing(&db, &netbox, &sim, endpoint_id, 3).await;

    // Grow one disk, and take the last disk off a guest with two or more.
    let (grown, removed) = {
        let mut c = sim.state.cluster.write().await;
        let first_guest = c.guests.get_mut(&(pve_sim::Kind::Qemu, 101)).unwrap();
        first_guest.disks[0].size_gib += 10;
        let grown = format!("{}/{}", first_guest.name, first_guest.disks[0].key);
        let other = c
            .guests
            .values_mut()
            .find(|g| g.vmid != 101 && g.disks.len() >= 2)
            .unwrap();
        let gone = other.disks.pop().unwrap();
        (grown, format!("{}/{}", other.name, gone.key))
    };
    let third = run_stages(&db, &netbox, &sim, endpoint_id, 3).await;
    let changed: Vec<_> = third
        .iter()
        .filter(|(_, s)| *s != ItemStatus::Skipped)
        .cloned()
        .collect();
    assert_eq!(
        changed,
        vec![(grown, ItemStatus::Updated), (removed, ItemStatus::Deleted)],
        "{third:?}"
    );
    let vm_ids: Vec<u64> = netbox
        .list::<VirtualMachine>(&[("tag", "proxbox".to_string())])
        .await
        .unwrap()
        .iter()
        .filter(|v| v.cluster.as_ref().and_then(|c| c.name.as_deref()) == Some(name.as_str()))
        .map(|v| v.id)
        .collect();
    assert_eq!(
        netbox
            .list_in::<VirtualDisk>("virtual_machine_id", &vm_ids)
            .await
            .unwrap()
            .len(),
        expected - 1
    );

    cleanup(&netbox, &name).await;
    sim.stop().await;
}

#[tokio::test]
async fn a_wrong_type_in_a_guest_config_skips_the_field_with_a_warning_not_the_guest() {
    let (netbox, name, sim) = scenario("wrt", 8, 1, 6).await;
    let node = sim.state.cluster.read().await.guests[&(pve_sim::Kind::Qemu, 101)]
        .node
        .clone();
    sim.add_fault(pve_sim::Fault {
        path: format!("/nodes/{node}/qemu/101/config"),
        kind: pve_sim::FaultKind::WrongType {
            field: "cores".into(),
        },
        times: None,
    })
    .await;
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;
    let items = run_stages(&db, &netbox, &sim, endpoint_id, 2).await;
    assert_eq!(items.len(), 6, "every guest is synced: {items:?}");
    assert!(
        items.iter().all(|(_, s)| *s == ItemStatus::Created),
        "{items:?}"
    );
    cleanup(&netbox, &name).await;
    sim.stop().await;
}
