//! `/networks`: each enabled endpoint's SDN read from Proxmox now, and each subnet's
//! prefix in NetBox with its utilisation computed as NetBox computes it for the prefix's
//! page (NetBox's API does not give it).

use std::net::IpAddr;

use ipnet::IpNet;
use proxbox_netbox::models::{IpAddress, IpRange, PrefixUsage};
use proxbox_netbox::{NbError, NetboxClient};
use proxbox_pve::{SdnSubnet, SdnVnet, SdnZone};

use crate::error::AppError;
use crate::models::{EndpointNetworks, PrefixUse, SubnetRow, VnetRow, ZoneRow};
use crate::server::services::peers::sync_peers;
use crate::server::services::Services;
use crate::server::sync::addresses::host;
use crate::server::sync::cluster_view::without_sdn_is_empty;
use crate::server::sync::context::ClusterSource;
use crate::server::sync::stages::networks::wanted::{overlay, vrf_filter, Overlay};

/// Every enabled endpoint's SDN, with NetBox's prefixes of its subnets.
pub async fn networks(services: &Services) -> Result<Vec<EndpointNetworks>, AppError> {
    let (netbox, sources) = sync_peers(&services.db, &services.secrets, |r| r.enabled != 0)
        .await
        .map_err(|e| AppError::Precondition(format!("{} {}", e.message, e.suggestion)))?;
    let mut pages = Vec::new();
    for source in &sources {
        pages.push(endpoint_networks(services, &netbox, source).await);
    }
    Ok(pages)
}

async fn endpoint_networks(
    services: &Services,
    netbox: &NetboxClient,
    source: &ClusterSource,
) -> EndpointNetworks {
    let mut page = EndpointNetworks {
        endpoint_id: source.endpoint_id,
        endpoint: source.endpoint_name.clone(),
        zones: Vec::new(),
        vnets: Vec::new(),
        subnets: Vec::new(),
        problem: None,
    };
    let read = async {
        let (zones, vnets) = tokio::try_join!(
            async { without_sdn_is_empty(source.pve.sdn_zones().await.map(|z| z.value)) },
            async { without_sdn_is_empty(source.pve.sdn_vnets().await.map(|v| v.value)) },
        )?;
        let mut subnets = Vec::new();
        for vnet in &vnets {
            subnets.extend(source.pve.sdn_subnets(&vnet.vnet).await?.value);
        }
        Ok::<_, proxbox_pve::PveError>((zones, vnets, subnets))
    };
    let (zones, vnets, subnets) = match read.await {
        Ok(read) => read,
        Err(e) => {
            page.problem = Some(format!("The SDN could not be read from Proxmox: {e}"));
            return page;
        }
    };
    let vrfs = services
        .db
        .mapped_objects(source.endpoint_id, "ipam/vrfs")
        .await
        .unwrap_or_default();
    page.zones = zones.iter().map(zone_row).collect();
    page.vnets = vnets.iter().map(vnet_row).collect();
    for subnet in &subnets {
        // An EVPN zone's subnets are in the zone's VRF, which Proxbox made.
        let zone = vnets
            .iter()
            .find(|v| v.vnet == subnet.vnet)
            .map(|v| &v.zone);
        let vrf = zone.and_then(|zone| {
            vrfs.iter()
                .find(|(identity, _)| identity.ends_with(&format!("/zone/{zone}")))
                .map(|(_, m)| m.netbox_id as u64)
        });
        let prefix = match prefix_use(netbox, subnet, vrf).await {
            Ok(found) => found,
            Err(e) => {
                page.problem = Some(format!("NetBox's prefixes could not be read: {e}"));
                None
            }
        };
        page.subnets.push(SubnetRow {
            cidr: subnet.cidr.clone(),
            vnet: subnet.vnet.clone(),
            gateway: subnet.gateway.clone(),
            dhcp: subnet
                .dhcp_ranges
                .iter()
                .map(|r| format!("{}–{}", r.start, r.end))
                .collect(),
            prefix,
        });
    }
    page
}

fn zone_row(zone: &SdnZone) -> ZoneRow {
    let netbox = match overlay(&zone.kind) {
        Overlay::Vlan => Some("VLAN group".to_string()),
        Overlay::L2vpn(_) if zone.vrf_vxlan.is_some() => Some("VRF, VNets as L2VPNs".into()),
        Overlay::L2vpn(_) => Some("VNets as L2VPNs".into()),
        Overlay::None => None,
    };
    ZoneRow {
        zone: zone.zone.clone(),
        kind: zone.kind.clone(),
        netbox,
    }
}

fn vnet_row(vnet: &SdnVnet) -> VnetRow {
    VnetRow {
        vnet: vnet.vnet.clone(),
        zone: vnet.zone.clone(),
        tag: vnet.tag,
        alias: vnet.alias.clone(),
    }
}

/// The subnet's prefix in NetBox (in `vrf`, else the global table) and its utilisation.
async fn prefix_use(
    netbox: &NetboxClient,
    subnet: &SdnSubnet,
    vrf: Option<u64>,
) -> Result<Option<PrefixUse>, NbError> {
    let Ok(net) = subnet.cidr.parse::<IpNet>().map(|n| n.trunc()) else {
        return Ok(None);
    };
    let vrf_filter = vrf_filter(vrf);
    let found: Vec<PrefixUsage> = netbox
        .list(&[("prefix", net.to_string()), ("vrf_id", vrf_filter.clone())])
        .await?;
    let Some(prefix) = found.into_iter().next() else {
        return Ok(None);
    };
    let container = prefix.status.value == "container";
    // A container of the global table counts the addresses of every VRF, as NetBox does.
    let mut ip_filters = vec![("parent", net.to_string())];
    if !(container && vrf.is_none()) {
        ip_filters.push(("vrf_id", vrf_filter.clone()));
    }
    let range_filters = [
        ("parent", net.to_string()),
        ("vrf_id", vrf_filter.clone()),
        ("mark_utilized", "true".to_string()),
    ];
    let child_filters = [("within", net.to_string()), ("vrf_id", vrf_filter)];
    let (addresses, ranges, children) = tokio::try_join!(
        netbox.list::<IpAddress>(&ip_filters),
        netbox.list::<IpRange>(&range_filters),
        async {
            if container {
                netbox.list::<PrefixUsage>(&child_filters).await
            } else {
                Ok(Vec::new())
            }
        },
    )?;
    let usage = Usage {
        net,
        is_pool: prefix.is_pool,
        mark_utilized: prefix.mark_utilized,
        container,
        hosts: addresses.iter().filter_map(|a| host(&a.address)).collect(),
        utilized_ranges: ranges
            .iter()
            .filter_map(|r| Some((host(&r.start_address)?, host(&r.end_address)?)))
            .collect(),
        children: children
            .iter()
            .filter_map(|c| c.prefix.parse().ok())
            .collect(),
    };
    Ok(Some(PrefixUse {
        id: prefix.id,
        url: format!(
            "{}/ipam/prefixes/{}/",
            netbox.base_url().trim_end_matches('/'),
            prefix.id
        ),
        utilisation: usage.percent(),
    }))
}

/// What NetBox counts for a prefix's utilisation (`Prefix.get_utilization`).
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub net: IpNet,
    pub is_pool: bool,
    pub mark_utilized: bool,
    pub container: bool,
    /// The addresses in it (of its VRF).
    pub hosts: Vec<IpAddr>,
    /// Its IP ranges marked utilised.
    pub utilized_ranges: Vec<(IpAddr, IpAddr)>,
    /// A container's child prefixes.
    pub children: Vec<IpNet>,
}

fn number(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Merges intervals (inclusive) and gives the count of what they cover.
fn merged(mut intervals: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    intervals.sort();
    let mut out: Vec<(u128, u128)> = Vec::new();
    for (start, end) in intervals {
        match out.last_mut() {
            Some(last) if start <= last.1.saturating_add(1) => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

impl Usage {
    /// Percent of the prefix in use, at most 100: a container by its child prefixes, any
    /// other by its distinct addresses and the ranges marked utilised, against its size
    /// (less the network and broadcast addresses of an IPv4 prefix shorter than /31 that
    /// is not a pool).
    pub fn percent(&self) -> f64 {
        if self.mark_utilized {
            return 100.0;
        }
        let size =
            |net: &IpNet| -> f64 { 2f64.powi(i32::from(net.max_prefix_len() - net.prefix_len())) };
        if self.container {
            let covered: u128 = merged(
                self.children
                    .iter()
                    .filter(|c| self.net.contains(*c) && **c != self.net)
                    .map(|c| (number(c.network()), number(c.broadcast())))
                    .collect(),
            )
            .iter()
            .map(|(s, e)| e - s + 1)
            .sum();
            return (covered as f64 / size(&self.net) * 100.0).min(100.0);
        }
        let mut denominator = size(&self.net);
        if matches!(self.net, IpNet::V4(_)) && self.net.prefix_len() < 31 && !self.is_pool {
            denominator -= 2.0;
        }
        let ranges = merged(
            self.utilized_ranges
                .iter()
                .map(|(s, e)| (number(*s), number(*e)))
                .collect(),
        );
        let in_ranges: u128 = ranges.iter().map(|(s, e)| e - s + 1).sum();
        let hosts: std::collections::BTreeSet<u128> = self
            .hosts
            .iter()
            .filter(|h| self.net.contains(*h))
            .map(|h| number(*h))
            .filter(|n| !ranges.iter().any(|(s, e)| (s..=e).contains(&n)))
            .collect();
        ((in_ranges as f64 + hosts.len() as f64) / denominator * 100.0).min(100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn utilisation_counts_distinct_addresses_and_utilised_ranges_as_netbox_does() {
        let base = Usage {
            net: "10.0.0.0/24".parse().unwrap(),
            ..Usage::default()
        };
        // One address of 254 usable (network and broadcast do not count).
        let one = Usage {
            hosts: vec![ip("10.0.0.1"), ip("10.0.0.1")],
            ..base.clone()
        };
        assert!(
            (one.percent() - 100.0 / 254.0).abs() < 1e-9,
            "{}",
            one.percent()
        );
        // A range .100–.199 marked utilised (100 addresses) with an address inside it
        // and one outside: 101 of 254.
        let ranged = Usage {
            hosts: vec![ip("10.0.0.150"), ip("10.0.0.1"), ip("10.0.1.1")],
            utilized_ranges: vec![(ip("10.0.0.100"), ip("10.0.0.199"))],
            ..base.clone()
        };
        assert!((ranged.percent() - 101.0 * 100.0 / 254.0).abs() < 1e-9);
        // A pool counts all 256; IPv6 its whole size.
        let pool = Usage {
            is_pool: true,
            hosts: vec![ip("10.0.0.0")],
            ..base.clone()
        };
        assert!((pool.percent() - 100.0 / 256.0).abs() < 1e-9);
        let v6 = Usage {
            net: "fd00::/126".parse().unwrap(),
            hosts: vec![ip("fd00::1")],
            ..Usage::default()
        };
        assert_eq!(v6.percent(), 25.0);
        let marked = Usage {
            mark_utilized: true,
            ..base.clone()
        };
        assert_eq!(marked.percent(), 100.0);
        // A container by its child prefixes: two /26 of a /24, one inside the other's.
        let container = Usage {
            container: true,
            children: vec![
                "10.0.0.0/26".parse().unwrap(),
                "10.0.0.0/27".parse().unwrap(),
                "10.0.0.128/26".parse().unwrap(),
            ],
            ..base
        };
        assert_eq!(container.percent(), 50.0);
    }
}
