//! IP addresses on interfaces, for guests' VM interfaces and nodes' interfaces alike: each
//! reported address on its interface — kept, corrected, taken over from an address Proxbox
//! made that is no longer reported, or created — and never taken from a holder Proxbox does
//! not manage. Addresses Proxbox made that an interface no longer reports are removed.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use proxbox_netbox::models::{HeldAddress, IpAddress, IpAddressWrite, DCIM_INTERFACE};

use super::adopt::AdoptedBy;
use super::apply::Applied;
use super::failure::StageError;
use super::managed::{adoption_tags, is_managed, tags};
use super::overwrite::{Field, Overwrite, OverwritePolicy};
use super::plan::{Label, Plan};
use crate::events::ErrorCategory;

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
    /// The VRF its addresses are in (a mapping rule's); `None`: the global table.
    pub vrf: Option<u64>,
    /// The NetBox id of its VM or device: an address on another of its interfaces is
    /// taken over from there.
    pub owner: u64,
}

/// Where an address is: its host and VRF (`None`: the global table).
type Place = (IpAddr, Option<u64>);

fn place_of(address: &str, vrf: Option<u64>) -> Option<Place> {
    Some((host(address)?, vrf))
}

/// The holder of an address in words: `VM interface net0 of web-1 (made by Proxbox)`.
fn holder_words(holder: &HeldAddress) -> String {
    let by = if is_managed(&holder.tags) {
        "made by Proxbox"
    } else {
        "Proxbox does not manage it"
    };
    let Some(on) = &holder.assigned_object else {
        return format!("IP address {} unassigned ({by})", holder.id);
    };
    let interface = on.name.as_deref().unwrap_or("an interface");
    let owner = on
        .virtual_machine
        .as_ref()
        .map(|vm| format!("VM {}", vm.name.as_deref().unwrap_or("?")))
        .or_else(|| {
            on.device
                .as_ref()
                .map(|d| format!("device {}", d.name.as_deref().unwrap_or("?")))
        })
        .unwrap_or_else(|| "an object".into());
    let cluster = holder
        .cluster
        .as_ref()
        .map(|c| format!(" in cluster {c}"))
        .unwrap_or_default();
    format!(
        "{interface} of {owner}{cluster} (IP address {}, {by})",
        holder.id
    )
}

/// Looks up the cluster of each VM and device that holds one of `holders` (NetBox does not
/// nest it), for the words that name a holder; no request when nothing is held.
pub async fn name_clusters(
    ctx: &super::context::SyncContext<'_>,
    holders: &mut [HeldAddress],
) -> Result<(), super::failure::StageError> {
    use proxbox_netbox::models::{Device, VirtualMachine};
    fn on(h: &HeldAddress) -> Option<&proxbox_netbox::models::AssignedObject> {
        h.assigned_object.as_ref()
    }
    let vm_ids: Vec<u64> = holders
        .iter()
        .filter_map(|h| Some(on(h)?.virtual_machine.as_ref()?.id))
        .collect();
    let device_ids: Vec<u64> = holders
        .iter()
        .filter_map(|h| Some(on(h)?.device.as_ref()?.id))
        .collect();
    let name = |c: &Option<proxbox_netbox::models::Ref>| c.as_ref().and_then(|c| c.name.clone());
    let mut vm_clusters: HashMap<u64, String> = HashMap::new();
    if !vm_ids.is_empty() {
        for vm in ctx.netbox.list_by_ids::<VirtualMachine>(&vm_ids).await? {
            if let Some(cluster) = name(&vm.cluster) {
                vm_clusters.insert(vm.id, cluster);
            }
        }
    }
    let mut device_clusters: HashMap<u64, String> = HashMap::new();
    if !device_ids.is_empty() {
        for device in ctx.netbox.list_by_ids::<Device>(&device_ids).await? {
            if let Some(cluster) = name(&device.cluster) {
                device_clusters.insert(device.id, cluster);
            }
        }
    }
    for holder in holders {
        let Some(on) = &holder.assigned_object else {
            continue;
        };
        holder.cluster = on
            .virtual_machine
            .as_ref()
            .and_then(|vm| vm_clusters.get(&vm.id))
            .or_else(|| on.device.as_ref().and_then(|d| device_clusters.get(&d.id)))
            .cloned();
    }
    Ok(())
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
    holders: &[HeldAddress],
    policy: &OverwritePolicy,
) -> (Plan<IpAddressWrite, usize>, Vec<Reported>) {
    let on_interface = by_interface(assigned);
    // What this plan frees: addresses Proxbox made on a reporting interface that it no
    // longer reports there (removed or reused before any create).
    let owns = policy.rule(Field::Addresses) == Overwrite::Always;
    let freed: HashSet<u64> = reportings
        .iter()
        .filter(|_| owns)
        .flat_map(|r| {
            let reported: HashSet<IpAddr> = r.addresses.iter().filter_map(|a| host(a)).collect();
            on_interface
                .get(&r.interface_id)
                .into_iter()
                .flatten()
                .filter(|ip| is_managed(&ip.tags))
                .filter(move |ip| host(&ip.address).is_none_or(|h| !reported.contains(&h)))
                .map(|ip| ip.id)
        })
        .collect();
    // Addresses held elsewhere in the same VRF that this plan does not free: an object
    // Proxbox does not manage keeps its address; one Proxbox made elsewhere is a conflict.
    let held: HashMap<Place, &HeldAddress> = holders
        .iter()
        .filter(|ip| !freed.contains(&ip.id))
        .filter_map(|ip| Some((place_of(&ip.address, ip.vrf.as_ref().map(|v| v.id))?, ip)))
        .collect();
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
                let correct = owns && is_managed(&ip.tags);
                let vrf = ip.vrf.as_ref().map(|v| v.id);
                let tags = adoption_tags(&ip.tags);
                let label = match tags {
                    Some(_) => label(address).adopted(AdoptedBy::AddressOnInterface.words()),
                    None => label(address),
                };
                let patch = IpAddressWrite {
                    id: Some(ip.id),
                    address: (correct && ip.address != *address).then(|| address.clone()),
                    vrf: (correct && vrf != reporting.vrf).then_some(reporting.vrf),
                    tags,
                    ..Default::default()
                };
                plan.update(reported.len() - 1, label, ip.id, patch);
            } else if let Some(holder) = held
                .get(&(h, reporting.vrf))
                .filter(|holder| !is_managed(&holder.tags))
            {
                if held_by_owner(holder, reporting) {
                    // On another interface of the same VM or device: the guest's address,
                    // entered where its NIC was not (or by another tool): moved over.
                    reported.push((index, address.clone()));
                    let patch = IpAddressWrite {
                        id: Some(holder.id),
                        address: (holder.address != *address).then(|| address.clone()),
                        assigned_object_type: Some(reporting.assigned_type.into()),
                        assigned_object_id: Some(reporting.interface_id),
                        tags: adoption_tags(&holder.tags),
                        ..Default::default()
                    };
                    let label = label(address).adopted(AdoptedBy::AddressOnParent.words());
                    plan.update(reported.len() - 1, label, holder.id, patch);
                } else {
                    let why = format!("{address} is held by {}", holder_words(holder));
                    plan.leave(label(address).conflict(why), Some(holder.id));
                }
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
            // Another guest or node of Proxbox's holds it in the same VRF: NetBox refuses the
            // duplicate where it enforces unique addresses (its default), and then the item
            // says whose it is and what to do.
            let mut label = label(address);
            label.if_refused = host(address)
                .and_then(|h| held.get(&(h, reporting.vrf)))
                .map(|holder| duplicate(address, holder, reporting));
            match reusable.next().filter(|_| owns) {
                Some(old) => {
                    let patch = IpAddressWrite {
                        id: Some(old.id),
                        address: Some(address.clone()),
                        vrf: (old.vrf.as_ref().map(|v| v.id) != reporting.vrf)
                            .then_some(reporting.vrf),
                        ..Default::default()
                    };
                    plan.update(position, label, old.id, patch);
                }
                None => plan.create(
                    position,
                    label,
                    IpAddressWrite {
                        address: Some(address.clone()),
                        status: Some("active".into()),
                        vrf: reporting.vrf.map(Some),
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

/// Whether an address is on another interface of the reporting interface's VM or device.
fn held_by_owner(holder: &HeldAddress, reporting: &Reporting) -> bool {
    let Some(on) = &holder.assigned_object else {
        return false;
    };
    let owner = if reporting.assigned_type == DCIM_INTERFACE {
        on.device.as_ref()
    } else {
        on.virtual_machine.as_ref()
    };
    holder.assigned_object_type.as_deref() == Some(reporting.assigned_type)
        && owner.is_some_and(|o| o.id == reporting.owner)
}

/// An address another object of Proxbox's holds in the same VRF: NetBox would refuse it
/// as a duplicate; say whose it is and how two address plans live side by side.
fn duplicate(address: &str, holder: &HeldAddress, reporting: &Reporting) -> StageError {
    let table = match reporting.vrf {
        Some(_) => "this VRF",
        None => "NetBox's global table",
    };
    StageError {
        category: ErrorCategory::Validation,
        message: format!(
            "{address} is already in {table}: on {}",
            holder_words(holder)
        ),
        detail: format!(
            "{} reports {address}, which NetBox holds for another object in {table}; NetBox allows an address once per VRF.",
            reporting.label
        ),
        suggestion: "If two clusters use the same address plan, give each its own VRF with a mapping rule ({\"match\": {\"cluster\": \"…\"}, \"vrf\": \"…\"}, PROXBOX_MAPPING); if the address really moved, remove it from the other guest.".into(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Takeover;
    use crate::server::sync::stages::fixtures::{managed, model, slugs};
    use proxbox_netbox::models::VM_INTERFACE;
    use serde_json::json;

    fn reporting(vrf: Option<u64>) -> Reporting {
        Reporting {
            interface_id: 2,
            assigned_type: VM_INTERFACE,
            label: "web/net0".into(),
            addresses: vec!["10.0.0.7/24".into()],
            vrf,
            owner: 1,
        }
    }

    fn held_by_another_guest(vrf: Option<u64>) -> HeldAddress {
        model(
            json!({"id": 9, "address": "10.0.0.7/24", "vrf": vrf.map(|id| json!({"id": id})),
            "assigned_object_type": VM_INTERFACE,
            "assigned_object": {"id": 77, "name": "net0", "virtual_machine": {"id": 3, "name": "web-b"}},
            "tags": managed()}),
        )
    }

    #[test]
    fn an_address_another_guest_holds_in_the_same_vrf_explains_a_refusal() {
        let policy = OverwritePolicy::default();
        let (plan, _) = plan_addresses(
            &[reporting(None)],
            &[],
            &[held_by_another_guest(None)],
            &policy,
        );
        let create = &plan.creates[0];
        assert_eq!(create.body.vrf, None, "the global table");
        let netbox_says = StageError {
            category: ErrorCategory::Validation,
            message: "Duplicate IP address found in global table: 10.0.0.7/24".into(),
            detail: String::new(),
            suggestion: String::new(),
        };
        let reported = create.label.refusal(netbox_says.clone());
        assert!(
            reported
                .message
                .contains("already in NetBox's global table: on net0 of VM web-b")
                && reported.message.contains("made by Proxbox"),
            "{reported:?}"
        );
        assert!(reported.suggestion.contains("\"vrf\""), "{reported:?}");
        assert!(
            reported.detail.contains("Duplicate IP address"),
            "NetBox's words stay"
        );
        let other = StageError {
            category: ErrorCategory::Connection,
            ..netbox_says
        };
        assert_eq!(create.label.refusal(other.clone()), other, "only refusals");

        // In a VRF of its own, the other guest's address is no conflict.
        let (plan, _) = plan_addresses(
            &[reporting(Some(5))],
            &[],
            &[held_by_another_guest(None)],
            &policy,
        );
        assert_eq!(plan.creates[0].body.vrf, Some(Some(5)));
        assert_eq!(plan.creates[0].label.if_refused, None);
    }

    #[test]
    fn an_operators_address_on_a_reporting_interface_is_never_taken_as_freed() {
        // An address an operator put on net0 by hand, which net0 does not report: Proxbox
        // leaves it there, so it is not free for the interface that reports it.
        let by_hand: IpAddress = model(json!({"id": 4, "address": "10.0.0.7/24",
            "status": {"value": "active"}, "assigned_object_type": VM_INTERFACE,
            "assigned_object_id": 1, "tags": []}));
        let holder: HeldAddress = model(json!({"id": 4, "address": "10.0.0.7/24",
            "assigned_object_type": VM_INTERFACE,
            "assigned_object": {"id": 1, "name": "net0", "virtual_machine": {"id": 3, "name": "web"}},
            "tags": []}));
        let quiet = Reporting {
            interface_id: 1,
            addresses: Vec::new(),
            ..reporting(None)
        };
        let (plan, _) = plan_addresses(
            &[quiet, reporting(None)],
            &[by_hand],
            &[holder],
            &OverwritePolicy::default(),
        );
        assert!(plan.writes_nothing(), "{plan:?}");
        assert_eq!(plan.skips[0].id, Some(4), "left alone with the reason");
    }

    #[test]
    fn an_address_proxbox_made_moves_into_its_rules_vrf() {
        let on_interface: IpAddress = model(json!({"id": 4, "address": "10.0.0.7/24",
            "status": {"value": "active"}, "assigned_object_type": VM_INTERFACE,
            "assigned_object_id": 2, "tags": managed()}));
        let (plan, _) = plan_addresses(
            &[reporting(Some(5))],
            &[on_interface],
            &[],
            &OverwritePolicy::default(),
        );
        assert_eq!(plan.updates[0].changed, ["vrf"]);
        assert_eq!(plan.updates[0].body.vrf, Some(Some(5)));
    }

    fn held_by_hand(on_vm: u64) -> HeldAddress {
        model(
            json!({"id": 4, "address": "10.0.0.7/24", "assigned_object_type": VM_INTERFACE,
            "assigned_object": {"id": 9, "name": "eth1", "virtual_machine": {"id": on_vm, "name": "web"}},
            "tags": [{"id": 3, "slug": "netbox-ssot"}]}),
        )
    }

    /// An address someone put on an interface of the guest's own VM is the guest's: taken
    /// over onto the interface that reports it, its tags kept. On another VM it is not:
    /// a conflict, left where it is.
    #[test]
    fn an_address_on_the_same_vm_is_taken_over_and_one_elsewhere_is_a_conflict() {
        let policy = OverwritePolicy::default();
        let (plan, reported) = plan_addresses(&[reporting(None)], &[], &[held_by_hand(1)], &policy);
        assert!(plan.creates.is_empty());
        let moved = &plan.updates[0];
        assert_eq!(moved.id, Some(4));
        assert_eq!(
            moved.body.assigned_object_id,
            Some(2),
            "onto the reporting interface"
        );
        assert_eq!(slugs(&moved.body.tags), ["netbox-ssot", "proxbox"]);
        assert!(matches!(moved.label.takeover, Some(Takeover::Adopted(_))));
        assert_eq!(reported, [(0, "10.0.0.7/24".to_string())]);

        let (plan, _) = plan_addresses(&[reporting(None)], &[], &[held_by_hand(3)], &policy);
        assert!(plan.writes_nothing());
        match &plan.skips[0].label.takeover {
            Some(Takeover::Conflict(why)) => assert!(why.contains("VM web"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_address_entered_on_the_reporting_interface_is_taken_over() {
        let by_hand: IpAddress = model(json!({"id": 4, "address": "10.0.0.7/24",
            "status": {"value": "active"}, "assigned_object_type": VM_INTERFACE,
            "assigned_object_id": 2, "tags": []}));
        let (plan, _) = plan_addresses(
            &[reporting(None)],
            &[by_hand],
            &[],
            &OverwritePolicy::default(),
        );
        assert_eq!(plan.updates[0].changed, ["tags"]);
        assert_eq!(
            plan.updates[0].label.takeover,
            Some(Takeover::Adopted("by address on its interface".into()))
        );
    }
}
