//! Which of a VM's interfaces in NetBox is a NIC's: first the one carrying the NIC's MAC
//! address (another tool, or an operator, may have named it as the guest sees it, `eth0`),
//! then the one of the NIC's name (`net0`, as Proxbox names them). An interface is taken
//! once; two carrying one MAC are a conflict.

use std::collections::{HashMap, HashSet};

use proxbox_netbox::models::{MacAddress, VmInterface};

use super::{AdoptedBy, Found};

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

/// What each NIC of one VM found among that VM's interfaces, in the NICs' order.
pub fn adopt_interfaces<'a>(
    nics: &[Nic<'_>],
    interfaces: &[&'a VmInterface],
    macs: &HashMap<u64, Vec<String>>,
) -> Vec<Found<'a, VmInterface>> {
    let mut taken: HashSet<u64> = HashSet::new();
    let mut found: Vec<Option<Found<'a, VmInterface>>> = vec![None; nics.len()];
    for (nic, slot) in nics.iter().zip(found.iter_mut()) {
        let Some(mac) = nic.mac.map(str::to_ascii_lowercase) else {
            continue;
        };
        let carrying: Vec<&'a VmInterface> = interfaces
            .iter()
            .copied()
            .filter(|i| macs.get(&i.id).is_some_and(|m| m.contains(&mac)))
            .collect();
        match carrying.as_slice() {
            [] => {}
            [only] if taken.insert(only.id) => *slot = Some(Found::Adopted(only, AdoptedBy::Mac)),
            [_] => {}
            several => {
                *slot = Some(Found::Conflict(
                    AdoptedBy::Mac,
                    several.iter().map(|i| i.id).collect(),
                ))
            }
        }
    }
    for (nic, slot) in nics.iter().zip(found.iter_mut()) {
        if slot.is_some() {
            continue;
        }
        let named = interfaces
            .iter()
            .copied()
            .find(|i| i.name == nic.key && !taken.contains(&i.id));
        if let Some(interface) = named {
            taken.insert(interface.id);
            *slot = Some(Found::Adopted(interface, AdoptedBy::NameOnParent));
        }
    }
    found
        .into_iter()
        .map(|slot| slot.unwrap_or(Found::New))
        .collect()
}
