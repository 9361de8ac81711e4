//! `backups`: the backup volumes of every backup storage (`…/storage/{s}/content?content=backup`;
//! a shared storage read once, through one node), kept in Proxbox's database; a backup gone
//! from Proxmox is marked stale, and removed by the first sync after the orphan grace. NetBox
//! gets one journal entry on the VM per backup volume, ever — written before the backup is
//! stored, so that a failed entry is tried again by the next sync, and remembered apart
//! from the stored backups, so that a backup removed and found again gets no second one.

use std::collections::{HashMap, HashSet};

use proxbox_netbox::models::{JournalEntry, NewJournalEntry};
use proxbox_pve::{NodeStorage, StorageContent};

use crate::events::StepStatus;
use crate::models::{BackupRecord, RecordKind};
use crate::server::sync::apply;
use crate::server::sync::cluster_view::{cluster_view, node_storages, ClusterView};
use crate::server::sync::context::{ClusterSource, SyncContext};
use crate::server::sync::failure::StageError;
use crate::server::sync::inventory::{
    self, plan_records, report_unread, Record, RecordPlan, WhenGone,
};
use crate::server::sync::managed::proxbox_tag;
use crate::server::sync::plan::{Label, Plan};
use crate::server::sync::report::StageReport;
use crate::server::sync::state::RunState;

/// `qemu` or `lxc`, as the volume's name says (`vzdump-qemu-100-…`, `backup/ct/100/…`).
pub fn guest_kind_of(volid: &str) -> Option<&'static str> {
    if volid.contains("vzdump-qemu-") || volid.contains(":backup/vm/") {
        Some("qemu")
    } else if volid.contains("vzdump-lxc-") || volid.contains(":backup/ct/") {
        Some("lxc")
    } else {
        None
    }
}

/// The record of one backup volume, named after its guest where the cluster lists it.
/// `node` is the node whose local storage holds it, `None` for a shared storage (read
/// through whichever node: the record does not change with it).
pub fn record(
    node: Option<&str>,
    storage: &str,
    volume: &StorageContent,
    view: &ClusterView,
) -> Record {
    let guest_kind = guest_kind_of(&volume.volid);
    let body = BackupRecord {
        volid: volume.volid.clone(),
        storage: storage.to_string(),
        node: node.map(str::to_string),
        vmid: volume.vmid,
        guest_kind: guest_kind.map(str::to_string),
        format: volume.format.clone(),
        size: volume.size,
        created: volume.ctime,
        notes: volume.notes.clone(),
        protected: volume.protected.unwrap_or(false),
        encrypted: volume.encrypted.as_deref().is_some_and(|e| !e.is_empty()),
        verification: volume.verification.clone(),
    };
    let name = match volume.vmid.and_then(|vmid| view.guest(vmid, guest_kind)) {
        Some(guest) => format!("{}: {}", guest.name, volume.volid),
        None => volume.volid.clone(),
    };
    Record::new(RecordKind::Backup, volume.volid.clone(), name, &body).on(
        node,
        volume.vmid,
        volume.ctime,
    )
}

/// The storages that hold backups, with the node to read each through: a shared storage
/// once (its content is the same from every node), a local one per node.
fn backup_storages(per_node: &[(String, Vec<NodeStorage>)]) -> Vec<(String, String, bool)> {
    let mut shared_seen: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    for (node, storages) in per_node {
        for s in storages {
            let usable = s.enabled.unwrap_or(true) && s.active.unwrap_or(true);
            if !usable || !s.content.iter().any(|c| c == "backup") {
                continue;
            }
            let shared = s.shared.unwrap_or(false);
            if shared && !shared_seen.insert(s.storage.as_str()) {
                continue;
            }
            out.push((node.clone(), s.storage.clone(), shared));
        }
    }
    out
}

/// Whether NetBox holds the journal entry of backup `volid` on VM `vm` already: an entry on
/// that VM that names the volume as [`journal_entry`] writes it (in backticks).
pub fn already_journaled(entries: &[JournalEntry], vm: u64, volid: &str) -> bool {
    let named = format!("`{volid}`");
    entries.iter().any(|e| {
        e.assigned_object_type == "virtualization.virtualmachine"
            && e.assigned_object_id == vm
            && e.comments.contains(&named)
    })
}

/// The journal entry of a new backup (kind info, with its size and storage).
pub fn journal_entry(vm: u64, backup: &BackupRecord) -> NewJournalEntry {
    let size = backup
        .size
        .map(|bytes| format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30)))
        .unwrap_or_else(|| "size unknown".into());
    let created = backup
        .created
        .map(|t| crate::models::format_utc(t * 1000))
        .unwrap_or_else(|| "at an unknown time".into());
    NewJournalEntry {
        assigned_object_type: "virtualization.virtualmachine".into(),
        assigned_object_id: vm,
        kind: "info".into(),
        comments: format!(
            "Proxmox backup `{}` ({size}) on storage {}, taken {created}{}.",
            backup.volid,
            backup.storage,
            if backup.protected { ", protected" } else { "" }
        ),
        tags: vec![proxbox_tag()],
    }
}

/// Which storages of one endpoint were read, and the records found.
struct EndpointRead {
    wanted: Vec<Record>,
    /// (storage, node) pairs read; for a shared storage the node is `None`.
    read: HashSet<(String, Option<String>)>,
}

async fn read_endpoint(
    report: &mut StageReport<'_>,
    state: &mut RunState,
    source: &ClusterSource,
    view: &ClusterView,
) -> Result<EndpointRead, StageError> {
    let mut per_node = Vec::new();
    for (node, result) in node_storages(state, source, view).await {
        match result {
            Ok(storages) => per_node.push((node, storages)),
            Err(e) => report_unread(
                report,
                Label::new(format!("{node} storages"), "node", "node"),
                "the node's storages could not be read; its backups stored are kept",
                e,
            ),
        }
    }
    let mut reads = tokio::task::JoinSet::new();
    // A guest's run asks for that guest's backups only.
    let vmid = state.scope.vmid;
    for (node, storage, shared) in backup_storages(&per_node) {
        let pve = source.pve.clone();
        reads.spawn(async move {
            let content = pve
                .storage_content(&node, &storage, Some("backup"), vmid)
                .await;
            (node, storage, shared, content)
        });
    }
    let mut out = EndpointRead {
        wanted: Vec::new(),
        read: HashSet::new(),
    };
    while let Some(joined) = reads.join_next().await {
        let Ok((node, storage, shared, content)) = joined else {
            continue;
        };
        match content {
            Ok(parsed) => {
                out.wanted.extend(parsed.value.iter().map(|volume| {
                    record((!shared).then_some(node.as_str()), &storage, volume, view)
                }));
                out.read.insert((storage, (!shared).then_some(node)));
            }
            Err(e) => report_unread(
                report,
                Label::new(format!("{storage} on {node}"), "storage", "storage"),
                "the storage's backups could not be read; those stored are kept",
                e,
            ),
        }
    }
    out.wanted.sort_by(|a, b| a.row.key.cmp(&b.row.key));
    Ok(out)
}

pub async fn run(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &mut RunState,
) -> Result<(), StageError> {
    report.substep(
        "read-proxmox",
        StepStatus::Started,
        "Reading the backups of every backup storage from Proxmox",
    );
    let mut plans: Vec<RecordPlan> = Vec::new();
    for source in &ctx.sources {
        let view = cluster_view(state, source).await?;
        let EndpointRead { wanted, read } = read_endpoint(report, state, source, &view).await?;
        let stored = ctx
            .db
            .inventory(source.endpoint_id, RecordKind::Backup, None)
            .await?;
        let scope = &state.scope;
        let covered = |r: &crate::server::infra::db::inventory::StoredRecord| {
            let Some(body) = r.parse::<BackupRecord>() else {
                return scope.is_whole();
            };
            scope.has_guest(body.vmid) && read.contains(&(body.storage, body.node))
        };
        plans.push(plan_records(
            RecordKind::Backup,
            source.endpoint_id,
            WhenGone::StaleThenRemove {
                remove_stale_since_before: crate::server::infra::db::now_ms()
                    - ctx.options.orphan_grace.as_millis() as i64,
            },
            &stored,
            wanted,
            covered,
        ));
    }
    let found: usize = plans.iter().map(RecordPlan::listed).sum();
    report.substep(
        "read-proxmox",
        StepStatus::Completed,
        format!("{found} backups"),
    );
    report.discover("backups", inventory::discovered(&plans));
    for plan in &mut plans {
        journal_new_backups(ctx, report, state, plan).await?;
        inventory::apply(ctx, report, plan).await?;
    }
    Ok(())
}

/// Writes a journal entry on the VM of each new backup whose guest is in NetBox. A backup
/// whose entry NetBox refused is not stored this time, so that the next sync tries again.
async fn journal_new_backups(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &RunState,
    plan: &mut RecordPlan,
) -> Result<(), StageError> {
    let vms: HashMap<(u64, &str), u64> = state
        .guests
        .iter()
        .filter(|g| g.endpoint_id == plan.endpoint_id)
        .map(|g| ((g.vmid, g.kind.as_str()), g.vm_id))
        .collect();
    let journaled = ctx.db.journaled_backups(plan.endpoint_id).await?;
    let mut candidates: Vec<(usize, u64, BackupRecord)> = Vec::new();
    for (index, record) in plan.creates.iter().enumerate() {
        let Ok(backup) = serde_json::from_str::<BackupRecord>(&record.row.body) else {
            continue;
        };
        if journaled.contains(&backup.volid) {
            continue;
        }
        let Some(vmid) = backup.vmid else { continue };
        let vm = match backup.guest_kind.as_deref() {
            Some(kind) => vms.get(&(vmid, kind)),
            None => vms.get(&(vmid, "qemu")).or_else(|| vms.get(&(vmid, "lxc"))),
        };
        let Some(vm) = vm else { continue };
        candidates.push((index, *vm, backup));
    }
    if candidates.is_empty() {
        return Ok(());
    }
    // Proxbox's database may not know an entry NetBox has: a database started afresh (or
    // moved to PostgreSQL), or a write whose answer was lost after NetBox stored it. NetBox
    // is asked about the VMs that would get one, so that no volume gets a second.
    let mut vm_ids: Vec<u64> = candidates.iter().map(|(_, vm, _)| *vm).collect();
    vm_ids.sort_unstable();
    vm_ids.dedup();
    let entries: Vec<JournalEntry> = ctx
        .netbox
        .list_in("assigned_object_id", &vm_ids)
        .await
        .map_err(StageError::from)?;
    let mut journal: Plan<NewJournalEntry, usize> = Plan::new("journal entries");
    let mut found_in_netbox: Vec<&str> = Vec::new();
    for (index, vm, backup) in &candidates {
        let record = &plan.creates[*index];
        if already_journaled(&entries, *vm, &backup.volid) {
            found_in_netbox.push(record.row.key.as_str());
            continue;
        }
        let label = Label::new(
            format!("journal: {}", record.label.name),
            "journal-entry",
            "journal entry",
        );
        journal.create(*index, label, journal_entry(*vm, backup));
    }
    if !ctx.options.dry_run && !found_in_netbox.is_empty() {
        ctx.db
            .record_journaled_backups(plan.endpoint_id, &found_in_netbox)
            .await?;
    }
    if journal.creates.is_empty() {
        return Ok(());
    }
    report.substep("journal", StepStatus::Started, journal.summary());
    let applied = apply::apply::<JournalEntry, _, _>(ctx, report, &journal).await?;
    let refused: HashSet<usize> = applied
        .created
        .iter()
        .filter(|(_, id)| id.is_none())
        .map(|(index, _)| *index)
        .collect();
    if !ctx.options.dry_run {
        let written: Vec<&str> = applied
            .created
            .iter()
            .filter(|(_, id)| id.is_some())
            .map(|(index, _)| plan.creates[*index].row.key.as_str())
            .collect();
        ctx.db
            .record_journaled_backups(plan.endpoint_id, &written)
            .await?;
    }
    if !refused.is_empty() {
        let mut index = 0;
        plan.creates.retain(|_| {
            let keep = !refused.contains(&index);
            index += 1;
            keep
        });
    }
    report.substep(
        "journal",
        StepStatus::Completed,
        format!(
            "{} journal entries written",
            applied.created.len() - refused.len()
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use proxbox_pve::GuestKind;

    use super::*;
    use crate::server::sync::cluster_view::ListedGuest;

    fn storage(name: &str, content: &str, shared: bool, enabled: bool) -> NodeStorage {
        NodeStorage {
            storage: name.into(),
            kind: "dir".into(),
            content: content.split(',').map(str::to_string).collect(),
            shared: Some(shared),
            active: Some(enabled),
            enabled: Some(enabled),
            total: None,
            used: None,
            avail: None,
        }
    }

    #[test]
    fn the_guest_kind_comes_from_the_volume_name() {
        assert_eq!(
            guest_kind_of("local:backup/vzdump-qemu-100-2026_11_01-00_00_00.vma.zst"),
            Some("qemu")
        );
        assert_eq!(
            guest_kind_of("nfs:backup/vzdump-lxc-100-2026_11_01-00_00_00.tar.zst"),
            Some("lxc")
        );
        assert_eq!(
            guest_kind_of("pbs:backup/ct/100/2026-11-01T00:00:00Z"),
            Some("lxc")
        );
        assert_eq!(
            guest_kind_of("pbs:backup/vm/100/2026-11-01T00:00:00Z"),
            Some("qemu")
        );
        assert_eq!(guest_kind_of("local:backup/something-else.tar"), None);
    }

    #[test]
    fn a_shared_storage_is_read_once_and_disabled_or_non_backup_ones_not_at_all() {
        let node = |name: &str| {
            (
                name.to_string(),
                vec![
                    storage("local", "iso,backup", false, true),
                    storage("local-lvm", "images,rootdir", false, true),
                    storage("nfs", "backup", true, true),
                    storage("old", "backup", true, false),
                ],
            )
        };
        let reads = backup_storages(&[node("pve1"), node("pve2")]);
        assert_eq!(
            reads,
            [
                ("pve1".to_string(), "local".to_string(), false),
                ("pve1".to_string(), "nfs".to_string(), true),
                ("pve2".to_string(), "local".to_string(), false),
            ]
        );
    }

    #[test]
    fn a_journal_entry_netbox_has_is_found_by_its_vm_and_volume() {
        let entry = |vm: u64, kind: &str, comments: &str| JournalEntry {
            id: 1,
            assigned_object_type: kind.into(),
            assigned_object_id: vm,
            kind: proxbox_netbox::models::Choice {
                value: "info".into(),
                label: Some("Info".into()),
            },
            comments: comments.into(),
        };
        let volid = "pbs:backup/vm/101/2026-12-01T12:00:00Z";
        let entries = [
            entry(
                7,
                "virtualization.virtualmachine",
                "Proxmox backup `pbs:backup/vm/101/2026-12-01T12:00:00Z` (1.0 GiB) on storage pbs, taken 2026-12-01 12:00 UTC.",
            ),
            entry(8, "dcim.device", "Proxmox backup `local:backup/vzdump-qemu-102.vma.zst`"),
        ];
        assert!(already_journaled(&entries, 7, volid));
        assert!(!already_journaled(&entries, 9, volid), "another VM");
        assert!(
            !already_journaled(&entries, 7, "pbs:backup/vm/101/2026-12-01T12:00:00"),
            "a volume whose id starts the same is another"
        );
        assert!(
            !already_journaled(&entries, 8, "local:backup/vzdump-qemu-102.vma.zst"),
            "an entry on a device is no VM's"
        );
    }

    #[test]
    fn a_backup_is_named_after_its_guest_and_its_journal_entry_says_size_and_storage() {
        let view = ClusterView {
            incomplete: false,
            nodes: vec![("pve1".into(), true)],
            guests: vec![ListedGuest {
                kind: GuestKind::Lxc,
                vmid: 100,
                node: "pve1".into(),
                name: "db".into(),
                pool: None,
                template: false,
            }],
        };
        let volume = StorageContent {
            volid: "nfs:backup/vzdump-lxc-100-2026_11_01-00_00_00.tar.zst".into(),
            content: None,
            format: Some("tar.zst".into()),
            size: Some(3 << 30),
            ctime: Some(1_793_491_200),
            vmid: Some(100),
            notes: Some("db nightly".into()),
            protected: Some(true),
            encrypted: Some(String::new()),
            verification: None,
        };
        let record = record(None, "nfs", &volume, &view);
        assert_eq!(record.label.name, format!("db: {}", volume.volid));
        assert_eq!(
            (record.row.vmid, record.row.at),
            (Some(100), Some(1_793_491_200))
        );
        let backup: BackupRecord = serde_json::from_str(&record.row.body).unwrap();
        assert_eq!(backup.guest_kind.as_deref(), Some("lxc"));
        assert_eq!(
            (backup.node.clone(), record.row.node.clone()),
            (None, None),
            "a shared storage's backup is every node's"
        );
        let local = super::record(Some("pve2"), "local", &volume, &view);
        assert_eq!(local.row.node.as_deref(), Some("pve2"));
        assert!(
            backup.protected && !backup.encrypted,
            "an empty fingerprint is no encryption"
        );
        let entry = journal_entry(7, &backup);
        assert_eq!((entry.assigned_object_id, entry.kind.as_str()), (7, "info"));
        assert_eq!(
            entry.comments,
            format!("Proxmox backup `{}` (3.0 GiB) on storage nfs, taken 2026-11-01 00:00:00 UTC, protected.", volume.volid)
        );
    }
}
