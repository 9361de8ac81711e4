//! The NetBox models the copy keeps: their change-log names, the list filters the copy
//! answers for them, and what it keeps of their JSON.

use std::collections::HashSet;
use std::sync::OnceLock;

use proxbox_netbox::models::*;
use proxbox_netbox::reads::fields_param;
use serde_json::Value;

/// A NetBox model the copy keeps, with the list filters it can answer.
pub trait Mirrored: Model {
    /// Its name in the change log (`app_label.model`).
    const OBJECT_TYPE: &'static str;
    /// The id this object has for a list filter (`cluster_id` of a VM is its cluster's
    /// id), as NetBox's filter would match it; `None` when it has none.
    fn filter_key(&self, field: &str) -> Option<u64>;
}

fn ref_id(r: &Option<Ref>) -> Option<u64> {
    r.as_ref().map(|r| r.id)
}

fn vm_interface_id(object_type: &Option<String>, id: Option<u64>) -> Option<u64> {
    (object_type.as_deref() == Some(VM_INTERFACE))
        .then_some(id)
        .flatten()
}

impl Mirrored for VirtualMachine {
    const OBJECT_TYPE: &'static str = "virtualization.virtualmachine";
    fn filter_key(&self, field: &str) -> Option<u64> {
        (field == "cluster_id")
            .then(|| ref_id(&self.cluster))
            .flatten()
    }
}

impl Mirrored for VirtualDisk {
    const OBJECT_TYPE: &'static str = "virtualization.virtualdisk";
    fn filter_key(&self, field: &str) -> Option<u64> {
        (field == "virtual_machine_id").then_some(self.virtual_machine.id)
    }
}

impl Mirrored for VmInterface {
    const OBJECT_TYPE: &'static str = VM_INTERFACE;
    fn filter_key(&self, field: &str) -> Option<u64> {
        (field == "virtual_machine_id").then_some(self.virtual_machine.id)
    }
}

impl Mirrored for MacAddress {
    const OBJECT_TYPE: &'static str = "dcim.macaddress";
    fn filter_key(&self, field: &str) -> Option<u64> {
        (field == "vminterface_id")
            .then(|| vm_interface_id(&self.assigned_object_type, self.assigned_object_id))
            .flatten()
    }
}

impl Mirrored for IpAddress {
    const OBJECT_TYPE: &'static str = "ipam.ipaddress";
    fn filter_key(&self, field: &str) -> Option<u64> {
        (field == "vminterface_id")
            .then(|| vm_interface_id(&self.assigned_object_type, self.assigned_object_id))
            .flatten()
    }
}

/// What the copy needs to know of a kept model without its Rust type.
pub(super) struct Kind {
    pub(super) object_type: &'static str,
    pub(super) path: &'static str,
    pub(super) fields: Option<String>,
    /// The object whose counters and totals NetBox recomputes, without a change log entry,
    /// when this one changes (a VM's `disk` and `virtual_disk_count` for its disks).
    pub(super) parent: fn(&Value) -> Option<(&'static str, u64)>,
    /// (model, filter) of the objects that hang on this one: a newly created object has
    /// none yet, so the copy answers those filters for it without asking.
    pub(super) children: &'static [(&'static str, &'static str)],
}

fn no_parent(_: &Value) -> Option<(&'static str, u64)> {
    None
}

fn kind<M: Mirrored>(
    parent: fn(&Value) -> Option<(&'static str, u64)>,
    children: &'static [(&'static str, &'static str)],
) -> Kind {
    Kind {
        object_type: M::OBJECT_TYPE,
        path: M::PATH,
        fields: fields_param::<M>(),
        parent,
        children,
    }
}

/// What the copy keeps, as one text (model and fields per kind): a copy built by a Proxbox
/// that read other fields is rebuilt, not trusted.
pub(super) fn shape() -> String {
    kinds()
        .iter()
        .map(|k| format!("{}:{}", k.object_type, k.fields.as_deref().unwrap_or("*")))
        .collect::<Vec<_>>()
        .join(";")
}

pub(super) fn kinds() -> &'static [Kind] {
    static KINDS: OnceLock<Vec<Kind>> = OnceLock::new();
    KINDS.get_or_init(|| {
        vec![
            kind::<VirtualMachine>(
                no_parent,
                &[
                    (VirtualDisk::OBJECT_TYPE, "virtual_machine_id"),
                    (VmInterface::OBJECT_TYPE, "virtual_machine_id"),
                ],
            ),
            kind::<VirtualDisk>(
                |disk| {
                    let vm = disk.get("virtual_machine")?.get("id")?.as_u64()?;
                    Some((VirtualMachine::OBJECT_TYPE, vm))
                },
                &[],
            ),
            kind::<VmInterface>(
                no_parent,
                &[
                    (MacAddress::OBJECT_TYPE, "vminterface_id"),
                    (IpAddress::OBJECT_TYPE, "vminterface_id"),
                ],
            ),
            kind::<MacAddress>(no_parent, &[]),
            kind::<IpAddress>(no_parent, &[]),
        ]
    })
}

pub(super) fn kind_of_type(object_type: &str) -> Option<&'static Kind> {
    kinds().iter().find(|k| k.object_type == object_type)
}

pub(super) fn kind_of_path(path: &str) -> Option<&'static Kind> {
    kinds().iter().find(|k| k.path == path)
}

/// NetBox's JSON of an object with only the fields the copy keeps.
pub(super) fn pruned(kind: &Kind, object: &Value) -> Value {
    match (kind.fields.as_deref(), object) {
        (Some(fields), Value::Object(map)) => {
            let keep: HashSet<&str> = fields.split(',').collect();
            Value::Object(
                map.iter()
                    .filter(|(k, _)| keep.contains(k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        }
        _ => object.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_as_netbox_filters_them() {
        let ip: IpAddress = serde_json::from_value(serde_json::json!({
            "id": 4, "address": "10.0.0.4/24", "status": {"value": "active"},
            "assigned_object_type": "virtualization.vminterface", "assigned_object_id": 77
        }))
        .unwrap();
        assert_eq!(ip.filter_key("vminterface_id"), Some(77));
        assert_eq!(ip.filter_key("interface_id"), None);
        let on_device: MacAddress = serde_json::from_value(serde_json::json!({
            "id": 5, "mac_address": "BC:24:11:00:00:01",
            "assigned_object_type": "dcim.interface", "assigned_object_id": 77
        }))
        .unwrap();
        assert_eq!(on_device.filter_key("vminterface_id"), None);
    }

    #[test]
    fn kept_bodies_hold_only_the_fields_read() {
        let kind = kind_of_type(VirtualDisk::OBJECT_TYPE).unwrap();
        let full = serde_json::json!({"id": 1, "url": "http://x", "name": "scsi0", "size": 10,
            "virtual_machine": {"id": 3, "name": "vm"}, "created": "2026-01-01", "tags": []});
        let kept = pruned(kind, &full);
        assert!(kept.get("url").is_none() && kept.get("created").is_none());
        assert_eq!((kind.parent)(&kept), Some((VirtualMachine::OBJECT_TYPE, 3)));
        let disk: VirtualDisk = serde_json::from_value(kept).unwrap();
        assert_eq!(disk.size, 10);
    }
}
