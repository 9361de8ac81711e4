//! Proxmox SDN and HA as a cluster of the simulator holds them: a zone of each type (VLAN,
//! QinQ, VXLAN, EVPN, simple) with its VNets and their subnets (gateways, DHCP ranges),
//! and HA resources in several states. Generated from the cluster's index alone, inside the
//! cluster's own address range (`10.{100+index}.0.0/16`, third octets 210 and up, above the
//! guests' addresses), so that seeds keep every other answer as it was.

use serde::{Deserialize, Serialize};

use super::{Guest, Kind};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SdnZone {
    pub zone: String,
    /// `simple`, `vlan`, `qinq`, `vxlan` or `evpn`.
    pub kind: String,
    /// VLAN and QinQ zones: the bridge their VNets ride on.
    pub bridge: Option<String>,
    /// QinQ: the service VLAN.
    pub tag: Option<u32>,
    /// EVPN: the controller, and the VNI of the zone's VRF.
    pub controller: Option<String>,
    pub vrf_vxlan: Option<u32>,
    /// VXLAN: the peers' addresses, comma-separated.
    pub peers: Option<String>,
    pub ipam: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SdnVnet {
    pub vnet: String,
    pub zone: String,
    /// The VLAN ID (VLAN, QinQ zones) or VNI (VXLAN, EVPN); none in a simple zone.
    pub tag: Option<u32>,
    pub alias: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpRange {
    pub start: String,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SdnSubnet {
    pub vnet: String,
    /// `10.110.210.0/24`.
    pub cidr: String,
    pub gateway: Option<String>,
    pub snat: bool,
    pub dhcp_ranges: Vec<DhcpRange>,
}

impl SdnSubnet {
    /// Proxmox's id of a subnet: `<zone>-<network>-<mask>`.
    pub fn id(&self, zone: &str) -> String {
        let (network, mask) = self.cidr.split_once('/').unwrap_or((&self.cidr, "32"));
        format!("{zone}-{network}-{mask}")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sdn {
    pub zones: Vec<SdnZone>,
    pub vnets: Vec<SdnVnet>,
    pub subnets: Vec<SdnSubnet>,
}

impl Sdn {
    /// The zone a VNet belongs to.
    pub fn zone_of(&self, vnet: &str) -> Option<&SdnZone> {
        let zone = &self.vnets.iter().find(|v| v.vnet == vnet)?.zone;
        self.zones.iter().find(|z| &z.zone == zone)
    }
}

/// A guest under HA: `vm:100` / `ct:101`, the state it is configured to be in, and its
/// group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaResource {
    pub sid: String,
    /// `started`, `stopped`, `disabled` or `ignored`.
    pub state: String,
    pub group: Option<String>,
    pub max_restart: u32,
    pub max_relocate: u32,
    pub comment: Option<String>,
}

/// A zone of each type with its VNets and subnets, in cluster `index`'s address range.
pub fn generate_sdn(index: u8) -> Sdn {
    let net = |third: u32| format!("10.{}.{third}", 100 + index as u32);
    let zone = |zone: &str, kind: &str| SdnZone {
        zone: zone.into(),
        kind: kind.into(),
        bridge: None,
        tag: None,
        controller: None,
        vrf_vxlan: None,
        peers: None,
        ipam: Some("pve".into()),
    };
    let zones = vec![
        SdnZone {
            bridge: Some("vmbr0".into()),
            ..zone("vlanzone", "vlan")
        },
        SdnZone {
            bridge: Some("vmbr0".into()),
            tag: Some(300),
            ..zone("qinqzone", "qinq")
        },
        SdnZone {
            peers: Some(format!("{0}.1,{0}.2,{0}.3", net(250))),
            ..zone("vxzone", "vxlan")
        },
        SdnZone {
            controller: Some("evpnctl".into()),
            vrf_vxlan: Some(10_000 + index as u32),
            ..zone("evpnzone", "evpn")
        },
        zone("simple", "simple"),
    ];
    let vnet = |vnet: &str, zone: &str, tag: Option<u32>, alias: Option<&str>| SdnVnet {
        vnet: vnet.into(),
        zone: zone.into(),
        tag,
        alias: alias.map(str::to_string),
    };
    let vnets = vec![
        vnet("vnet10", "vlanzone", Some(10), Some("web tier")),
        vnet("vnet20", "vlanzone", Some(20), None),
        vnet("qvnet30", "qinqzone", Some(30), Some("customer a")),
        vnet("vxnet1", "vxzone", Some(100_000 + index as u32), None),
        vnet(
            "evnet1",
            "evpnzone",
            Some(200_000 + index as u32),
            Some("tenant"),
        ),
        vnet("snet", "simple", None, None),
    ];
    let subnet = |vnet: &str, third: u32, gateway: bool, dhcp: bool| SdnSubnet {
        vnet: vnet.into(),
        cidr: format!("{}.0/24", net(third)),
        gateway: gateway.then(|| format!("{}.1", net(third))),
        snat: false,
        dhcp_ranges: if dhcp {
            vec![DhcpRange {
                start: format!("{}.100", net(third)),
                end: format!("{}.199", net(third)),
            }]
        } else {
            Vec::new()
        },
    };
    let subnets = vec![
        subnet("vnet10", 210, true, true),
        subnet("vnet20", 211, false, false),
        subnet("evnet1", 220, true, false),
        SdnSubnet {
            snat: true,
            ..subnet("snet", 230, true, true)
        },
    ];
    Sdn {
        zones,
        vnets,
        subnets,
    }
}

/// Every seventh guest under HA (by VMID), in states that cycle through what HA knows.
pub fn generate_ha(guests: &BTreeMap<(Kind, u64), Guest>) -> Vec<HaResource> {
    const STATES: [&str; 4] = ["started", "stopped", "disabled", "ignored"];
    guests
        .values()
        .filter(|g| !g.template && g.vmid % 7 == 0)
        .enumerate()
        .map(|(i, g)| HaResource {
            sid: format!(
                "{}:{}",
                if g.kind == Kind::Qemu { "vm" } else { "ct" },
                g.vmid
            ),
            state: STATES[i % STATES.len()].into(),
            group: (i % 2 == 0).then(|| "prefer-first".to_string()),
            max_restart: 1,
            max_relocate: 1,
            comment: None,
        })
        .collect()
}
