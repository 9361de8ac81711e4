use super::*;
use crate::server::sync::overwrite::Overwrite;
use crate::server::sync::stages::fixtures::{guest, managed, model, slugs};
use crate::server::sync::state::GuestDisk;
use serde_json::json;

fn disk(id: u64, vm: u64, name: &str, size: u64, tags: serde_json::Value) -> VirtualDisk {
    model(
        json!({"id": id, "virtual_machine": {"id": vm}, "name": name, "size": size, "tags": tags}),
    )
}

fn with_disks(disks: &[(&str, u64)]) -> SyncedGuest {
    let mut g = guest("web", 7);
    g.disks = disks
        .iter()
        .map(|(k, s)| GuestDisk::new(*k, format!("local-lvm:vm-100-disk-{k}"), *s))
        .collect();
    g
}

#[test]
fn new_changed_unchanged_and_gone_disks() {
    let guests = [with_disks(&[
        ("scsi0", 10240),
        ("scsi1", 2048),
        ("virtio0", 512),
    ])];
    let existing = [
        disk(1, 7, "scsi0", 10240, managed()),
        disk(2, 7, "scsi1", 1024, managed()),
        disk(3, 7, "scsi2", 100, managed()),
        disk(4, 7, "by-hand", 1, json!([])),
    ];
    let plan = plan(&guests, &existing, &OverwritePolicy::default());
    assert_eq!(plan.skips.len(), 1, "scsi0 unchanged");
    assert_eq!(plan.updates.len(), 1);
    assert_eq!(
        (plan.updates[0].id, plan.updates[0].body.size),
        (Some(2), Some(2048))
    );
    assert_eq!(plan.creates[0].body.name.as_deref(), Some("virtio0"));
    assert_eq!(plan.creates[0].body.virtual_machine, Some(7));
    assert_eq!(
        plan.deletes,
        [(Label::new("web/scsi2", "disk", "virtual disk"), 3)],
        "only Proxbox's own stale disk goes; the hand-made one stays"
    );
}

#[test]
fn a_resized_disk_stays_when_disk_is_set_on_create_only() {
    let guests = [with_disks(&[("scsi0", 20480)])];
    let existing = [disk(1, 7, "scsi0", 10240, managed())];
    let mut policy = OverwritePolicy::default();
    policy.0.insert(Field::Disk, Overwrite::OnCreate);
    assert!(plan(&guests, &existing, &policy).writes_nothing());
}

#[test]
fn disks_of_another_vm_are_not_this_guests() {
    let guests = [with_disks(&[("scsi0", 10240)])];
    let existing = [disk(1, 8, "scsi0", 10240, managed())];
    let plan = plan(&guests, &existing, &OverwritePolicy::default());
    assert_eq!(plan.creates.len(), 1);
    assert!(plan.deletes.is_empty());
}

/// netbox-ssot names a disk by its Proxmox volume: taken over by it, renamed to its key
/// (so that moving the volume to another storage keeps it), tagged; the operator's disk of
/// another name stays, and one of the key comes before one of the volume.
#[test]
fn a_disk_named_by_its_volume_is_taken_over_and_renamed_to_its_key() {
    let guests = [with_disks(&[("scsi0", 10240), ("scsi1", 2048)])];
    let ssot = json!([{"id": 9, "slug": "netbox-ssot"}]);
    let existing = [
        disk(1, 7, "local-lvm:vm-100-disk-scsi0", 10000, ssot.clone()),
        disk(2, 7, "scsi1", 2048, json!([])),
        disk(3, 7, "local-lvm:vm-100-disk-scsi1", 2000, ssot),
    ];
    let plan = plan(&guests, &existing, &OverwritePolicy::default());
    assert!(
        plan.creates.is_empty() && plan.deletes.is_empty(),
        "{plan:?}"
    );
    let scsi0 = &plan.updates[0];
    assert_eq!(scsi0.id, Some(1));
    assert_eq!(scsi0.body.name.as_deref(), Some("scsi0"));
    assert_eq!(
        scsi0.label.takeover,
        Some(crate::events::Takeover::Adopted(
            "by its Proxmox volume".into()
        ))
    );
    assert_eq!(
        slugs(&scsi0.body.tags),
        ["netbox-ssot", "proxbox"],
        "its own tag stays"
    );
    let scsi1 = &plan.updates[1];
    assert_eq!(
        (scsi1.id, scsi1.body.name.as_deref()),
        (Some(2), None),
        "the key's disk, as it is named"
    );
    // Taken over, the next sync finds it by its key: nothing to write.
    let taken = [
        disk(1, 7, "scsi0", 10240, managed()),
        disk(2, 7, "scsi1", 2048, managed()),
        disk(
            3,
            7,
            "local-lvm:vm-100-disk-scsi1",
            2000,
            json!([{"id": 9, "slug": "netbox-ssot"}]),
        ),
    ];
    assert!(plan_again(&guests, &taken).writes_nothing());
}

fn plan_again(guests: &[SyncedGuest], existing: &[VirtualDisk]) -> Plan<VirtualDiskWrite> {
    plan(guests, existing, &OverwritePolicy::default())
}
