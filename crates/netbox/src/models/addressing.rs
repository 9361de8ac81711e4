//! What interfaces carry: MAC and IP addresses, the VLANs of 802.1Q tags, and the VRFs
//! addresses live in.

use serde::{Deserialize, Serialize};

use super::{is_empty_map, Choice, CustomFields, Model, Ref, TagRef};

/// The object a MAC or IP address is assigned to.
pub const DCIM_INTERFACE: &str = "dcim.interface";
pub const VM_INTERFACE: &str = "virtualization.vminterface";

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MacAddress {
    pub id: u64,
    pub mac_address: String,
    #[serde(default)]
    pub assigned_object_type: Option<String>,
    #[serde(default)]
    pub assigned_object_id: Option<u64>,
    #[serde(default)]
    pub tags: Vec<Ref>,
}
model!(MacAddress, "dcim/mac-addresses");

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct MacAddressWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_object_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_object_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagRef>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Vlan {
    pub id: u64,
    pub vid: u16,
    pub name: String,
    pub status: Choice,
    /// `None` for a global VLAN.
    #[serde(default)]
    pub group: Option<Ref>,
    #[serde(default)]
    pub tags: Vec<Ref>,
}
model!(Vlan, "ipam/vlans");

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewVlan {
    pub vid: u16,
    pub name: String,
    pub status: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagRef>,
}

/// A VRF: addresses in one are apart from those of the global table and of other VRFs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Vrf {
    pub id: u64,
    pub name: String,
}
model!(Vrf, "ipam/vrfs");

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct IpAddress {
    pub id: u64,
    /// CIDR form, `10.0.0.5/24`.
    pub address: String,
    pub status: Choice,
    /// `None`: the global table.
    #[serde(default)]
    pub vrf: Option<Ref>,
    #[serde(default)]
    pub assigned_object_type: Option<String>,
    #[serde(default)]
    pub assigned_object_id: Option<u64>,
    #[serde(default)]
    pub dns_name: String,
    #[serde(default)]
    pub description: String,
    /// `anycast` for an SDN subnet's gateway; `None` for an ordinary address.
    #[serde(default)]
    pub role: Option<Choice>,
    #[serde(default)]
    pub tags: Vec<Ref>,
    #[serde(default)]
    pub custom_fields: CustomFields,
}
model!(IpAddress, "ipam/ip-addresses");

/// An address with the object it is assigned to, as NetBox nests it: what a sync reads of an
/// address another object holds, to name that object.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct HeldAddress {
    pub id: u64,
    pub address: String,
    #[serde(default)]
    pub vrf: Option<Ref>,
    #[serde(default)]
    pub assigned_object_type: Option<String>,
    #[serde(default)]
    pub assigned_object: Option<AssignedObject>,
    #[serde(default)]
    pub tags: Vec<Ref>,
    /// The cluster of the VM or device it is on, when a sync looked it up (NetBox does not
    /// nest it).
    #[serde(skip)]
    pub cluster: Option<String>,
}
model!(HeldAddress, "ipam/ip-addresses");

/// An interface as an address's `assigned_object`: its name and its VM or device.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AssignedObject {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub virtual_machine: Option<Ref>,
    #[serde(default)]
    pub device: Option<Ref>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct IpAddressWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrf: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_object_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_object_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagRef>>,
    #[serde(skip_serializing_if = "is_empty_map")]
    pub custom_fields: CustomFields,
}
