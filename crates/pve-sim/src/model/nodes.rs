//! The nodes of a generated cluster and their networks.

use super::{Node, NodeIface};

/// A node with ten interfaces, as Proxmox installs are commonly cabled: a NIC under the
/// management bridge, two bonded NICs under the guest bridge, a spare NIC that is down,
/// VLAN interfaces in both spellings (`vmbr0.50`, `bond0.20`, `vlan30` with its raw
/// device), IPv4 and IPv6. Addresses stay inside the cluster's ranges, those of its guests:
/// `10.{100+index}.0.0/16` (third octets 250+ are never a guest's) and
/// `fd00:{0x100+index}::/32` (other /64s than the guests').
pub(super) fn generate_node(cluster: &str, index: u8, n: usize) -> Node {
    let net = 100 + index as u32;
    // As the guests' IPv6 (`fd00:{0x100 + index}::/32`), in /64s of their own.
    let net6 = 0x100 + index as u32;
    let ip = node_ip(index, n);
    let port = |iface: &str, kind: &str, ports: Option<&str>| NodeIface {
        ports: ports.map(str::to_string),
        ..plain(iface, kind)
    };
    let with_address = |third: u32| {
        (
            Some(format!("10.{net}.{third}.{}", 11 + n)),
            Some("255.255.255.0".to_string()),
        )
    };
    let interfaces = vec![
        port("eno1", "eth", None),
        port("eno2", "eth", None),
        port("eno3", "eth", None),
        NodeIface {
            active: false,
            comments: Some("spare, cabled to switch B\n".into()),
            ..port("eno4", "eth", None)
        },
        NodeIface {
            mtu: Some(9000),
            ..port("bond0", "bond", Some("eno2 eno3"))
        },
        NodeIface {
            address: Some(ip.clone()),
            netmask: Some("255.255.255.0".into()),
            gateway: Some(format!("10.{net}.250.1")),
            address6: Some(format!("fd00:{net6:x}:0:250::{:x}", 11 + n)),
            comments: Some("management".into()),
            ..port("vmbr0", "bridge", Some("eno1"))
        },
        NodeIface {
            mtu: Some(9000),
            ..port("vmbr1", "bridge", Some("bond0"))
        },
        {
            let (address, netmask) = with_address(251);
            NodeIface {
                address,
                netmask,
                vlan_id: Some(50),
                ..port("vmbr0.50", "vlan", None)
            }
        },
        {
            let (address, netmask) = with_address(252);
            NodeIface {
                address,
                netmask,
                vlan_id: Some(20),
                comments: Some("storage network".into()),
                ..port("bond0.20", "vlan", None)
            }
        },
        NodeIface {
            address6: Some(format!("fd00:{net6:x}:0:30::{:x}", 11 + n)),
            vlan_id: Some(30),
            raw_device: Some("vmbr1".into()),
            ..port("vlan30", "vlan", None)
        },
    ];
    Node {
        name: format!("{cluster}-pve{:02}", n + 1),
        ip,
        online: true,
        cpus: 32,
        memory_bytes: 128 << 30,
        interfaces,
    }
}

/// The node's management address.
fn node_ip(index: u8, n: usize) -> String {
    format!("10.{}.250.{}", 100 + index as u32, 11 + n)
}

fn plain(iface: &str, kind: &str) -> NodeIface {
    NodeIface {
        iface: iface.into(),
        kind: kind.into(),
        address: None,
        netmask: None,
        gateway: None,
        address6: None,
        ports: None,
        vlan_id: None,
        raw_device: None,
        active: true,
        mtu: None,
        comments: None,
        ovs_bridge: None,
        ovs_tag: None,
        ovs_options: None,
    }
}

/// A node cabled with Open vSwitch as the Proxmox documentation shows it: the management
/// bridge `vmbr0` on `eno1` with the node's address on an internal port, the guest bridge
/// `vmbr1` on an `OVSBond` of `eno2` and `eno3` (balance-slb), an internal port for
/// storage in VLAN 20, a tagged physical port `eno4` in VLAN 70 — and the same addresses as
/// [`generate_node`] gives.
pub(super) fn ovs_interfaces(index: u8, n: usize) -> Vec<NodeIface> {
    let net = 100 + index as u32;
    let on = |iface: &str, kind: &str, bridge: &str| NodeIface {
        ovs_bridge: Some(bridge.into()),
        ..plain(iface, kind)
    };
    vec![
        plain("eno2", "eth"),
        plain("eno3", "eth"),
        on("eno1", "OVSPort", "vmbr0"),
        NodeIface {
            ovs_tag: Some(70),
            comments: Some("tagged uplink to switch B".into()),
            ..on("eno4", "OVSPort", "vmbr1")
        },
        NodeIface {
            ports: Some("eno2 eno3".into()),
            mtu: Some(9000),
            ovs_options: Some("other_config:bond-rebalance-interval=0".into()),
            ..on("bond0", "OVSBond", "vmbr1")
        },
        NodeIface {
            ports: Some("eno1 mgmt".into()),
            ..plain("vmbr0", "OVSBridge")
        },
        NodeIface {
            ports: Some("bond0 storage eno4".into()),
            mtu: Some(9000),
            ..plain("vmbr1", "OVSBridge")
        },
        NodeIface {
            address: Some(node_ip(index, n)),
            netmask: Some("255.255.255.0".into()),
            gateway: Some(format!("10.{net}.250.1")),
            comments: Some("management".into()),
            ..on("mgmt", "OVSIntPort", "vmbr0")
        },
        NodeIface {
            address: Some(format!("10.{net}.252.{}", 11 + n)),
            netmask: Some("255.255.255.0".into()),
            ovs_tag: Some(20),
            comments: Some("storage network".into()),
            ..on("storage", "OVSIntPort", "vmbr1")
        },
    ]
}
