use super::network::wanted_interfaces;
use super::*;
use crate::server::sync::stages::fixtures::{managed, model};
use proxbox_pve::NodeInterface;
use serde_json::{json, Value};

/// A node network as `/nodes/{node}/network` answers it.
fn network(entries: Value) -> Vec<NodeInterface> {
    proxbox_pve::lenient::parse_list(&entries, "network")
        .expect("a network list")
        .value
}

/// A network with a bond of two NICs under a bridge, a VLAN on the bridge, a `vlanN` with
/// its raw device, and an inactive NIC.
fn lab_network() -> Vec<NodeInterface> {
    network(json!([
        {"iface": "eno1", "type": "eth", "active": 1, "autostart": 1},
        {"iface": "eno2", "type": "eth", "active": 1, "autostart": 1},
        {"iface": "eno3", "type": "eth", "active": 0, "autostart": 0, "comments": "spare\n"},
        {"iface": "bond0", "type": "bond", "active": 1, "slaves": "eno1 eno2", "bond_mode": "802.3ad", "mtu": 9000},
        {"iface": "vmbr0", "type": "bridge", "active": 1, "bridge_ports": "bond0",
         "cidr": "192.168.10.11/24", "address6": "fd10::11", "netmask6": 64},
        {"iface": "vmbr0.51", "type": "vlan", "active": 1, "address": "10.51.0.11", "netmask": "255.255.255.0"},
        {"iface": "vlan20", "type": "vlan", "active": 1, "vlan-raw-device": "bond0", "vlan-id": 20},
        {"iface": "lo-ish", "type": "eth", "active": 1, "cidr": "127.0.0.1/8"},
    ]))
}

#[test]
fn a_node_network_becomes_typed_interfaces_with_their_relations_and_addresses() {
    let wanted = wanted_interfaces(&lab_network());
    let by_name = |name: &str| wanted.iter().find(|w| w.name == name).unwrap();
    let bond = by_name("bond0");
    assert_eq!((bond.kind, bond.mtu), ("lag", Some(9000)));
    assert_eq!(bond.description, "bond mode 802.3ad");
    assert_eq!(
        bond.bridge.as_deref(),
        Some("vmbr0"),
        "the bond is the bridge's port"
    );
    for member in ["eno1", "eno2"] {
        assert_eq!(by_name(member).lag.as_deref(), Some("bond0"));
        assert_eq!(by_name(member).kind, "other");
    }
    let spare = by_name("eno3");
    assert!(!spare.enabled);
    assert_eq!(spare.description, "spare");
    let bridge = by_name("vmbr0");
    assert_eq!(bridge.kind, "bridge");
    assert_eq!(bridge.addresses, ["192.168.10.11/24", "fd10::11/64"]);
    let vlan = by_name("vmbr0.51");
    assert_eq!(
        (vlan.kind, vlan.parent.as_deref(), vlan.vid),
        ("virtual", Some("vmbr0"), Some(51))
    );
    assert_eq!(vlan.addresses, ["10.51.0.11/24"]);
    let raw = by_name("vlan20");
    assert_eq!((raw.parent.as_deref(), raw.vid), (Some("bond0"), Some(20)));
    assert!(
        by_name("lo-ish").addresses.is_empty(),
        "loopback is not recorded"
    );
}

/// An Open vSwitch node: two NICs in an `OVSBond` on an `OVSBridge`, an internal port in
/// VLAN 50 with the node's address, a tagged physical port, as `/nodes/{node}/network`
/// lists them (the bridge names its ports, each port its bridge; a tag read from
/// `/etc/network/interfaces` comes as a string).
fn ovs_network() -> Vec<NodeInterface> {
    network(json!([
        {"iface": "eno1", "type": "eth", "active": 1, "families": ["inet"], "method": "manual"},
        {"iface": "eno2", "type": "eth", "active": 1, "families": ["inet"], "method": "manual"},
        {"iface": "bond0", "type": "OVSBond", "active": 1, "ovs_bonds": "eno1 eno2",
         "ovs_bridge": "vmbr0", "bond_mode": "balance-slb",
         "ovs_options": "other_config:bond-rebalance-interval=0"},
        {"iface": "vmbr0", "type": "OVSBridge", "active": 1, "ovs_ports": "bond0 vlan50 eno3"},
        {"iface": "vlan50", "type": "OVSIntPort", "active": 1, "ovs_bridge": "vmbr0",
         "ovs_tag": "50", "cidr": "10.50.0.11/24"},
        {"iface": "eno3", "type": "OVSPort", "active": 1, "ovs_bridge": "vmbr0", "ovs_tag": 70},
    ]))
}

#[test]
fn open_vswitch_ports_bonds_and_internal_ports_keep_their_relations() {
    let wanted = wanted_interfaces(&ovs_network());
    let by_name = |name: &str| wanted.iter().find(|w| w.name == name).unwrap();
    assert_eq!(by_name("vmbr0").kind, "bridge");
    let bond = by_name("bond0");
    assert_eq!((bond.kind, bond.bridge.as_deref()), ("lag", Some("vmbr0")));
    assert_eq!(
        bond.description,
        "bond mode balance-slb; OVS options other_config:bond-rebalance-interval=0"
    );
    for member in ["eno1", "eno2"] {
        assert_eq!(by_name(member).lag.as_deref(), Some("bond0"), "{member}");
    }
    let internal = by_name("vlan50");
    assert_eq!(
        (
            internal.kind,
            internal.bridge.as_deref(),
            internal.parent.as_deref(),
            internal.vid
        ),
        ("virtual", Some("vmbr0"), None, Some(50))
    );
    assert_eq!(internal.addresses, ["10.50.0.11/24"]);
    let tagged = by_name("eno3");
    assert_eq!(
        (tagged.kind, tagged.bridge.as_deref(), tagged.vid),
        ("other", Some("vmbr0"), Some(70))
    );
}

fn node(interfaces: Vec<NodeInterface>) -> NodeNetwork {
    NodeNetwork {
        node: "pve1".into(),
        device: 5,
        interfaces: wanted_interfaces(&interfaces),
        address: Some("192.168.10.11".parse().unwrap()),
        vrf: None,
    }
}

/// An interface on device 5 as NetBox answers it, with `changes` on top.
fn interface(id: u64, name: &str, kind: &str, changes: Value) -> Interface {
    let mut value = json!({
        "id": id, "device": {"id": 5}, "name": name, "type": {"value": kind}, "enabled": true,
        "mtu": null, "description": "", "parent": null, "bridge": null, "lag": null,
        "mode": null, "untagged_vlan": null, "tags": managed(),
    });
    for (key, change) in changes.as_object().cloned().unwrap_or_default() {
        value[key] = change;
    }
    model(value)
}

/// What NetBox holds after a first sync of `lab_network` (ids 10…), VLAN 51 as id 100,
/// VLAN 20 as id 101.
fn synced_lab() -> Vec<Interface> {
    let r = |id: u64| json!({"id": id});
    vec![
        interface(10, "eno1", "other", json!({"lag": r(13)})),
        interface(11, "eno2", "other", json!({"lag": r(13)})),
        interface(
            12,
            "eno3",
            "other",
            json!({"enabled": false, "description": "spare"}),
        ),
        interface(
            13,
            "bond0",
            "lag",
            json!({"mtu": 9000, "description": "bond mode 802.3ad", "bridge": r(14)}),
        ),
        interface(14, "vmbr0", "bridge", json!({})),
        interface(
            15,
            "vmbr0.51",
            "virtual",
            json!({"parent": r(14), "mode": {"value": "access"}, "untagged_vlan": r(100)}),
        ),
        interface(
            16,
            "vlan20",
            "virtual",
            json!({"parent": r(13), "mode": {"value": "access"}, "untagged_vlan": r(101)}),
        ),
        interface(17, "lo-ish", "other", json!({})),
    ]
}

/// A relation as a write sets it: not at all, cleared, or to an interface.
type Relation = Option<Option<u64>>;

fn lab_vlans() -> HashMap<u16, u64> {
    [(51, 100), (20, 101)].into()
}

#[test]
fn a_first_sync_creates_every_interface_and_links_them_once_they_exist() {
    let inputs = Inputs {
        nodes: vec![node(lab_network())],
        ..Inputs::default()
    };
    let plan = plan_interfaces(&inputs, &lab_vlans(), &OverwritePolicy::default());
    assert_eq!(plan.creates.len(), 8);
    let vlan = plan
        .creates
        .iter()
        .find(|w| w.body.name.as_deref() == Some("vmbr0.51"))
        .unwrap();
    assert_eq!(vlan.body.mode, Some(Some("access".into())));
    assert_eq!(vlan.body.untagged_vlan, Some(Some(100)));
    assert_eq!(vlan.body.parent, None, "set once the parent exists");

    // NetBox gave ids 10…17 in order.
    let settled: HashMap<Key, u64> = (0..8).map(|i| ((0, i), 10 + i as u64)).collect();
    let fresh: HashSet<u64> = settled.values().copied().collect();
    let links = plan_links(&inputs, &settled, &fresh);
    let linked: Vec<(u64, Relation, Relation, Relation)> = links
        .links
        .iter()
        .map(|w| (w.id.unwrap(), w.body.parent, w.body.bridge, w.body.lag))
        .collect();
    assert_eq!(
        linked,
        [
            (10, None, None, Some(Some(13))),
            (11, None, None, Some(Some(13))),
            (13, None, Some(Some(14)), None),
            (15, Some(Some(14)), None, None),
            (16, Some(Some(13)), None, None),
        ]
    );
    assert!(links.updates.is_empty(), "links are part of the creations");
}

#[test]
fn a_resync_with_nothing_changed_plans_nothing() {
    let inputs = Inputs {
        nodes: vec![node(lab_network())],
        existing: synced_lab(),
        ..Inputs::default()
    };
    let plan = plan_interfaces(&inputs, &lab_vlans(), &OverwritePolicy::default());
    assert!(plan.writes_nothing(), "{plan:?}");
    assert_eq!(plan.skips.len(), 8);
    let settled: HashMap<Key, u64> = (0..8).map(|i| ((0, i), 10 + i as u64)).collect();
    assert!(plan_links(&inputs, &settled, &HashSet::new()).writes_nothing());
}

#[test]
fn changes_are_corrected_stale_interfaces_removed_and_an_operators_own_kept() {
    let mut changed = lab_network();
    changed.retain(|i| i.iface != "vlan20");
    changed[2].active = Some(true);
    changed[3].slaves = Some("eno1".into());
    let mut existing = synced_lab();
    existing.push(interface(18, "ipmi", "1000base-t", json!({"tags": []})));
    let inputs = Inputs {
        nodes: vec![node(changed)],
        existing,
        ..Inputs::default()
    };
    let plan = plan_interfaces(&inputs, &lab_vlans(), &OverwritePolicy::default());
    let updates: Vec<(u64, Vec<String>)> = plan
        .updates
        .iter()
        .map(|w| (w.id.unwrap(), w.changed.clone()))
        .collect();
    assert_eq!(
        updates,
        [
            (11, vec!["lag".to_string()]),
            (12, vec!["enabled".to_string()])
        ],
        "eno2 left the bond; eno3 came up"
    );
    assert_eq!(plan.updates[0].body.lag, Some(None));
    let deleted: Vec<u64> = plan.deletes.iter().map(|(_, id)| *id).collect();
    assert_eq!(deleted, [16], "vlan20 is gone; the operator's ipmi stays");

    let mut policy = OverwritePolicy::default();
    policy.0.insert(Field::Interfaces, Overwrite::OnCreate);
    let left = plan_interfaces(&inputs, &lab_vlans(), &policy);
    assert!(left.updates.is_empty());
}

#[test]
fn an_offline_or_unreadable_node_keeps_what_netbox_has() {
    let inputs = Inputs {
        unread: vec![
            (
                Label::new("pve2", "node", "network of node").warned(Some("offline".into())),
                None,
            ),
            (
                Label::new("pve3", "node", "network of node"),
                Some(StageError {
                    category: crate::events::ErrorCategory::Timeout,
                    message: "timed out".into(),
                    detail: String::new(),
                    suggestion: String::new(),
                }),
            ),
        ],
        existing: synced_lab(),
        ..Inputs::default()
    };
    let plan = plan_interfaces(&inputs, &lab_vlans(), &OverwritePolicy::default());
    assert!(plan.writes_nothing());
    assert_eq!((plan.skips.len(), plan.failures.len()), (1, 1));
}

#[test]
fn node_addresses_land_on_their_interfaces_and_the_node_address_is_primary() {
    let inputs = Inputs {
        nodes: vec![node(lab_network())],
        existing: synced_lab(),
        ..Inputs::default()
    };
    let settled: HashMap<Key, u64> = (0..8).map(|i| ((0, i), 10 + i as u64)).collect();
    let (reportings, node_of) = reportings(&inputs, &settled);
    let (plan, reported) =
        addresses::plan_addresses(&reportings, &[], &[], &OverwritePolicy::default());
    let created: Vec<(Option<u64>, &str)> = plan
        .creates
        .iter()
        .map(|w| {
            (
                w.body.assigned_object_id,
                w.body.address.as_deref().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        created,
        [
            (Some(14), "192.168.10.11/24"),
            (Some(14), "fd10::11/64"),
            (Some(15), "10.51.0.11/24")
        ]
    );
    assert!(plan
        .creates
        .iter()
        .all(|w| w.body.assigned_object_type.as_deref() == Some(DCIM_INTERFACE)));
    let settled_ips: Vec<(Reported, u64)> = reported.into_iter().zip([200, 201, 202]).collect();
    let primary = plan_primary(&inputs, &node_of, &settled_ips, &OverwritePolicy::default());
    assert_eq!(primary.updates[0].body.primary_ip4, Some(Some(200)));
    assert_eq!(primary.updates[0].id, Some(5));

    let mut already = inputs.clone();
    already.primary_ips.insert(5, (Some(200), None));
    assert!(plan_primary(
        &already,
        &node_of,
        &settled_ips,
        &OverwritePolicy::default()
    )
    .writes_nothing());
}

#[test]
fn a_stale_interfaces_addresses_go_with_it() {
    let mut without_vlan = lab_network();
    without_vlan.retain(|i| i.iface != "vmbr0.51");
    let inputs = Inputs {
        nodes: vec![node(without_vlan)],
        existing: synced_lab(),
        assigned: vec![model(json!({
            "id": 300, "address": "10.51.0.11/24", "status": {"value": "active"},
            "assigned_object_type": DCIM_INTERFACE,
            "assigned_object_id": 15, "tags": managed(),
        }))],
        ..Inputs::default()
    };
    let settled: HashMap<Key, u64> = HashMap::new();
    let (reportings, _) = reportings(&inputs, &settled);
    let (plan, _) = addresses::plan_addresses(
        &reportings,
        &inputs.assigned,
        &[],
        &OverwritePolicy::default(),
    );
    let deleted: Vec<u64> = plan.deletes.iter().map(|(_, id)| *id).collect();
    assert_eq!(deleted, [300]);
}
