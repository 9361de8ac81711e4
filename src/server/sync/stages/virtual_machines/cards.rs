//! The guests' cards: what the VM panel and `/virtual-machines` show of each guest (its
//! config as this stage read it, and the NetBox VM it was written to), kept in Proxbox's
//! database with the inventory's mechanism. Written without an item per guest — the stage
//! already reports each guest as its VM.

use std::collections::{BTreeMap, HashMap, HashSet};

use proxbox_pve::GuestKind;

use super::{Guest, Inputs};
use crate::models::{GuestRecord, NicRecord, RecordKind};
use crate::server::infra::db::inventory::StoredRecord;
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
        disks: guest
            .disks
            .iter()
            .map(|d| (d.key.clone(), d.size_mb))
            .collect(),
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
                agent_addresses: Vec::new(),
            })
            .collect(),
        netbox_id,
        ha: guest.ha.record(),
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
    let stored_cards: HashMap<(i64, &str), GuestRecord> = stored
        .iter()
        .flat_map(|(endpoint, records)| {
            records
                .iter()
                .filter_map(move |r| Some(((*endpoint, r.key.as_str()), r.parse()?)))
        })
        .collect();
    for (index, netbox_id) in applied.existing() {
        let guest = &inputs.guests[*index];
        let Some(cluster) = clusters.iter().find(|c| c.endpoint_id == guest.endpoint_id) else {
            continue;
        };
        let mut body = card(guest, &cluster.name, netbox_id);
        let key = card_key(&body.kind, guest.vmid);
        keep_agent_addresses(
            &mut body,
            stored_cards.get(&(guest.endpoint_id, key.as_str())),
        );
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

/// The agent's addresses are the vm-ip-addresses stage's to keep: a card planned again
/// keeps them on each NIC whose key and MAC stayed.
pub fn keep_agent_addresses(card: &mut GuestRecord, stored: Option<&GuestRecord>) {
    let Some(stored) = stored else { return };
    for nic in &mut card.nics {
        if let Some(before) = stored
            .nics
            .iter()
            .find(|n| n.key == nic.key && n.mac == nic.mac)
        {
            nic.agent_addresses = before.agent_addresses.clone();
        }
    }
}

/// What guest agents reported per NIC key, by guest (`qemu`, vmid), of one endpoint.
pub type AgentAddresses = HashMap<(String, u64), BTreeMap<String, Vec<String>>>;

/// The stored cards of the guests whose agent answered, with what it reported on each NIC
/// (a NIC it reported nothing on has none); cards that stay the same are not written.
pub fn plan_agent_addresses(
    endpoint_id: i64,
    stored: &[StoredRecord],
    reported: &AgentAddresses,
) -> RecordPlan {
    let wanted = stored
        .iter()
        .filter_map(|r| {
            let mut card: GuestRecord = r.parse()?;
            let per_nic = reported.get(&(card.kind.clone(), card.vmid))?;
            for nic in &mut card.nics {
                nic.agent_addresses = per_nic.get(&nic.key).cloned().unwrap_or_default();
            }
            Some(
                Record::new(RecordKind::Guest, r.key.clone(), &card.name, &card).on(
                    r.node.as_deref(),
                    r.vmid.map(|v| v as u64),
                    r.at,
                ),
            )
        })
        .collect();
    plan_records(
        RecordKind::Guest,
        endpoint_id,
        WhenGone::Keep,
        stored,
        wanted,
        |_| false,
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::sync::inventory::Record;

    fn card(mac: &str, agent: &[&str]) -> GuestRecord {
        GuestRecord {
            vmid: 100,
            kind: "qemu".into(),
            name: "web".into(),
            node: "pve1".into(),
            cluster: "lab".into(),
            status: "running".into(),
            onboot: true,
            agent: true,
            template: false,
            tags: vec![],
            pool: None,
            vcpus: Some(2.0),
            memory: Some(2048),
            disks: vec![],
            nics: vec![NicRecord {
                key: "net0".into(),
                model: Some("virtio".into()),
                mac: Some(mac.into()),
                bridge: Some("vmbr0".into()),
                vlan: None,
                addresses: vec![],
                agent_addresses: agent.iter().map(|a| a.to_string()).collect(),
            }],
            netbox_id: 7,
            ha: None,
        }
    }

    fn stored(card: &GuestRecord) -> StoredRecord {
        let row = Record::new(RecordKind::Guest, "qemu/100", "web", card)
            .on(Some("pve1"), Some(100), None)
            .row;
        StoredRecord {
            key: row.key,
            node: row.node,
            vmid: row.vmid,
            at: row.at,
            body: row.body,
            ..Default::default()
        }
    }

    #[test]
    fn agent_addresses_stay_with_their_nic_and_change_only_when_the_agent_says() {
        let before = card("BC:24:11:00:00:01", &["10.0.0.5/24"]);
        let mut again = card("BC:24:11:00:00:01", &[]);
        keep_agent_addresses(&mut again, Some(&before));
        assert_eq!(
            again, before,
            "the virtual-machines stage keeps what the agent said"
        );
        let mut new_mac = card("BC:24:11:00:00:02", &[]);
        keep_agent_addresses(&mut new_mac, Some(&before));
        assert!(
            new_mac.nics[0].agent_addresses.is_empty(),
            "another NIC: nothing known"
        );

        let rows = [stored(&before)];
        let same: AgentAddresses = [(
            ("qemu".to_string(), 100),
            [("net0".to_string(), vec!["10.0.0.5/24".to_string()])].into(),
        )]
        .into();
        assert!(plan_agent_addresses(1, &rows, &same).writes_nothing());
        let moved: AgentAddresses = [(
            ("qemu".to_string(), 100),
            [("net0".to_string(), vec!["10.0.0.9/24".to_string()])].into(),
        )]
        .into();
        let plan = plan_agent_addresses(1, &rows, &moved);
        assert_eq!(plan.updates.len(), 1);
        let updated: GuestRecord = serde_json::from_str(&plan.updates[0].row.body).unwrap();
        assert_eq!(
            updated.nics[0].agent_addresses,
            vec!["10.0.0.9/24".to_string()]
        );
        assert!(
            plan_agent_addresses(1, &rows, &AgentAddresses::new()).writes_nothing(),
            "a guest whose agent did not answer keeps its card"
        );
    }
}
