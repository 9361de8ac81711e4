//! `vm-disks`: each guest's disks (`scsi0`, `virtio1`, `rootfs`, `mp0`…, CD-ROMs excluded)
//! become NetBox virtual disks with their size; disks Proxbox made that are gone from the
//! guest are removed. Disks an operator added by hand (without the proxbox tag) stay.

use std::collections::HashMap;

use proxbox_netbox::models::*;

use super::devices::{is_managed, tags};
use crate::events::{ItemStatus, StepStatus};
use crate::server::sync::apply::{self, Label, Write};
use crate::server::sync::context::{StageError, SyncContext};
use crate::server::sync::overwrite::Field;
use crate::server::sync::report::StageReport;
use crate::server::sync::run::RunState;

pub async fn run(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &mut RunState,
) -> Result<(), StageError> {
    report.substep(
        "read-netbox",
        StepStatus::Started,
        "Reading the virtual disks of the synced guests",
    );
    let vm_ids = state.vm_ids();
    let existing: Vec<VirtualDisk> = ctx.read_in("virtual_machine_id", &vm_ids).await?;
    report.substep(
        "read-netbox",
        StepStatus::Completed,
        format!("{} virtual disks", existing.len()),
    );
    let mut on_vm: HashMap<u64, Vec<&VirtualDisk>> = HashMap::new();
    for disk in &existing {
        on_vm.entry(disk.virtual_machine.id).or_default().push(disk);
    }

    let mut creates: Vec<Write<VirtualDiskWrite>> = Vec::new();
    let mut updates: Vec<Write<VirtualDiskWrite>> = Vec::new();
    let mut deletes: Vec<(Label, u64)> = Vec::new();
    let mut unchanged: Vec<(Label, u64)> = Vec::new();
    for guest in &state.guests {
        let current = on_vm.get(&guest.vm_id).cloned().unwrap_or_default();
        let label = |key: &str| Label::new(format!("{}/{key}", guest.name), "disk", "virtual disk");
        for (key, size) in &guest.disks {
            match current.iter().find(|d| &d.name == key) {
                Some(disk) => match ctx.policy.update(Field::Disk, &disk.size, *size) {
                    Some(size) => updates.push(Write {
                        label: label(key),
                        id: Some(disk.id),
                        body: VirtualDiskWrite {
                            id: Some(disk.id),
                            size: Some(size),
                            ..Default::default()
                        },
                    }),
                    None => unchanged.push((label(key), disk.id)),
                },
                None => creates.push(Write {
                    label: label(key),
                    id: None,
                    body: VirtualDiskWrite {
                        virtual_machine: Some(guest.vm_id),
                        name: Some(key.clone()),
                        size: Some(*size),
                        tags: tags(),
                        ..Default::default()
                    },
                }),
            }
        }
        for stale in current
            .iter()
            .filter(|d| is_managed(&d.tags) && !guest.disks.iter().any(|(key, _)| key == &d.name))
        {
            deletes.push((label(&stale.name), stale.id));
        }
    }
    report.expect(unchanged.len() + creates.len() + updates.len() + deletes.len());
    for (label, id) in &unchanged {
        report.labeled(label, ItemStatus::Skipped, Some(*id), None);
    }

    report.substep(
        "apply",
        StepStatus::Started,
        format!(
            "{} virtual disks to create, {} to update, {} to remove",
            creates.len(),
            updates.len(),
            deletes.len()
        ),
    );
    apply::create::<VirtualDisk, _>(ctx, report, &creates).await?;
    apply::update::<VirtualDisk, _>(ctx, report, &updates).await?;
    apply::delete::<VirtualDisk>(ctx, report, &deletes).await?;
    report.substep("apply", StepStatus::Completed, "Virtual disks written");
    Ok(())
}
