//! Each sync stage against the Proxmox simulator and the real NetBox.

use proxbox::events::ItemStatus;
use proxbox::server::sync::stage::Stage;
use proxbox_netbox::models::{Cluster, Device, VirtualDisk, VirtualMachine};

use crate::support::*;
use crate::sync_support::*;

#[tokio::test]
async fn nodes_become_devices_once_and_a_resync_writes_nothing() {
    let (netbox, name, sim) = scenario("dev", 9, 3, 5).await;
    let cluster_name = name.clone();
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;

    let first = sync(&db, &netbox, &sim, endpoint_id, &[Stage::Devices])
        .await
        .statuses("devices", "node");
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
    assert_resync_writes_nothing(&db, &netbox, &sim, endpoint_id, &[Stage::Devices]).await;

    // A node goes offline: exactly that device is updated.
    sim.state.cluster.write().await.nodes[1].online = false;
    let third = sync(&db, &netbox, &sim, endpoint_id, &[Stage::Devices])
        .await
        .statuses("devices", "node");
    let updated: Vec<_> = third
        .iter()
        .filter(|(_, s)| *s == ItemStatus::Updated)
        .collect();
    assert_eq!(updated.len(), 1, "{third:?}");
    assert_eq!(updated[0].0, format!("{name}-pve02"));

    // Proxbox's database lost: the devices are re-adopted, not duplicated.
    let (_fresh_db, fresh, fresh_endpoint) = proxbox_db(Backend::Sqlite).await;
    let adopted = sync(&fresh, &netbox, &sim, fresh_endpoint, &[Stage::Devices])
        .await
        .statuses("devices", "node");
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

    let first = sync(&db, &netbox, &sim, endpoint_id, &[Stage::VirtualMachines])
        .await
        .all("virtual-machines");
    assert_eq!(first.len(), 12);
    assert!(
        first.iter().all(|(_, s)| *s == ItemStatus::Created),
        "{first:?}"
    );
    let (cluster, vms) = cluster_and_vms(&netbox, &name).await;
    assert_eq!(vms.len(), 12);
    assert!(
        vms.iter().any(|v| v.name == "special-qemu-100")
            && vms.iter().any(|v| v.name == "special-lxc-100"),
        "QEMU 100 and LXC 100 both exist"
    );

    assert_resync_writes_nothing(&db, &netbox, &sim, endpoint_id, &[Stage::VirtualMachines]).await;

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
    let third = sync(&db, &netbox, &sim, endpoint_id, &[Stage::VirtualMachines])
        .await
        .all("virtual-machines");
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
    sync(&db, &netbox, &sim, endpoint_id, &[Stage::VirtualMachines])
        .await
        .all("virtual-machines");
    assert_eq!(
        netbox
            .get::<VirtualMachine>(vm.id)
            .await
            .unwrap()
            .description,
        "owned by team A"
    );
    // An operator who lets Proxmox own descriptions (PROXBOX_OVERWRITE) gets it corrected.
    let collect = proxbox::server::sync::sink::CollectSink::default();
    let mut ctx = proxbox::server::sync::context::SyncContext::new(
        &db,
        &netbox,
        vec![source(&sim, endpoint_id)],
        &collect,
    );
    ctx.policy =
        proxbox::server::sync::overwrite::OverwritePolicy::parse("description=always").unwrap();
    let outcome =
        proxbox::server::sync::run::run_sync(&ctx, &[Stage::VirtualMachines], "policy").await;
    assert!(outcome.ok, "{:?}", outcome.error);
    assert_ne!(
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

    let first = sync(&db, &netbox, &sim, endpoint_id, &[Stage::VirtualDisks])
        .await
        .all("virtual-disks");
    assert_eq!(first.len(), expected);
    assert!(
        first.iter().all(|(_, s)| *s == ItemStatus::Created),
        "{first:?}"
    );

    assert_resync_writes_nothing(&db, &netbox, &sim, endpoint_id, &[Stage::VirtualDisks]).await;

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
    let third = sync(&db, &netbox, &sim, endpoint_id, &[Stage::VirtualDisks])
        .await
        .all("virtual-disks");
    let mut changed: Vec<_> = third
        .iter()
        .filter(|(_, s)| *s != ItemStatus::Skipped)
        .cloned()
        .collect();
    // In any order (a plan's deletes are written first).
    changed.sort();
    let mut want = vec![(grown, ItemStatus::Updated), (removed, ItemStatus::Deleted)];
    want.sort();
    assert_eq!(changed, want, "{third:?}");
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
            .list_in::<VirtualDisk, _>("virtual_machine_id", &vm_ids)
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
    let items = sync(&db, &netbox, &sim, endpoint_id, &[Stage::VirtualMachines])
        .await
        .all("virtual-machines");
    assert_eq!(items.len(), 6, "every guest is synced: {items:?}");
    assert!(
        items.iter().all(|(_, s)| *s == ItemStatus::Created),
        "{items:?}"
    );
    cleanup(&netbox, &name).await;
    sim.stop().await;
}
