//! The shapes real Proxmox VE servers answer in (recorded in `../shared/data/real-pve/`),
//! applied to what the simulator serves when the cluster has them ([`Shape`]): off by
//! default, so that a seed keeps its answers.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::model::{Guest, Kind, Shape};

/// Numbers as strings, as PVE 8/9 configs and some node lists carry them.
fn stringify(object: &mut Value, keys: &[&str]) {
    for key in keys {
        if let Some(value) = object.get_mut(*key) {
            if value.is_number() {
                *value = json!(value.to_string());
            }
        }
    }
}

/// A guest's config in the cluster's shapes.
pub(super) fn config(mut config: Value, g: &Guest, shapes: &BTreeSet<Shape>) -> Value {
    if shapes.contains(&Shape::StringNumbers) {
        stringify(
            &mut config,
            &["cores", "sockets", "memory", "swap", "onboot"],
        );
    }
    if shapes.contains(&Shape::TemplateFlags) && g.template {
        config["template"] = json!("1");
    }
    if g.kind == Kind::Qemu && shapes.contains(&Shape::BootSpace) {
        // PVE 7 answers a boot order cleared in the UI as a lone space.
        config["boot"] = json!(" ");
    }
    if g.kind == Kind::Qemu && shapes.contains(&Shape::CloudInitEfi) {
        config["efidisk0"] = json!(format!(
            "local-lvm:vm-{}-disk-9,efitype=4m,pre-enrolled-keys=1,size=4M",
            g.vmid
        ));
        config["ide2"] = json!(format!("local-lvm:vm-{}-cloudinit,media=cdrom", g.vmid));
        config["ciuser"] = json!("ops");
        config["ipconfig0"] = json!("ip=dhcp,ip6=auto");
    }
    config
}

/// `/nodes` entries in the cluster's shapes.
pub(super) fn node_entry(mut entry: Value, shapes: &BTreeSet<Shape>) -> Value {
    if shapes.contains(&Shape::StringNumbers) {
        stringify(&mut entry, &["maxcpu", "maxmem", "mem", "uptime"]);
    }
    entry
}

/// `/nodes/{node}/{qemu|lxc}` entries in the cluster's shapes: a template flag as `""` or
/// `1`, numbers as strings.
pub(super) fn guest_entry(mut entry: Value, g: &Guest, shapes: &BTreeSet<Shape>) -> Value {
    if shapes.contains(&Shape::TemplateFlags) {
        entry["template"] = if g.template { json!(1) } else { json!("") };
    }
    if shapes.contains(&Shape::StringNumbers) {
        stringify(&mut entry, &["vmid", "maxdisk", "maxmem"]);
    }
    entry
}

/// The envelope of a list: `{"data": …}`, with what real servers put beside it — `total`
/// beside a task list, `changes` beside a network with pending edits.
pub(super) fn list_envelope(
    data: Value,
    beside: Option<(&str, Value)>,
    shape: Shape,
    shapes: &BTreeSet<Shape>,
) -> Value {
    let mut envelope = json!({ "data": data });
    if let Some((key, value)) = beside.filter(|_| shapes.contains(&shape)) {
        envelope[key] = value;
    }
    envelope
}
