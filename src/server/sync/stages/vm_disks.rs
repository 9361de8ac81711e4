//! `vm-disks`: each guest's disks (`scsi0`, `virtio1`, `rootfs`, `mp0`…, CD-ROMs excluded)
//! become NetBox virtual disks with their size; disks Proxbox made that are gone from the
//! guest are removed. Disks an operator added by hand (without the proxbox tag) stay.

use std::collections::HashMap;

use proxbox_netbox::models::*;

use super::devices::PROXBOX_TAG;
use super::virtual_machines::SyncedGuest;
use crate::events::{ItemStatus, StepStatus};
use crate::server::sync::context::{StageError, SyncContext};
use crate::server::sync::overwrite::Field;
use crate::server::sync::report::StageReport;

pub async fn run(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    guests: &[SyncedGuest],
) -> Result<(), StageError> {
    let nb = ctx.netbox;
    report.substep(
        "read-netbox",
        StepStatus::Started,
        "Reading the virtual disks of the synced guests",
    );
    let vm_ids: Vec<u64> = guests.iter().map(|g| g.vm_id).collect();
    let existing: Vec<VirtualDisk> = nb.list_in("virtual_machine_id", &vm_ids).await?;
    report.substep(
        "read-netbox",
        StepStatus::Completed,
        format!("{} virtual disks", existing.len()),
    );
    let mut on_vm: HashMap<u64, Vec<&VirtualDisk>> = HashMap::new();
    for disk in &existing {
        on_vm.entry(disk.virtual_machine.id).or_default().push(disk);
    }
    let managed = |d: &VirtualDisk| {
        d.tags
            .iter()
            .any(|t| t.slug.as_deref() == Some(PROXBOX_TAG))
    };

    // (item name, write) per planned change.
    let mut creates: Vec<(String, VirtualDiskWrite)> = Vec::new();
    let mut updates: Vec<(String, VirtualDiskWrite)> = Vec::new();
    let mut deletes: Vec<(String, u64)> = Vec::new();
    let mut planned = Vec::new();
    for guest in guests {
        let current = on_vm.get(&guest.vm_id).cloned().unwrap_or_default();
        for (key, size) in &guest.disks {
            let item = format!("{}/{key}", guest.name);
            match current.iter().find(|d| &d.name == key) {
                Some(disk) => match ctx.policy.update(Field::Disk, &disk.size, *size) {
                    Some(size) => updates.push((
                        item,
                        VirtualDiskWrite {
                            id: Some(disk.id),
                            size: Some(size),
                            ..Default::default()
                        },
                    )),
                    None => planned.push((item, ItemStatus::Skipped, Some(disk.id))),
                },
                None => creates.push((
                    item,
                    VirtualDiskWrite {
                        virtual_machine: Some(guest.vm_id),
                        name: Some(key.clone()),
                        size: Some(*size),
                        tags: Some(vec![TagRef {
                            slug: PROXBOX_TAG.into(),
                        }]),
                        ..Default::default()
                    },
                )),
            }
        }
        for stale in current
            .iter()
            .filter(|d| managed(d) && !guest.disks.iter().any(|(key, _)| key == &d.name))
        {
            deletes.push((format!("{}/{}", guest.name, stale.name), stale.id));
        }
    }
    report.expect(planned.len() + creates.len() + updates.len() + deletes.len());
    for (item, status, id) in planned {
        report.item(&item, "disk", "virtual disk", status, id, None);
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
    for (writes, status) in [
        (&creates, ItemStatus::Created),
        (&updates, ItemStatus::Updated),
    ] {
        let bodies: Vec<VirtualDiskWrite> = writes.iter().map(|(_, w)| w.clone()).collect();
        let outcome = if status == ItemStatus::Created {
            nb.create::<VirtualDisk, _>(&bodies).await?
        } else {
            nb.update::<VirtualDisk, _>(&bodies).await?
        };
        for (index, disk) in &outcome.done {
            report.item(
                &writes[*index].0,
                "disk",
                "virtual disk",
                status,
                Some(disk.id),
                None,
            );
        }
        for failure in &outcome.failed {
            report.item(
                &writes[failure.index].0,
                "disk",
                "virtual disk",
                ItemStatus::Failed,
                None,
                Some(failure.error.to_string()),
            );
        }
    }
    let ids: Vec<u64> = deletes.iter().map(|(_, id)| *id).collect();
    let deleted = nb.delete::<VirtualDisk>(&ids).await?;
    for (index, id) in &deleted.done {
        report.item(
            &deletes[*index].0,
            "disk",
            "virtual disk",
            ItemStatus::Deleted,
            Some(*id),
            None,
        );
    }
    for failure in &deleted.failed {
        report.item(
            &deletes[failure.index].0,
            "disk",
            "virtual disk",
            ItemStatus::Failed,
            None,
            Some(failure.error.to_string()),
        );
    }
    report.substep("apply", StepStatus::Completed, "Virtual disks written");
    Ok(())
}
