//! `ip-addresses`: the addresses of each guest interface — from the QEMU guest agent
//! (`network-get-interfaces`, matched to `netN` by MAC) or from LXC's static `ip=` /
//! `ip6=` — become NetBox IP addresses on that interface, and the first IPv4 / IPv6 of a
//! guest its primary addresses. An address that NetBox already holds on an object Proxbox
//! does not manage is never taken over. A guest whose agent does not answer keeps what
//! NetBox has: an unknown list of addresses is not an empty one.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use proxbox_netbox::models::*;
use proxbox_pve::{AgentInterface, GuestKind, PveError};

use super::devices::{is_managed, tags};
use crate::events::{ItemStatus, StepStatus};
use crate::server::sync::apply::{self, Label, Write};
use crate::server::sync::context::{StageError, SyncContext};
use crate::server::sync::overwrite::{Field, Overwrite};
use crate::server::sync::report::StageReport;
use crate::server::sync::run::RunState;

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
enum Found {
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

/// Each guest's addresses, per interface.
async fn read_addresses(ctx: &SyncContext<'_>, state: &RunState) -> HashMap<usize, Found> {
    let mut agent = agent_addresses(ctx, state).await;
    let mut found: HashMap<usize, Found> = HashMap::new();
    for (iface_index, interface) in state.interfaces.iter().enumerate() {
        let guest = &state.guests[interface.guest];
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

pub async fn run(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &mut RunState,
) -> Result<(), StageError> {
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
    let (found, assigned) = tokio::join!(
        read_addresses(ctx, state),
        ctx.read_in::<IpAddress>("vminterface_id", &interface_ids)
    );
    let assigned = assigned?;
    let unknown: Vec<(&str, &PveError)> = found
        .iter()
        .filter_map(|(g, f)| match f {
            Found::Unknown(e) => Some((state.guests[*g].name.as_str(), e)),
            Found::Known(_) => None,
        })
        .collect();
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

    let mut on_interface: HashMap<u64, Vec<&IpAddress>> = HashMap::new();
    for ip in &assigned {
        if let Some(id) = ip.assigned_object_id {
            on_interface.entry(id).or_default().push(ip);
        }
    }
    // Who else holds an address matters only for addresses not yet on their interface
    // (none on a resync with nothing changed).
    let is_new = |iface_index: usize, address: &str| {
        let on = on_interface.get(&state.interfaces[iface_index].netbox_id);
        !on.is_some_and(|ips| ips.iter().any(|ip| host(&ip.address) == host(address)))
    };
    let wanted_hosts: Vec<String> = found
        .values()
        .filter_map(|f| match f {
            Found::Known(list) => Some(list),
            Found::Unknown(_) => None,
        })
        .flatten()
        .filter(|(iface_index, a)| is_new(*iface_index, a))
        .filter_map(|(_, a)| host(a).map(|h| h.to_string()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let holders: Vec<IpAddress> = ctx.netbox.list_in("address", &wanted_hosts).await?;
    report.substep(
        "read-netbox",
        StepStatus::Completed,
        format!("{} addresses on the synced interfaces", assigned.len()),
    );

    // Addresses held elsewhere: by an object Proxbox does not manage, or unassigned by hand.
    let foreign: HashMap<IpAddr, &IpAddress> = holders
        .iter()
        .filter(|ip| !is_managed(&ip.tags))
        .filter_map(|ip| Some((host(&ip.address)?, ip)))
        .collect();
    let owns = ctx.policy.rule(Field::Addresses) == Overwrite::Always;

    let mut creates: Vec<(usize, Write<IpAddressWrite>)> = Vec::new();
    let mut updates: Vec<(usize, Write<IpAddressWrite>)> = Vec::new();
    let mut deletes: Vec<(Label, u64)> = Vec::new();
    // Per interface index: the NetBox id of each of its addresses after this stage (planned
    // writes included), in the order the guest reports them.
    let mut settled: Vec<(usize, String, Option<u64>)> = Vec::new();
    let mut guests_known: HashSet<usize> = HashSet::new();
    for (guest_index, f) in &found {
        let Found::Known(list) = f else { continue };
        guests_known.insert(*guest_index);
        let guest = &state.guests[*guest_index];
        for (iface_index, interface) in state
            .interfaces
            .iter()
            .enumerate()
            .filter(|(_, i)| i.guest == *guest_index)
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
                    settled.push((iface_index, address.clone(), Some(ip.id)));
                    if ip.address != *address && owns && is_managed(&ip.tags) {
                        updates.push((
                            settled.len() - 1,
                            Write {
                                label: label(address),
                                id: Some(ip.id),
                                body: IpAddressWrite {
                                    id: Some(ip.id),
                                    address: Some(address.clone()),
                                    ..Default::default()
                                },
                            },
                        ));
                    } else {
                        report.labeled(&label(address), ItemStatus::Skipped, Some(ip.id), None);
                    }
                } else if let Some(holder) = foreign.get(&h) {
                    let mut label = label(address);
                    label.warning = Some(format!(
                        "{address} is held by an object Proxbox does not manage (IP address {}); left alone",
                        holder.id
                    ));
                    report.labeled(&label, ItemStatus::Skipped, Some(holder.id), None);
                } else {
                    pending.push(address);
                }
            }
            // A changed address takes over an address Proxbox made that is no longer
            // reported (one update instead of a delete and a create).
            let mut reusable = current.into_iter().filter(|ip| is_managed(&ip.tags));
            for address in pending {
                settled.push((iface_index, address.clone(), None));
                let position = settled.len() - 1;
                match reusable.next().filter(|_| owns) {
                    Some(old) => {
                        settled[position].2 = Some(old.id);
                        updates.push((
                            position,
                            Write {
                                label: label(address),
                                id: Some(old.id),
                                body: IpAddressWrite {
                                    id: Some(old.id),
                                    address: Some(address.clone()),
                                    ..Default::default()
                                },
                            },
                        ));
                    }
                    None => creates.push((
                        position,
                        Write {
                            label: label(address),
                            id: None,
                            body: IpAddressWrite {
                                address: Some(address.clone()),
                                status: Some("active".into()),
                                assigned_object_type: Some(VM_INTERFACE.into()),
                                assigned_object_id: Some(interface.netbox_id),
                                tags: tags(),
                                ..Default::default()
                            },
                        },
                    )),
                }
            }
            if owns {
                for stale in reusable {
                    deletes.push((label(&stale.address), stale.id));
                }
            }
        }
    }
    report.expect(report.counts.total as usize + creates.len() + updates.len() + deletes.len());

    report.substep(
        "apply",
        StepStatus::Started,
        format!(
            "{} addresses to create, {} to update, {} to remove",
            creates.len(),
            updates.len(),
            deletes.len()
        ),
    );
    // Deletes first: a freed address may be the one another interface now reports.
    apply::delete::<IpAddress>(ctx, report, &deletes).await?;
    let batch: Vec<Write<IpAddressWrite>> = creates.iter().map(|(_, w)| w.clone()).collect();
    let ids = apply::create::<IpAddress, _>(ctx, report, &batch).await?;
    for ((position, _), id) in creates.iter().zip(ids) {
        settled[*position].2 = id;
    }
    let batch: Vec<Write<IpAddressWrite>> = updates.iter().map(|(_, w)| w.clone()).collect();
    let ids = apply::update::<IpAddress, _>(ctx, report, &batch).await?;
    for ((position, _), id) in updates.iter().zip(ids) {
        if id.is_none() {
            settled[*position].2 = None;
        }
    }
    primary_addresses(ctx, report, state, &settled, &guests_known).await?;
    report.substep("apply", StepStatus::Completed, "Addresses written");
    Ok(())
}

/// The first IPv4 and IPv6 a guest reports become its primary addresses.
async fn primary_addresses(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &RunState,
    settled: &[(usize, String, Option<u64>)],
    guests_known: &HashSet<usize>,
) -> Result<(), StageError> {
    // Primary addresses follow the addresses rule.
    if ctx.policy.rule(Field::Addresses) != Overwrite::Always {
        return Ok(());
    }
    let mut primary: HashMap<usize, (Option<u64>, Option<u64>)> = HashMap::new();
    for (iface_index, address, id) in settled {
        let Some(id) = id else { continue };
        let guest = state.interfaces[*iface_index].guest;
        let entry = primary.entry(guest).or_default();
        match host(address) {
            Some(IpAddr::V4(_)) if entry.0.is_none() => entry.0 = Some(*id),
            Some(IpAddr::V6(_)) if entry.1.is_none() => entry.1 = Some(*id),
            _ => {}
        }
    }
    let mut writes: Vec<Write<VirtualMachineWrite>> = Vec::new();
    let mut sorted: Vec<&usize> = guests_known.iter().collect();
    sorted.sort();
    for guest_index in sorted {
        let guest = &state.guests[*guest_index];
        let (want4, want6) = primary.get(guest_index).copied().unwrap_or_default();
        let (have4, have6) = guest.primary_ips;
        // Only set what the guest reports; never clear an operator's choice for a guest
        // that reports nothing of that family.
        let patch = VirtualMachineWrite {
            id: Some(guest.vm_id),
            primary_ip4: want4.filter(|w| Some(*w) != have4).map(Some),
            primary_ip6: want6.filter(|w| Some(*w) != have6).map(Some),
            ..Default::default()
        };
        if patch.primary_ip4.is_some() || patch.primary_ip6.is_some() {
            writes.push(Write {
                label: Label::new(guest.name.clone(), "primary_ip", "primary addresses of"),
                id: Some(guest.vm_id),
                body: patch,
            });
        }
    }
    report.expect_more(writes.len());
    apply::update::<VirtualMachine, _>(ctx, report, &writes).await?;
    Ok(())
}
