//! The guests' cards: what the VM panel and `/virtual-machines` show of each guest (its
//! config as this stage read it, and the NetBox VM it was written to), kept in Proxbox's
//! database with the inventory's mechanism. Written without an item per guest — the stage
//! already reports each guest as its VM.

use std::collections::{HashMap, HashSet};

use proxbox_pve::GuestKind;

use super::{Guest, Inputs};
use crate::models::{GuestRecord, NicRecord, RecordKind};
use crate::server::db::inventory::StoredRecord;
use crate::server::sync::apply::Applied;
use crate::server::sync::inventory::{plan_records, Record, RecordPlan, WhenGone};
use crate::server::sync::managed::guest_identity;
use crate::server::sync::state::SyncedCluster;

/// The card of a guest written to NetBox VM `netbox_id`.
pub fn card(guest: &Guest, cluster: &str, netbox_id: u64) -> GuestRecord {
    GuestRecord {
        vmid: guest.vmid,
        kind: guest.kind.as_str().to_string(),
        name: guest.name.clone(),
        node: guest.node.clone(),
        cluster: cluster.to_string(),
        status: proxmox_status(guest).to_string(),
        onboot: guest.start_on_boot,
        agent: guest.agent,
        template: guest.template,
        tags: guest.tags.clone(),
        pool: guest.pool.clone(),
        vcpus: guest.vcpus,
        memory: guest.memory,
        disks: guest.disks.clone(),
        nics: guest
            .nets
            .iter()
            .map(|n| NicRecord {
                key: n.key.clone(),
                model: n.model.clone(),
                mac: n.mac.clone(),
                bridge: n.bridge.clone(),
                vlan: n.vlan,
                addresses: n.ip.iter().chain(&n.ip6).cloned().collect(),
            })
            .collect(),
        netbox_id,
    }
}

/// Proxmox's word for the guest's state, from the NetBox status the stage derived.
fn proxmox_status(guest: &Guest) -> &'static str {
    match guest.status {
        "active" => "running",
        "paused" => "paused",
        _ => "stopped",
    }
}

/// One plan per synced cluster: a card per guest NetBox holds a VM for; the card of a
/// guest gone from Proxmox goes, that of a guest whose config could not be read stays.
pub fn plan_cards(
    inputs: &Inputs,
    applied: &Applied<usize>,
    clusters: &[SyncedCluster],
    stored: &HashMap<i64, Vec<StoredRecord>>,
) -> Vec<RecordPlan> {
    let mut wanted: HashMap<i64, Vec<Record>> = HashMap::new();
    for (index, netbox_id) in applied.existing() {
        let guest = &inputs.guests[*index];
        let Some(cluster) = clusters.iter().find(|c| c.endpoint_id == guest.endpoint_id) else {
            continue;
        };
        let body = card(guest, &cluster.name, netbox_id);
        let record = Record::new(
            RecordKind::Guest,
            card_key(&body.kind, guest.vmid),
            &guest.name,
            &body,
        )
        .on(Some(&guest.node), Some(guest.vmid), None);
        wanted.entry(guest.endpoint_id).or_default().push(record);
    }
    let present: &HashSet<String> = &inputs.present;
    clusters
        .iter()
        .map(|cluster| {
            let mut records = wanted.remove(&cluster.endpoint_id).unwrap_or_default();
            records.sort_by(|a, b| a.row.key.cmp(&b.row.key));
            let gone = |r: &StoredRecord| {
                r.parse::<GuestRecord>()
                    .is_none_or(|g| !present.contains(&identity(&cluster.name, &g)))
            };
            plan_records(
                RecordKind::Guest,
                cluster.endpoint_id,
                WhenGone::Remove,
                stored.get(&cluster.endpoint_id).map_or(&[], Vec::as_slice),
                records,
                gone,
            )
        })
        .collect()
}

/// A card's key: `qemu/100`, `lxc/100` (a vmid alone may name a VM and a container of
/// clusters that were merged).
pub fn card_key(kind: &str, vmid: u64) -> String {
    format!("{kind}/{vmid}")
}

/// The identity of the guest a card stands for.
fn identity(cluster: &str, card: &GuestRecord) -> String {
    let kind = GuestKind::parse(&card.kind).unwrap_or(GuestKind::Qemu);
    guest_identity(cluster, kind, card.vmid)
}
