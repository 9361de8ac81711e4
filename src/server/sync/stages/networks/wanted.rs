//! What NetBox should hold of one cluster's SDN, computed from what Proxmox lists: a VLAN
//! group per VLAN or QinQ zone with a VLAN per VNet, an L2VPN per VNet of a VXLAN or EVPN
//! zone, a VRF per EVPN zone's `vrf-vxlan`, and per subnet a prefix, its gateway (an
//! anycast address) and its DHCP ranges. Each layer needs the ids of the one before.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use proxbox_netbox::models::*;
use proxbox_pve::{SdnSubnet, SdnVnet, SdnZone};

use super::reconcile::Wanted;
use crate::server::sync::managed::{slugify, tags};
use crate::server::sync::plan::Label;

/// One cluster's SDN as Proxmox lists it, and where it lives in NetBox.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClusterSdn {
    pub endpoint_id: i64,
    pub cluster: String,
    /// The NetBox cluster (VLAN groups are scoped to it).
    pub cluster_id: u64,
    /// The cluster's site (prefixes are scoped to it: NetBox scopes prefixes to places).
    pub site: u64,
    pub zones: Vec<SdnZone>,
    pub vnets: Vec<SdnVnet>,
    pub subnets: Vec<SdnSubnet>,
}

/// What a zone's VNets become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlay {
    /// A VLAN in the zone's VLAN group.
    Vlan,
    /// An L2VPN of this NetBox type.
    L2vpn(&'static str),
    /// Nothing of its own (a simple zone's VNets are plain bridges).
    None,
}

pub fn overlay(zone_type: &str) -> Overlay {
    match zone_type {
        "vlan" | "qinq" => Overlay::Vlan,
        "vxlan" => Overlay::L2vpn("vxlan"),
        "evpn" => Overlay::L2vpn("vxlan-evpn"),
        _ => Overlay::None,
    }
}

impl ClusterSdn {
    fn zone(&self, name: &str) -> Option<&SdnZone> {
        self.zones.iter().find(|z| z.zone == name)
    }

    fn vnet(&self, name: &str) -> Option<&SdnVnet> {
        self.vnets.iter().find(|v| v.vnet == name)
    }

    /// The type of a VNet's zone.
    pub fn zone_of_vnet(&self, vnet: &str) -> Option<&str> {
        let zone = &self.vnet(vnet)?.zone;
        self.zone(zone).map(|z| z.kind.as_str())
    }

    /// What the VNet's zone makes of it (`None` for a VNet of a zone Proxmox did not list).
    pub fn overlay_of(&self, vnet: &str) -> Overlay {
        self.vnet(vnet)
            .and_then(|v| self.zone(&v.zone))
            .map_or(Overlay::None, |z| overlay(&z.kind))
    }

    pub fn identity(&self, what: &str, name: &str) -> String {
        format!("{}/{what}/{name}", self.cluster)
    }

    /// A VLAN group per VLAN or QinQ zone, keyed by zone.
    pub fn vlan_groups(&self) -> Vec<Wanted<VlanGroupWrite>> {
        self.zones
            .iter()
            .filter(|z| overlay(&z.kind) == Overlay::Vlan)
            .map(|zone| {
                let slug = slugify(&zone.zone);
                let description = match (zone.kind.as_str(), zone.tag) {
                    ("qinq", Some(tag)) => format!("Proxmox QinQ zone, service VLAN {tag}"),
                    ("qinq", None) => "Proxmox QinQ zone".to_string(),
                    _ => match &zone.bridge {
                        Some(bridge) => format!("Proxmox VLAN zone on {bridge}"),
                        None => "Proxmox VLAN zone".to_string(),
                    },
                };
                Wanted {
                    identity: self.identity("zone", &zone.zone),
                    natural: format!("{}/{slug}", self.cluster_id),
                    label: Label::new(&zone.zone, "zone", "VLAN group"),
                    body: VlanGroupWrite {
                        name: Some(zone.zone.clone()),
                        slug: Some(slug),
                        scope_type: Some(CLUSTER_SCOPE.into()),
                        scope_id: Some(self.cluster_id),
                        description: Some(description),
                        tags: tags(),
                        ..Default::default()
                    },
                }
            })
            .collect()
    }

    /// A VRF per EVPN zone with a `vrf-vxlan`, keyed by zone.
    pub fn vrfs(&self) -> Vec<Wanted<VrfWrite>> {
        self.zones
            .iter()
            .filter(|z| z.kind == "evpn")
            .filter_map(|zone| {
                let vni = zone.vrf_vxlan?;
                let name = format!("{} ({})", zone.zone, self.cluster);
                Some(Wanted {
                    identity: self.identity("zone", &zone.zone),
                    natural: name.clone(),
                    label: Label::new(&name, "vrf", "VRF"),
                    body: VrfWrite {
                        name: Some(name),
                        description: Some(format!("Proxmox EVPN zone, VRF VXLAN {vni}")),
                        tags: tags(),
                        ..Default::default()
                    },
                })
            })
            .collect()
    }

    /// An L2VPN per VNet of a VXLAN or EVPN zone, keyed by VNet.
    pub fn l2vpns(&self) -> Vec<Wanted<L2vpnWrite>> {
        self.vnets
            .iter()
            .filter_map(|vnet| match self.overlay_of(&vnet.vnet) {
                Overlay::L2vpn(kind) => Some((vnet, kind)),
                _ => None,
            })
            .map(|(vnet, kind)| {
                let slug = format!("{}-{}", slugify(&self.cluster), slugify(&vnet.vnet));
                Wanted {
                    identity: self.identity("vnet", &vnet.vnet),
                    natural: slug.clone(),
                    label: Label::new(&vnet.vnet, "vnet", "L2VPN"),
                    body: L2vpnWrite {
                        name: Some(format!("{} ({})", vnet.vnet, self.cluster)),
                        slug: Some(slug),
                        kind: Some(kind.into()),
                        identifier: Some(vnet.tag),
                        description: Some(vnet.alias.clone().unwrap_or_default()),
                        tags: tags(),
                        ..Default::default()
                    },
                }
            })
            .collect()
    }

    /// A VLAN per tagged VNet of a VLAN or QinQ zone, in its zone's group (`groups`: zone →
    /// VLAN group id).
    pub fn vlans(&self, groups: &HashMap<String, u64>) -> Vec<Wanted<VlanWrite>> {
        self.vnets
            .iter()
            .filter(|v| self.overlay_of(&v.vnet) == Overlay::Vlan)
            .filter_map(|vnet| {
                let group = *groups.get(&vnet.zone)?;
                let vid = u16::try_from(vnet.tag?)
                    .ok()
                    .filter(|vid| (1..4095).contains(vid))?;
                Some(Wanted {
                    identity: self.identity("vnet", &vnet.vnet),
                    natural: format!("{group}/{vid}"),
                    label: Label::new(&vnet.vnet, "vnet", "VLAN"),
                    body: VlanWrite {
                        group: Some(group),
                        vid: Some(vid),
                        name: Some(vnet.vnet.clone()),
                        status: Some("active".into()),
                        description: Some(vnet.alias.clone().unwrap_or_default()),
                        tags: tags(),
                        ..Default::default()
                    },
                })
            })
            .collect()
    }

    /// The VRF of a VNet's addresses: its EVPN zone's (`vrfs`: zone → VRF id), else none.
    pub fn vrf_of(&self, vnet: &str, vrfs: &HashMap<String, u64>) -> Option<u64> {
        let zone = &self.vnet(vnet)?.zone;
        vrfs.get(zone).copied()
    }

    /// The subnets Proxbox can write: those with a network it can read, with it.
    fn networks(&self) -> impl Iterator<Item = (&SdnSubnet, IpNet)> {
        self.subnets
            .iter()
            .filter_map(|s| Some((s, s.cidr.parse::<IpNet>().ok()?.trunc())))
    }

    /// A prefix per subnet, in its VNet's VRF, on its VNet's VLAN (`vlans`: VNet → VLAN
    /// id), scoped to the cluster's site.
    pub fn prefixes(
        &self,
        vrfs: &HashMap<String, u64>,
        vlans: &HashMap<String, u64>,
    ) -> Vec<Wanted<PrefixWrite>> {
        self.networks()
            .map(|(subnet, net)| {
                let vrf = self.vrf_of(&subnet.vnet, vrfs);
                Wanted {
                    identity: self.identity("subnet", &subnet.id),
                    natural: in_vrf(vrf, &net.to_string()),
                    label: Label::new(net.to_string(), "subnet", "prefix"),
                    body: PrefixWrite {
                        prefix: Some(net.to_string()),
                        vrf: Some(vrf),
                        scope_type: Some(Some(SITE_SCOPE.into())),
                        scope_id: Some(Some(self.site)),
                        vlan: Some(vlans.get(&subnet.vnet).copied()),
                        status: Some("active".into()),
                        description: Some(format!("subnet of {}", subnet.vnet)),
                        tags: tags(),
                        ..Default::default()
                    },
                }
            })
            .collect()
    }

    /// Each subnet's gateway: an anycast address in its prefix.
    pub fn gateways(&self, vrfs: &HashMap<String, u64>) -> Vec<Wanted<IpAddressWrite>> {
        self.networks()
            .filter_map(|(subnet, net)| {
                let gateway: IpAddr = subnet.gateway.as_deref()?.parse().ok()?;
                net.contains(&gateway).then_some((subnet, net, gateway))
            })
            .map(|(subnet, net, gateway)| {
                let vrf = self.vrf_of(&subnet.vnet, vrfs);
                let address = format!("{gateway}/{}", net.prefix_len());
                Wanted {
                    identity: self.identity("gateway", &subnet.id),
                    natural: in_vrf(vrf, &gateway.to_string()),
                    label: Label::new(&address, "gateway", "gateway address"),
                    body: IpAddressWrite {
                        address: Some(address),
                        status: Some("active".into()),
                        vrf: Some(vrf),
                        role: Some(Some("anycast".into())),
                        description: Some(format!("gateway of {}", subnet.vnet)),
                        tags: tags(),
                        ..Default::default()
                    },
                }
            })
            .collect()
    }

    /// Each subnet's DHCP ranges as IP ranges of its prefix.
    pub fn dhcp_ranges(&self, vrfs: &HashMap<String, u64>) -> Vec<Wanted<IpRangeWrite>> {
        let mut wanted = Vec::new();
        for (subnet, net) in self.networks() {
            let vrf = self.vrf_of(&subnet.vnet, vrfs);
            for range in &subnet.dhcp_ranges {
                let (Ok(start), Ok(end)) =
                    (range.start.parse::<IpAddr>(), range.end.parse::<IpAddr>())
                else {
                    continue;
                };
                if !(net.contains(&start) && net.contains(&end) && start <= end) {
                    continue;
                }
                let name = format!("{start}-{end}");
                wanted.push(Wanted {
                    identity: self.identity("dhcp", &format!("{}/{name}", subnet.id)),
                    natural: in_vrf(vrf, &name),
                    label: Label::new(&name, "dhcp-range", "IP range"),
                    body: IpRangeWrite {
                        start_address: Some(format!("{start}/{}", net.prefix_len())),
                        end_address: Some(format!("{end}/{}", net.prefix_len())),
                        vrf: Some(vrf),
                        status: Some("active".into()),
                        description: Some(format!("DHCP range of {}", subnet.vnet)),
                        tags: tags(),
                        ..Default::default()
                    },
                });
            }
        }
        wanted
    }
}

/// A key of something unique within a VRF (`None`: the global table).
pub fn in_vrf(vrf: Option<u64>, key: &str) -> String {
    match vrf {
        Some(id) => format!("vrf {id}/{key}"),
        None => format!("global/{key}"),
    }
}

/// A VRF as NetBox's list filter `vrf_id` names it (`null`: the global table).
pub fn vrf_filter(vrf: Option<u64>) -> String {
    vrf.map_or_else(|| "null".to_string(), |id| id.to_string())
}
