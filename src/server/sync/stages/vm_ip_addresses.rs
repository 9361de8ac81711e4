//! `vm-ip-addresses`: the addresses of each guest interface — from the QEMU guest agent
//! (`network-get-interfaces`, matched to `netN` by MAC) or from LXC's static `ip=` /
//! `ip6=` — become NetBox IP addresses on that interface, and the first IPv4 / IPv6 of a
//! guest its primary addresses. An address that NetBox already holds on an object Proxbox
//! does not manage is never taken over. A guest whose agent does not answer keeps what
//! NetBox has: an unknown list of addresses is not an empty one.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use proxbox_netbox::models::*;
use proxbox_pve::{AgentInterface, GuestKind, PveError};

use crate::events::{Item, StepStatus};
use crate::server::sync::apply::{self, Applied};
use crate::server::sync::context::SyncContext;
use crate::server::sync::failure::StageError;
use crate::server::sync::managed::{is_managed, tags};
use crate::server::sync::overwrite::{Field, Overwrite, OverwritePolicy};
use crate::server::sync::plan::{Label, Plan};
use crate::server::sync::report::StageReport;
use crate::server::sync::state::{RunState, SyncedGuest, SyncedInterface};

/// The host part of a CIDR address (`10.0.0.5/24` → `10.0.0.5`), parsed.
fn host(cidr: &str) -> Option<IpAddr> {
    cidr.split('/').next()?.parse().ok()
}

/// Addresses worth recording: not loopback, not link-local, not unspecified.
fn is_recordable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_loopback() || v4.is_link_local() || v4.is_unspecified()),
        IpAddr::V6(v6) => {
            !(v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// With a prefix length: NetBox stores addresses in CIDR form.
fn with_prefix(address: &str) -> String {
    if address.contains('/') {
        address.to_string()
    } else if address.contains(':') {
        format!("{address}/128")
    } else {
        format!("{address}/32")
    }
}

/// What a guest's addresses are, per interface index in `RunState::interfaces`.
#[derive(Debug)]
pub enum Found {
    Known(Vec<(usize, String)>),
    /// The agent could not be asked; NetBox's addresses of this guest stay as they are.
    Unknown(PveError),
}

async fn agent_addresses(
    ctx: &SyncContext<'_>,
    state: &RunState,
) -> HashMap<usize, Result<Vec<AgentInterface>, PveError>> {
    let mut asks = tokio::task::JoinSet::new();
    for (index, guest) in state.guests.iter().enumerate() {
        if guest.kind != GuestKind::Qemu || !guest.agent || !guest.running {
            continue;
        }
        let Some(source) = ctx
            .sources
            .iter()
            .find(|s| s.endpoint_id == guest.endpoint_id)
        else {
            continue;
        };
        let (pve, node, vmid) = (source.pve.clone(), guest.node.clone(), guest.vmid);
        asks.spawn(async move {
            (
                index,
                pve.agent_interfaces(&node, vmid).await.map(|p| p.value),
            )
        });
    }
    let mut answers = HashMap::new();
    while let Some(joined) = asks.join_next().await {
        if let Ok((index, answer)) = joined {
            answers.insert(index, answer);
        }
    }
    answers
}

/// Each guest's addresses, per interface: LXC's from its config, QEMU's from the agent's
/// answers (by guest index), matched to `netN` by MAC.
pub fn found_addresses(
    guests: &[SyncedGuest],
    interfaces: &[SyncedInterface],
    mut agent: HashMap<usize, Result<Vec<AgentInterface>, PveError>>,
) -> HashMap<usize, Found> {
    let mut found: HashMap<usize, Found> = HashMap::new();
    for (iface_index, interface) in interfaces.iter().enumerate() {
        let guest = &guests[interface.guest];
        let net = guest.nets.iter().find(|n| n.key == interface.key);
        let addresses: Vec<String> = match guest.kind {
            GuestKind::Lxc => net
                .into_iter()
                .flat_map(|n| [n.ip.clone(), n.ip6.clone()])
                .flatten()
                .collect(),
            GuestKind::Qemu => match agent.get(&interface.guest) {
                Some(Ok(reported)) => reported
                    .iter()
                    .filter(|a| {
                        a.mac.as_deref().zip(interface.mac.as_deref()).is_some_and(
                            |(reported, configured)| reported.eq_ignore_ascii_case(configured),
                        )
                    })
                    .flat_map(|a| {
                        a.addresses.iter().map(|ip| match ip.prefix {
                            Some(prefix) => format!("{}/{prefix}", ip.address),
                            None => with_prefix(&ip.address),
                        })
                    })
                    .collect(),
                Some(Err(_)) => {
                    if let Some(Err(e)) = agent.remove(&interface.guest) {
                        found.insert(interface.guest, Found::Unknown(e));
                    }
                    continue;
                }
                // No agent, or a stopped guest: nothing is known about its addresses
                // (or the agent already failed for this guest).
                None => continue,
            },
        };
        let addresses = addresses
            .into_iter()
            .filter(|a| host(a).is_some_and(is_recordable))
            .map(|a| (iface_index, a));
        match found
            .entry(interface.guest)
            .or_insert_with(|| Found::Known(Vec::new()))
        {
            Found::Known(list) => list.extend(addresses),
            Found::Unknown(_) => {}
        }
    }
    found
}

/// What the stage read.
#[derive(Debug, Default)]
pub struct Inputs {
    /// Each guest's addresses, by guest index (guests without an answer are absent).
    pub found: HashMap<usize, Found>,
    /// NetBox's addresses on the synced interfaces.
    pub assigned: Vec<IpAddress>,
    /// Whoever holds an address that is not yet on its interface.
    pub holders: Vec<IpAddress>,
}

impl Inputs {
    fn known(&self) -> impl Iterator<Item = (&usize, &Vec<(usize, String)>)> {
        self.found.iter().filter_map(|(guest, f)| match f {
            Found::Known(list) => Some((guest, list)),
            Found::Unknown(_) => None,
        })
    }
}

fn by_interface(ips: &[IpAddress]) -> HashMap<u64, Vec<&IpAddress>> {
    let mut on_interface: HashMap<u64, Vec<&IpAddress>> = HashMap::new();
    for ip in ips {
        if let Some(id) = ip.assigned_object_id {
            on_interface.entry(id).or_default().push(ip);
        }
    }
    on_interface
}

/// The hosts of reported addresses that are not yet on their interface: the only ones whose
/// holder elsewhere matters (none on a resync with nothing changed).
pub fn new_hosts(
    interfaces: &[SyncedInterface],
    found: &HashMap<usize, Found>,
    assigned: &[IpAddress],
) -> Vec<String> {
    let on_interface = by_interface(assigned);
    let mut hosts: Vec<String> = found
        .values()
        .filter_map(|f| match f {
            Found::Known(list) => Some(list),
            Found::Unknown(_) => None,
        })
        .flatten()
        .filter(|(iface_index, address)| {
            let on = on_interface.get(&interfaces[*iface_index].netbox_id);
            !on.is_some_and(|ips| ips.iter().any(|ip| host(&ip.address) == host(address)))
        })
        .filter_map(|(_, a)| host(a).map(|h| h.to_string()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    hosts.sort();
    hosts
}

/// A reported address and the interface (index in `RunState::interfaces`) it belongs on,
/// at its position in the plan's keys.
pub type Reported = (usize, String);

/// The addresses plan, keyed by position in the returned list of reported addresses, and
/// the guests whose addresses are known (the others keep what NetBox has).
pub struct AddressPlan {
    pub plan: Plan<IpAddressWrite, usize>,
    pub reported: Vec<Reported>,
    pub guests_known: Vec<usize>,
}

/// Each reported address on its interface: kept, corrected, taken over from an address
/// Proxbox made that is no longer reported, or created; never taken from a holder Proxbox
/// does not manage. Addresses Proxbox made that are no longer reported are removed.
pub fn plan_addresses(
    guests: &[SyncedGuest],
    interfaces: &[SyncedInterface],
    inputs: &Inputs,
    policy: &OverwritePolicy,
) -> AddressPlan {
    let on_interface = by_interface(&inputs.assigned);
    // Addresses held elsewhere: by an object Proxbox does not manage, or unassigned by hand.
    let foreign: HashMap<IpAddr, &IpAddress> = inputs
        .holders
        .iter()
        .filter(|ip| !is_managed(&ip.tags))
        .filter_map(|ip| Some((host(&ip.address)?, ip)))
        .collect();
    let owns = policy.rule(Field::Addresses) == Overwrite::Always;
    let mut plan = Plan::new("IP addresses");
    let mut reported: Vec<Reported> = Vec::new();
    let mut known: Vec<(&usize, &Vec<(usize, String)>)> = inputs.known().collect();
    known.sort_by_key(|(guest, _)| **guest);
    for (guest_index, list) in &known {
        let guest = &guests[**guest_index];
        for (iface_index, interface) in interfaces
            .iter()
            .enumerate()
            .filter(|(_, i)| i.guest == **guest_index)
        {
            let label = |address: &str| {
                Label::new(
                    format!("{}/{} {address}", guest.name, interface.key),
                    "ip",
                    "IP address",
                )
            };
            let mut current: Vec<&IpAddress> = on_interface
                .get(&interface.netbox_id)
                .cloned()
                .unwrap_or_default();
            let mut pending: Vec<&String> = Vec::new();
            for (_, address) in list.iter().filter(|(i, _)| *i == iface_index) {
                let Some(h) = host(address) else { continue };
                if let Some(position) = current.iter().position(|ip| host(&ip.address) == Some(h)) {
                    let ip = current.remove(position);
                    reported.push((iface_index, address.clone()));
                    let correct = ip.address != *address && owns && is_managed(&ip.tags);
                    let patch = IpAddressWrite {
                        id: Some(ip.id),
                        address: correct.then(|| address.clone()),
                        ..Default::default()
                    };
                    plan.update(reported.len() - 1, label(address), ip.id, patch);
                } else if let Some(holder) = foreign.get(&h) {
                    let label = label(address).warned(Some(format!(
                        "{address} is held by an object Proxbox does not manage (IP address {}); left alone",
                        holder.id
                    )));
                    plan.leave(label, Some(holder.id));
                } else {
                    pending.push(address);
                }
            }
            // A changed address takes over an address Proxbox made that is no longer
            // reported (one update instead of a delete and a create).
            let mut reusable = current.into_iter().filter(|ip| is_managed(&ip.tags));
            for address in pending {
                reported.push((iface_index, address.clone()));
                let position = reported.len() - 1;
                match reusable.next().filter(|_| owns) {
                    Some(old) => {
                        let patch = IpAddressWrite {
                            id: Some(old.id),
                            address: Some(address.clone()),
                            ..Default::default()
                        };
                        plan.update(position, label(address), old.id, patch);
                    }
                    None => plan.create(
                        position,
                        label(address),
                        IpAddressWrite {
                            address: Some(address.clone()),
                            status: Some("active".into()),
                            assigned_object_type: Some(VM_INTERFACE.into()),
                            assigned_object_id: Some(interface.netbox_id),
                            tags: tags(),
                            ..Default::default()
                        },
                    ),
                }
            }
            if owns {
                for stale in reusable {
                    plan.delete(label(&stale.address), stale.id);
                }
            }
        }
    }
    AddressPlan {
        plan,
        reported,
        guests_known: known.iter().map(|(g, _)| **g).collect(),
    }
}

/// The first IPv4 and IPv6 a guest reports become its primary addresses. Only what the
/// guest reports is set: an operator's choice for a family the guest reports nothing of
/// stays.
pub fn plan_primary(
    guests: &[SyncedGuest],
    interfaces: &[SyncedInterface],
    settled: &[(Reported, u64)],
    guests_known: &[usize],
    policy: &OverwritePolicy,
) -> Plan<VirtualMachineWrite> {
    let mut plan = Plan::new("primary addresses");
    // Primary addresses follow the addresses rule.
    if policy.rule(Field::Addresses) != Overwrite::Always {
        return plan;
    }
    let mut primary: HashMap<usize, (Option<u64>, Option<u64>)> = HashMap::new();
    for ((iface_index, address), id) in settled {
        let entry = primary.entry(interfaces[*iface_index].guest).or_default();
        match host(address) {
            Some(IpAddr::V4(_)) if entry.0.is_none() => entry.0 = Some(*id),
            Some(IpAddr::V6(_)) if entry.1.is_none() => entry.1 = Some(*id),
            _ => {}
        }
    }
    for guest_index in guests_known {
        let guest = &guests[*guest_index];
        let (want4, want6) = primary.get(guest_index).copied().unwrap_or_default();
        let (have4, have6) = guest.primary_ips;
        let patch = VirtualMachineWrite {
            id: Some(guest.vm_id),
            primary_ip4: want4.filter(|w| Some(*w) != have4).map(Some),
            primary_ip6: want6.filter(|w| Some(*w) != have6).map(Some),
            ..Default::default()
        };
        if patch.primary_ip4.is_some() || patch.primary_ip6.is_some() {
            plan.update(
                (),
                Label::new(guest.name.clone(), "primary_ip", "primary addresses of"),
                guest.vm_id,
                patch,
            );
        }
    }
    plan
}

/// Each reported address that NetBox holds on its interface after the plan, with its id,
/// in the order the guests report them.
pub fn settle(reported: &[Reported], applied: &Applied<usize>) -> Vec<(Reported, u64)> {
    let mut ids: Vec<Option<u64>> = vec![None; reported.len()];
    for (position, id) in applied.settled() {
        ids[*position] = Some(id);
    }
    reported
        .iter()
        .zip(ids)
        .filter_map(|(r, id)| Some((r.clone(), id?)))
        .collect()
}

pub async fn run(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &mut RunState,
) -> Result<(), StageError> {
    let inputs = read(ctx, report, state).await?;
    let AddressPlan {
        plan,
        reported,
        guests_known,
    } = plan_addresses(&state.guests, &state.interfaces, &inputs, &ctx.policy);
    report.substep("apply", StepStatus::Started, plan.summary());
    let applied = apply::apply::<IpAddress, _, _>(ctx, report, &plan).await?;
    let settled = settle(&reported, &applied);
    let plan = plan_primary(
        &state.guests,
        &state.interfaces,
        &settled,
        &guests_known,
        &ctx.policy,
    );
    apply::apply::<VirtualMachine, _, _>(ctx, report, &plan).await?;
    report.substep("apply", StepStatus::Completed, "Addresses written");
    Ok(())
}

/// The guests' addresses (agent or config) beside NetBox's addresses on their interfaces
/// and any holder of an address that is new there.
pub async fn read(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &RunState,
) -> Result<Inputs, StageError> {
    report.substep(
        "read-proxmox",
        StepStatus::Started,
        "Asking guest agents and container configs for addresses",
    );
    report.substep(
        "read-netbox",
        StepStatus::Started,
        "Reading the addresses of the synced interfaces and any holder of the same addresses",
    );
    // Proxmox's answers and NetBox's addresses do not depend on each other: ask both at once.
    let interface_ids = state.interface_ids();
    let (agent, assigned) = tokio::join!(
        agent_addresses(ctx, state),
        ctx.read_in::<IpAddress>("vminterface_id", &interface_ids)
    );
    let found = found_addresses(&state.guests, &state.interfaces, agent);
    let assigned = assigned?;
    let mut unknown: Vec<(&str, &PveError)> = found
        .iter()
        .filter_map(|(g, f)| match f {
            Found::Unknown(e) => Some((state.guests[*g].name.as_str(), e)),
            Found::Known(_) => None,
        })
        .collect();
    unknown.sort_by_key(|(name, _)| *name);
    report.substep(
        "read-proxmox",
        StepStatus::Completed,
        if unknown.is_empty() {
            "Addresses read".to_string()
        } else {
            format!(
                "The guest agent did not answer for {} guests ({}; first error: {}); their addresses in NetBox are left as they are",
                unknown.len(),
                unknown.iter().take(5).map(|(name, _)| *name).collect::<Vec<_>>().join(", "),
                unknown[0].1
            )
        },
    );
    let mut items: Vec<Item> = Vec::new();
    let mut known: Vec<(&usize, &Found)> = found.iter().collect();
    known.sort_by_key(|(g, _)| **g);
    for (_, f) in known {
        if let Found::Known(list) = f {
            for (iface_index, address) in list {
                let interface = &state.interfaces[*iface_index];
                let guest = &state.guests[interface.guest];
                items.push(Item::new(
                    format!("{}/{} {address}", guest.name, interface.key),
                    "ip",
                ));
            }
        }
    }
    report.discover("IP addresses", items);
    let wanted_hosts = new_hosts(&state.interfaces, &found, &assigned);
    let holders: Vec<IpAddress> = ctx.netbox.list_in("address", &wanted_hosts).await?;
    report.substep(
        "read-netbox",
        StepStatus::Completed,
        format!("{} addresses on the synced interfaces", assigned.len()),
    );
    Ok(Inputs {
        found,
        assigned,
        holders,
    })
}

#[cfg(test)]
#[path = "vm_ip_addresses_tests.rs"]
mod tests;
