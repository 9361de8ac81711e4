//! Guests under Proxmox HA: each guest's HA resource (`/cluster/ha/resources`: the state
//! HA keeps it in, its group), on its card and in the VM's `proxmox_ha` custom field.

use std::collections::HashMap;

use proxbox_netbox::models::CustomFields;
use proxbox_pve::{GuestKind, HaResource};
use serde_json::{json, Value};

use crate::models::HaRecord;
use crate::server::sync::managed::HA_FIELD;

/// What the run knows of a guest's HA.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Ha {
    /// The cluster's HA resources could not be read: NetBox's field is left as it is.
    #[default]
    Unread,
    /// HA does not manage the guest.
    Off,
    On(HaRecord),
}

impl Ha {
    pub fn record(&self) -> Option<HaRecord> {
        match self {
            Ha::On(record) => Some(record.clone()),
            _ => None,
        }
    }

    /// The value `proxmox_ha` should hold (null when HA does not manage the guest);
    /// `None` when unknown.
    fn field_value(&self) -> Option<Value> {
        match self {
            Ha::Unread => None,
            Ha::Off => Some(Value::Null),
            Ha::On(record) => Some(json!(record.text())),
        }
    }

    /// Adds the field to a new VM's custom fields (nothing for a guest HA does not manage).
    pub fn add_to(&self, fields: &mut CustomFields, has_field: bool) {
        if let Some(value) = self.field_value().filter(|v| has_field && !v.is_null()) {
            fields.insert(HA_FIELD.into(), value);
        }
    }

    /// Adds the field to an update's patch when NetBox's value differs.
    pub fn patch(&self, patch: &mut CustomFields, current: &CustomFields, has_field: bool) {
        let Some(wanted) = self.field_value().filter(|_| has_field) else {
            return;
        };
        if current.get(HA_FIELD).unwrap_or(&Value::Null) != &wanted {
            patch.insert(HA_FIELD.into(), wanted);
        }
    }
}

/// Each guest's HA, by kind and VMID (`vm:100` is QEMU 100, `ct:100` LXC 100).
pub fn by_guest(resources: &[HaResource]) -> HashMap<(GuestKind, u64), HaRecord> {
    resources
        .iter()
        .filter_map(|r| {
            let kind = match r.sid.split(':').next()? {
                "vm" => GuestKind::Qemu,
                "ct" => GuestKind::Lxc,
                _ => return None,
            };
            let record = HaRecord {
                state: r.state.clone().unwrap_or_else(|| "started".into()),
                group: r.group.clone(),
            };
            Some(((kind, r.vmid()?), record))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(sid: &str, state: Option<&str>, group: Option<&str>) -> HaResource {
        HaResource {
            sid: sid.into(),
            state: state.map(str::to_string),
            group: group.map(str::to_string),
            comment: None,
        }
    }

    #[test]
    fn ha_resources_name_their_guest_by_kind_and_vmid() {
        let found = by_guest(&[
            resource("vm:100", Some("stopped"), Some("g1")),
            resource("ct:100", None, None),
            resource("storage:nfs", Some("started"), None),
        ]);
        assert_eq!(found.len(), 2);
        assert_eq!(found[&(GuestKind::Qemu, 100)].text(), "stopped, group g1");
        // Proxmox leaves out the default state.
        assert_eq!(found[&(GuestKind::Lxc, 100)].text(), "started");
    }

    #[test]
    fn the_field_is_written_when_it_differs_and_left_alone_when_unread() {
        let on = Ha::On(HaRecord {
            state: "started".into(),
            group: None,
        });
        let mut current = CustomFields::new();
        let mut patch = CustomFields::new();
        on.patch(&mut patch, &current, true);
        assert_eq!(patch[HA_FIELD], json!("started"));
        current.insert(HA_FIELD.into(), json!("started"));
        let mut patch = CustomFields::new();
        on.patch(&mut patch, &current, true);
        assert!(patch.is_empty(), "as NetBox has it");
        Ha::Off.patch(&mut patch, &current, true);
        assert_eq!(patch[HA_FIELD], Value::Null, "no longer under HA: cleared");
        let mut patch = CustomFields::new();
        Ha::Unread.patch(&mut patch, &current, true);
        on.patch(&mut patch, &current, false);
        assert!(patch.is_empty(), "unread, or no field: nothing");
        let mut new = CustomFields::new();
        Ha::Off.add_to(&mut new, true);
        assert!(new.is_empty());
    }
}
