//! What other tools record on the VMs they write, that tells which guest a VM is: the VMID,
//! in a custom field of their own (`docs/takeover.md` cites the code that writes each).

use proxbox_netbox::models::CustomFields;
use serde_json::Value;

/// Custom fields that hold a guest's VMID, and the tool that writes each: an integer in
/// the system Proxbox replaces (proxbox-api; `proxmox_id` in its 2021 plugin), a decimal
/// string in netbox-ssot (whose `source_id` holds the VMID on a Proxmox source's VMs).
pub const VMID_FIELDS: [(&str, &str); 3] = [
    ("proxmox_vm_id", "netbox-proxbox"),
    ("proxmox_id", "netbox-proxbox 0.0.5"),
    ("source_id", "netbox-ssot"),
];

/// The VMID another tool recorded in `fields`, if one did.
pub fn recorded_vmid(fields: &CustomFields) -> Option<u64> {
    VMID_FIELDS
        .iter()
        .find_map(|(name, _)| match fields.get(*name)? {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> CustomFields {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_vmid_is_read_as_each_tool_writes_it() {
        assert_eq!(
            recorded_vmid(&fields(json!({"proxmox_vm_id": 101}))),
            Some(101)
        );
        assert_eq!(
            recorded_vmid(&fields(json!({"source_id": "102"}))),
            Some(102)
        );
        assert_eq!(
            recorded_vmid(&fields(json!({"proxmox_id": 103}))),
            Some(103)
        );
        assert_eq!(recorded_vmid(&fields(json!({"proxmox_vm_id": null}))), None);
        assert_eq!(recorded_vmid(&fields(json!({"source_id": "vm-7"}))), None);
        assert_eq!(recorded_vmid(&fields(json!({"owner": 5}))), None);
    }
}
