//! The networks stage's plans, from SDN written here by hand (as Proxmox lists it) and
//! NetBox objects as NetBox answers them.

use std::collections::HashMap;

use proxbox_netbox::models::*;
use proxbox_pve::{DhcpRange, SdnSubnet, SdnVnet, SdnZone};
use serde_json::json;

use super::interfaces::{plan_interface_vlans, terminations, vnet_nics};
use super::reconcile::{reconcile, Held, Known};
use super::wanted::{ClusterSdn, Overlay};
use crate::server::sync::stages::fixtures::{guest, managed, model, nic, slugs};
use crate::server::sync::state::SyncedInterface;

fn zone(name: &str, kind: &str) -> SdnZone {
    SdnZone {
        zone: name.into(),
        kind: kind.into(),
        bridge: None,
        tag: None,
        controller: None,
        vrf_vxlan: None,
        ipam: Some("pve".into()),
    }
}

fn vnet(name: &str, zone: &str, tag: Option<u64>, alias: Option<&str>) -> SdnVnet {
    SdnVnet {
        vnet: name.into(),
        zone: zone.into(),
        tag,
        alias: alias.map(str::to_string),
    }
}

fn subnet(vnet: &str, cidr: &str, gateway: Option<&str>, ranges: &[(&str, &str)]) -> SdnSubnet {
    SdnSubnet {
        id: format!("zone-{}", cidr.replace('/', "-")),
        cidr: cidr.into(),
        vnet: vnet.into(),
        zone: None,
        gateway: gateway.map(str::to_string),
        snat: false,
        dhcp_ranges: ranges
            .iter()
            .map(|(start, end)| DhcpRange {
                start: (*start).into(),
                end: (*end).into(),
            })
            .collect(),
    }
}

/// A zone of each type with a VNet each; NetBox cluster 5 on site 3.
fn lab() -> ClusterSdn {
    ClusterSdn {
        endpoint_id: 1,
        cluster: "lab".into(),
        cluster_id: 5,
        site: 3,
        zones: vec![
            SdnZone {
                bridge: Some("vmbr0".into()),
                ..zone("vlanzone", "vlan")
            },
            SdnZone {
                tag: Some(300),
                ..zone("qinqzone", "qinq")
            },
            zone("vxzone", "vxlan"),
            SdnZone {
                vrf_vxlan: Some(10000),
                controller: Some("evpnctl".into()),
                ..zone("evpnzone", "evpn")
            },
            zone("simple", "simple"),
        ],
        vnets: vec![
            vnet("vnet10", "vlanzone", Some(10), Some("web tier")),
            vnet("qvnet30", "qinqzone", Some(30), None),
            vnet("vxnet1", "vxzone", Some(100001), None),
            vnet("evnet1", "evpnzone", Some(200001), Some("tenant")),
            vnet("snet", "simple", None, None),
        ],
        subnets: vec![
            subnet(
                "vnet10",
                "10.1.210.0/24",
                Some("10.1.210.1"),
                &[("10.1.210.100", "10.1.210.199")],
            ),
            subnet("qvnet30", "10.1.211.0/24", None, &[]),
            subnet("evnet1", "10.1.220.0/24", Some("10.1.220.1"), &[]),
            // A gateway and a range outside the subnet are not the subnet's.
            subnet(
                "snet",
                "10.1.230.0/24",
                Some("10.9.9.9"),
                &[("10.1.230.10", "10.1.231.10")],
            ),
        ],
    }
}

#[test]
fn every_zone_type_becomes_what_netbox_models_it_as() {
    let sdn = lab();
    let groups = sdn.vlan_groups();
    let names: Vec<_> = groups
        .iter()
        .map(|g| g.body.name.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["vlanzone", "qinqzone"], "VLAN and QinQ zones only");
    assert_eq!(groups[0].body.scope_type.as_deref(), Some(CLUSTER_SCOPE));
    assert_eq!(groups[0].body.scope_id, Some(5));
    assert_eq!(
        groups[0].body.description.as_deref(),
        Some("Proxmox VLAN zone on vmbr0")
    );
    assert_eq!(
        groups[1].body.description.as_deref(),
        Some("Proxmox QinQ zone, service VLAN 300")
    );
    assert_eq!(slugs(&groups[0].body.tags), ["proxbox"]);

    let vrfs = sdn.vrfs();
    assert_eq!(vrfs.len(), 1, "the EVPN zone's VRF");
    assert_eq!(vrfs[0].body.name.as_deref(), Some("evpnzone (lab)"));

    let l2vpns = sdn.l2vpns();
    let vpns: Vec<_> = l2vpns
        .iter()
        .map(|w| {
            (
                w.body.slug.clone().unwrap(),
                w.body.kind.clone().unwrap(),
                w.body.identifier.unwrap(),
            )
        })
        .collect();
    assert_eq!(
        vpns,
        [
            ("lab-vxnet1".to_string(), "vxlan".to_string(), Some(100001)),
            (
                "lab-evnet1".to_string(),
                "vxlan-evpn".to_string(),
                Some(200001)
            ),
        ]
    );

    let groups: HashMap<String, u64> = [("vlanzone".into(), 7), ("qinqzone".into(), 8)].into();
    let vlans = sdn.vlans(&groups);
    let vlans: Vec<_> = vlans
        .iter()
        .map(|w| {
            (
                w.body.name.clone().unwrap(),
                w.body.group.unwrap(),
                w.body.vid.unwrap(),
                w.body.description.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        vlans,
        [
            ("vnet10".to_string(), 7, 10, "web tier".to_string()),
            ("qvnet30".to_string(), 8, 30, String::new()),
        ],
        "the simple zone's VNet has no VLAN, the VXLAN ones are L2VPNs"
    );
    assert_eq!(sdn.overlay_of("snet"), Overlay::None);
}

#[test]
fn subnets_become_prefixes_in_their_vrf_with_their_gateways_and_dhcp_ranges() {
    let sdn = lab();
    let vrfs: HashMap<String, u64> = [("evpnzone".into(), 40)].into();
    let vlans: HashMap<String, u64> = [("vnet10".into(), 70)].into();
    let prefixes = sdn.prefixes(&vrfs, &vlans);
    let got: Vec<_> = prefixes
        .iter()
        .map(|w| {
            (
                w.body.prefix.clone().unwrap(),
                w.body.vrf.unwrap(),
                w.body.vlan.unwrap(),
                w.body.scope_id.unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("10.1.210.0/24".to_string(), None, Some(70), Some(3)),
            ("10.1.211.0/24".to_string(), None, None, Some(3)),
            ("10.1.220.0/24".to_string(), Some(40), None, Some(3)),
            ("10.1.230.0/24".to_string(), None, None, Some(3)),
        ]
    );

    let gateways = sdn.gateways(&vrfs);
    let got: Vec<_> = gateways
        .iter()
        .map(|w| {
            (
                w.body.address.clone().unwrap(),
                w.body.vrf.unwrap(),
                w.body.role.clone().unwrap(),
                w.body.description.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "10.1.210.1/24".to_string(),
                None,
                Some("anycast".to_string()),
                "gateway of vnet10".to_string()
            ),
            (
                "10.1.220.1/24".to_string(),
                Some(40),
                Some("anycast".to_string()),
                "gateway of evnet1".to_string()
            ),
        ],
        "no gateway for a subnet without one, none outside its subnet"
    );

    let ranges = sdn.dhcp_ranges(&vrfs);
    assert_eq!(
        ranges.len(),
        1,
        "the range that leaves its subnet is not written"
    );
    assert_eq!(
        ranges[0].body.start_address.as_deref(),
        Some("10.1.210.100/24")
    );
    assert_eq!(
        ranges[0].body.end_address.as_deref(),
        Some("10.1.210.199/24")
    );
}

fn prefix(id: u64, cidr: &str, tags: serde_json::Value) -> Prefix {
    model(json!({
        "id": id, "prefix": cidr, "vrf": null, "status": {"value": "active"},
        "scope_type": SITE_SCOPE, "scope_id": 3, "vlan": null,
        "description": "subnet of qvnet30", "tags": tags,
    }))
}

#[test]
fn an_operators_prefix_is_used_as_it_is_and_one_that_contains_the_subnet_gets_it_as_a_child() {
    let sdn = lab();
    let wanted = sdn.prefixes(&HashMap::new(), &HashMap::new());
    let existing = [
        // The operator's: the same network as qvnet30's subnet, described their way.
        model::<Prefix>(json!({
            "id": 11, "prefix": "10.1.211.0/24", "status": {"value": "reserved"},
            "description": "by hand", "tags": [],
        })),
        // The operator's supernet of the others.
        prefix(12, "10.1.0.0/16", json!([])),
    ];
    let plan = reconcile("prefixes", wanted, &existing, &Known::default(), |_| true);
    let created: Vec<_> = plan
        .creates
        .iter()
        .map(|w| w.body.prefix.clone().unwrap())
        .collect();
    assert_eq!(created, ["10.1.210.0/24", "10.1.220.0/24", "10.1.230.0/24"]);
    assert!(
        plan.updates.is_empty(),
        "an operator's prefix is not changed"
    );
    assert!(plan.deletes.is_empty());
    assert_eq!(plan.skips.len(), 1);
    assert_eq!(plan.skips[0].id, Some(11));
    let held = plan.skips[0].key.clone().unwrap();
    assert_eq!(
        held,
        Held {
            identity: "lab/subnet/zone-10.1.211.0-24".into(),
            ours: false
        },
        "used, never mapped: a VNet removed later does not remove it"
    );
}

fn vlan(id: u64, group: u64, vid: u16, name: &str, tags: serde_json::Value) -> GroupedVlan {
    model(json!({
        "id": id, "vid": vid, "name": name, "group": {"id": group},
        "description": "", "tags": tags,
    }))
}

#[test]
fn a_vnet_removed_in_proxmox_takes_proxboxs_vlan_along_and_leaves_an_operators() {
    let mut sdn = lab();
    sdn.vnets.retain(|v| v.vnet != "qvnet30");
    let groups: HashMap<String, u64> = [("vlanzone".into(), 7), ("qinqzone".into(), 8)].into();
    let existing = [
        GroupedVlan {
            description: "web tier".into(),
            ..vlan(1, 7, 10, "vnet10", managed())
        },
        vlan(2, 8, 30, "qvnet30", managed()),
        vlan(3, 8, 31, "an operator's", json!([])),
    ];
    let mapped: HashMap<String, u64> = [
        ("lab/vnet/vnet10".into(), 1),
        ("lab/vnet/qvnet30".into(), 2),
    ]
    .into();
    let wanted = sdn.vlans(&groups);
    let plan = reconcile("VLANs", wanted, &existing, &Known::mapped(mapped), |_| true);
    let deleted: Vec<u64> = plan.deletes.iter().map(|(_, id)| *id).collect();
    assert_eq!(deleted, [2]);
    assert!(plan.creates.is_empty());
    assert!(
        plan.updates.is_empty(),
        "vnet10's VLAN is as Proxmox has it"
    );
    assert_eq!(plan.skips.len(), 1);
}

#[test]
fn a_vnet_retagged_or_realiased_keeps_its_vlan_and_only_the_changes_are_written() {
    let mut sdn = lab();
    sdn.vnets[0].tag = Some(11);
    sdn.vnets[0].alias = Some("front".into());
    let groups: HashMap<String, u64> = [("vlanzone".into(), 7)].into();
    let existing = [vlan(1, 7, 10, "vnet10", managed())];
    let mapped: HashMap<String, u64> = [("lab/vnet/vnet10".into(), 1)].into();
    let plan = reconcile(
        "VLANs",
        sdn.vlans(&groups),
        &existing,
        &Known::mapped(mapped),
        |_| true,
    );
    assert!(plan.creates.is_empty() && plan.deletes.is_empty());
    assert_eq!(plan.updates.len(), 1);
    assert_eq!(
        plan.updates[0].id,
        Some(1),
        "the same VLAN, never a new one"
    );
    assert_eq!(plan.updates[0].changed, ["description", "vid"]);
}

#[test]
fn what_netbox_has_as_proxmox_says_plans_nothing_and_lost_maps_are_taken_back() {
    let sdn = lab();
    let existing: Vec<VlanGroup> = sdn
        .vlan_groups()
        .iter()
        .enumerate()
        .map(|(n, w)| {
            model(json!({
                "id": 20 + n, "name": w.body.name, "slug": w.body.slug,
                "scope_type": CLUSTER_SCOPE, "scope_id": 5,
                "description": w.body.description, "tags": managed(),
            }))
        })
        .collect();
    // No identity map (a lost database): found by slug within the cluster, Proxbox's tag
    // says they are its own.
    let plan = reconcile(
        "VLAN groups",
        sdn.vlan_groups(),
        &existing,
        &Known::default(),
        |_| true,
    );
    assert!(plan.writes_nothing(), "{plan:?}");
    assert!(plan.skips.iter().all(|s| s.key.as_ref().unwrap().ours));
    // A group of the same slug in another cluster is not this one's.
    let elsewhere: Vec<VlanGroup> = existing
        .iter()
        .map(|g| VlanGroup {
            scope_id: Some(6),
            ..g.clone()
        })
        .collect();
    let plan = reconcile(
        "VLAN groups",
        sdn.vlan_groups(),
        &elsewhere,
        &Known::default(),
        |_| true,
    );
    assert_eq!(plan.creates.len(), 2);
}

fn interface(id: u64, vlan: Option<u64>, mode: Option<&str>) -> VmInterface {
    model(json!({
        "id": id, "virtual_machine": {"id": 500}, "name": "net0",
        "untagged_vlan": vlan.map(|id| json!({"id": id})),
        "mode": mode.map(|m| json!({"value": m})),
        "tags": managed(),
    }))
}

#[test]
fn guests_on_vnets_get_their_vlan_or_their_l2vpn_termination() {
    let sdn = lab();
    let mut web = guest("web", 500);
    web.nets = vec![
        nic(
            0,
            proxbox_pve::GuestKind::Qemu,
            "virtio=BC:24:11:00:00:01,bridge=vnet10",
        ),
        nic(
            1,
            proxbox_pve::GuestKind::Qemu,
            "virtio=BC:24:11:00:00:02,bridge=vxnet1",
        ),
        nic(
            2,
            proxbox_pve::GuestKind::Qemu,
            "virtio=BC:24:11:00:00:03,bridge=vmbr0,tag=5",
        ),
    ];
    let guests = [web];
    let synced: Vec<SyncedInterface> = ["net0", "net1", "net2"]
        .iter()
        .enumerate()
        .map(|(n, key)| SyncedInterface {
            guest: 0,
            key: (*key).into(),
            netbox_id: 900 + n as u64,
            mac: None,
        })
        .collect();
    let nics = vnet_nics(&sdn, &guests, &synced);
    let on: Vec<(&str, u64)> = nics
        .iter()
        .map(|n| (n.vnet.as_str(), n.interface_id))
        .collect();
    assert_eq!(on, [("vnet10", 900), ("vxnet1", 901)], "vmbr0 is no VNet");

    let vlans: HashMap<String, u64> = [("vnet10".into(), 70)].into();
    // A blank interface is filled in even when interfaces are not Proxbox's to overwrite.
    let blank = [interface(900, None, None), interface(901, None, None)];
    let plan = plan_interface_vlans(&nics, &blank, &vlans, false);
    assert_eq!(plan.updates.len(), 1);
    assert_eq!(plan.updates[0].body.untagged_vlan, Some(Some(70)));
    assert_eq!(plan.updates[0].body.mode, Some(Some("access".into())));
    // Set as Proxmox says: nothing to write.
    let done = [
        interface(900, Some(70), Some("access")),
        interface(901, None, None),
    ];
    assert!(plan_interface_vlans(&nics, &done, &vlans, true).writes_nothing());
    // Set otherwise by someone: changed only when Proxbox owns interfaces.
    let other = [
        interface(900, Some(99), Some("access")),
        interface(901, None, None),
    ];
    assert!(plan_interface_vlans(&nics, &other, &vlans, false).writes_nothing());
    assert_eq!(
        plan_interface_vlans(&nics, &other, &vlans, true)
            .updates
            .len(),
        1
    );

    let l2vpns: HashMap<String, u64> = [("vxnet1".into(), 80)].into();
    let wanted = terminations(&nics, &l2vpns);
    assert_eq!(wanted.len(), 1);
    assert_eq!(wanted[0].body.l2vpn, Some(80));
    assert_eq!(wanted[0].body.assigned_object_id, Some(901));
    assert_eq!(wanted[0].identity, "lab/qemu/100/net1");
}

#[test]
fn another_clusters_object_of_the_same_network_is_used_and_never_taken_over() {
    let sdn = lab();
    let wanted = sdn.prefixes(&HashMap::new(), &HashMap::new());
    // Proxbox made 10.1.210.0/24 for another endpoint's cluster, with the same subnet.
    let existing = [prefix(31, "10.1.210.0/24", managed())];
    let known = Known {
        elsewhere: [31].into(),
        ..Known::default()
    };
    let plan = reconcile("prefixes", wanted, &existing, &known, |_| true);
    assert!(plan.updates.is_empty(), "not changed");
    let used = plan.skips.iter().find(|s| s.id == Some(31)).unwrap();
    assert!(
        !used.key.as_ref().unwrap().ours,
        "not mapped: never removed by this cluster"
    );
    // Had this endpoint mapped it once, dropping the subnet still leaves it to its maker.
    let mut known = known;
    known.mapped.insert("lab/subnet/gone".into(), 31);
    let plan = reconcile("prefixes", Vec::new(), &existing, &known, |_| true);
    assert!(plan.deletes.is_empty());
}
