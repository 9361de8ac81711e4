//! `virtual-disks`: each guest's disks (`scsi0`, `virtio1`, `rootfs`, `mp0`…, CD-ROMs
//! excluded) become NetBox virtual disks with their size; disks Proxbox made that are gone
//! from the guest are removed. Disks an operator added by hand (without the proxbox tag)
//! stay.

use std::collections::HashMap;

use proxbox_netbox::models::*;

use crate::events::{Item, StepStatus};
use crate::server::sync::apply;
use crate::server::sync::context::SyncContext;
use crate::server::sync::failure::StageError;
use crate::server::sync::managed::{is_managed, tags};
use crate::server::sync::overwrite::{Field, OverwritePolicy};
use crate::server::sync::plan::{Label, Plan};
use crate::server::sync::report::StageReport;
use crate::server::sync::state::{RunState, SyncedGuest};

fn label(guest: &SyncedGuest, key: &str) -> Label {
    Label::new(format!("{}/{key}", guest.name), "disk", "virtual disk")
}

/// Each guest's disks against the virtual disks NetBox has on its VM.
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
        for (key, size) in &guest.disks {
            match current.iter().find(|d| &d.name == key) {
                Some(disk) => {
                    let patch = VirtualDiskWrite {
                        id: Some(disk.id),
                        size: policy.update(Field::Disk, &disk.size, *size),
                        ..Default::default()
                    };
                    plan.update((), label(guest, key), disk.id, patch);
                }
                None => plan.create(
                    (),
                    label(guest, key),
                    VirtualDiskWrite {
                        virtual_machine: Some(guest.vm_id),
                        name: Some(key.clone()),
                        size: Some(*size),
                        tags: tags(),
                        ..Default::default()
                    },
                ),
            }
        }
        for stale in current
            .iter()
            .filter(|d| is_managed(&d.tags) && !guest.disks.iter().any(|(key, _)| key == &d.name))
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
                    .map(|(key, _)| Item::new(format!("{}/{key}", g.name), "disk"))
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
