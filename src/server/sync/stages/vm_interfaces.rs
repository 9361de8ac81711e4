//! `vm-interfaces`: each `netN` of a guest becomes a NetBox VM interface of that name, with
//! its MAC address (a MACAddress object, the interface's primary MAC) and, for `tag=`, an
//! untagged VLAN in access mode. Interfaces Proxbox made that are gone from the guest are
//! removed; interfaces an operator added by hand (without the proxbox tag) stay.
//!
//! Four plans in turn, each needing the ids the one before wrote: VLANs, interfaces, MAC
//! addresses, and each interface's primary MAC.

use std::collections::{BTreeSet, HashMap, HashSet};

use proxbox_netbox::models::*;
use proxbox_pve::NetDevice;

use crate::events::{Item, StepStatus};
use crate::server::sync::adopt::interfaces::{adopt_interfaces, macs_by_interface, Nic};
use crate::server::sync::adopt::{AdoptedBy, Found};
use crate::server::sync::apply::{self, Target, Writer};
use crate::server::sync::cluster_view::{sdn_vnets, VnetBridges};
use crate::server::sync::context::SyncContext;
use crate::server::sync::failure::StageError;
use crate::server::sync::managed::{adoption_tags, is_managed, tags};
use crate::server::sync::overwrite::{Field, Overwrite, OverwritePolicy};
use crate::server::sync::plan::{is_planned, Label, Plan};
use crate::server::sync::report::StageReport;
use crate::server::sync::state::{RunState, SyncedGuest, SyncedInterface};
use crate::server::sync::vlans::{plan_vlans, read_vlans};

/// What the stage read from NetBox.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub interfaces: Vec<VmInterface>,
    pub macs: Vec<MacAddress>,
    /// The VLANs of the VIDs the guests' `tag=` name.
    pub vlans: Vec<Vlan>,
    /// The NICs on SDN VNets, whose VLAN the networks stage sets.
    pub vnet_bridges: VnetBridges,
}

fn description(net: &NetDevice) -> String {
    let mut text = net.model.clone().unwrap_or_else(|| "NIC".into());
    if let Some(bridge) = &net.bridge {
        text.push_str(" on ");
        text.push_str(bridge);
    }
    text
}

fn interface_label(guest: &SyncedGuest, key: &str) -> Label {
    Label::new(format!("{}/{key}", guest.name), "interface", "VM interface")
}

/// The VIDs the guests' `tag=` name.
pub fn vids(guests: &[SyncedGuest]) -> BTreeSet<u16> {
    guests
        .iter()
        .flat_map(|g| g.nets.iter().filter_map(|n| n.vlan))
        .collect()
}

/// A VM interface per `netN`, keyed by (guest index, net index): the one that carries the
/// NIC's MAC or has its name (taken over, tagged, when another tool made it), else a new
/// one; Proxbox's interfaces no NIC took are removed.
pub fn plan_interfaces(
    guests: &[SyncedGuest],
    existing: &[VmInterface],
    macs: &[MacAddress],
    vlan_ids: &HashMap<u16, u64>,
    vnet_bridges: &VnetBridges,
    policy: &OverwritePolicy,
) -> Plan<VmInterfaceWrite, (usize, usize)> {
    let mut on_vm: HashMap<u64, Vec<&VmInterface>> = HashMap::new();
    for interface in existing {
        on_vm
            .entry(interface.virtual_machine.id)
            .or_default()
            .push(interface);
    }
    let macs = macs_by_interface(macs);
    let owns = policy.rule(Field::Interfaces) == Overwrite::Always;
    let mut plan = Plan::new("VM interfaces");
    for (guest_index, guest) in guests.iter().enumerate() {
        let current = on_vm
            .get(&guest.vm_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let nics: Vec<Nic<'_>> = guest
            .nets
            .iter()
            .map(|n| Nic {
                key: &n.key,
                mac: n.mac.as_deref(),
            })
            .collect();
        let found = adopt_interfaces(&nics, current, &macs);
        let mut taken = HashSet::new();
        for (net_index, (net, found)) in guest.nets.iter().zip(found).enumerate() {
            let leaves_vlan = vnet_bridges.leaves_vlan(guest.endpoint_id, net);
            let vlan = net.vlan.and_then(|vid| vlan_ids.get(&vid).copied());
            let mode = vlan.map(|_| "access".to_string());
            let own_vlan = |changed: bool| changed && owns && !leaves_vlan;
            let key = (guest_index, net_index);
            let label = interface_label(guest, &net.key);
            match found {
                Found::Adopted(interface, how) => {
                    taken.insert(interface.id);
                    let tags = adoption_tags(&interface.tags);
                    let label = match tags {
                        Some(_) => label.adopted(how.words()),
                        None => label,
                    };
                    let own = |changed: bool| changed && owns;
                    let current_vlan = interface.untagged_vlan.as_ref().map(|v| v.id);
                    let current_mode = interface.mode.as_ref().map(|m| m.value.clone());
                    let patch = VmInterfaceWrite {
                        id: Some(interface.id),
                        enabled: own(interface.enabled == net.link_down).then_some(!net.link_down),
                        mtu: own(interface.mtu != net.mtu).then_some(net.mtu).flatten(),
                        untagged_vlan: own_vlan(current_vlan != vlan).then_some(vlan),
                        mode: own_vlan(current_mode != mode).then_some(mode),
                        tags,
                        ..Default::default()
                    };
                    plan.update(key, label, interface.id, patch);
                }
                Found::Conflict(how, ids) => {
                    let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
                    let why = format!(
                        "{} interfaces of VM {} carry its MAC {} (NetBox ids {}): remove the \
                         MAC from all but the right one",
                        ids.len(),
                        guest.name,
                        net.mac.as_deref().unwrap_or_default(),
                        ids.join(", ")
                    );
                    debug_assert_eq!(how, AdoptedBy::Mac);
                    plan.leave(label.conflict(why), None);
                }
                Found::New => plan.create(
                    key,
                    label,
                    VmInterfaceWrite {
                        virtual_machine: Some(guest.vm_id),
                        name: Some(net.key.clone()),
                        enabled: Some(!net.link_down),
                        mtu: net.mtu,
                        mode: mode.clone().filter(|_| !leaves_vlan).map(Some),
                        untagged_vlan: vlan.filter(|_| !leaves_vlan).map(Some),
                        description: Some(description(net)),
                        tags: tags(),
                        ..Default::default()
                    },
                ),
            }
        }
        for stale in current
            .iter()
            .filter(|i| is_managed(&i.tags) && !taken.contains(&i.id))
        {
            plan.delete(interface_label(guest, &stale.name), stale.id);
        }
    }
    plan
}

fn mac_label(guest: &SyncedGuest, interface: &SyncedInterface, address: &str) -> Label {
    Label::new(
        format!("{}/{} {address}", guest.name, interface.key),
        "mac",
        "MAC address",
    )
}

/// Each interface's MAC as a MACAddress object assigned to it, keyed by the interface's
/// index in `synced`: kept when it is there, a managed one corrected when the NIC got a new
/// MAC, else created.
pub fn plan_macs(
    guests: &[SyncedGuest],
    synced: &[SyncedInterface],
    macs: &[MacAddress],
) -> Plan<MacAddressWrite, usize> {
    let mut on_interface: HashMap<u64, Vec<&MacAddress>> = HashMap::new();
    for mac in macs {
        if let Some(id) = mac.assigned_object_id {
            on_interface.entry(id).or_default().push(mac);
        }
    }
    let mut plan = Plan::new("MAC addresses");
    for (index, interface) in synced.iter().enumerate() {
        let Some(address) = &interface.mac else {
            continue;
        };
        let label = mac_label(&guests[interface.guest], interface, address);
        let assigned = on_interface
            .get(&interface.netbox_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if let Some(mac) = assigned
            .iter()
            .find(|m| m.mac_address.eq_ignore_ascii_case(address))
        {
            match adoption_tags(&mac.tags) {
                Some(tags) => {
                    let patch = MacAddressWrite {
                        id: Some(mac.id),
                        tags: Some(tags),
                        ..Default::default()
                    };
                    let label = label.adopted(AdoptedBy::AddressOnInterface.words());
                    plan.update(index, label, mac.id, patch);
                }
                None => plan.skip(index, label, mac.id),
            }
        } else if let Some(mac) = assigned.iter().find(|m| is_managed(&m.tags)) {
            let patch = MacAddressWrite {
                id: Some(mac.id),
                mac_address: Some(address.clone()),
                ..Default::default()
            };
            plan.update(index, label, mac.id, patch);
        } else {
            plan.create(
                index,
                label,
                MacAddressWrite {
                    mac_address: Some(address.clone()),
                    assigned_object_type: Some(VM_INTERFACE.into()),
                    assigned_object_id: Some(interface.netbox_id),
                    tags: tags(),
                    ..Default::default()
                },
            );
        }
    }
    plan
}

/// Each interface pointed at its MAC: part of the create for interfaces this run made
/// (`fresh`, a link), an update of its own for an existing one whose primary MAC differs.
pub fn plan_primary_macs(
    guests: &[SyncedGuest],
    synced: &[SyncedInterface],
    primaries: &[(usize, u64)],
    existing: &[VmInterface],
    fresh: &HashSet<u64>,
    policy: &OverwritePolicy,
) -> Plan<VmInterfaceWrite> {
    let primary_of: HashMap<u64, Option<u64>> = existing
        .iter()
        .map(|i| (i.id, i.primary_mac_address.as_ref().map(|m| m.id)))
        .collect();
    let mut plan = Plan::new("primary MACs");
    for (index, mac_id) in primaries {
        let interface = &synced[*index];
        if primary_of.get(&interface.netbox_id).copied().flatten() == Some(*mac_id) {
            continue;
        }
        let label = interface_label(&guests[interface.guest], &interface.key);
        let patch = VmInterfaceWrite {
            id: Some(interface.netbox_id),
            primary_mac_address: Some(Some(*mac_id)),
            ..Default::default()
        };
        if fresh.contains(&interface.netbox_id) || is_planned(interface.netbox_id) {
            plan.link((), label, interface.netbox_id, patch);
        } else if policy.rule(Field::Interfaces) == Overwrite::Always {
            plan.update((), label, interface.netbox_id, patch);
        }
    }
    plan
}

/// Plans and writes VLANs, interfaces, MACs and primary MACs in turn; returns the
/// interfaces as NetBox has them now, sorted by guest and key.
pub async fn write<T: Target>(
    writer: &Writer<'_, T>,
    report: &mut StageReport<'_>,
    guests: &[SyncedGuest],
    inputs: &Inputs,
    policy: &OverwritePolicy,
    settled_vlans: &mut HashMap<u16, u64>,
) -> Result<Vec<SyncedInterface>, StageError> {
    let (mut vlan_ids, plan) = plan_vlans(&vids(guests), &inputs.vlans, settled_vlans);
    let applied = apply::write::<Vlan, _, _, _>(writer, report, &plan).await?;
    vlan_ids.extend(applied.settled().map(|(vid, id)| (*vid, id)));
    settled_vlans.extend(&vlan_ids);

    let plan = plan_interfaces(
        guests,
        &inputs.interfaces,
        &inputs.macs,
        &vlan_ids,
        &inputs.vnet_bridges,
        policy,
    );
    let applied = apply::write::<VmInterface, _, _, _>(writer, report, &plan).await?;
    let fresh: HashSet<u64> = applied.created.iter().filter_map(|(_, id)| *id).collect();
    let mut synced: Vec<SyncedInterface> = applied
        .existing()
        .map(|((guest_index, net_index), netbox_id)| {
            let net = &guests[*guest_index].nets[*net_index];
            SyncedInterface {
                guest: *guest_index,
                key: net.key.clone(),
                netbox_id,
                mac: net.mac.clone(),
            }
        })
        .collect();
    synced.sort_by(|a, b| (a.guest, &a.key).cmp(&(b.guest, &b.key)));

    let plan = plan_macs(guests, &synced, &inputs.macs);
    let applied = apply::write::<MacAddress, _, _, _>(writer, report, &plan).await?;
    let primaries: Vec<(usize, u64)> = applied.existing().map(|(i, id)| (*i, id)).collect();
    let plan = plan_primary_macs(
        guests,
        &synced,
        &primaries,
        &inputs.interfaces,
        &fresh,
        policy,
    );
    apply::write::<VmInterface, _, _, _>(writer, report, &plan).await?;
    Ok(synced)
}

pub async fn run(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &mut RunState,
) -> Result<(), StageError> {
    report.discover(
        "VM interfaces",
        state
            .guests
            .iter()
            .flat_map(|g| {
                g.nets
                    .iter()
                    .map(|n| Item::new(format!("{}/{}", g.name, n.key), "interface"))
            })
            .collect(),
    );
    let mut inputs = read(ctx, report, state).await?;
    for source in &ctx.sources {
        match sdn_vnets(state, source).await {
            Ok(vnets) => inputs.vnet_bridges.read(source.endpoint_id, Some(&vnets)),
            Err(e) => {
                report.substep(
                    "read-proxmox",
                    StepStatus::Failed,
                    format!(
                        "{}: the SDN VNets could not be read, so the VLAN of NICs without a tag is left as it is: {e}",
                        source.endpoint_name
                    ),
                );
                inputs.vnet_bridges.read(source.endpoint_id, None);
            }
        }
    }
    report.substep(
        "apply",
        StepStatus::Started,
        "Writing VLANs, interfaces and MAC addresses",
    );
    let mut vlans = std::mem::take(&mut state.vlans);
    let synced = write(
        &ctx.writer(),
        report,
        &state.guests,
        &inputs,
        &ctx.policy,
        &mut vlans,
    )
    .await;
    state.vlans = vlans;
    let synced = synced?;
    report.substep("apply", StepStatus::Completed, "Interfaces written");
    state.interfaces = synced;
    Ok(())
}

/// NetBox's interfaces and MAC addresses of the synced guests, and the VLANs they name.
pub async fn read(
    ctx: &SyncContext<'_>,
    report: &StageReport<'_>,
    state: &RunState,
) -> Result<Inputs, StageError> {
    report.substep(
        "read-netbox",
        StepStatus::Started,
        "Reading the interfaces and MAC addresses of the synced guests",
    );
    let wanted = vids(&state.guests);
    let vm_ids = state.vm_ids();
    let (interfaces, vlans) = tokio::try_join!(
        async {
            Ok(ctx
                .read_in::<VmInterface>("virtual_machine_id", &vm_ids)
                .await?)
        },
        read_vlans(ctx, &wanted),
    )?;
    let interface_ids: Vec<u64> = interfaces.iter().map(|i| i.id).collect();
    let macs: Vec<MacAddress> = ctx.read_in("vminterface_id", &interface_ids).await?;
    report.substep(
        "read-netbox",
        StepStatus::Completed,
        format!(
            "{} interfaces, {} MAC addresses",
            interfaces.len(),
            macs.len()
        ),
    );
    Ok(Inputs {
        interfaces,
        macs,
        vlans,
        vnet_bridges: VnetBridges::default(),
    })
}

#[cfg(test)]
#[path = "vm_interfaces_tests.rs"]
mod tests;
