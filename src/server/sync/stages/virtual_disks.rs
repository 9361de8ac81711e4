//! `virtual-disks`: each guest's disks (`scsi0`, `virtio1`, `rootfs`, `mp0`…, CD-ROMs
//! excluded) become NetBox virtual disks with their size; disks Proxbox made that are gone
//! from the guest are removed. Disks an operator added by hand (without the proxbox tag)
//! stay.

use std::collections::{HashMap, HashSet};

use proxbox_netbox::models::*;

use crate::events::{Item, StepStatus};
use crate::server::sync::adopt::AdoptedBy;
use crate::server::sync::apply;
use crate::server::sync::context::SyncContext;
use crate::server::sync::failure::StageError;
use crate::server::sync::managed::{adoption_tags, is_managed, tags};
use crate::server::sync::overwrite::{Field, OverwritePolicy};
use crate::server::sync::plan::{Label, Plan};
use crate::server::sync::report::StageReport;
use crate::server::sync::state::{RunState, SyncedGuest};

fn label(guest: &SyncedGuest, key: &str) -> Label {
    Label::new(format!("{}/{key}", guest.name), "disk", "virtual disk")
}

/// Each guest's disks against the virtual disks NetBox has on its VM: the one of the disk's
/// key, else one named by its Proxmox volume (as netbox-ssot names them), renamed to the
/// key so that a later move of the volume keeps it; Proxbox's disks no disk took are
/// removed.
pub fn plan(
    guests: &[SyncedGuest],
    existing: &[VirtualDisk],
    policy: &OverwritePolicy,
) -> Plan<VirtualDiskWrite> {
    let mut on_vm: HashMap<u64, Vec<&VirtualDisk>> = HashMap::new();
    for disk in existing {
        on_vm.entry(disk.virtual_machine.id).or_default().push(disk);
    }
    let mut plan = Plan::new("virtual disks");
    for guest in guests {
        let current = on_vm
            .get(&guest.vm_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut taken = HashSet::new();
        let by_key: Vec<Option<&VirtualDisk>> = guest
            .disks
            .iter()
            .map(|d| {
                let found = current.iter().copied().find(|nb| nb.name == d.key)?;
                taken.insert(found.id);
                Some(found)
            })
            .collect();
        for (disk, by_key) in guest.disks.iter().zip(by_key) {
            let found = by_key.map(|nb| (nb, AdoptedBy::NameOnParent)).or_else(|| {
                let nb = current
                    .iter()
                    .copied()
                    .find(|nb| nb.name == disk.volume && !taken.contains(&nb.id))?;
                taken.insert(nb.id);
                Some((nb, AdoptedBy::Volume))
            });
            let label = label(guest, &disk.key);
            match found {
                Some((nb, how)) => {
                    let tags = adoption_tags(&nb.tags);
                    let label = match tags {
                        Some(_) => label.adopted(how.words()),
                        None => label,
                    };
                    let patch = VirtualDiskWrite {
                        id: Some(nb.id),
                        name: (nb.name != disk.key).then(|| disk.key.clone()),
                        size: policy.update(Field::Disk, &nb.size, disk.size_mb),
                        tags,
                        ..Default::default()
                    };
                    plan.update((), label, nb.id, patch);
                }
                None => plan.create(
                    (),
                    label,
                    VirtualDiskWrite {
                        virtual_machine: Some(guest.vm_id),
                        name: Some(disk.key.clone()),
                        size: Some(disk.size_mb),
                        tags: tags(),
                        ..Default::default()
                    },
                ),
            }
        }
        for stale in current
            .iter()
            .filter(|d| is_managed(&d.tags) && !taken.contains(&d.id))
        {
            plan.delete(label(guest, &stale.name), stale.id);
        }
    }
    plan
}

pub async fn run(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &mut RunState,
) -> Result<(), StageError> {
    report.discover(
        "virtual disks",
        state
            .guests
            .iter()
            .flat_map(|g| {
                g.disks
                    .iter()
                    .map(|d| Item::new(format!("{}/{}", g.name, d.key), "disk"))
            })
            .collect(),
    );
    report.substep(
        "read-netbox",
        StepStatus::Started,
        "Reading the virtual disks of the synced guests",
    );
    let existing: Vec<VirtualDisk> = ctx.read_in("virtual_machine_id", &state.vm_ids()).await?;
    report.substep(
        "read-netbox",
        StepStatus::Completed,
        format!("{} virtual disks", existing.len()),
    );
    let plan = plan(&state.guests, &existing, &ctx.policy);
    report.substep("apply", StepStatus::Started, plan.summary());
    apply::apply::<VirtualDisk, _, _>(ctx, report, &plan).await?;
    report.substep("apply", StepStatus::Completed, "Virtual disks written");
    Ok(())
}

#[cfg(test)]
#[path = "virtual_disks_tests.rs"]
mod tests;
