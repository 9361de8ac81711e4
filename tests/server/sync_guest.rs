//! A sync of one guest (the VM panel's "Sync this guest", `proxbox sync --guest`) and of
//! one node, against the simulator and the real NetBox: it writes only that guest's (or
//! node's) objects and records, asks Proxmox only about it, treats nothing outside as
//! gone, and leaves the next full update's incremental reads whole.

use std::collections::{BTreeMap, BTreeSet};

use proxbox::events::ItemStatus;
use proxbox::models::{GuestRecord, RecordKind, SyncTarget, TaskRecord};
use proxbox::server::infra::db::inventory::StoredRecord;
use proxbox::server::infra::db::Db;
use proxbox::server::sync::context::RunOptions;
use proxbox::server::sync::stage::Stage;
use proxbox_netbox::models::VirtualMachine;

use crate::support::Backend;
use crate::sync_support::*;

async fn rows(db: &Db, endpoint: i64, kind: RecordKind) -> Vec<StoredRecord> {
    db.inventory(endpoint, kind, None).await.unwrap()
}

/// Every record of every kind, by (kind, key), with when it last changed.
async fn all_records(db: &Db, endpoint: i64) -> BTreeMap<(RecordKind, String), i64> {
    let mut all = BTreeMap::new();
    for kind in RecordKind::ALL {
        for r in rows(db, endpoint, kind).await {
            all.insert((kind, r.key), r.changed_at);
        }
    }
    all
}

fn guest_options(vmid: u64) -> RunOptions {
    RunOptions {
        target: Some(SyncTarget::Guest { vmid }),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_guest_sync_touches_only_that_guest() {
    let (netbox, name, sim) = scenario("oneguest", 91, 2, 8).await;
    let (_test_db, db, endpoint) = proxbox_db(Backend::Sqlite).await;
    sync(&db, &netbox, &sim, endpoint, &[]).await;

    // Every guest has its card, pointing at its NetBox VM.
    let (_, vms) = cluster_and_vms(&netbox, &name).await;
    let cards: Vec<GuestRecord> = rows(&db, endpoint, RecordKind::Guest)
        .await
        .iter()
        .filter_map(StoredRecord::parse)
        .collect();
    let vm_ids: BTreeSet<u64> = vms.iter().map(|vm| vm.id).collect();
    assert_eq!(
        cards.len(),
        vms.len(),
        "{:?} {:?}",
        cards
            .iter()
            .map(|c| (c.vmid, c.netbox_id))
            .collect::<Vec<_>>(),
        vms.iter()
            .map(|v| (v.id, v.name.clone()))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        cards.iter().map(|c| c.netbox_id).collect::<BTreeSet<_>>(),
        vm_ids
    );
    // The guest agents' addresses are on the cards of the QEMU guests that run one.
    assert!(
        cards
            .iter()
            .any(|c| c.kind == "qemu" && c.nics.iter().any(|n| !n.agent_addresses.is_empty())),
        "{cards:?}"
    );
    // A full update with nothing changed rewrites none of Proxbox's records.
    let stored = all_records(&db, endpoint).await;
    sync(&db, &netbox, &sim, endpoint, &[]).await;
    assert_eq!(
        all_records(&db, endpoint).await,
        stored,
        "a resync rewrites no record"
    );

    // Proxmox changes two guests on one node; only the target is synced.
    let (target, other, node) = {
        let c = sim.state.cluster.read().await;
        let node = c.nodes[1].name.clone();
        let mut on_node = c.guests.values().filter(|g| g.node == node && !g.template);
        let target = on_node.next().unwrap().clone();
        let other = on_node.next().unwrap().clone();
        (target, other, node)
    };
    let (other_task, target_backup) = {
        let mut c = sim.state.cluster.write().await;
        for g in [&target, &other] {
            c.guests.get_mut(&(g.kind, g.vmid)).unwrap().memory_mib += 512;
        }
        // Both tasks are newer than anything the first sync read, the other guest's older
        // than the target's: a node read that went on from the target's task would miss it.
        let upid = c
            .add_task(&node, "qmstart", &other.vmid.to_string(), "OK")
            .upid;
        let backup = c
            .add_backup(target.kind, target.vmid, "backup-nfs", None)
            .unwrap();
        let target_id = target.vmid.to_string();
        for t in c.tasks.iter_mut() {
            let later = if t.upid == upid {
                30
            } else if t.kind == "vzdump" && t.id == target_id && t.starttime + 5 >= backup.ctime {
                60
            } else {
                continue;
            };
            t.starttime += later;
            t.endtime += later;
        }
        c.sort_tasks();
        (upid, backup.volid)
    };
    let records_before = all_records(&db, endpoint).await;
    sim.take_requests();
    let (_, writes_before) = netbox.request_counts();
    let one = run_on(
        &db,
        &netbox,
        &sim,
        endpoint,
        &[],
        guest_options(target.vmid),
    )
    .await;
    assert!(one.outcome.ok, "{:?}", one.outcome.error);
    one.assert_no_failed_items();

    // NetBox: the target's VM and its new backup's journal entry, nothing else.
    let changes: BTreeSet<(String, String, ItemStatus)> = one
        .all_changes()
        .into_iter()
        .map(|(phase, kind, _, status)| (phase, kind, status))
        .collect();
    let want: BTreeSet<(String, String, ItemStatus)> = [
        (
            "virtual-machines",
            target.kind.as_str(),
            ItemStatus::Updated,
        ),
        ("backups", "backup", ItemStatus::Created),
        ("backups", "journal-entry", ItemStatus::Created),
        ("task-history", "task", ItemStatus::Created),
    ]
    .into_iter()
    .map(|(p, k, s)| (p.to_string(), k.to_string(), s))
    .collect();
    assert_eq!(changes, want, "{:?}", one.all_changes());
    assert_eq!(
        netbox.request_counts().1 - writes_before,
        2,
        "two NetBox writes: the VM and the journal entry"
    );
    let stages: Vec<Stage> = one.outcome.stages.iter().map(|(s, _)| *s).collect();
    assert!(
        !stages.contains(&Stage::Storage)
            && !stages.contains(&Stage::BackupRoutines)
            && !stages.contains(&Stage::NodeInterfaces),
        "what belongs to no guest is left out: {stages:?}"
    );
    let vm = |vms: &[VirtualMachine], guest: &pve_sim::model::Guest| {
        let card = cards
            .iter()
            .find(|c| c.vmid == guest.vmid && c.kind == guest.kind.as_str())
            .unwrap();
        vms.iter()
            .find(|vm| vm.id == card.netbox_id)
            .unwrap()
            .memory
    };
    let (_, vms_after) = cluster_and_vms(&netbox, &name).await;
    assert_eq!(vm(&vms_after, &target), Some(target.memory_mib + 512));
    assert_eq!(
        vm(&vms_after, &other),
        vm(&vms, &other),
        "the other guest's VM is left as it was"
    );

    // Proxmox was asked about the target only.
    let requests = sim.take_requests();
    let about = |vmid: u64| {
        requests
            .iter()
            .filter(|r| r.contains(&format!("/{vmid}/")) || r.contains(&format!("vmid={vmid}")))
            .count()
    };
    assert!(about(target.vmid) > 0, "{requests:?}");
    for g in &cards {
        if g.vmid != target.vmid {
            assert_eq!(about(g.vmid), 0, "guest {} was read: {requests:?}", g.vmid);
        }
    }
    let task_reads: Vec<&String> = requests.iter().filter(|r| r.contains("/tasks")).collect();
    assert!(
        !task_reads.is_empty()
            && task_reads
                .iter()
                .all(|r| r.contains(&format!("vmid={}", target.vmid))),
        "{task_reads:?}"
    );

    // Proxbox's records: only the target's changed; nothing else written or removed.
    let records_after = all_records(&db, endpoint).await;
    for ((kind, key), changed_at) in &records_before {
        let after = records_after.get(&(*kind, key.clone()));
        assert!(after.is_some(), "{kind:?} {key} removed by a guest's sync");
        if after != Some(changed_at) {
            let record = rows(&db, endpoint, *kind)
                .await
                .into_iter()
                .find(|r| &r.key == key)
                .unwrap();
            assert_eq!(
                record.vmid,
                Some(target.vmid as i64),
                "{kind:?} {key} of another guest rewritten"
            );
        }
    }
    assert!(records_after.contains_key(&(RecordKind::Backup, target_backup.clone())));
    assert!(
        !records_after.contains_key(&(RecordKind::Task, other_task.clone())),
        "the other guest's task waits for its node's read"
    );

    // The next full update brings the other guest in step and still reads the other
    // guest's older task: the target's newer one did not move the node's read.
    let full = sync(&db, &netbox, &sim, endpoint, &[]).await;
    let tasks = rows(&db, endpoint, RecordKind::Task).await;
    assert!(
        tasks.iter().any(|r| r.key == other_task),
        "{:?}",
        full.inventory_changes()
    );
    assert!(
        tasks
            .iter()
            .filter_map(|r| r.parse::<TaskRecord>())
            .all(|t| !t.read_for_guest),
        "the node's read took over the guest's tasks"
    );
    let (_, vms_full) = cluster_and_vms(&netbox, &name).await;
    assert_eq!(vm(&vms_full, &other), Some(other.memory_mib + 512));
    assert_eq!(
        full.changes()
            .iter()
            .filter(|(phase, ..)| phase == "virtual-machines")
            .count(),
        1,
        "only the other guest's VM was left to update: {:?}",
        full.changes()
    );

    cleanup(&netbox, &name).await;
    sim.stop().await;
}

#[tokio::test]
async fn a_guest_proxmox_does_not_list_fails_before_writing() {
    let (netbox, name, sim) = scenario("noguest", 92, 1, 3).await;
    let (_test_db, db, endpoint) = proxbox_db(Backend::Postgres).await;
    let (_, writes_before) = netbox.request_counts();
    let ran = run_on(&db, &netbox, &sim, endpoint, &[], guest_options(9999)).await;
    assert!(!ran.outcome.ok);
    let error = ran.outcome.error.clone().unwrap();
    assert_eq!(error.category, proxbox::events::ErrorCategory::NotFound);
    assert!(error.message.contains("Guest 9999"), "{error:?}");
    assert!(!error.suggestion.is_empty());
    assert_eq!(netbox.request_counts().1, writes_before, "nothing written");
    assert!(ran.outcome.stages.is_empty(), "no stage ran");
    cleanup(&netbox, &name).await;
    sim.stop().await;
}

#[tokio::test]
async fn a_node_sync_writes_that_nodes_device_only() {
    let (netbox, name, sim) = scenario("onenode", 93, 3, 3).await;
    let (_test_db, db, endpoint) = proxbox_db(Backend::Sqlite).await;
    let node = sim.state.cluster.read().await.nodes[2].name.clone();
    let options = RunOptions {
        target: Some(SyncTarget::Node { name: node.clone() }),
        ..Default::default()
    };
    let ran = run_on(&db, &netbox, &sim, endpoint, &[], options).await;
    assert!(ran.outcome.ok, "{:?}", ran.outcome.error);
    let stages: Vec<Stage> = ran.outcome.stages.iter().map(|(s, _)| *s).collect();
    assert_eq!(stages, vec![Stage::Devices, Stage::NodeInterfaces]);
    let devices: Vec<String> = ran
        .statuses("devices", "node")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(devices, vec![node.clone()], "only the node's device");
    let interfaces = ran.items("node-interfaces");
    assert!(!interfaces.is_empty());
    let requests = sim.take_requests();
    assert!(
        requests
            .iter()
            .filter(|r| r.contains("/network"))
            .all(|r| r.contains(&format!("/nodes/{node}/"))),
        "{requests:?}"
    );
    assert!(
        !requests
            .iter()
            .any(|r| r.contains("/qemu/") || r.contains("/lxc/")),
        "no guest read: {requests:?}"
    );
    cleanup(&netbox, &name).await;
    sim.stop().await;
}
