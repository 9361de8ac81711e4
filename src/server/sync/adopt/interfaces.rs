//! Which of a VM's interfaces in NetBox is a NIC's: Proxbox's own of the NIC's name, else
//! the one carrying the NIC's MAC address (another tool, or an operator, may have named it
//! as the guest sees it, `eth0`), else another of the NIC's name (`net0`). An interface is
//! taken once; two carrying one MAC are a conflict.

use std::collections::{HashMap, HashSet};

use proxbox_netbox::models::{MacAddress, VmInterface};

use super::{AdoptedBy, Found};
use crate::server::sync::managed::is_managed;

/// A NIC of a guest: its key (`net0`) and MAC address.
#[derive(Debug, Clone, Copy)]
pub struct Nic<'s> {
    pub key: &'s str,
    pub mac: Option<&'s str>,
}

/// The MAC addresses NetBox has on each interface (by interface id), in lowercase.
pub fn macs_by_interface(macs: &[MacAddress]) -> HashMap<u64, Vec<String>> {
    let mut on: HashMap<u64, Vec<String>> = HashMap::new();
    for mac in macs {
        if let Some(id) = mac.assigned_object_id {
            on.entry(id)
                .or_default()
                .push(mac.mac_address.to_ascii_lowercase());
        }
    }
    on
}

/// Whether `name` is one Proxbox gives an interface: a NIC's key (`net0`). One that is
/// not, and carries the `proxbox` tag, was taken over under another tool's name.
fn is_nic_key(name: &str) -> bool {
    name.strip_prefix("net")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// What each NIC of one VM found among that VM's interfaces, in the NICs' order: Proxbox's
/// own interface of the NIC's name first (two NICs may share a MAC), then the one carrying
/// its MAC, then another of its name.
pub fn adopt_interfaces<'a>(
    nics: &[Nic<'_>],
    interfaces: &[&'a VmInterface],
    macs: &HashMap<u64, Vec<String>>,
) -> Vec<Found<'a, VmInterface>> {
    let mut taken: HashSet<u64> = HashSet::new();
    let mut found: Vec<Option<Found<'a, VmInterface>>> = vec![None; nics.len()];
    let by_name = |taken: &mut HashSet<u64>, nic: &Nic<'_>, own: bool| {
        let named = interfaces.iter().copied().find(|i| {
            i.name == nic.key && !taken.contains(&i.id) && (!own || is_managed(&i.tags))
        })?;
        taken.insert(named.id);
        Some(Found::Adopted(named, AdoptedBy::NameOnParent))
    };
    for (nic, slot) in nics.iter().zip(found.iter_mut()) {
        *slot = by_name(&mut taken, nic, true);
    }
    for (nic, slot) in nics.iter().zip(found.iter_mut()) {
        let Some(mac) = nic
            .mac
            .map(str::to_ascii_lowercase)
            .filter(|_| slot.is_none())
        else {
            continue;
        };
        let carrying: Vec<&'a VmInterface> = interfaces
            .iter()
            .copied()
            .filter(|i| !taken.contains(&i.id))
            .filter(|i| macs.get(&i.id).is_some_and(|m| m.contains(&mac)))
            .collect();
        match carrying.as_slice() {
            [] => {}
            [only] => {
                taken.insert(only.id);
                *slot = Some(Found::Adopted(only, AdoptedBy::Mac));
            }
            several => {
                *slot = Some(Found::Conflict(
                    AdoptedBy::Mac,
                    several.iter().map(|i| i.id).collect(),
                ))
            }
        }
    }
    for (nic, slot) in nics.iter().zip(found.iter_mut()) {
        if slot.is_none() {
            *slot = by_name(&mut taken, nic, false);
        }
    }
    // An interface Proxbox took over under another tool's name (`eth0`) is found by its MAC;
    // should that NIC's MAC change, the one such interface left is still that NIC's when it
    // is the only NIC left: it keeps its id rather than making way for a new `net0`.
    let unmatched: Vec<usize> = (0..nics.len()).filter(|i| found[*i].is_none()).collect();
    let renamed: Vec<&'a VmInterface> = interfaces
        .iter()
        .copied()
        .filter(|i| !taken.contains(&i.id) && is_managed(&i.tags))
        .filter(|i| !is_nic_key(&i.name))
        .collect();
    if let ([nic], [interface]) = (unmatched.as_slice(), renamed.as_slice()) {
        found[*nic] = Some(Found::Adopted(interface, AdoptedBy::Mac));
    }
    found
        .into_iter()
        .map(|slot| slot.unwrap_or(Found::New))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::sync::stages::fixtures::model;
    use serde_json::json;

    fn interface(id: u64, name: &str) -> VmInterface {
        model(json!({"id": id, "virtual_machine": {"id": 7}, "name": name, "tags": []}))
    }

    fn ids(found: &[Found<'_, VmInterface>]) -> Vec<Option<(u64, AdoptedBy)>> {
        found
            .iter()
            .map(|f| f.adopted().map(|(i, how)| (i.id, how)))
            .collect()
    }

    /// The guest sees its NIC as `eth0`, and so did whoever entered it: the MAC says which
    /// interface is `net0`; a NIC whose MAC nothing carries takes the one of its name;
    /// Proxbox's own interface of a NIC's name is that NIC's, whatever MAC it carries.
    #[test]
    fn the_mac_comes_before_the_name() {
        let mut own = interface(4, "net3");
        own.tags = serde_json::from_value(json!([{"id": 1, "slug": "proxbox"}])).unwrap();
        let existing = [
            interface(1, "eth0"),
            interface(2, "net0"),
            interface(3, "net1"),
            own,
        ];
        let all: Vec<&VmInterface> = existing.iter().collect();
        let first = "bc:24:11:00:00:01".to_string();
        let macs: HashMap<u64, Vec<String>> = [(1, vec![first.clone()]), (4, vec![first])].into();
        let nics = [
            Nic {
                key: "net0",
                mac: Some("BC:24:11:00:00:01"),
            },
            Nic {
                key: "net1",
                mac: Some("BC:24:11:00:00:02"),
            },
            Nic {
                key: "net2",
                mac: None,
            },
            Nic {
                key: "net3",
                mac: Some("BC:24:11:00:00:01"),
            },
        ];
        let found = adopt_interfaces(&nics, &all, &macs);
        assert_eq!(
            ids(&found),
            [
                Some((1, AdoptedBy::Mac)),
                Some((3, AdoptedBy::NameOnParent)),
                None,
                Some((4, AdoptedBy::NameOnParent))
            ]
        );
    }

    /// Taken over as `eth0` by its MAC, then the NIC's MAC changed in Proxmox: still that
    /// NIC's interface (same id), not a new `net0`; with two such changes at once nothing
    /// says which is which, and each NIC gets its own.
    #[test]
    fn an_interface_taken_over_by_mac_stays_its_nics_when_the_mac_changes() {
        let mut taken_over = interface(1, "eth0");
        taken_over.tags = serde_json::from_value(json!([{"id": 1, "slug": "proxbox"}])).unwrap();
        let mut own = interface(2, "net1");
        own.tags = taken_over.tags.clone();
        let existing = [taken_over.clone(), own];
        let all: Vec<&VmInterface> = existing.iter().collect();
        let macs: HashMap<u64, Vec<String>> = [(1, vec!["bc:24:11:00:00:01".to_string()])].into();
        let nics = [
            Nic {
                key: "net0",
                mac: Some("BC:24:11:00:00:99"),
            },
            Nic {
                key: "net1",
                mac: Some("BC:24:11:00:00:02"),
            },
        ];
        let found = adopt_interfaces(&nics, &all, &macs);
        assert_eq!(
            ids(&found),
            [
                Some((1, AdoptedBy::Mac)),
                Some((2, AdoptedBy::NameOnParent))
            ]
        );
        let mut second = taken_over;
        second.id = 3;
        second.name = "eth1".into();
        let existing = [existing[0].clone(), second];
        let all: Vec<&VmInterface> = existing.iter().collect();
        let nics = [
            Nic {
                key: "net0",
                mac: Some("BC:24:11:00:00:98"),
            },
            Nic {
                key: "net1",
                mac: Some("BC:24:11:00:00:97"),
            },
        ];
        assert_eq!(ids(&adopt_interfaces(&nics, &all, &macs)), [None, None]);
    }

    #[test]
    fn two_interfaces_carrying_one_mac_are_a_conflict() {
        let existing = [interface(1, "eth0"), interface(2, "ens18")];
        let all: Vec<&VmInterface> = existing.iter().collect();
        let mac = "bc:24:11:00:00:01".to_string();
        let macs: HashMap<u64, Vec<String>> = [(1, vec![mac.clone()]), (2, vec![mac])].into();
        let nics = [Nic {
            key: "net0",
            mac: Some("BC:24:11:00:00:01"),
        }];
        let found = adopt_interfaces(&nics, &all, &macs);
        assert!(matches!(&found[0], Found::Conflict(AdoptedBy::Mac, ids) if ids == &[1, 2]));
    }
}
