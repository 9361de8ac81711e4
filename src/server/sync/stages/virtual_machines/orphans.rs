//! The VMs of guests gone from Proxmox: which mapped identities Proxmox no longer lists,
//! and which of those are due for deletion once their grace period is over.

use std::collections::HashMap;

use proxbox_netbox::models::VirtualMachine;

use super::Inputs;
use crate::server::sync::adopt::{still_ours, Adopter};
use crate::server::sync::context::RunOptions;

/// A VM whose guest is gone from Proxmox and is due for deletion.
#[derive(Debug, Clone, PartialEq)]
pub struct Orphan {
    pub endpoint_id: i64,
    pub identity: String,
    pub netbox_id: u64,
}

/// Mapped identities Proxmox no longer lists, per endpoint, sorted; none of an endpoint
/// whose list came back incomplete.
pub fn absent(inputs: &Inputs) -> Vec<(i64, Vec<String>)> {
    let mut absent: Vec<(i64, Vec<String>)> = inputs
        .mapped
        .iter()
        .filter(|(endpoint_id, _)| !inputs.incomplete.contains(endpoint_id))
        .map(|(endpoint_id, map)| {
            let mut gone: Vec<String> = map
                .keys()
                .filter(|identity| !inputs.present.contains(*identity))
                .cloned()
                .collect();
            gone.sort();
            (*endpoint_id, gone)
        })
        .filter(|(_, gone)| !gone.is_empty())
        .collect();
    absent.sort();
    absent
}

/// Mapped VMs whose guest has been gone for the grace period, that still exist as that
/// guest's VM (as read now: after NetBox was restored from a backup, the remembered id may
/// be another tool's VM) and that no present guest adopted.
pub(super) fn due_orphans(
    inputs: &Inputs,
    adopter: &Adopter<'_, VirtualMachine>,
    options: &RunOptions,
) -> Vec<Orphan> {
    let grace_ms = options.orphan_grace.as_millis() as i64;
    let existing: HashMap<u64, &VirtualMachine> =
        inputs.existing.iter().map(|v| (v.id, v)).collect();
    let mut due = Vec::new();
    for (endpoint_id, gone) in absent(inputs) {
        let map = &inputs.mapped[&endpoint_id];
        for identity in gone {
            let mapped = &map[&identity];
            let netbox_id = mapped.netbox_id as u64;
            // A dry run has not recorded the absence: it counts from now.
            let since = mapped.missing_since.unwrap_or(inputs.now_ms);
            let still_its_vm = existing
                .get(&netbox_id)
                .is_some_and(|vm| still_ours(*vm, &identity, None));
            if still_its_vm && !adopter.is_claimed(netbox_id) && inputs.now_ms - since >= grace_ms {
                due.push(Orphan {
                    endpoint_id,
                    identity,
                    netbox_id,
                });
            }
        }
    }
    due
}
