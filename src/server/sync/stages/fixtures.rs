//! What the stages' plan tests build their inputs from: NetBox objects as NetBox answers
//! them (JSON), guests as the virtual-machines stage hands them on.

use proxbox_pve::{GuestKind, NetDevice};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::server::sync::managed::{IDENTITY_FIELD, PROXBOX_TAG};
use crate::server::sync::state::SyncedGuest;

/// A NetBox object from its JSON, as NetBox answers it.
pub fn model<M: DeserializeOwned>(value: Value) -> M {
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{value}: {e}"))
}

/// The tag slugs a write body sets, in order.
pub fn slugs(tags: &Option<Vec<proxbox_netbox::models::TagRef>>) -> Vec<&str> {
    tags.iter().flatten().map(|t| t.slug.as_str()).collect()
}

/// The tags of an object Proxbox made.
pub fn managed() -> Value {
    json!([{"id": 1, "slug": PROXBOX_TAG}])
}

/// Custom fields recording an identity.
pub fn recorded(identity: &str) -> Value {
    json!({ IDENTITY_FIELD: identity })
}

/// A NIC of a guest config (`virtio=…,bridge=vmbr0,tag=10`).
pub fn nic(index: u32, kind: GuestKind, text: &str) -> NetDevice {
    proxbox_pve::config::parse_net(&format!("net{index}"), index, text, kind)
        .expect("fixture NICs parse")
}

/// A guest as NetBox has it after the virtual-machines stage.
pub fn guest(name: &str, vm_id: u64) -> SyncedGuest {
    SyncedGuest {
        name: name.into(),
        kind: GuestKind::Qemu,
        vm_id,
        disks: Vec::new(),
        nets: Vec::new(),
        endpoint_id: 1,
        node: "pve1".into(),
        vmid: 100,
        running: true,
        agent: true,
        primary_ips: (None, None),
        vrf: None,
    }
}
