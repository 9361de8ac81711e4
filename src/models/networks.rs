//! `/networks`: each endpoint's Proxmox SDN as Proxmox has it now, with what NetBox holds
//! of each subnet (its prefix and that prefix's utilisation).

use serde::{Deserialize, Serialize};

/// One endpoint's SDN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointNetworks {
    pub endpoint_id: i64,
    pub endpoint: String,
    pub zones: Vec<ZoneRow>,
    pub vnets: Vec<VnetRow>,
    pub subnets: Vec<SubnetRow>,
    /// Why the SDN (or NetBox's side of it) could not be read, and what to do.
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneRow {
    pub zone: String,
    /// `vlan`, `qinq`, `vxlan`, `evpn`, `simple`.
    pub kind: String,
    /// What NetBox models it as (`VLAN group`, `VRF`), when anything.
    pub netbox: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VnetRow {
    pub vnet: String,
    pub zone: String,
    pub tag: Option<u64>,
    pub alias: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubnetRow {
    pub cidr: String,
    pub vnet: String,
    pub gateway: Option<String>,
    /// `start–end` of each DHCP range.
    pub dhcp: Vec<String>,
    /// The NetBox prefix of the subnet, when NetBox has one.
    pub prefix: Option<PrefixUse>,
}

/// A prefix and how full it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrefixUse {
    pub id: u64,
    /// Its page in NetBox.
    pub url: String,
    /// Percent, as NetBox computes it for the prefix's page.
    pub utilisation: f64,
}
