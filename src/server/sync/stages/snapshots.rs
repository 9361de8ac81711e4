//! `snapshots`: each guest's snapshot chain (`…/{qemu|lxc}/{vmid}/snapshot`, without the
//! `current` pseudo-entry), kept in Proxbox's database; a snapshot gone from Proxmox is
//! removed, also every snapshot of a guest gone from the cluster. The snapshots of a guest
//! that could not be read are left as they were.

use std::collections::HashSet;

use proxbox_pve::Snapshot;

use crate::events::StepStatus;
use crate::models::{RecordKind, SnapshotRecord};
use crate::server::infra::db::inventory::StoredRecord;
use crate::server::sync::cluster_view::{cluster_view, ListedGuest};
use crate::server::sync::context::SyncContext;
use crate::server::sync::failure::StageError;
use crate::server::sync::inventory::{
    self, plan_records, report_unread, Record, RecordPlan, WhenGone,
};
use crate::server::sync::plan::Label;
use crate::server::sync::report::StageReport;
use crate::server::sync::state::RunState;

/// `qemu/100/before-upgrade`: snapshots are named per guest.
fn key(kind: &str, vmid: u64, name: &str) -> String {
    format!("{kind}/{vmid}/{name}")
}

/// The guest part of a snapshot's key (`qemu/100`).
fn guest_of(key: &str) -> &str {
    key.rsplit_once('/').map_or(key, |(guest, _)| guest)
}

fn guest_key(guest: &ListedGuest) -> String {
    format!("{}/{}", guest.kind.as_str(), guest.vmid)
}

/// Whether the stored snapshots of `guest` may be removed when Proxmox no longer lists
/// them: when its snapshots were read now, or the guest is gone from a cluster whose list
/// was whole. A guest still listed whose read gave no answer keeps them, and so does one
/// missing from a list with entries that could not be identified: a failed read removes
/// nothing.
fn snapshots_may_go(
    guest: &str,
    listed: &HashSet<String>,
    whole_list: bool,
    read: &HashSet<String>,
) -> bool {
    read.contains(guest) || (whole_list && !listed.contains(guest))
}

pub fn records(guest: &ListedGuest, snapshots: &[Snapshot]) -> Vec<Record> {
    let kind = guest.kind.as_str();
    snapshots
        .iter()
        .map(|s| {
            let body = SnapshotRecord {
                name: s.name.clone(),
                node: guest.node.clone(),
                vmid: guest.vmid,
                guest_kind: kind.to_string(),
                parent: s.parent.clone(),
                description: s.description.trim_end().to_string(),
                taken: s.snaptime,
                vmstate: s.vmstate.unwrap_or(false),
            };
            Record::new(
                RecordKind::Snapshot,
                key(kind, guest.vmid, &s.name),
                format!("{}@{}", guest.name, s.name),
                &body,
            )
            .on(Some(&guest.node), Some(guest.vmid), s.snaptime)
        })
        .collect()
}

pub async fn run(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &mut RunState,
) -> Result<(), StageError> {
    report.substep(
        "read-proxmox",
        StepStatus::Started,
        "Reading each guest's snapshots from Proxmox",
    );
    let mut plans: Vec<RecordPlan> = Vec::new();
    let mut guests_read = 0;
    for source in &ctx.sources {
        let view = cluster_view(state, source).await?;
        let online: HashSet<&str> = view.online_nodes().collect();
        let listed: HashSet<String> = view.guests.iter().map(guest_key).collect();
        // Only the guests whose read answered: one that failed, panicked or sits on an
        // offline node is not here, and keeps what is stored of it.
        let mut read: HashSet<String> = HashSet::new();
        let mut reads = tokio::task::JoinSet::new();
        for guest in &view.guests {
            if !online.contains(guest.node.as_str()) {
                continue;
            }
            let (pve, guest) = (source.pve.clone(), guest.clone());
            reads.spawn(async move {
                let snapshots = pve.snapshots(&guest.node, guest.kind, guest.vmid).await;
                (guest, snapshots)
            });
        }
        let mut wanted = Vec::new();
        while let Some(joined) = reads.join_next().await {
            let (guest, result) = match joined {
                Ok(answer) => answer,
                Err(e) => {
                    tracing::error!(error = %e, "a snapshot read ended without an answer; that guest's snapshots are kept");
                    continue;
                }
            };
            match result {
                Ok(parsed) => {
                    guests_read += 1;
                    read.insert(guest_key(&guest));
                    wanted.extend(records(&guest, &parsed.value));
                }
                Err(e) => {
                    report_unread(
                        report,
                        Label::new(
                            format!("{} snapshots", guest.name),
                            guest.kind.as_str(),
                            "guest",
                        ),
                        "the guest's snapshots could not be read; those stored are kept",
                        e,
                    );
                }
            }
        }
        wanted.sort_by(|a, b| a.row.key.cmp(&b.row.key));
        let stored = ctx
            .db
            .inventory(source.endpoint_id, RecordKind::Snapshot, None)
            .await?;
        plans.push(plan_records(
            RecordKind::Snapshot,
            source.endpoint_id,
            WhenGone::Remove,
            &stored,
            wanted,
            |r: &StoredRecord| {
                state
                    .scope
                    .covers(r.node.as_deref(), r.vmid.map(|v| v as u64))
                    && snapshots_may_go(guest_of(&r.key), &listed, !view.incomplete, &read)
            },
        ));
    }
    report.substep(
        "read-proxmox",
        StepStatus::Completed,
        format!("snapshots of {guests_read} guests"),
    );
    inventory::discover_and_apply(ctx, report, "snapshots", &plans).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_guest_read_now_or_gone_loses_its_snapshots() {
        let set = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<HashSet<_>>();
        let listed = set(&["qemu/100", "qemu/101", "lxc/200"]);
        let read = set(&["qemu/100"]);
        // (guest, may its stored snapshots go)
        let table = [
            ("qemu/100", true),  // read: what Proxmox lists is the truth
            ("qemu/101", false), // listed, no answer (failed, panicked, node offline)
            ("lxc/200", false),
            ("qemu/999", true), // gone from the cluster
        ];
        for (guest, expected) in table {
            assert_eq!(
                snapshots_may_go(guest, &listed, true, &read),
                expected,
                "{guest}"
            );
        }
        // A list with entries that could not be identified: a guest missing from it may
        // be one of them, and keeps its snapshots; one read now still follows Proxmox.
        assert!(!snapshots_may_go("qemu/999", &listed, false, &read));
        assert!(snapshots_may_go("qemu/100", &listed, false, &read));
    }

    #[test]
    fn a_snapshot_key_names_its_guest() {
        let k = key("lxc", 100, "before-upgrade");
        assert_eq!(k, "lxc/100/before-upgrade");
        assert_eq!(guest_of(&k), "lxc/100");
    }
}
