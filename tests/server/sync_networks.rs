//! Proxmox SDN in a real NetBox's IPAM: the networks stage against the simulator's zones,
//! VNets and subnets, with guests bridged to VNets. The simulator's model is the oracle.

use std::collections::{BTreeMap, BTreeSet};

use proxbox::server::sync::stage::Stage;
use proxbox_netbox::models::*;
use proxbox_netbox::NetboxClient;
use pve_sim::Shape;
use serde_json::json;

use crate::netbox_cleanup::delete_listed;
use crate::support::*;
use crate::sync_support::*;

const NETWORKS: &[Stage] = &[Stage::Networks];

/// The cluster's NetBox id.
async fn cluster_id(netbox: &NetboxClient, name: &str) -> u64 {
    cluster_and_vms(netbox, name).await.0.id
}

/// VNet → (VLAN group name, VID, description) of the VLANs in the cluster's VLAN groups.
async fn vlans_by_vnet(
    netbox: &NetboxClient,
    cluster: u64,
) -> (Vec<VlanGroup>, BTreeMap<String, (String, u16, String, u64)>) {
    let groups: Vec<VlanGroup> = netbox
        .list(&[
            ("scope_type", CLUSTER_SCOPE.to_string()),
            ("scope_id", cluster.to_string()),
        ])
        .await
        .unwrap();
    let mut vlans = BTreeMap::new();
    for group in &groups {
        let in_group: Vec<GroupedVlan> = netbox
            .list(&[("group_id", group.id.to_string())])
            .await
            .unwrap();
        for vlan in in_group {
            vlans.insert(
                vlan.name.clone(),
                (
                    group.name.clone(),
                    vlan.vid,
                    vlan.description.clone(),
                    vlan.id,
                ),
            );
        }
    }
    (groups, vlans)
}

/// NetBox's prefixes of the cluster's address range, as `(prefix, VRF name)`.
async fn prefixes_in(netbox: &NetboxClient, seed: u64) -> Vec<Prefix> {
    netbox
        .list(&[("within", format!("10.{}.0.0/16", 100 + seed))])
        .await
        .unwrap()
}

#[tokio::test]
async fn the_sdn_lands_in_netbox_as_the_simulator_serves_it_and_a_resync_writes_nothing() {
    let seed = 143;
    let (netbox, name, sim) = scenario("nets", seed, 1, 30).await;
    sim.state.cluster.write().await.turn_on(Shape::VnetGuests);
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;
    // An operator's prefix of one subnet, made by hand before Proxbox came.
    let operators = format!("10.{}.211.0/24", 100 + seed);
    netbox
        .create::<Prefix, _>(&[
            json!({"prefix": operators, "status": "reserved", "description": "by hand"}),
        ])
        .await
        .unwrap()
        .into_result()
        .unwrap();

    // The full update, all thirteen stages.
    sync(&db, &netbox, &sim, endpoint_id, &[]).await;
    let model = sim.state.cluster.read().await.clone();
    let sdn = &model.sdn;
    let cluster = cluster_id(&netbox, &name).await;
    let site = cluster_and_vms(&netbox, &name).await.0.scope_id;

    // Zones of type vlan and qinq are VLAN groups of the cluster; their VNets its VLANs.
    let (groups, vlans) = vlans_by_vnet(&netbox, cluster).await;
    let group_names: BTreeSet<String> = groups.iter().map(|g| g.name.clone()).collect();
    let want_groups: BTreeSet<String> = sdn
        .zones
        .iter()
        .filter(|z| z.kind == "vlan" || z.kind == "qinq")
        .map(|z| z.zone.clone())
        .collect();
    assert_eq!(group_names, want_groups);
    let want_vlans: BTreeMap<String, (String, u16, String)> = sdn
        .vnets
        .iter()
        .filter(|v| want_groups.contains(&v.zone))
        .map(|v| {
            let vid = v.tag.unwrap() as u16;
            (
                v.vnet.clone(),
                (v.zone.clone(), vid, v.alias.clone().unwrap_or_default()),
            )
        })
        .collect();
    let got_vlans: BTreeMap<String, (String, u16, String)> = vlans
        .iter()
        .map(|(k, (g, vid, d, _))| (k.clone(), (g.clone(), *vid, d.clone())))
        .collect();
    assert_eq!(got_vlans, want_vlans);

    // VNets of VXLAN and EVPN zones are L2VPNs with their VNI; the EVPN zone's VRF exists.
    let l2vpns: Vec<L2vpn> = netbox
        .list(&[("slug__isw", format!("{name}-"))])
        .await
        .unwrap();
    let got: BTreeSet<(String, String, Option<u64>)> = l2vpns
        .iter()
        .map(|l| (l.name.clone(), l.kind.value.clone(), l.identifier))
        .collect();
    let want: BTreeSet<(String, String, Option<u64>)> = sdn
        .vnets
        .iter()
        .filter_map(|v| {
            let kind = match sdn.zone_of(&v.vnet)?.kind.as_str() {
                "vxlan" => "vxlan",
                "evpn" => "vxlan-evpn",
                _ => return None,
            };
            Some((
                format!("{} ({name})", v.vnet),
                kind.to_string(),
                v.tag.map(u64::from),
            ))
        })
        .collect();
    assert_eq!(got, want);
    let evpn = sdn.zones.iter().find(|z| z.kind == "evpn").unwrap();
    let vrfs: Vec<VrfDetail> = netbox
        .list(&[("name", format!("{} ({name})", evpn.zone))])
        .await
        .unwrap();
    assert_eq!(vrfs.len(), 1, "the EVPN zone's VRF");
    let vrf = vrfs[0].id;

    // Each subnet is a prefix (in its zone's VRF, on its VNet's VLAN); the operator's is
    // used as it is, not duplicated.
    let prefixes = prefixes_in(&netbox, seed).await;
    for subnet in &sdn.subnets {
        let of_cidr: Vec<&Prefix> = prefixes
            .iter()
            .filter(|p| p.prefix == subnet.cidr)
            .collect();
        assert_eq!(of_cidr.len(), 1, "{} once: {of_cidr:?}", subnet.cidr);
        let prefix = of_cidr[0];
        let in_evpn = sdn.zone_of(&subnet.vnet).unwrap().kind == "evpn";
        assert_eq!(
            prefix.vrf.as_ref().map(|v| v.id),
            in_evpn.then_some(vrf),
            "{}",
            subnet.cidr
        );
        if subnet.cidr == operators {
            assert_eq!(prefix.description, "by hand");
            assert_eq!(prefix.status.value, "reserved");
            assert!(prefix.tags.is_empty(), "not taken over");
        } else {
            assert_eq!(prefix.description, format!("subnet of {}", subnet.vnet));
            // Scoped where the cluster is: its site (NetBox scopes prefixes to places).
            assert_eq!(
                (prefix.scope_type.as_deref(), prefix.scope_id),
                (Some(SITE_SCOPE), site),
                "{}",
                subnet.cidr
            );
            assert_eq!(
                prefix.vlan.as_ref().map(|v| v.id),
                vlans.get(&subnet.vnet).map(|v| v.3)
            );
        }
    }

    // Gateways are anycast addresses of their prefix; DHCP ranges are IP ranges.
    let gateways: Vec<IpAddress> = netbox
        .list(&[
            ("role", "anycast".to_string()),
            ("parent", format!("10.{}.0.0/16", 100 + seed)),
        ])
        .await
        .unwrap();
    let got: BTreeSet<(String, Option<u64>)> = gateways
        .iter()
        .map(|g| (g.address.clone(), g.vrf.as_ref().map(|v| v.id)))
        .collect();
    let want: BTreeSet<(String, Option<u64>)> = sdn
        .subnets
        .iter()
        .filter_map(|s| {
            let in_evpn = sdn.zone_of(&s.vnet).unwrap().kind == "evpn";
            let len = s.cidr.split('/').nth(1).unwrap();
            Some((
                format!("{}/{len}", s.gateway.as_ref()?),
                in_evpn.then_some(vrf),
            ))
        })
        .collect();
    assert_eq!(got, want);
    let ranges: Vec<IpRange> = netbox
        .list(&[("parent", format!("10.{}.0.0/16", 100 + seed))])
        .await
        .unwrap();
    let got: BTreeSet<(String, String)> = ranges
        .iter()
        .map(|r| (host_of(&r.start_address), host_of(&r.end_address)))
        .collect();
    let want: BTreeSet<(String, String)> = sdn
        .subnets
        .iter()
        .flat_map(|s| {
            s.dhcp_ranges
                .iter()
                .map(|r| (r.start.clone(), r.end.clone()))
        })
        .collect();
    assert_eq!(got, want);

    // A guest on a VNet of a VLAN zone has its VLAN; one on a VXLAN zone's its termination.
    let (_, vms) = cluster_and_vms(&netbox, &name).await;
    let mut checked = (0, 0);
    for guest in model.guests.values() {
        let Some(nic) = guest.nics.first() else {
            continue;
        };
        let Some(zone) = sdn.zone_of(&nic.bridge) else {
            continue;
        };
        let vm = vms.iter().find(|v| v.name == guest.name).unwrap();
        let interfaces: Vec<VmInterface> = netbox
            .list(&[
                ("virtual_machine_id", vm.id.to_string()),
                ("name", "net0".into()),
            ])
            .await
            .unwrap();
        let interface = &interfaces[0];
        match zone.kind.as_str() {
            "vlan" | "qinq" => {
                let vlan = vlans[&nic.bridge].3;
                assert_eq!(interface.untagged_vlan.as_ref().map(|v| v.id), Some(vlan));
                assert_eq!(
                    interface.mode.as_ref().map(|m| m.value.as_str()),
                    Some("access")
                );
                checked.0 += 1;
            }
            "vxlan" | "evpn" => {
                let terminations: Vec<L2vpnTermination> = netbox
                    .list(&[("vminterface_id", interface.id.to_string())])
                    .await
                    .unwrap();
                let vpn = l2vpns
                    .iter()
                    .find(|l| l.name == format!("{} ({name})", nic.bridge))
                    .unwrap();
                assert_eq!(terminations.len(), 1, "{}", guest.name);
                assert_eq!(terminations[0].l2vpn.id, vpn.id);
                checked.1 += 1;
            }
            _ => assert_eq!(interface.untagged_vlan, None, "a simple zone has no VLAN"),
        }
    }
    assert!(
        checked.0 >= 2 && checked.1 >= 2,
        "guests on VNets: {checked:?}"
    );

    // Every address Proxbox wrote sits in a prefix of its VRF.
    let mut wrote: Vec<IpAddress> = Vec::new();
    for range in [
        format!("10.{}.0.0/16", 100 + seed),
        format!("fd00:{:x}::/32", 0x100 + seed),
    ] {
        wrote.extend(
            netbox
                .list::<IpAddress>(&[("parent", range), ("tag", "proxbox".to_string())])
                .await
                .unwrap(),
        );
    }
    assert!(wrote.len() > 20, "{} addresses", wrote.len());
    for address in &wrote {
        let vrf = address
            .vrf
            .as_ref()
            .map_or_else(|| "null".to_string(), |v| v.id.to_string());
        let host = host_of(&address.address);
        let containing: Vec<Prefix> = netbox
            .list(&[("contains", host.clone()), ("vrf_id", vrf)])
            .await
            .unwrap();
        assert!(
            !containing.is_empty(),
            "{} is in no prefix",
            address.address
        );
    }

    // Guests under HA carry their state and group in `proxmox_ha`; the others none.
    let mut under_ha = 0;
    for guest in model.guests.values() {
        let vm = vms.iter().find(|v| v.name == guest.name).unwrap();
        let sid = format!(
            "{}:{}",
            if guest.kind == pve_sim::Kind::Qemu {
                "vm"
            } else {
                "ct"
            },
            guest.vmid
        );
        let want = model
            .ha
            .iter()
            .find(|r| r.sid == sid)
            .map(|r| match &r.group {
                Some(group) => json!(format!("{}, group {group}", r.state)),
                None => json!(r.state),
            });
        let got = vm.custom_fields.get("proxmox_ha").filter(|v| !v.is_null());
        assert_eq!(got, want.as_ref(), "{}", guest.name);
        under_ha += usize::from(want.is_some());
    }
    assert!(under_ha >= 2, "guests under HA: {under_ha}");

    // Again with nothing changed: not one write, the whole full update included.
    assert_resync_writes_nothing(&db, &netbox, &sim, endpoint_id, &[]).await;
    delete_listed::<Prefix>(&netbox, &[("prefix", operators)]).await;
    cleanup(&netbox, &name).await;
}

fn host_of(address: &str) -> String {
    address.split('/').next().unwrap().to_string()
}

#[tokio::test]
async fn a_vnet_deleted_in_proxmox_loses_what_proxbox_made_for_it_and_nothing_an_operator_made() {
    let seed = 144;
    let (netbox, name, sim) = scenario("netsgone", seed, 1, 12).await;
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;
    sync(&db, &netbox, &sim, endpoint_id, NETWORKS).await;
    let cluster = cluster_id(&netbox, &name).await;
    let (groups, vlans) = vlans_by_vnet(&netbox, cluster).await;
    let vlanzone = groups.iter().find(|g| g.name == "vlanzone").unwrap();
    // An operator's VLAN in Proxbox's group, and an operator's range in vnet10's subnet.
    netbox
        .create::<GroupedVlan, _>(&[
            json!({"group": vlanzone.id, "vid": 99, "name": "by hand", "status": "active"}),
        ])
        .await
        .unwrap()
        .into_result()
        .unwrap();
    let net = format!("10.{}.210", 100 + seed);
    netbox
        .create::<IpRange, _>(&[json!({"start_address": format!("{net}.20/24"), "end_address": format!("{net}.30/24"), "status": "active"})])
        .await
        .unwrap()
        .into_result()
        .unwrap();
    let kept_vlan = vlans["vnet20"].3;

    // vnet10 (with its subnet, gateway and DHCP range) is deleted in Proxmox.
    {
        let mut c = sim.state.cluster.write().await;
        c.sdn.vnets.retain(|v| v.vnet != "vnet10");
        c.sdn.subnets.retain(|s| s.vnet != "vnet10");
    }
    let ran = sync(&db, &netbox, &sim, endpoint_id, NETWORKS).await;
    let deleted: BTreeSet<String> = ran
        .changes()
        .into_iter()
        .filter(|(phase, _, _, status)| {
            phase == "networks" && *status == proxbox::events::ItemStatus::Deleted
        })
        .map(|(_, _, name, _)| name)
        .collect();
    assert_eq!(
        deleted,
        [
            "vnet10".to_string(),
            format!("{net}.0/24"),
            format!("{net}.1/24"),
            format!("{net}.100-{net}.199"),
        ]
        .into(),
        "{:?}",
        ran.changes()
    );
    let (_, after) = vlans_by_vnet(&netbox, cluster).await;
    assert!(!after.contains_key("vnet10"));
    assert_eq!(
        after["vnet20"].3, kept_vlan,
        "the other VNet's VLAN is the same object"
    );
    assert!(after.contains_key("by hand"), "the operator's VLAN stays");
    let ranges: Vec<IpRange> = netbox
        .list(&[("parent", format!("{net}.0/24"))])
        .await
        .unwrap();
    assert_eq!(ranges.len(), 1, "the operator's range stays: {ranges:?}");
    assert!(prefixes_in(&netbox, seed)
        .await
        .iter()
        .all(|p| p.prefix != format!("{net}.0/24")));

    delete_listed::<IpRange>(&netbox, &[("parent", format!("{net}.0/24"))]).await;
    cleanup(&netbox, &name).await;
}
