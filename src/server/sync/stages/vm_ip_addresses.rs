//! `vm-ip-addresses`: the addresses of each guest interface — from the QEMU guest agent
//! (`network-get-interfaces`, matched to `netN` by MAC) or from LXC's static `ip=` /
//! `ip6=` — become NetBox IP addresses on that interface, and the first IPv4 / IPv6 of a
//! guest its primary addresses. An address that NetBox already holds on an object Proxbox
//! does not manage is never taken over. A guest whose agent does not answer keeps what
//! NetBox has: an unknown list of addresses is not an empty one.

use std::collections::HashMap;
use std::net::IpAddr;

use proxbox_netbox::models::*;
use proxbox_pve::{AgentInterface, GuestKind, PveError};

use crate::events::{Item, StepStatus};
use crate::models::RecordKind;
pub use crate::server::sync::addresses::settle;
use crate::server::sync::addresses::{self, host, is_recordable, with_prefix, Reporting};
use crate::server::sync::agents::{self, ask_agents};
use crate::server::sync::apply;
use crate::server::sync::context::SyncContext;
use crate::server::sync::failure::StageError;
use crate::server::sync::inventory;
use crate::server::sync::overwrite::{Field, Overwrite, OverwritePolicy};
use crate::server::sync::plan::{Label, Plan};
use crate::server::sync::report::StageReport;
use crate::server::sync::stages::virtual_machines::cards::{plan_agent_addresses, AgentAddresses};
use crate::server::sync::state::{RunState, SyncedGuest, SyncedInterface, WrittenAddress};

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
    ask_agents(
        ctx,
        state,
        agents::synced(&state.guests),
        |pve, node, vmid| async move { pve.agent_interfaces(&node, vmid).await.map(|p| p.value) },
    )
    .await
}

/// The fully qualified host name each asked agent reports, by guest index (an agent that
/// does not say, or says a bare name, gives none).
async fn agent_host_names(ctx: &SyncContext<'_>, state: &RunState) -> HashMap<usize, String> {
    ask_agents(
        ctx,
        state,
        agents::synced(&state.guests),
        |pve, node, vmid| async move { pve.agent_host_name(&node, vmid).await },
    )
    .await
    .into_iter()
    .filter_map(|(guest, answer)| Some((guest, fully_qualified(&answer.ok()??)?)))
    .collect()
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
    pub holders: Vec<HeldAddress>,
    /// The fully qualified host name each guest's agent reports, by guest index.
    pub host_names: HashMap<usize, String>,
}

/// The guests whose addresses are known, with them.
fn known(found: &HashMap<usize, Found>) -> impl Iterator<Item = (&usize, &Vec<(usize, String)>)> {
    found.iter().filter_map(|(guest, f)| match f {
        Found::Known(list) => Some((guest, list)),
        Found::Unknown(_) => None,
    })
}

/// One [`Reporting`] per interface of each guest whose addresses are known, sorted by guest,
/// and the index in `interfaces` of each.
fn reportings(
    guests: &[SyncedGuest],
    interfaces: &[SyncedInterface],
    found: &HashMap<usize, Found>,
) -> (Vec<Reporting>, Vec<usize>) {
    let mut known: Vec<(&usize, &Vec<(usize, String)>)> = known(found).collect();
    known.sort_by_key(|(guest, _)| **guest);
    let mut reportings = Vec::new();
    let mut iface_of = Vec::new();
    for (guest_index, list) in known {
        for (iface_index, interface) in interfaces
            .iter()
            .enumerate()
            .filter(|(_, i)| i.guest == *guest_index)
        {
            reportings.push(Reporting {
                interface_id: interface.netbox_id,
                assigned_type: VM_INTERFACE,
                label: format!("{}/{}", guests[*guest_index].name, interface.key),
                vrf: guests[*guest_index].vrf,
                owner: guests[*guest_index].vm_id,
                addresses: list
                    .iter()
                    .filter(|(i, _)| *i == iface_index)
                    .map(|(_, a)| a.clone())
                    .collect(),
            });
            iface_of.push(iface_index);
        }
    }
    (reportings, iface_of)
}

/// The hosts of reported addresses that are not yet on their interface: the only ones whose
/// holder elsewhere matters (none on a resync with nothing changed).
pub fn new_hosts(
    guests: &[SyncedGuest],
    interfaces: &[SyncedInterface],
    found: &HashMap<usize, Found>,
    assigned: &[IpAddress],
) -> Vec<String> {
    addresses::new_hosts(&reportings(guests, interfaces, found).0, assigned)
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

/// Each reported address on its interface (see [`addresses::plan_addresses`]); the
/// addresses of a guest whose agent did not answer are left as they are.
pub fn plan_addresses(
    guests: &[SyncedGuest],
    interfaces: &[SyncedInterface],
    inputs: &Inputs,
    policy: &OverwritePolicy,
) -> AddressPlan {
    let (reportings, iface_of) = reportings(guests, interfaces, &inputs.found);
    let (plan, reported) =
        addresses::plan_addresses(&reportings, &inputs.assigned, &inputs.holders, policy);
    let mut guests_known: Vec<usize> = known(&inputs.found).map(|(g, _)| *g).collect();
    guests_known.sort_unstable();
    AddressPlan {
        plan,
        reported: reported
            .into_iter()
            .map(|(r, address)| (iface_of[r], address))
            .collect(),
        guests_known,
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
    let primary = primaries(interfaces, settled);
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

/// A guest's primary IPv4 and IPv6 (NetBox ids).
type Primaries = (Option<u64>, Option<u64>);

/// Each guest's first reported IPv4 and IPv6, by guest index: its primaries.
fn primaries(
    interfaces: &[SyncedInterface],
    settled: &[(Reported, u64)],
) -> HashMap<usize, Primaries> {
    let mut primary: HashMap<usize, Primaries> = HashMap::new();
    for ((iface_index, address), id) in settled {
        let entry = primary.entry(interfaces[*iface_index].guest).or_default();
        match host(address) {
            Some(IpAddr::V4(_)) if entry.0.is_none() => entry.0 = Some(*id),
            Some(IpAddr::V6(_)) if entry.1.is_none() => entry.1 = Some(*id),
            _ => {}
        }
    }
    primary
}

/// A host name worth a DNS name: fully qualified (`web1.example.com`), not a machine's
/// default (`localhost.localdomain`).
pub fn fully_qualified(host_name: &str) -> Option<String> {
    let name = host_name.trim().trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    let valid = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && !matches!(labels[0], "localhost")
        && !matches!(
            *labels.last().unwrap_or(&""),
            "localdomain" | "local" | "localhost"
        );
    (valid && name.len() <= 255).then_some(name)
}

/// The agent's fully qualified host name as the DNS name of each guest's primary addresses,
/// where NetBox has another (the `dns_name` overwrite rule decides, as for any field).
pub fn plan_dns_names(
    interfaces: &[SyncedInterface],
    settled: &[(Reported, u64)],
    assigned: &[IpAddress],
    host_names: &HashMap<usize, String>,
    policy: &OverwritePolicy,
) -> Plan<IpAddressWrite> {
    let mut plan = Plan::new("DNS names");
    let current: HashMap<u64, &str> = assigned
        .iter()
        .map(|a| (a.id, a.dns_name.as_str()))
        .collect();
    let fresh: HashMap<u64, &str> = settled
        .iter()
        .map(|((_, address), id)| (*id, address.as_str()))
        .collect();
    let mut by_guest: Vec<(usize, Primaries)> =
        primaries(interfaces, settled).into_iter().collect();
    by_guest.sort_unstable();
    for (guest, (v4, v6)) in by_guest {
        let Some(name) = host_names.get(&guest) else {
            continue;
        };
        for id in [v4, v6].into_iter().flatten() {
            let dns_name = match current.get(&id) {
                Some(have) => policy.update(Field::DnsName, have, name.as_str()),
                // Created this run: it gets its name whatever the rule (that is "on create").
                None => Some(name.as_str()),
            };
            let Some(dns_name) = dns_name else {
                continue;
            };
            plan.update(
                (),
                Label::new(
                    fresh.get(&id).copied().unwrap_or_default(),
                    "ip",
                    "DNS name of",
                ),
                id,
                IpAddressWrite {
                    id: Some(id),
                    dns_name: Some(dns_name.to_string()),
                    ..Default::default()
                },
            );
        }
    }
    plan
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
    state
        .addresses
        .extend(settled.iter().map(|((interface, address), _)| {
            let guest = &state.guests[state.interfaces[*interface].guest];
            WrittenAddress {
                endpoint_id: guest.endpoint_id,
                vrf: guest.vrf,
                address: address.clone(),
            }
        }));
    let plan = plan_primary(
        &state.guests,
        &state.interfaces,
        &settled,
        &guests_known,
        &ctx.policy,
    );
    apply::apply::<VirtualMachine, _, _>(ctx, report, &plan).await?;
    let plan = plan_dns_names(
        &state.interfaces,
        &settled,
        &inputs.assigned,
        &inputs.host_names,
        &ctx.policy,
    );
    apply::apply::<IpAddress, _, _>(ctx, report, &plan).await?;
    report.substep("apply", StepStatus::Completed, "Addresses written");
    store_agent_addresses(ctx, report, state, &inputs.found).await
}

/// What each QEMU guest's agent reported, per endpoint, by NIC key (for the guests' cards).
pub fn agent_addresses_by_endpoint(
    guests: &[SyncedGuest],
    interfaces: &[SyncedInterface],
    found: &HashMap<usize, Found>,
) -> HashMap<i64, AgentAddresses> {
    let mut out: HashMap<i64, AgentAddresses> = HashMap::new();
    for (guest_index, list) in known(found) {
        let guest = &guests[*guest_index];
        if guest.kind != GuestKind::Qemu {
            continue;
        }
        let per_nic = out
            .entry(guest.endpoint_id)
            .or_default()
            .entry((guest.kind.as_str().to_string(), guest.vmid))
            .or_default();
        for (iface_index, address) in list {
            per_nic
                .entry(interfaces[*iface_index].key.clone())
                .or_default()
                .push(address.clone());
        }
    }
    out
}

/// Keeps the agents' addresses on the guests' cards (nothing in a dry run).
async fn store_agent_addresses(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &RunState,
    found: &HashMap<usize, Found>,
) -> Result<(), StageError> {
    if ctx.options.dry_run {
        return Ok(());
    }
    for (endpoint_id, reported) in
        agent_addresses_by_endpoint(&state.guests, &state.interfaces, found)
    {
        let stored = ctx
            .db
            .inventory(endpoint_id, RecordKind::Guest, None)
            .await?;
        let plan = plan_agent_addresses(endpoint_id, &stored, &reported);
        if !plan.writes_nothing() {
            inventory::store(ctx, report, &plan).await?;
        }
    }
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
    let (agent, host_names, assigned) = tokio::join!(
        agent_addresses(ctx, state),
        agent_host_names(ctx, state),
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
    let wanted_hosts = new_hosts(&state.guests, &state.interfaces, &found, &assigned);
    let mut holders: Vec<HeldAddress> = ctx.netbox.list_in("address", &wanted_hosts).await?;
    addresses::name_clusters(ctx, &mut holders).await?;
    report.substep(
        "read-netbox",
        StepStatus::Completed,
        format!("{} addresses on the synced interfaces", assigned.len()),
    );
    Ok(Inputs {
        found,
        assigned,
        holders,
        host_names,
    })
}

#[cfg(test)]
#[path = "vm_ip_addresses_tests.rs"]
mod tests;
