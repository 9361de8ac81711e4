//! `vm-interfaces`: each `netN` of a guest becomes a NetBox VM interface of that name, with
//! its MAC address (a MACAddress object, the interface's primary MAC) and, for `tag=`, an
//! untagged VLAN in access mode. Interfaces Proxbox made that are gone from the guest are
//! removed; interfaces an operator added by hand (without the proxbox tag) stay.

use std::collections::{BTreeSet, HashMap, HashSet};

use proxbox_netbox::models::*;
use proxbox_pve::NetDevice;

use super::devices::{is_managed, tags, PROXBOX_TAG};
use crate::events::{ItemStatus, StepStatus};
use crate::server::sync::apply::{self, Label, Write};
use crate::server::sync::context::{is_planned, StageError, SyncContext};
use crate::server::sync::overwrite::{Field, Overwrite};
use crate::server::sync::report::StageReport;
use crate::server::sync::run::RunState;

/// A guest interface as NetBox has it after this stage, for the ip-addresses stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedInterface {
    /// Index of the guest in `RunState::guests`.
    pub guest: usize,
    /// `net0`…
    pub key: String,
    pub netbox_id: u64,
    /// Upper-case, as the guest config has it.
    pub mac: Option<String>,
}

fn description(net: &NetDevice) -> String {
    let mut text = net.model.clone().unwrap_or_else(|| "NIC".into());
    if let Some(bridge) = &net.bridge {
        text.push_str(" on ");
        text.push_str(bridge);
    }
    text
}

/// The global VLANs Proxbox uses for `tag=`, by VID; missing ones are created.
async fn vlans(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    vids: BTreeSet<u16>,
) -> Result<HashMap<u16, u64>, StageError> {
    let mut found: HashMap<u16, u64> = HashMap::new();
    if vids.is_empty() {
        return Ok(found);
    }
    let wanted: Vec<u16> = vids.iter().copied().collect();
    for vlan in ctx.netbox.list_in::<Vlan, _>("vid", &wanted).await? {
        if is_managed(&vlan.tags) {
            found.entry(vlan.vid).or_insert(vlan.id);
        }
    }
    let missing: Vec<Write<NewVlan>> = vids
        .iter()
        .filter(|vid| !found.contains_key(vid))
        .map(|vid| Write {
            label: Label::new(format!("VLAN {vid}"), "vlan", "VLAN"),
            id: None,
            body: NewVlan {
                vid: *vid,
                name: format!("Proxmox VLAN {vid}"),
                status: "active".into(),
                tags: vec![TagRef {
                    slug: PROXBOX_TAG.into(),
                }],
            },
        })
        .collect();
    report.expect_more(missing.len());
    let ids = apply::create::<Vlan, _>(ctx, report, &missing).await?;
    for (write, id) in missing.iter().zip(ids) {
        if let Some(id) = id {
            found.insert(write.body.vid, id);
        }
    }
    Ok(found)
}

pub async fn run(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &mut RunState,
) -> Result<(), StageError> {
    report.substep(
        "read-netbox",
        StepStatus::Started,
        "Reading the interfaces and MAC addresses of the synced guests",
    );
    let vm_ids = state.vm_ids();
    let existing: Vec<VmInterface> = ctx.read_in("virtual_machine_id", &vm_ids).await?;
    let interface_ids: Vec<u64> = existing.iter().map(|i| i.id).collect();
    let macs: Vec<MacAddress> = ctx.read_in("vminterface_id", &interface_ids).await?;
    report.substep(
        "read-netbox",
        StepStatus::Completed,
        format!(
            "{} interfaces, {} MAC addresses",
            existing.len(),
            macs.len()
        ),
    );
    let mut on_vm: HashMap<u64, Vec<&VmInterface>> = HashMap::new();
    for interface in &existing {
        on_vm
            .entry(interface.virtual_machine.id)
            .or_default()
            .push(interface);
    }
    let vids: BTreeSet<u16> = state
        .guests
        .iter()
        .flat_map(|g| g.nets.iter().filter_map(|n| n.vlan))
        .collect();
    let total_nets: usize = state.guests.iter().map(|g| g.nets.len()).sum();
    report.expect(total_nets);
    let vlan_ids = vlans(ctx, report, vids).await?;

    // (guest, net) of each planned interface write, to find it again after the write.
    let mut creates: Vec<((usize, usize), Write<VmInterfaceWrite>)> = Vec::new();
    let mut updates: Vec<Write<VmInterfaceWrite>> = Vec::new();
    let mut deletes: Vec<(Label, u64)> = Vec::new();
    let mut synced: Vec<SyncedInterface> = Vec::new();
    let policy = &ctx.policy;
    for (guest_index, guest) in state.guests.iter().enumerate() {
        let current = on_vm.get(&guest.vm_id).cloned().unwrap_or_default();
        let label =
            |key: &str| Label::new(format!("{}/{key}", guest.name), "interface", "VM interface");
        for (net_index, net) in guest.nets.iter().enumerate() {
            let vlan = net.vlan.and_then(|vid| vlan_ids.get(&vid).copied());
            let mode = vlan.map(|_| "access".to_string());
            match current.iter().find(|i| i.name == net.key) {
                Some(interface) => {
                    let own = |changed: bool| {
                        changed && policy.rule(Field::Interfaces) == Overwrite::Always
                    };
                    let current_vlan = interface.untagged_vlan.as_ref().map(|v| v.id);
                    let current_mode = interface.mode.as_ref().map(|m| m.value.clone());
                    let patch = VmInterfaceWrite {
                        id: Some(interface.id),
                        enabled: own(interface.enabled == net.link_down).then_some(!net.link_down),
                        mtu: own(interface.mtu != net.mtu).then_some(net.mtu).flatten(),
                        untagged_vlan: own(current_vlan != vlan).then_some(vlan),
                        mode: own(current_mode != mode).then_some(mode),
                        ..Default::default()
                    };
                    synced.push(SyncedInterface {
                        guest: guest_index,
                        key: net.key.clone(),
                        netbox_id: interface.id,
                        mac: net.mac.clone(),
                    });
                    if patch
                        == (VmInterfaceWrite {
                            id: Some(interface.id),
                            ..Default::default()
                        })
                    {
                        report.labeled(
                            &label(&net.key),
                            ItemStatus::Skipped,
                            Some(interface.id),
                            None,
                        );
                    } else {
                        updates.push(Write {
                            label: label(&net.key),
                            id: Some(interface.id),
                            body: patch,
                        });
                    }
                }
                None => creates.push((
                    (guest_index, net_index),
                    Write {
                        label: label(&net.key),
                        id: None,
                        body: VmInterfaceWrite {
                            virtual_machine: Some(guest.vm_id),
                            name: Some(net.key.clone()),
                            enabled: Some(!net.link_down),
                            mtu: net.mtu,
                            mode: mode.clone().map(Some),
                            untagged_vlan: vlan.map(Some),
                            description: Some(description(net)),
                            tags: tags(),
                            ..Default::default()
                        },
                    },
                )),
            }
        }
        for stale in current
            .iter()
            .filter(|i| is_managed(&i.tags) && !guest.nets.iter().any(|n| n.key == i.name))
        {
            deletes.push((label(&stale.name), stale.id));
        }
    }
    report.expect_more(deletes.len());

    report.substep(
        "apply",
        StepStatus::Started,
        format!(
            "{} interfaces to create, {} to update, {} to remove",
            creates.len(),
            updates.len(),
            deletes.len()
        ),
    );
    let batch: Vec<Write<VmInterfaceWrite>> = creates.iter().map(|(_, w)| w.clone()).collect();
    let created = apply::create::<VmInterface, _>(ctx, report, &batch).await?;
    let mut fresh: HashSet<u64> = HashSet::new();
    for (((guest_index, net_index), _), id) in creates.iter().zip(created) {
        if let Some(id) = id {
            let net = &state.guests[*guest_index].nets[*net_index];
            fresh.insert(id);
            synced.push(SyncedInterface {
                guest: *guest_index,
                key: net.key.clone(),
                netbox_id: id,
                mac: net.mac.clone(),
            });
        }
    }
    apply::update::<VmInterface, _>(ctx, report, &updates).await?;
    apply::delete::<VmInterface>(ctx, report, &deletes).await?;
    sync_macs(ctx, report, state, &synced, &existing, &macs, &fresh).await?;
    report.substep("apply", StepStatus::Completed, "Interfaces written");
    synced.sort_by_key(|i| (i.guest, i.key.clone()));
    state.interfaces = synced;
    Ok(())
}

/// Each interface's MAC as a MACAddress object assigned to it and set as its primary MAC.
async fn sync_macs(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &RunState,
    synced: &[SyncedInterface],
    existing: &[VmInterface],
    macs: &[MacAddress],
    fresh: &HashSet<u64>,
) -> Result<(), StageError> {
    let mut on_interface: HashMap<u64, Vec<&MacAddress>> = HashMap::new();
    for mac in macs {
        if let Some(id) = mac.assigned_object_id {
            on_interface.entry(id).or_default().push(mac);
        }
    }
    let primary_of: HashMap<u64, Option<u64>> = existing
        .iter()
        .map(|i| (i.id, i.primary_mac_address.as_ref().map(|m| m.id)))
        .collect();
    let mut creates: Vec<(usize, Write<MacAddressWrite>)> = Vec::new();
    let mut updates: Vec<Write<MacAddressWrite>> = Vec::new();
    // (interface index, MAC id) whose interface must point at the MAC.
    let mut primaries: Vec<(usize, u64)> = Vec::new();
    for (index, interface) in synced.iter().enumerate() {
        let Some(address) = &interface.mac else {
            continue;
        };
        let guest = &state.guests[interface.guest];
        let label = Label::new(
            format!("{}/{} {address}", guest.name, interface.key),
            "mac",
            "MAC address",
        );
        let assigned = on_interface
            .get(&interface.netbox_id)
            .cloned()
            .unwrap_or_default();
        if let Some(mac) = assigned
            .iter()
            .find(|m| m.mac_address.eq_ignore_ascii_case(address))
        {
            report.labeled(&label, ItemStatus::Skipped, Some(mac.id), None);
            primaries.push((index, mac.id));
        } else if let Some(mac) = assigned.iter().find(|m| is_managed(&m.tags)) {
            // The NIC got a new MAC: correct the one Proxbox made.
            updates.push(Write {
                label,
                id: Some(mac.id),
                body: MacAddressWrite {
                    id: Some(mac.id),
                    mac_address: Some(address.clone()),
                    ..Default::default()
                },
            });
            primaries.push((index, mac.id));
        } else {
            creates.push((
                index,
                Write {
                    label,
                    id: None,
                    body: MacAddressWrite {
                        mac_address: Some(address.clone()),
                        assigned_object_type: Some(VM_INTERFACE.into()),
                        assigned_object_id: Some(interface.netbox_id),
                        tags: tags(),
                        ..Default::default()
                    },
                },
            ));
        }
    }
    report.expect_more(synced.iter().filter(|i| i.mac.is_some()).count());
    let batch: Vec<Write<MacAddressWrite>> = creates.iter().map(|(_, w)| w.clone()).collect();
    let ids = apply::create::<MacAddress, _>(ctx, report, &batch).await?;
    for ((index, _), id) in creates.iter().zip(ids) {
        if let Some(id) = id {
            primaries.push((*index, id));
        }
    }
    apply::update::<MacAddress, _>(ctx, report, &updates).await?;

    // Interfaces made in this run get their primary MAC as part of their creation; an
    // existing one whose primary MAC differs is an update of its own.
    let mut links: Vec<Write<VmInterfaceWrite>> = Vec::new();
    let mut relinks: Vec<Write<VmInterfaceWrite>> = Vec::new();
    for (index, mac_id) in primaries {
        let interface = &synced[index];
        if primary_of.get(&interface.netbox_id).copied().flatten() == Some(mac_id) {
            continue;
        }
        let guest = &state.guests[interface.guest];
        let write = Write {
            label: Label::new(
                format!("{}/{}", guest.name, interface.key),
                "interface",
                "VM interface",
            ),
            id: Some(interface.netbox_id),
            body: VmInterfaceWrite {
                id: Some(interface.netbox_id),
                primary_mac_address: Some(Some(mac_id)),
                ..Default::default()
            },
        };
        if fresh.contains(&interface.netbox_id) || is_planned(interface.netbox_id) {
            links.push(write);
        } else if ctx.policy.rule(Field::Interfaces) == Overwrite::Always {
            relinks.push(write);
        }
    }
    report.expect_more(relinks.len());
    apply::link_created::<VmInterface, _>(ctx, report, &links).await?;
    apply::update::<VmInterface, _>(ctx, report, &relinks).await?;
    Ok(())
}
