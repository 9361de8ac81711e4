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
    let ip = format!("10.{net}.250.{}", 11 + n);
    let port = |iface: &str, kind: &str, ports: Option<&str>| NodeIface {
        iface: iface.into(),
        kind: kind.into(),
        address: None,
        netmask: None,
        gateway: None,
        address6: None,
        ports: ports.map(str::to_string),
        vlan_id: None,
        raw_device: None,
        active: true,
        mtu: None,
        comments: None,
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
