//! IPAM's networks: VLAN groups and their VLANs, L2VPNs and what terminates on them, VRFs,
//! prefixes and IP ranges — what Proxmox SDN's zones, VNets and subnets become.

use serde::{Deserialize, Serialize};

use super::{Choice, Model, Ref, TagRef};

/// The object type of a cluster, as a VLAN group's scope.
pub const CLUSTER_SCOPE: &str = "virtualization.cluster";
/// The object type of a site, as a prefix's scope (NetBox scopes prefixes to places only).
pub const SITE_SCOPE: &str = "dcim.site";

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VlanGroup {
    pub id: u64,
    pub name: String,
    pub slug: String,
    #[serde(default)]
    pub scope_type: Option<String>,
    #[serde(default)]
    pub scope_id: Option<u64>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<Ref>,
}
model!(VlanGroup, "ipam/vlan-groups");

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct VlanGroupWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagRef>>,
}

/// A VLAN with the group it belongs to (the global VLANs of 802.1Q tags have none).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GroupedVlan {
    pub id: u64,
    pub vid: u16,
    pub name: String,
    #[serde(default)]
    pub group: Option<Ref>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<Ref>,
}
model!(GroupedVlan, "ipam/vlans");

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct VlanWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vid: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagRef>>,
}

/// An L2VPN: a VXLAN or EVPN overlay, identified by its VNI.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct L2vpn {
    pub id: u64,
    pub name: String,
    pub slug: String,
    #[serde(rename = "type")]
    pub kind: Choice,
    #[serde(default)]
    pub identifier: Option<u64>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<Ref>,
}
model!(L2vpn, "vpn/l2vpns");

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct L2vpnWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagRef>>,
}

/// An interface (or VLAN) terminated on an L2VPN.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct L2vpnTermination {
    pub id: u64,
    pub l2vpn: Ref,
    pub assigned_object_type: String,
    pub assigned_object_id: u64,
    #[serde(default)]
    pub tags: Vec<Ref>,
}
model!(L2vpnTermination, "vpn/l2vpn-terminations");

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct L2vpnTerminationWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l2vpn: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_object_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assigned_object_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagRef>>,
}

/// A VRF with what Proxbox compares of it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VrfDetail {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<Ref>,
}
model!(VrfDetail, "ipam/vrfs");

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct VrfWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagRef>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Prefix {
    pub id: u64,
    /// `10.0.0.0/24`.
    pub prefix: String,
    #[serde(default)]
    pub vrf: Option<Ref>,
    #[serde(default)]
    pub scope_type: Option<String>,
    #[serde(default)]
    pub scope_id: Option<u64>,
    #[serde(default)]
    pub vlan: Option<Ref>,
    pub status: Choice,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<Ref>,
}
model!(Prefix, "ipam/prefixes");

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct PrefixWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrf: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope_type: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope_id: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagRef>>,
}

/// A range of addresses in a prefix: a DHCP range.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct IpRange {
    pub id: u64,
    /// `10.0.0.100/24`: NetBox keeps the prefix length on both ends.
    pub start_address: String,
    pub end_address: String,
    #[serde(default)]
    pub vrf: Option<Ref>,
    pub status: Choice,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<Ref>,
}
model!(IpRange, "ipam/ip-ranges");

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct IpRangeWrite {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrf: Option<Option<u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<TagRef>>,
}

/// What NetBox's utilisation of a prefix depends on.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PrefixUsage {
    pub id: u64,
    pub prefix: String,
    #[serde(default)]
    pub vrf: Option<Ref>,
    pub status: Choice,
    #[serde(default)]
    pub is_pool: bool,
    #[serde(default)]
    pub mark_utilized: bool,
}
model!(PrefixUsage, "ipam/prefixes");
