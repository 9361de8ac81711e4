//! Prefixes for the networks Proxbox sees: the containing network of each address Proxbox
//! wrote on a guest's or node's interface becomes a prefix (in the address's VRF, tagged)
//! when NetBox has none that contains it there, so that every address sits in a prefix.
//! Networks the setting leaves out (container bridges, loopback, link-local by default),
//! and host routes (`/32`, `/128`), get none.

use std::collections::{BTreeSet, HashMap, HashSet};

use ipnet::IpNet;
use proxbox_netbox::models::{IpAddress, PrefixWrite, SITE_SCOPE};

use super::reconcile::Wanted;
use super::wanted::in_vrf;
use crate::server::sync::managed::{is_managed, tags};
use crate::server::sync::plan::Label;

/// Which networks seen get a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeenPrefixes {
    Off,
    /// All but those inside one of these networks.
    LeaveOut(Vec<IpNet>),
}

/// What is left out unless the setting says otherwise: loopback, link-local, and Docker's
/// default bridge (the container networks of hosts that run containers beside Proxmox).
pub const DEFAULT_LEFT_OUT: &str = "127.0.0.0/8, 169.254.0.0/16, 172.17.0.0/16, ::1/128, fe80::/10";

impl Default for SeenPrefixes {
    fn default() -> Self {
        SeenPrefixes::parse(DEFAULT_LEFT_OUT).expect("the default parses")
    }
}

impl SeenPrefixes {
    /// `off`, or the networks to leave out, comma- or space-separated (empty: none).
    pub fn parse(text: &str) -> Result<SeenPrefixes, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(SeenPrefixes::Off);
        }
        text.split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                part.parse::<IpNet>().map(|net| net.trunc()).map_err(|_| {
                    format!(
                        "{part:?} is not a network; write networks like 172.17.0.0/16 or fe80::/10, comma-separated, or off"
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(SeenPrefixes::LeaveOut)
    }

    pub fn to_text(&self) -> String {
        match self {
            SeenPrefixes::Off => "off".into(),
            SeenPrefixes::LeaveOut(nets) => nets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// The networks of `addresses` (VRF, CIDR) that should sit in a prefix.
    pub fn networks<'a>(
        &self,
        addresses: impl IntoIterator<Item = (Option<u64>, &'a str)>,
    ) -> BTreeSet<(Option<u64>, IpNet)> {
        let SeenPrefixes::LeaveOut(left_out) = self else {
            return BTreeSet::new();
        };
        addresses
            .into_iter()
            .filter_map(|(vrf, address)| Some((vrf, address.parse::<IpNet>().ok()?.trunc())))
            .filter(|(_, net)| net.prefix_len() < net.max_prefix_len())
            .filter(|(_, net)| !left_out.iter().any(|out| out.contains(net)))
            .collect()
    }
}

/// Proxbox's addresses on interfaces, as (VRF, CIDR): the addresses a run keeps in NetBox
/// besides those it wrote (a guest whose agent did not answer keeps its addresses).
pub fn on_interfaces(addresses: &[IpAddress]) -> impl Iterator<Item = (Option<u64>, &str)> {
    addresses
        .iter()
        .filter(|a| is_managed(&a.tags) && a.assigned_object_id.is_some())
        .map(|a| (a.vrf.as_ref().map(|v| v.id), a.address.as_str()))
}

/// The identity of the prefix of a network seen in a cluster.
fn identity(cluster: &str, vrf: Option<u64>, net: &IpNet) -> String {
    format!("{cluster}/network/{}", in_vrf(vrf, &net.to_string()))
}

/// The networks that need a prefix of Proxbox's: those it made before (`mapped`) stay
/// wanted without asking NetBox; of the others, those no prefix contains
/// (`uncontained`, as NetBox answered) are wanted; `covered` (the SDN subnets this run
/// writes) never.
pub fn wanted(
    cluster: &str,
    site: u64,
    networks: &BTreeSet<(Option<u64>, IpNet)>,
    covered: &HashSet<(Option<u64>, IpNet)>,
    mapped: &HashMap<String, u64>,
    uncontained: &HashSet<(Option<u64>, IpNet)>,
) -> Vec<Wanted<PrefixWrite>> {
    networks
        .iter()
        .filter(|(vrf, net)| !covered.iter().any(|(v, c)| v == vrf && c.contains(net)))
        .filter(|key| {
            mapped.contains_key(&identity(cluster, key.0, &key.1)) || uncontained.contains(key)
        })
        .map(|(vrf, net)| Wanted {
            identity: identity(cluster, *vrf, net),
            natural: in_vrf(*vrf, &net.to_string()),
            label: Label::new(net.to_string(), "network", "prefix"),
            body: PrefixWrite {
                prefix: Some(net.to_string()),
                vrf: Some(*vrf),
                scope_type: Some(Some(SITE_SCOPE.into())),
                scope_id: Some(Some(site)),
                status: Some("active".into()),
                description: Some(format!("addresses of Proxmox cluster {cluster}")),
                tags: tags(),
                ..Default::default()
            },
        })
        .collect()
}

/// The networks whose prefix NetBox must be asked about: seen, not covered, not mapped.
pub fn to_ask(
    cluster: &str,
    networks: &BTreeSet<(Option<u64>, IpNet)>,
    covered: &HashSet<(Option<u64>, IpNet)>,
    mapped: &HashMap<String, u64>,
) -> Vec<(Option<u64>, IpNet)> {
    networks
        .iter()
        .filter(|(vrf, net)| !covered.iter().any(|(v, c)| v == vrf && c.contains(net)))
        .filter(|(vrf, net)| !mapped.contains_key(&identity(cluster, *vrf, net)))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::sync::stages::fixtures::{managed, model};
    use serde_json::json;

    fn address(
        address: &str,
        vrf: Option<u64>,
        on: Option<u64>,
        tags: serde_json::Value,
    ) -> IpAddress {
        model(json!({
            "id": 1, "address": address, "status": {"value": "active"},
            "vrf": vrf.map(|id| json!({"id": id})), "assigned_object_id": on, "tags": tags,
        }))
    }

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    #[test]
    fn the_setting_is_off_or_the_networks_left_out() {
        assert_eq!(SeenPrefixes::parse(" OFF ").unwrap(), SeenPrefixes::Off);
        assert_eq!(
            SeenPrefixes::parse("10.9.0.0/16, fd00::/8").unwrap(),
            SeenPrefixes::LeaveOut(vec![net("10.9.0.0/16"), net("fd00::/8")])
        );
        assert_eq!(
            SeenPrefixes::parse("").unwrap(),
            SeenPrefixes::LeaveOut(Vec::new())
        );
        let error = SeenPrefixes::parse("10.9.0.0/16, lan").unwrap_err();
        assert!(error.contains("\"lan\" is not a network"), "{error}");
        let default = SeenPrefixes::default();
        assert_eq!(SeenPrefixes::parse(&default.to_text()).unwrap(), default);
    }

    #[test]
    fn networks_of_proxboxs_addresses_on_interfaces_minus_those_left_out() {
        let addresses = [
            address("10.1.0.5/24", None, Some(1), managed()),
            address("10.1.0.6/24", None, Some(2), managed()),
            address("10.1.0.7/24", Some(9), Some(3), managed()),
            address("fd00:1::5/64", None, Some(1), managed()),
            address("172.17.0.2/16", None, Some(1), managed()),
            address("10.2.0.1/32", None, Some(1), managed()),
            address("10.3.0.1/24", None, Some(1), json!([])),
            address("10.4.0.1/24", None, None, managed()),
        ];
        let got = SeenPrefixes::default().networks(on_interfaces(&addresses));
        let want: BTreeSet<(Option<u64>, IpNet)> = [
            (None, net("10.1.0.0/24")),
            (Some(9), net("10.1.0.0/24")),
            (None, net("fd00:1::/64")),
        ]
        .into();
        assert_eq!(got, want, "one per network and VRF; no container bridge, host route, operator's address or gateway");
        assert!(SeenPrefixes::Off
            .networks(on_interfaces(&addresses))
            .is_empty());
    }

    #[test]
    fn netbox_is_asked_only_about_networks_without_a_prefix_of_proxboxs_or_an_sdn_subnet() {
        let networks: BTreeSet<(Option<u64>, IpNet)> = [
            (None, net("10.1.0.0/24")),
            (None, net("10.1.5.0/24")),
            (None, net("10.7.1.0/24")),
            (Some(9), net("10.7.1.0/24")),
        ]
        .into();
        // An SDN subnet covers 10.7.0.0/16 in VRF 9 only.
        let covered: HashSet<(Option<u64>, IpNet)> = [(Some(9), net("10.7.0.0/16"))].into();
        let mapped: HashMap<String, u64> =
            [("lab/network/global/10.1.0.0/24".to_string(), 40)].into();
        let asks = to_ask("lab", &networks, &covered, &mapped);
        assert_eq!(
            asks,
            [(None, net("10.1.5.0/24")), (None, net("10.7.1.0/24"))]
        );
        // NetBox has an operator's prefix containing 10.1.5.0/24; none for 10.7.1.0/24.
        let uncontained: HashSet<(Option<u64>, IpNet)> = [(None, net("10.7.1.0/24"))].into();
        let wanted = wanted("lab", 3, &networks, &covered, &mapped, &uncontained);
        let prefixes: Vec<&str> = wanted.iter().map(|w| w.label.name.as_str()).collect();
        assert_eq!(prefixes, ["10.1.0.0/24", "10.7.1.0/24"]);
        assert_eq!(wanted[1].body.scope_id, Some(Some(3)));
        assert_eq!(wanted[1].body.vrf, Some(None));
    }
}
