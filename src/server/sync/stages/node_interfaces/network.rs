//! A node's network as Proxmox reports it (`/nodes/{node}/network`), as NetBox interfaces:
//! physical NICs, bridges and their ports, bonds and their members, VLAN interfaces on
//! their parent, each with its addresses. Open vSwitch the same way: an `OVSBridge` with
//! its `ovs_ports` (and every port naming it as `ovs_bridge`), an `OVSBond` a LAG of its
//! `ovs_bonds`, an `OVSIntPort` a virtual interface on its bridge in its `ovs_tag` VLAN.

use proxbox_pve::NodeInterface;

use crate::server::sync::addresses::{host, is_recordable};

/// NetBox's `description` holds at most 200 characters.
const DESCRIPTION_MAX: usize = 200;

/// A Proxmox interface as NetBox should have it. Relations name other interfaces of the
/// same node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedInterface {
    pub name: String,
    /// NetBox's interface type: `bridge`, `lag`, `virtual` or `other`.
    pub kind: &'static str,
    pub enabled: bool,
    pub mtu: Option<u32>,
    pub description: String,
    /// A VLAN interface's parent (`vmbr0` of `vmbr0.51`).
    pub parent: Option<String>,
    /// The bridge this interface is a port of.
    pub bridge: Option<String>,
    /// The bond this interface is a member of.
    pub lag: Option<String>,
    /// A VLAN interface's VID (802.1Q access mode on that VLAN).
    pub vid: Option<u16>,
    /// IPv4 and IPv6 addresses in CIDR form.
    pub addresses: Vec<String>,
}

/// The parent and VID of a VLAN interface: `vlan-raw-device` and `vlan-id` where Proxmox
/// gives them, else from the name (`vmbr0.51`, `bond0.20`; `vlan51` has no parent).
fn vlan_of(interface: &NodeInterface) -> Option<(Option<String>, u16)> {
    let valid = |vid: u64| u16::try_from(vid).ok().filter(|v| (1..=4094).contains(v));
    if interface.kind.starts_with("OVS") {
        // An Open vSwitch port's VLAN is its tag on the bridge, not a parent device's.
        return interface.ovs_tag.and_then(valid).map(|vid| (None, vid));
    }
    if let Some(raw) = &interface.vlan_raw_device {
        let vid = interface.vlan_id.and_then(valid).or_else(|| {
            let digits = interface
                .iface
                .trim_start_matches(|c: char| !c.is_ascii_digit());
            digits.parse().ok().and_then(valid)
        })?;
        return Some((Some(raw.clone()), vid));
    }
    if let Some((parent, vid)) = interface.iface.rsplit_once('.') {
        if let Some(vid) = vid.parse().ok().and_then(valid) {
            return Some((Some(parent.to_string()), vid));
        }
    }
    if interface.kind == "vlan" {
        let from_name = interface
            .iface
            .strip_prefix("vlan")
            .and_then(|n| n.parse().ok());
        return interface
            .vlan_id
            .or(from_name)
            .and_then(valid)
            .map(|vid| (None, vid));
    }
    None
}

fn netbox_type(interface: &NodeInterface, is_vlan: bool) -> &'static str {
    match interface.kind.as_str() {
        "bridge" | "OVSBridge" => "bridge",
        "bond" | "OVSBond" => "lag",
        "vlan" | "OVSIntPort" | "alias" => "virtual",
        // A physical port on an Open vSwitch bridge stays physical, tagged or not.
        "OVSPort" => "other",
        _ if is_vlan => "virtual",
        // `eth` and anything Proxmox adds later: physical, of a kind Proxmox does not say.
        _ => "other",
    }
}

/// A prefix length from a dotted netmask (`255.255.255.0` → 24) or a number (`64`).
fn prefix_of(netmask: &str) -> Option<u32> {
    if let Ok(bits) = netmask.parse::<u32>() {
        return Some(bits);
    }
    let octets: Vec<u8> = netmask
        .split('.')
        .map(|o| o.parse().ok())
        .collect::<Option<_>>()?;
    (octets.len() == 4).then(|| octets.iter().map(|o| o.count_ones()).sum())
}

fn addresses_of(interface: &NodeInterface) -> Vec<String> {
    let v4 = interface.cidr.clone().or_else(|| {
        let address = interface.address.as_ref()?;
        Some(format!(
            "{address}/{}",
            prefix_of(interface.netmask.as_deref().unwrap_or("32"))?
        ))
    });
    let v6 = interface.cidr6.clone().or_else(|| {
        let address = interface.address6.as_ref()?;
        Some(format!("{address}/{}", interface.netmask6.unwrap_or(128)))
    });
    [v4, v6]
        .into_iter()
        .flatten()
        .filter(|a| host(a).is_some_and(is_recordable))
        .collect()
}

/// Ports and members as Proxmox lists them (`eno1 eno2`; `none` for a bridge without).
fn members(list: Option<&str>) -> impl Iterator<Item = &str> {
    list.unwrap_or_default()
        .split([' ', ',', ';'])
        .filter(|m| !m.is_empty() && *m != "none")
}

fn description(interface: &NodeInterface) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(mode) = &interface.bond_mode {
        parts.push(format!("bond mode {mode}"));
    }
    if let Some(options) = interface
        .ovs_options
        .as_deref()
        .filter(|o| !o.trim().is_empty())
    {
        parts.push(format!("OVS options {}", options.trim()));
    }
    if let Some(comments) = &interface.comments {
        let text = comments.split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.is_empty() {
            parts.push(text);
        }
    }
    let text = parts.join("; ");
    match text.char_indices().nth(DESCRIPTION_MAX - 1) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// A node's interfaces as NetBox should have them, in Proxmox's order. A port or member
/// Proxmox names but does not list is left out of the relation.
pub fn wanted_interfaces(network: &[NodeInterface]) -> Vec<WantedInterface> {
    let listed = |name: &str| network.iter().any(|i| i.iface == name);
    let mut wanted: Vec<WantedInterface> = network
        .iter()
        .map(|interface| {
            let vlan = vlan_of(interface);
            WantedInterface {
                name: interface.iface.clone(),
                kind: netbox_type(interface, vlan.is_some()),
                enabled: interface.active.or(interface.autostart).unwrap_or(true),
                mtu: interface.mtu.and_then(|m| u32::try_from(m).ok()),
                description: description(interface),
                parent: vlan
                    .as_ref()
                    .and_then(|(parent, _)| parent.clone())
                    .filter(|p| listed(p)),
                bridge: None,
                lag: None,
                vid: vlan.map(|(_, vid)| vid),
                addresses: addresses_of(interface),
            }
        })
        .collect();
    for (index, interface) in network.iter().enumerate() {
        if let Some(bridge) = interface.ovs_bridge.as_deref().filter(|b| listed(b)) {
            wanted[index].bridge = Some(bridge.to_string());
        }
        let ports = members(interface.bridge_ports.as_deref())
            .chain(members(interface.ovs_ports.as_deref()));
        for port in ports {
            if let Some(w) = wanted.iter_mut().find(|w| w.name == port) {
                w.bridge = Some(interface.iface.clone());
            }
        }
        let bonded =
            members(interface.slaves.as_deref()).chain(members(interface.ovs_bonds.as_deref()));
        for member in bonded {
            if let Some(w) = wanted.iter_mut().find(|w| w.name == member) {
                w.lag = Some(interface.iface.clone());
            }
        }
    }
    wanted
}
