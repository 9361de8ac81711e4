//! Proxmox SDN and HA as the API lists them: zones, VNets and subnets
//! (`/cluster/sdn/…`), HA resources and the HA manager's status (`/cluster/ha/…`). Read
//! leniently like every other answer: a field of an unexpected shape is a warning, and
//! a subnet's `dhcp-range` is read whether it comes as a list of objects (as servers
//! answer) or as the `start-address=…,end-address=…` text of the configuration.

use serde_json::Value;

use crate::lenient::{as_string, Fields, FromFields};

/// One entry of `GET /cluster/sdn/zones`.
#[derive(Debug, Clone, PartialEq)]
pub struct SdnZone {
    pub zone: String,
    /// `simple`, `vlan`, `qinq`, `vxlan`, `evpn` (or a type a later version adds).
    pub kind: String,
    pub bridge: Option<String>,
    /// QinQ: the service VLAN.
    pub tag: Option<u64>,
    pub controller: Option<String>,
    /// EVPN: the VNI of the zone's VRF.
    pub vrf_vxlan: Option<u64>,
    pub ipam: Option<String>,
}

impl FromFields for SdnZone {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(SdnZone {
            zone: f.required_string("zone")?,
            kind: f.string("type").unwrap_or_default(),
            bridge: f.string("bridge"),
            tag: f.u64("tag"),
            controller: f.string("controller"),
            vrf_vxlan: f.u64("vrf-vxlan"),
            ipam: f.string("ipam"),
        })
    }
}

/// One entry of `GET /cluster/sdn/vnets`.
#[derive(Debug, Clone, PartialEq)]
pub struct SdnVnet {
    pub vnet: String,
    pub zone: String,
    /// The VLAN ID or VNI; absent on a VNet of a simple zone.
    pub tag: Option<u64>,
    pub alias: Option<String>,
}

impl FromFields for SdnVnet {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(SdnVnet {
            vnet: f.required_string("vnet")?,
            zone: f.string("zone").unwrap_or_default(),
            tag: f.u64("tag"),
            alias: f.string("alias"),
        })
    }
}

/// A DHCP range of a subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpRange {
    pub start: String,
    pub end: String,
}

/// One entry of `GET /cluster/sdn/vnets/{vnet}/subnets`.
#[derive(Debug, Clone, PartialEq)]
pub struct SdnSubnet {
    /// Proxmox's id: `<zone>-<network>-<mask>`.
    pub id: String,
    /// `10.0.0.0/24`.
    pub cidr: String,
    pub vnet: String,
    pub zone: Option<String>,
    pub gateway: Option<String>,
    pub snat: bool,
    pub dhcp_ranges: Vec<DhcpRange>,
}

impl FromFields for SdnSubnet {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let id = f.required_string("subnet")?;
        let cidr = f.string("cidr").or_else(|| {
            // Older answers: the network and the mask (a string) apart.
            let network = f.string("network")?;
            let mask = f.string("mask")?;
            Some(format!("{network}/{mask}"))
        });
        let Some(cidr) = cidr else {
            f.warn("cidr", "a subnet without its network is left out");
            return None;
        };
        let dhcp_ranges = match f.raw("dhcp-range") {
            None => Vec::new(),
            Some(Value::Array(items)) => items.iter().filter_map(dhcp_range).collect(),
            Some(one) => dhcp_range(one).into_iter().collect(),
        };
        Some(SdnSubnet {
            id,
            cidr,
            vnet: f.string("vnet").unwrap_or_default(),
            zone: f.string("zone"),
            gateway: f.string("gateway"),
            snat: f.bool("snat").unwrap_or(false),
            dhcp_ranges,
        })
    }
}

/// `{"start-address": …, "end-address": …}`, or the same as configuration text.
fn dhcp_range(value: &Value) -> Option<DhcpRange> {
    let field = |key: &str| -> Option<String> {
        match value {
            Value::Object(map) => map.get(key).and_then(as_string),
            Value::String(text) => text.split(',').find_map(|part| {
                let (k, v) = part.split_once('=')?;
                (k.trim() == key).then(|| v.trim().to_string())
            }),
            _ => None,
        }
    };
    Some(DhcpRange {
        start: field("start-address")?,
        end: field("end-address")?,
    })
}

/// One entry of `GET /cluster/ha/resources`.
#[derive(Debug, Clone, PartialEq)]
pub struct HaResource {
    /// `vm:100`, `ct:101`.
    pub sid: String,
    /// `started`, `stopped`, `disabled`, `ignored`, `error`.
    pub state: Option<String>,
    /// PVE 8: the HA group; PVE 9 replaced groups with rules (none listed here).
    pub group: Option<String>,
    pub comment: Option<String>,
}

impl HaResource {
    /// The guest's VMID.
    pub fn vmid(&self) -> Option<u64> {
        self.sid.split_once(':')?.1.parse().ok()
    }
}

impl FromFields for HaResource {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(HaResource {
            sid: f.required_string("sid")?,
            state: f.string("state"),
            group: f.string("group"),
            comment: f.string("comment"),
        })
    }
}

/// One entry of `GET /cluster/ha/status/current`: the quorum, the manager, a node's LRM or
/// a resource's service.
#[derive(Debug, Clone, PartialEq)]
pub struct HaStatusEntry {
    pub id: String,
    /// `quorum`, `master`, `lrm`, `service`, `fencing`.
    pub kind: String,
    pub node: Option<String>,
    pub sid: Option<String>,
    /// A service's current state as the manager keeps it (`started`, `fence`, …).
    pub crm_state: Option<String>,
    pub status: Option<String>,
}

impl FromFields for HaStatusEntry {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(HaStatusEntry {
            id: f.required_string("id")?,
            kind: f.string("type").unwrap_or_default(),
            node: f.string("node"),
            sid: f.string("sid"),
            crm_state: f.string("crm_state"),
            status: f.string("status"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lenient::parse_list;
    use serde_json::json;

    #[test]
    fn a_subnet_reads_its_ranges_as_servers_and_configurations_write_them() {
        let answer = json!([
            {"subnet": "z-10.0.0.0-24", "cidr": "10.0.0.0/24", "vnet": "v1", "gateway": "10.0.0.1",
             "dhcp-range": [{"start-address": "10.0.0.100", "end-address": "10.0.0.199"}], "snat": 1},
            {"subnet": "z-10.0.1.0-24", "network": "10.0.1.0", "mask": "24", "vnet": "v1",
             "dhcp-range": "start-address=10.0.1.5,end-address=10.0.1.9"},
            {"subnet": "z-broken", "vnet": "v1"}
        ]);
        let parsed = parse_list::<SdnSubnet>(&answer, "subnets").unwrap();
        let subnets = &parsed.value;
        assert_eq!(subnets.len(), 2, "the one without a network is left out");
        assert_eq!(
            (
                subnets[0].cidr.as_str(),
                subnets[0].gateway.as_deref(),
                subnets[0].snat
            ),
            ("10.0.0.0/24", Some("10.0.0.1"), true)
        );
        assert_eq!(
            subnets[0].dhcp_ranges,
            [DhcpRange {
                start: "10.0.0.100".into(),
                end: "10.0.0.199".into()
            }]
        );
        assert_eq!(subnets[1].cidr, "10.0.1.0/24");
        assert_eq!(
            subnets[1].dhcp_ranges,
            [DhcpRange {
                start: "10.0.1.5".into(),
                end: "10.0.1.9".into()
            }]
        );
        assert!(!parsed.warnings.is_empty(), "the left-out subnet is said");
    }

    #[test]
    fn an_ha_resource_names_its_guest() {
        let answer = json!([{"sid": "vm:105", "state": "started", "group": "g1"}, {"sid": "ct:7"}]);
        let parsed = parse_list::<HaResource>(&answer, "ha").unwrap();
        assert_eq!(parsed.value[0].vmid(), Some(105));
        assert_eq!(parsed.value[1].vmid(), Some(7));
        assert_eq!(parsed.value[0].state.as_deref(), Some("started"));
    }
}
