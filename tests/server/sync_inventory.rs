//! The inventory stages (storage, task-history, backups, snapshots, replications,
//! backup-routines) against the simulator and the real NetBox: the first run stores exactly
//! what the simulator serves, a resync writes nothing, and removed backups, snapshots and
//! jobs are followed as the stages promise; on SQLite and PostgreSQL.

use std::collections::BTreeSet;

use proxbox::events::{ItemStatus, SyncEvent};
use proxbox::models::{BackupRoutineRecord, RecordKind, SnapshotRecord};
use proxbox::server::infra::db::inventory::StoredRecord;
use proxbox::server::infra::db::Db;
use proxbox::server::sync::stage::Stage;
use proxbox_netbox::models::{JournalEntry, VirtualMachine};
use serde_json::Value;

use crate::support::Backend;
use crate::sync_support::*;

async fn rows(db: &Db, endpoint: i64, kind: RecordKind) -> Vec<StoredRecord> {
    db.inventory(endpoint, kind, None).await.unwrap()
}

fn keys(records: &[StoredRecord]) -> BTreeSet<String> {
    records.iter().map(|r| r.key.clone()).collect()
}

/// The simulator's history (`/_sim/history`).
async fn history(sim: &pve_sim::RunningSim) -> Value {
    sim.state.cluster.read().await.history()
}

fn strings(value: &Value, field: &str) -> BTreeSet<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[field].as_str().unwrap().to_string())
        .collect()
}

/// How many tasks the task-history stage read (its read substep says).
fn tasks_read(ran: &Ran) -> usize {
    ran.events
        .iter()
        .find_map(|e| match e {
            SyncEvent::Substep(s)
                if s.phase == "task-history" && s.message.ends_with(" tasks read") =>
            {
                s.message.split(' ').next()?.parse().ok()
            }
            _ => None,
        })
        .expect("the task-history stage reports what it read")
}

async fn journal_entries(netbox: &proxbox_netbox::NetboxClient, vms: &[VirtualMachine]) -> usize {
    let mut filters = vec![(
        "assigned_object_type",
        "virtualization.virtualmachine".to_string(),
    )];
    filters.extend(
        vms.iter()
            .map(|vm| ("assigned_object_id", vm.id.to_string())),
    );
    netbox.list::<JournalEntry>(&filters).await.unwrap().len()
}

async fn the_inventory_follows_proxmox(backend: Backend, seed: u64) {
    let (netbox, name, sim) = scenario("inv", seed, 2, 12).await;
    let (_test_db, db, endpoint) = proxbox_db(backend).await;
    let first = sync(&db, &netbox, &sim, endpoint, &[]).await;

    // The first run stores exactly what the simulator serves.
    let served = history(&sim).await;
    let storages = rows(&db, endpoint, RecordKind::Storage).await;
    let nodes = 2;
    assert_eq!(
        storages.len(),
        served["storages"].as_array().unwrap().len() * nodes,
        "every storage as each node sees it"
    );
    let backups = rows(&db, endpoint, RecordKind::Backup).await;
    assert_eq!(keys(&backups), strings(&served["backups"], "volid"));
    let snapshots = rows(&db, endpoint, RecordKind::Snapshot).await;
    let want_snapshots: BTreeSet<String> = served["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}/{}/{}",
                s["kind"].as_str().unwrap(),
                s["vmid"],
                s["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(keys(&snapshots), want_snapshots);
    assert!(
        snapshots
            .iter()
            .filter_map(|r| r.parse::<SnapshotRecord>())
            .any(|s| s.vmstate && s.parent.is_some()),
        "a chain with RAM state"
    );
    let retention_start = served["now"].as_i64().unwrap() - 30 * 86_400;
    let want_tasks: BTreeSet<String> = served["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["starttime"].as_i64().unwrap() >= retention_start)
        .map(|t| t["upid"].as_str().unwrap().to_string())
        .collect();
    assert!(
        want_tasks.len() < served["tasks"].as_array().unwrap().len(),
        "some tasks are older than the retention"
    );
    assert_eq!(
        keys(&rows(&db, endpoint, RecordKind::Task).await),
        want_tasks
    );
    assert_eq!(tasks_read(&first), want_tasks.len());
    let replications = rows(&db, endpoint, RecordKind::Replication).await;
    assert_eq!(
        replications.len(),
        served["replications"].as_array().unwrap().len()
    );
    let routines = rows(&db, endpoint, RecordKind::BackupRoutine).await;
    assert_eq!(keys(&routines), strings(&served["backup_jobs"], "id"));
    // One journal entry on the VM per backup: every guest is a VM in NetBox.
    let (_, vms) = cluster_and_vms(&netbox, &name).await;
    assert_eq!(journal_entries(&netbox, &vms).await, backups.len());

    // A resync with nothing changed writes nothing: no NetBox write, no record, and reads
    // only the tasks at the boundary of what it has.
    let changed_before: Vec<i64> = backups.iter().map(|r| r.changed_at).collect();
    sim.take_requests();
    let (_, writes_before) = netbox.request_counts();
    let second = sync(&db, &netbox, &sim, endpoint, &[]).await;
    assert_eq!(netbox.request_counts().1, writes_before, "no NetBox write");
    assert_eq!(second.inventory_changes(), vec![]);
    assert_eq!(second.changes(), vec![]);
    let backups_after = rows(&db, endpoint, RecordKind::Backup).await;
    assert_eq!(
        backups_after
            .iter()
            .map(|r| r.changed_at)
            .collect::<Vec<_>>(),
        changed_before,
        "no record rewritten"
    );
    assert!(
        tasks_read(&second) < 10,
        "only the newest second's tasks are read again"
    );
    let task_reads: Vec<String> = sim
        .take_requests()
        .into_iter()
        .filter(|r| r.contains("/tasks"))
        .collect();
    assert_eq!(
        task_reads.len(),
        nodes,
        "one request per node: {task_reads:?}"
    );
    assert!(
        task_reads.iter().all(|r| r.contains("since=")),
        "{task_reads:?}"
    );

    // Proxmox changes: a backup deleted and one taken, a snapshot removed, a backup job
    // deleted, a task run.
    let removed_backup = backups[0].key.clone();
    // A snapshot with a child: the child moves to its parent, an update.
    let parsed: Vec<SnapshotRecord> = snapshots.iter().filter_map(|r| r.parse()).collect();
    let (snap_guest, snap_name) = parsed
        .iter()
        .find(|s| {
            parsed.iter().any(|c| {
                c.vmid == s.vmid
                    && c.guest_kind == s.guest_kind
                    && c.parent.as_deref() == Some(&s.name)
            })
        })
        .map(|s| ((s.guest_kind.clone(), s.vmid), s.name.clone()))
        .expect("the simulator has snapshot chains");
    let node = {
        let c = sim.state.cluster.read().await;
        c.nodes[0].name.clone()
    };
    let (new_backup_volid, removed_volume) = {
        let mut c = sim.state.cluster.write().await;
        let removed_volume = c
            .backups
            .iter()
            .find(|b| b.volid == removed_backup)
            .cloned()
            .unwrap();
        c.backups.retain(|b| b.volid != removed_backup);
        let kind = pve_sim::Kind::parse(&snap_guest.0).unwrap();
        c.guests
            .get_mut(&(kind, snap_guest.1))
            .unwrap()
            .snapshots
            .retain(|s| s.name != snap_name);
        c.backup_jobs.retain(|j| j.id != "backup-customers");
        c.add_task(&node, "aptupdate", "", "OK");
        let guest = c.guests.values().next().unwrap().clone();
        let new = c
            .add_backup(guest.kind, guest.vmid, "backup-nfs", None)
            .unwrap()
            .volid;
        (new, removed_volume)
    };
    let third = sync(&db, &netbox, &sim, endpoint, &[]).await;
    let changed: BTreeSet<(String, String, ItemStatus)> = third
        .inventory_changes()
        .into_iter()
        .map(|(phase, kind, _, status)| (phase, kind, status))
        .collect();
    let want: BTreeSet<(String, String, ItemStatus)> = [
        // The vanished backup is kept, marked stale, through the grace.
        ("backups", "backup", ItemStatus::Updated),
        ("backups", "backup", ItemStatus::Created),
        ("backups", "journal-entry", ItemStatus::Created),
        ("snapshots", "snapshot", ItemStatus::Deleted),
        ("snapshots", "snapshot", ItemStatus::Updated),
        ("backup-routines", "backup-routine", ItemStatus::Updated),
        ("task-history", "task", ItemStatus::Created),
    ]
    .into_iter()
    .map(|(p, k, s)| (p.to_string(), k.to_string(), s))
    .collect();
    // Storage usage follows the backups taken and removed.
    let changed: BTreeSet<_> = changed
        .into_iter()
        .filter(|(phase, ..)| phase != "storage")
        .collect();
    assert_eq!(changed, want, "{:?}", third.inventory_changes());
    let stored_backups = rows(&db, endpoint, RecordKind::Backup).await;
    let stale: Vec<&str> = stored_backups
        .iter()
        .filter(|r| r.stale_since.is_some())
        .map(|r| r.key.as_str())
        .collect();
    assert_eq!(
        stale,
        [removed_backup.as_str()],
        "only the vanished backup is stale"
    );
    let backups = keys(&stored_backups);
    assert!(backups.contains(&new_backup_volid));
    assert!(!keys(&rows(&db, endpoint, RecordKind::Snapshot).await)
        .contains(&format!("{}/{}/{snap_name}", snap_guest.0, snap_guest.1)));
    let gone = rows(&db, endpoint, RecordKind::BackupRoutine)
        .await
        .into_iter()
        .find(|r| r.key == "backup-customers")
        .expect("a job gone from Proxmox is kept");
    assert!(
        gone.stale_since.is_some() && gone.last_seen.is_some(),
        "{gone:?}"
    );
    assert!(gone.parse::<BackupRoutineRecord>().is_some());
    assert_eq!(
        journal_entries(&netbox, &vms).await,
        backups.len(),
        "one entry more: the new backup's (the vanished one's stays)"
    );
    assert!(tasks_read(&third) < 10);

    // Again with nothing changed: the stale job is not marked again, nothing is written.
    let fourth = sync(&db, &netbox, &sim, endpoint, &[]).await;
    let fourth_changes: Vec<_> = fourth
        .inventory_changes()
        .into_iter()
        .filter(|(phase, ..)| phase != "storage")
        .collect();
    assert_eq!(fourth_changes, vec![]);

    // After the grace (none here), the vanished backup's record goes.
    let no_grace = proxbox::server::sync::context::RunOptions {
        orphan_grace: std::time::Duration::ZERO,
        ..Default::default()
    };
    let fifth = run_on(&db, &netbox, &sim, endpoint, &[], no_grace).await;
    assert!(fifth.outcome.ok, "{:?}", fifth.outcome.error);
    let fifth_backups: Vec<(String, ItemStatus)> = fifth
        .inventory_changes()
        .into_iter()
        .filter(|(phase, ..)| phase == "backups")
        .map(|(_, _, name, status)| (name, status))
        .collect();
    assert_eq!(
        fifth_backups,
        [(removed_backup.clone(), ItemStatus::Deleted)]
    );
    let entries = journal_entries(&netbox, &vms).await;

    // The same volume found again (a storage mounted back): stored again, no second entry.
    sim.state.cluster.write().await.backups.push(removed_volume);
    let sixth = sync(&db, &netbox, &sim, endpoint, &[]).await;
    let sixth_backups: Vec<(String, ItemStatus)> = sixth
        .inventory_changes()
        .into_iter()
        .filter(|(phase, ..)| phase == "backups")
        .map(|(_, kind, _, status)| (kind, status))
        .collect();
    assert_eq!(
        sixth_backups,
        [("backup".to_string(), ItemStatus::Created)],
        "stored again, without a journal entry"
    );
    assert_eq!(
        journal_entries(&netbox, &vms).await,
        entries,
        "one entry per volume, ever"
    );
    assert!(keys(&rows(&db, endpoint, RecordKind::Backup).await).contains(&removed_backup));

    // A Proxbox database started afresh (or moved to PostgreSQL) knows no entry it wrote:
    // NetBox's own entries say which volumes have one (the soak's two instances on a new
    // PostgreSQL wrote a second entry for every volume).
    let (_fresh_db, fresh, fresh_endpoint) = proxbox_db(Backend::Sqlite).await;
    let seventh = sync(&fresh, &netbox, &sim, fresh_endpoint, &[]).await;
    assert!(seventh.outcome.ok, "{:?}", seventh.outcome.error);
    assert_eq!(
        journal_entries(&netbox, &vms).await,
        entries,
        "one entry per volume, whatever database Proxbox runs on"
    );

    cleanup(&netbox, &name).await;
    sim.stop().await;
}

#[tokio::test]
async fn the_inventory_follows_proxmox_on_sqlite() {
    the_inventory_follows_proxmox(Backend::Sqlite, 71).await;
}

#[tokio::test]
async fn the_inventory_follows_proxmox_on_postgres() {
    the_inventory_follows_proxmox(Backend::Postgres, 72).await;
}

#[tokio::test]
async fn a_dry_run_of_the_inventory_stores_nothing() {
    let (netbox, name, sim) = scenario("invdry", 73, 1, 6).await;
    let (_test_db, db, endpoint) = proxbox_db(Backend::Sqlite).await;
    let stages = [
        Stage::Storage,
        Stage::TaskHistory,
        Stage::Snapshots,
        Stage::Replications,
        Stage::BackupRoutines,
    ];
    let dry = proxbox::server::sync::context::RunOptions {
        dry_run: true,
        ..Default::default()
    };
    let plan = run_on(&db, &netbox, &sim, endpoint, &stages, dry).await;
    assert!(plan.outcome.ok, "{:?}", plan.outcome.error);
    assert!(plan
        .inventory_changes()
        .iter()
        .any(|(.., s)| *s == ItemStatus::WouldCreate));
    for kind in proxbox::models::RecordKind::ALL {
        assert!(
            rows(&db, endpoint, kind).await.is_empty(),
            "{kind:?} stored in a dry run"
        );
    }
    cleanup(&netbox, &name).await;
    sim.stop().await;
}

/// A task read stops at its cap; the next syncs read the gap below what is stored, down to
/// the retention, until every task inside it is stored. Tasks Proxmox answers outside the
/// window asked for (a replay of recorded answers ignores `since`) are never taken: the
/// 40-day-old ones are not stored, and a resync writes no task record.
#[tokio::test]
async fn the_task_history_fills_the_gap_below_a_capped_read_and_keeps_to_its_window() {
    use proxbox::server::sync::context::RunOptions;
    let (netbox, name, sim) = scenario("taskgap", 87, 1, 6).await;
    let (_test_db, db, endpoint) = proxbox_db(Backend::Sqlite).await;
    let retention = RunOptions::default().task_retention.as_secs() as i64;
    let (inside, outside): (BTreeSet<String>, BTreeSet<String>) = {
        let c = sim.state.cluster.read().await;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let (inside, outside): (Vec<_>, Vec<_>) =
            c.tasks.iter().partition(|t| t.starttime >= now - retention);
        (
            inside.iter().map(|t| t.upid.clone()).collect(),
            outside.iter().map(|t| t.upid.clone()).collect(),
        )
    };
    assert!(
        !outside.is_empty(),
        "the simulator has tasks older than the retention"
    );
    let cap = 7;
    let capped = RunOptions {
        task_read_cap: cap,
        ..Default::default()
    };
    let mut syncs = 0;
    loop {
        let ran = run_on(
            &db,
            &netbox,
            &sim,
            endpoint,
            &[Stage::TaskHistory],
            capped.clone(),
        )
        .await;
        assert!(ran.outcome.ok, "{:?}", ran.outcome.error);
        syncs += 1;
        let stored = keys(&rows(&db, endpoint, RecordKind::Task).await);
        assert!(
            stored.is_subset(&inside),
            "only tasks inside the retention are stored"
        );
        if stored == inside {
            break;
        }
        assert!(
            syncs <= inside.len() / (cap - 1) + 2,
            "the gap does not close: {} of {} tasks after {syncs} syncs",
            stored.len(),
            inside.len()
        );
    }
    assert!(
        syncs > 1,
        "{} tasks, a cap of {cap}: several syncs",
        inside.len()
    );

    // Proxmox answering every task whatever the window: nothing is written.
    sim.state.cluster.write().await.tasks_ignore_window = true;
    let again = run_on(&db, &netbox, &sim, endpoint, &[Stage::TaskHistory], capped).await;
    assert!(again.outcome.ok, "{:?}", again.outcome.error);
    assert_eq!(
        again.inventory_changes(),
        vec![],
        "a resync writes no task record"
    );
    assert_eq!(keys(&rows(&db, endpoint, RecordKind::Task).await), inside);
    cleanup(&netbox, &name).await;
    sim.stop().await;
}
