//! `node-interfaces`: each node's network (`/nodes/{node}/network`) as NetBox interfaces on
//! the node's device — NICs, bridges with their ports, bonds (LAGs) with their members,
//! VLAN interfaces on their parent in 802.1Q access mode — with their addresses, and the
//! node's address in `/cluster/status` as the device's primary IP. Interfaces Proxbox made
//! that Proxmox no longer lists are removed; an operator's own (without the proxbox tag)
//! stay. A node that is offline or whose network cannot be read keeps what NetBox has.
//!
//! Five plans in turn, each needing the ids the one before wrote: VLANs, interfaces, the
//! links between interfaces made in this run, addresses, and the devices' primary IPs.

pub mod network;
mod read;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use proxbox_netbox::models::*;

use crate::events::StepStatus;
use crate::server::sync::addresses::{self, host, Reported, Reporting};
use crate::server::sync::adopt::AdoptedBy;
use crate::server::sync::apply::{self, Target, Writer};
use crate::server::sync::context::SyncContext;
use crate::server::sync::failure::StageError;
use crate::server::sync::managed::{adoption_tags, is_managed, tags};
use crate::server::sync::overwrite::{Field, Overwrite, OverwritePolicy};
use crate::server::sync::plan::{is_planned, Label, Plan};
use crate::server::sync::report::StageReport;
use crate::server::sync::state::{RunState, WrittenAddress};
use crate::server::sync::vlans::plan_vlans;
use network::WantedInterface;

/// A node's network as Proxmox reports it, on the NetBox device the node became.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeNetwork {
    pub node: String,
    pub device: u64,
    pub interfaces: Vec<WantedInterface>,
    /// The node's address in `/cluster/status`: the device's primary IP.
    pub address: Option<IpAddr>,
    /// The VRF of its addresses (a mapping rule's); `None`: the global table.
    pub vrf: Option<u64>,
}

/// What the stage read.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub nodes: Vec<NodeNetwork>,
    /// Nodes whose network was not read (offline, or the read failed): left as they are.
    pub unread: Vec<(Label, Option<StageError>)>,
    /// NetBox's interfaces on the devices of `nodes`.
    pub existing: Vec<Interface>,
    /// NetBox's VLANs of the VIDs the VLAN interfaces name.
    pub vlans: Vec<Vlan>,
    /// NetBox's addresses on `existing`.
    pub assigned: Vec<IpAddress>,
    /// Whoever holds an address that is not yet on its interface.
    pub holders: Vec<HeldAddress>,
    /// Each device's primary IPv4 and IPv6 as NetBox has them.
    pub primary_ips: HashMap<u64, (Option<u64>, Option<u64>)>,
}

/// An interface of the plan: (node index, interface index).
pub type Key = (usize, usize);

fn label(node: &NodeNetwork, interface: &str) -> Label {
    Label::new(
        format!("{}/{interface}", node.node),
        "interface",
        "node interface",
    )
}

/// The VIDs the VLAN interfaces name.
pub fn vids(nodes: &[NodeNetwork]) -> BTreeSet<u16> {
    nodes
        .iter()
        .flat_map(|n| n.interfaces.iter().filter_map(|i| i.vid))
        .collect()
}

/// NetBox's interfaces per device, by name.
fn by_device(existing: &[Interface]) -> HashMap<u64, HashMap<&str, &Interface>> {
    let mut on_device: HashMap<u64, HashMap<&str, &Interface>> = HashMap::new();
    for interface in existing {
        on_device
            .entry(interface.device.id)
            .or_default()
            .insert(interface.name.as_str(), interface);
    }
    on_device
}

/// The interfaces Proxbox made on a node's device that Proxmox no longer lists, by id.
fn stale<'a>(
    node: &NodeNetwork,
    on_device: Option<&HashMap<&str, &'a Interface>>,
) -> Vec<&'a Interface> {
    let listed: HashSet<&str> = node.interfaces.iter().map(|i| i.name.as_str()).collect();
    let mut stale: Vec<&Interface> = on_device
        .into_iter()
        .flat_map(|c| c.values().copied())
        .filter(|i| is_managed(&i.tags) && !listed.contains(i.name.as_str()))
        .collect();
    stale.sort_by_key(|i| i.id);
    stale
}

/// The relations of `wanted` as ids: `Some(id)` for an interface NetBox has (`ids`), `None`
/// for no relation; an unresolved name (an interface this run creates) is left out.
struct Relations {
    parent: Option<Option<u64>>,
    bridge: Option<Option<u64>>,
    lag: Option<Option<u64>>,
}

fn relations(wanted: &WantedInterface, ids: impl Fn(&str) -> Option<u64>) -> Relations {
    let resolve = |name: &Option<String>| match name {
        None => Some(None),
        Some(name) => ids(name).map(Some),
    };
    Relations {
        parent: resolve(&wanted.parent),
        bridge: resolve(&wanted.bridge),
        lag: resolve(&wanted.lag),
    }
}

/// Each Proxmox interface on its node's device: created, or corrected where the policy owns
/// interfaces (with its relations to interfaces NetBox already has); stale managed ones on
/// the devices of read nodes removed.
pub fn plan_interfaces(
    inputs: &Inputs,
    vlan_ids: &HashMap<u16, u64>,
    policy: &OverwritePolicy,
) -> Plan<InterfaceWrite, Key> {
    let mut plan = Plan::new("node interfaces");
    for (label, error) in &inputs.unread {
        match error {
            Some(error) => plan.fail(label.clone(), None, error.clone()),
            None => plan.leave(label.clone(), None),
        }
    }
    let on_device = by_device(&inputs.existing);
    let owns = policy.rule(Field::Interfaces) == Overwrite::Always;
    for (node_index, node) in inputs.nodes.iter().enumerate() {
        let current = on_device.get(&node.device);
        let existing = |name: &str| current.and_then(|c| c.get(name)).copied();
        for (index, wanted) in node.interfaces.iter().enumerate() {
            let key = (node_index, index);
            let label = label(node, &wanted.name);
            let vlan = wanted.vid.and_then(|vid| vlan_ids.get(&vid).copied());
            let mode = vlan.map(|_| "access".to_string());
            let Some(interface) = existing(&wanted.name) else {
                plan.create(
                    key,
                    label,
                    InterfaceWrite {
                        device: Some(node.device),
                        name: Some(wanted.name.clone()),
                        kind: Some(wanted.kind.into()),
                        enabled: Some(wanted.enabled),
                        mtu: wanted.mtu,
                        description: Some(wanted.description.clone()),
                        mode: mode.map(Some),
                        untagged_vlan: vlan.map(Some),
                        tags: tags(),
                        ..Default::default()
                    },
                );
                continue;
            };
            let own = |changed: bool| changed && owns;
            let linked = relations(wanted, |name| existing(name).map(|i| i.id));
            let differs = |want: Option<Option<u64>>, have: &Option<Ref>| {
                want.filter(|w| own(*w != have.as_ref().map(|r| r.id)))
            };
            let current_mode = interface.mode.as_ref().map(|m| m.value.clone());
            let current_vlan = interface.untagged_vlan.as_ref().map(|v| v.id);
            let patch = InterfaceWrite {
                id: Some(interface.id),
                kind: own(interface.kind.value != wanted.kind).then(|| wanted.kind.into()),
                enabled: own(interface.enabled != wanted.enabled).then_some(wanted.enabled),
                mtu: own(interface.mtu != wanted.mtu)
                    .then_some(wanted.mtu)
                    .flatten(),
                description: policy.update(
                    Field::Description,
                    &interface.description,
                    wanted.description.clone(),
                ),
                parent: differs(linked.parent, &interface.parent),
                bridge: differs(linked.bridge, &interface.bridge),
                lag: differs(linked.lag, &interface.lag),
                mode: own(current_mode != mode).then_some(mode),
                untagged_vlan: own(current_vlan != vlan).then_some(vlan),
                tags: adoption_tags(&interface.tags),
                ..Default::default()
            };
            let label = match patch.tags {
                Some(_) => label.adopted(AdoptedBy::NameOnParent.words()),
                None => label,
            };
            plan.update(key, label, interface.id, patch);
        }
        for interface in stale(node, current) {
            plan.delete(label(node, &interface.name), interface.id);
        }
    }
    plan
}

/// The relations between interfaces that name one this run made: part of its creation (a
/// link), also where the other end existed before (a bond made over existing NICs).
pub fn plan_links(
    inputs: &Inputs,
    settled: &HashMap<Key, u64>,
    fresh: &HashSet<u64>,
) -> Plan<InterfaceWrite> {
    let on_device = by_device(&inputs.existing);
    let mut plan = Plan::new("links between node interfaces");
    for (node_index, node) in inputs.nodes.iter().enumerate() {
        let id_of = |name: &str| {
            let index = node.interfaces.iter().position(|i| i.name == name)?;
            settled.get(&(node_index, index)).copied()
        };
        let is_new = |id: u64| fresh.contains(&id) || is_planned(id);
        for (index, wanted) in node.interfaces.iter().enumerate() {
            let Some(id) = settled.get(&(node_index, index)).copied() else {
                continue;
            };
            let current = on_device
                .get(&node.device)
                .and_then(|c| c.get(wanted.name.as_str()));
            let has = |r: Option<&Option<Ref>>| r.and_then(|r| r.as_ref().map(|r| r.id));
            let linked = relations(wanted, id_of);
            // Only what plan_interfaces could not set: a relation to or from a new interface.
            let link = |want: Option<Option<u64>>, have: Option<u64>| {
                want.flatten()
                    .filter(|w| Some(*w) != have && (is_new(id) || is_new(*w)))
                    .map(Some)
            };
            let patch = InterfaceWrite {
                id: Some(id),
                parent: link(linked.parent, has(current.map(|c| &c.parent))),
                bridge: link(linked.bridge, has(current.map(|c| &c.bridge))),
                lag: link(linked.lag, has(current.map(|c| &c.lag))),
                ..Default::default()
            };
            if patch.parent.is_some() || patch.bridge.is_some() || patch.lag.is_some() {
                plan.link((), label(node, &wanted.name), id, patch);
            }
        }
    }
    plan
}

/// One [`Reporting`] per interface NetBox holds for a read node — its Proxmox addresses, or
/// none for a stale one (whose addresses Proxbox made go with it) — and the node (index in
/// `inputs.nodes`) of each.
pub fn reportings(inputs: &Inputs, settled: &HashMap<Key, u64>) -> (Vec<Reporting>, Vec<usize>) {
    let on_device = by_device(&inputs.existing);
    let mut reportings = Vec::new();
    let mut node_of = Vec::new();
    for (node_index, node) in inputs.nodes.iter().enumerate() {
        for (index, wanted) in node.interfaces.iter().enumerate() {
            if let Some(id) = settled.get(&(node_index, index)) {
                reportings.push(Reporting {
                    interface_id: *id,
                    assigned_type: DCIM_INTERFACE,
                    label: format!("{}/{}", node.node, wanted.name),
                    addresses: wanted.addresses.clone(),
                    vrf: node.vrf,
                    owner: node.device,
                });
                node_of.push(node_index);
            }
        }
        for interface in stale(node, on_device.get(&node.device)) {
            reportings.push(Reporting {
                interface_id: interface.id,
                assigned_type: DCIM_INTERFACE,
                label: format!("{}/{}", node.node, interface.name),
                addresses: Vec::new(),
                vrf: node.vrf,
                owner: node.device,
            });
            node_of.push(node_index);
        }
    }
    (reportings, node_of)
}

/// The node's address (from `/cluster/status`) as its device's primary IP of that family,
/// where it is on one of the node's interfaces now.
pub fn plan_primary(
    inputs: &Inputs,
    node_of: &[usize],
    settled: &[(Reported, u64)],
    policy: &OverwritePolicy,
) -> Plan<DeviceWrite> {
    let mut plan = Plan::new("primary addresses");
    if policy.rule(Field::Addresses) != Overwrite::Always {
        return plan;
    }
    for (node_index, node) in inputs.nodes.iter().enumerate() {
        let Some(address) = node.address else {
            continue;
        };
        let Some(ip_id) = settled.iter().find_map(|((reporting, cidr), id)| {
            (node_of[*reporting] == node_index && host(cidr) == Some(address)).then_some(*id)
        }) else {
            continue;
        };
        let (have4, have6) = inputs
            .primary_ips
            .get(&node.device)
            .copied()
            .unwrap_or_default();
        let patch = match address {
            IpAddr::V4(_) if have4 != Some(ip_id) => DeviceWrite {
                id: Some(node.device),
                primary_ip4: Some(Some(ip_id)),
                ..Default::default()
            },
            IpAddr::V6(_) if have6 != Some(ip_id) => DeviceWrite {
                id: Some(node.device),
                primary_ip6: Some(Some(ip_id)),
                ..Default::default()
            },
            _ => continue,
        };
        plan.update(
            (),
            Label::new(node.node.clone(), "primary_ip", "primary address of"),
            node.device,
            patch,
        );
    }
    plan
}

/// Plans and writes VLANs, interfaces, links, addresses and primary IPs in turn.
pub async fn write<T: Target>(
    writer: &Writer<'_, T>,
    report: &mut StageReport<'_>,
    inputs: &Inputs,
    policy: &OverwritePolicy,
    settled_vlans: &mut HashMap<u16, u64>,
) -> Result<Vec<(u64, Option<u64>, String)>, StageError> {
    let (mut vlan_ids, plan) = plan_vlans(&vids(&inputs.nodes), &inputs.vlans, settled_vlans);
    let applied = apply::write::<Vlan, _, _, _>(writer, report, &plan).await?;
    vlan_ids.extend(applied.settled().map(|(vid, id)| (*vid, id)));
    settled_vlans.extend(&vlan_ids);

    let plan = plan_interfaces(inputs, &vlan_ids, policy);
    let applied = apply::write::<Interface, _, _, _>(writer, report, &plan).await?;
    let fresh: HashSet<u64> = applied.created.iter().filter_map(|(_, id)| *id).collect();
    let settled: HashMap<Key, u64> = applied.existing().map(|(key, id)| (*key, id)).collect();

    let plan = plan_links(inputs, &settled, &fresh);
    apply::write::<Interface, _, _, _>(writer, report, &plan).await?;

    let (reportings, node_of) = reportings(inputs, &settled);
    let (plan, reported) =
        addresses::plan_addresses(&reportings, &inputs.assigned, &inputs.holders, policy);
    let applied = apply::write::<IpAddress, _, _, _>(writer, report, &plan).await?;
    let settled = addresses::settle(&reported, &applied);
    let plan = plan_primary(inputs, &node_of, &settled, policy);
    apply::write::<Device, _, _, _>(writer, report, &plan).await?;
    // Each address left on a node: its device, its VRF.
    Ok(settled
        .iter()
        .map(|((reporting, address), _)| {
            let r = &reportings[*reporting];
            (r.owner, r.vrf, address.clone())
        })
        .collect())
}

pub async fn run(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &mut RunState,
) -> Result<(), StageError> {
    let inputs = read::read(ctx, report, state).await?;
    report.substep(
        "apply",
        StepStatus::Started,
        "Writing VLANs, node interfaces and their addresses",
    );
    let written = write(
        &ctx.writer(),
        report,
        &inputs,
        &ctx.policy,
        &mut state.vlans,
    )
    .await?;
    for (device, vrf, address) in written {
        let cluster = state
            .clusters
            .iter()
            .find(|c| c.devices.values().any(|d| *d == device));
        if let Some(cluster) = cluster {
            state.addresses.push(WrittenAddress {
                endpoint_id: cluster.endpoint_id,
                vrf,
                address,
            });
        }
    }
    report.substep("apply", StepStatus::Completed, "Node interfaces written");
    Ok(())
}

#[cfg(test)]
mod tests;
