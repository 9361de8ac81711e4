//! The NetBox models Proxbox writes (NetBox 4.2 to 4.7), as read back (`…` structs) and as
//! written (`New…` / `…Patch`). Field names follow NetBox's REST API; fields Proxbox does
//! not use are left out (NetBox adds more each release, and serde ignores them).
//!
//! What changed between 4.2 and 4.7 and is handled here: MAC addresses are their own model
//! (`dcim/mac-addresses`, with `primary_mac_address` on interfaces); a cluster's site is a
//! generic scope (`scope_type` + `scope_id`); a device's role field is `role`; VM `memory`
//! and `disk` and virtual-disk `size` are in MB.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A model of the REST API.
pub trait Model: DeserializeOwned + Send + 'static {
    /// The path below `/api/`, e.g. `virtualization/virtual-machines`.
    const PATH: &'static str;
    fn id(&self) -> u64;
}

/// A related object as NetBox nests it (`{"id": 1, "name": "…", "slug": "…", …}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Ref {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub slug: Option<String>,
}

/// A choice field as NetBox answers it (`{"value": "active", "label": "Active"}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Choice {
    pub value: String,
    #[serde(default)]
    pub label: Option<String>,
}

pub type CustomFields = BTreeMap<String, Value>;

fn is_empty_map(map: &CustomFields) -> bool {
    map.is_empty()
}

/// A tag written by slug (NetBox accepts nested objects by any unique field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagRef {
    pub slug: String,
}

macro_rules! model {
    ($name:ident, $path:literal) => {
        impl Model for $name {
            const PATH: &'static str = $path;
            fn id(&self) -> u64 {
                self.id
            }
        }
    };
}

mod addressing;
mod extras;
mod networks;
pub use addressing::*;
pub use extras::*;
pub use networks::*;

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Tag {
    pub id: u64,
    pub name: String,
    pub slug: String,
    #[serde(default)]
    pub color: String,
}
model!(Tag, "extras/tags");

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewTag {
    pub name: String,
    pub slug: String,
    pub color: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Site {
    pub id: u64,
    pub name: String,
    pub slug: String,
    pub status: Choice,
    #[serde(default)]
    pub tags: Vec<Ref>,
}
model!(Site, "dcim/sites");

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Tenant {
    pub id: u64,
    pub name: String,
    pub slug: String,
}
model!(Tenant, "tenancy/tenants");

/// Manufacturers, cluster types and platforms: a name and a slug.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewNamed {
    pub name: String,
    pub slug: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagRef>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewSite {
    pub name: String,
    pub slug: String,
    pub status: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagRef>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Manufacturer {
    pub id: u64,
    pub name: String,
    pub slug: String,
}
model!(Manufacturer, "dcim/manufacturers");

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeviceType {
    pub id: u64,
    pub manufacturer: Ref,
    pub model: String,
    pub slug: String,
}
model!(DeviceType, "dcim/device-types");

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewDeviceType {
    pub manufacturer: u64,
    pub model: String,
    pub slug: String,
    pub u_height: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagRef>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeviceRole {
    pub id: u64,
    pub name: String,
    pub slug: String,
    #[serde(default)]
    pub color: String,
    #[serde(default)]
    pub vm_role: bool,
}
model!(DeviceRole, "dcim/device-roles");

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewDeviceRole {
    pub name: String,
    pub slug: String,
    pub color: String,
    pub vm_role: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagRef>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Platform {
    pub id: u64,
    pub name: String,
    pub slug: String,
}
model!(Platform, "dcim/platforms");

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ClusterType {
    pub id: u64,
    pub name: String,
    pub slug: String,
}
model!(ClusterType, "virtualization/cluster-types");

/// NetBox ≥ 4.7: what kind of VM this is (Proxbox: QEMU VM or LXC container), beside the
/// role, which stays the operator's.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VirtualMachineType {
    pub id: u64,
    pub name: String,
    pub slug: String,
}
model!(VirtualMachineType, "virtualization/virtual-machine-types");

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Cluster {
    pub id: u64,
    pub name: String,
    #[serde(rename = "type")]
    pub cluster_type: Ref,
    pub status: Choice,
    #[serde(default)]
    pub scope_type: Option<String>,
    #[serde(default)]
    pub scope_id: Option<u64>,
    #[serde(default)]
    pub tags: Vec<Ref>,
    #[serde(default)]
    pub custom_fields: CustomFields,
}
model!(Cluster, "virtualization/clusters");

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct ClusterWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub cluster_type: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `dcim.site` with `scope_id` (NetBox ≥ 4.2 replaced `site` by a scope).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagRef>>,
    #[serde(skip_serializing_if = "is_empty_map")]
    pub custom_fields: CustomFields,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Device {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    pub device_type: Ref,
    pub role: Ref,
    pub site: Ref,
    #[serde(default)]
    pub cluster: Option<Ref>,
    #[serde(default)]
    pub platform: Option<Ref>,
    pub status: Choice,
    #[serde(default)]
    pub serial: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub primary_ip4: Option<Ref>,
    #[serde(default)]
    pub primary_ip6: Option<Ref>,
    #[serde(default)]
    pub tags: Vec<Ref>,
    #[serde(default)]
    pub custom_fields: CustomFields,
}
model!(Device, "dcim/devices");

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct DeviceWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_type: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_ip4: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_ip6: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagRef>>,
    #[serde(skip_serializing_if = "is_empty_map")]
    pub custom_fields: CustomFields,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Interface {
    pub id: u64,
    pub device: Ref,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: Choice,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub parent: Option<Ref>,
    #[serde(default)]
    pub bridge: Option<Ref>,
    #[serde(default)]
    pub lag: Option<Ref>,
    /// 802.1Q mode (`access`…).
    #[serde(default)]
    pub mode: Option<Choice>,
    #[serde(default)]
    pub untagged_vlan: Option<Ref>,
    #[serde(default)]
    pub primary_mac_address: Option<Ref>,
    #[serde(default)]
    pub tags: Vec<Ref>,
}
model!(Interface, "dcim/interfaces");

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct InterfaceWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `bridge`, `lag`, `virtual`, `other`, `1000base-t`…
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lag: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untagged_vlan: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_mac_address: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagRef>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VirtualMachine {
    pub id: u64,
    pub name: String,
    pub status: Choice,
    #[serde(default)]
    pub cluster: Option<Ref>,
    #[serde(default)]
    pub device: Option<Ref>,
    #[serde(default)]
    pub site: Option<Ref>,
    #[serde(default)]
    pub role: Option<Ref>,
    #[serde(default)]
    pub tenant: Option<Ref>,
    #[serde(default)]
    pub platform: Option<Ref>,
    /// NetBox ≥ 4.7; absent (None) on older versions.
    #[serde(default)]
    pub virtual_machine_type: Option<Ref>,
    /// `on`, `off` or `laststate` (NetBox ≥ 4.7).
    #[serde(default)]
    pub start_on_boot: Option<Choice>,
    #[serde(default)]
    pub serial: String,
    #[serde(default)]
    pub vcpus: Option<f64>,
    /// MB.
    #[serde(default)]
    pub memory: Option<u64>,
    /// MB.
    #[serde(default)]
    pub disk: Option<u64>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub comments: String,
    #[serde(default)]
    pub primary_ip4: Option<Ref>,
    #[serde(default)]
    pub primary_ip6: Option<Ref>,
    /// With virtual disks, NetBox computes `disk` from them and refuses any other value.
    #[serde(default)]
    pub virtual_disk_count: u64,
    #[serde(default)]
    pub tags: Vec<Ref>,
    #[serde(default)]
    pub custom_fields: CustomFields,
}
model!(VirtualMachine, "virtualization/virtual-machines");

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct VirtualMachineWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_machine_type: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_on_boot: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vcpus: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comments: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_ip4: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_ip6: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagRef>>,
    #[serde(skip_serializing_if = "is_empty_map")]
    pub custom_fields: CustomFields,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VmInterface {
    pub id: u64,
    pub virtual_machine: Ref,
    pub name: String,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub mode: Option<Choice>,
    #[serde(default)]
    pub untagged_vlan: Option<Ref>,
    #[serde(default)]
    pub primary_mac_address: Option<Ref>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<Ref>,
}
model!(VmInterface, "virtualization/interfaces");

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct VmInterfaceWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_machine: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// `access` when an untagged VLAN is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untagged_vlan: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_mac_address: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagRef>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VirtualDisk {
    pub id: u64,
    pub virtual_machine: Ref,
    pub name: String,
    /// MB.
    pub size: u64,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<Ref>,
}
model!(VirtualDisk, "virtualization/virtual-disks");

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct VirtualDiskWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_machine: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagRef>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct JournalEntry {
    pub id: u64,
    pub assigned_object_type: String,
    pub assigned_object_id: u64,
    pub kind: Choice,
    pub comments: String,
}
model!(JournalEntry, "extras/journal-entries");

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewJournalEntry {
    pub assigned_object_type: String,
    pub assigned_object_id: u64,
    /// `info`, `success`, `warning`, `danger`.
    pub kind: String,
    pub comments: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagRef>,
}

/// Custom fields: Proxbox records each object's Proxmox identity in one, so that a lost
/// Proxbox database re-adopts objects instead of duplicating them.
/// Models found by their unique slug (the shared objects a sync makes sure exist).
pub trait Slugged: Model {
    fn slug(&self) -> &str;
}

macro_rules! slugged {
    ($($name:ident),*) => {$(
        impl Slugged for $name {
            fn slug(&self) -> &str {
                &self.slug
            }
        }
    )*};
}
slugged!(
    Tag,
    Site,
    Manufacturer,
    DeviceType,
    DeviceRole,
    Platform,
    ClusterType,
    VirtualMachineType,
    Tenant
);
