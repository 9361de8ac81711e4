//! IP addresses on interfaces, for guests' VM interfaces and nodes' interfaces alike: each
//! reported address on its interface — kept, corrected, taken over from an address Proxbox
//! made that is no longer reported, or created — and never taken from a holder Proxbox does
//! not manage. Addresses Proxbox made that an interface no longer reports are removed.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use proxbox_netbox::models::{IpAddress, IpAddressWrite};

use super::apply::Applied;
use super::managed::{is_managed, tags};
use super::overwrite::{Field, Overwrite, OverwritePolicy};
use super::plan::{Label, Plan};

/// The host part of a CIDR address (`10.0.0.5/24` → `10.0.0.5`), parsed.
pub fn host(cidr: &str) -> Option<IpAddr> {
    cidr.split('/').next()?.parse().ok()
}

/// Addresses worth recording: not loopback, not link-local, not unspecified.
pub fn is_recordable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_loopback() || v4.is_link_local() || v4.is_unspecified()),
        IpAddr::V6(v6) => {
            !(v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// With a prefix length: NetBox stores addresses in CIDR form.
pub fn with_prefix(address: &str) -> String {
    if address.contains('/') {
        address.to_string()
    } else if address.contains(':') {
        format!("{address}/128")
    } else {
        format!("{address}/32")
    }
}

/// One interface and the addresses Proxmox reports on it (CIDR form, recordable only).
#[derive(Debug, Clone, PartialEq)]
pub struct Reporting {
    pub interface_id: u64,
    /// `virtualization.vminterface` or `dcim.interface`.
    pub assigned_type: &'static str,
    /// How items name the interface: `web/net0`, `pve1/vmbr0`.
    pub label: String,
    pub addresses: Vec<String>,
}

/// A reported address: the index of its [`Reporting`] and the address.
pub type Reported = (usize, String);

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
pub fn new_hosts(reportings: &[Reporting], assigned: &[IpAddress]) -> Vec<String> {
    let on_interface = by_interface(assigned);
    let mut hosts: Vec<String> = reportings
        .iter()
        .flat_map(|r| r.addresses.iter().map(move |a| (r.interface_id, a)))
        .filter(|(interface_id, address)| {
            let on = on_interface.get(interface_id);
            !on.is_some_and(|ips| ips.iter().any(|ip| host(&ip.address) == host(address)))
        })
        .filter_map(|(_, a)| host(a).map(|h| h.to_string()))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    hosts.sort();
    hosts
}

/// The addresses plan, keyed by position in the returned list of reported addresses.
/// `assigned`: NetBox's addresses on the reporting interfaces; `holders`: whoever holds one
/// of the [`new_hosts`].
pub fn plan_addresses(
    reportings: &[Reporting],
    assigned: &[IpAddress],
    holders: &[IpAddress],
    policy: &OverwritePolicy,
) -> (Plan<IpAddressWrite, usize>, Vec<Reported>) {
    let on_interface = by_interface(assigned);
    // Addresses held elsewhere: by an object Proxbox does not manage, or unassigned by hand.
    let foreign: HashMap<IpAddr, &IpAddress> = holders
        .iter()
        .filter(|ip| !is_managed(&ip.tags))
        .filter_map(|ip| Some((host(&ip.address)?, ip)))
        .collect();
    let owns = policy.rule(Field::Addresses) == Overwrite::Always;
    let mut plan = Plan::new("IP addresses");
    let mut reported: Vec<Reported> = Vec::new();
    for (index, reporting) in reportings.iter().enumerate() {
        let label = |address: &str| {
            Label::new(format!("{} {address}", reporting.label), "ip", "IP address")
        };
        let mut current: Vec<&IpAddress> = on_interface
            .get(&reporting.interface_id)
            .cloned()
            .unwrap_or_default();
        let mut pending: Vec<&String> = Vec::new();
        for address in &reporting.addresses {
            let Some(h) = host(address) else { continue };
            if let Some(position) = current.iter().position(|ip| host(&ip.address) == Some(h)) {
                let ip = current.remove(position);
                reported.push((index, address.clone()));
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
        // A changed address takes over an address Proxbox made that is no longer reported
        // (one update instead of a delete and a create).
        let mut reusable = current.into_iter().filter(|ip| is_managed(&ip.tags));
        for address in pending {
            reported.push((index, address.clone()));
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
                        assigned_object_type: Some(reporting.assigned_type.into()),
                        assigned_object_id: Some(reporting.interface_id),
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
    (plan, reported)
}

/// Each reported address that NetBox holds on its interface after the plan, with its id,
/// in the order they were reported.
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
