//! The node-interfaces stage against the simulator's node networks and the real NetBox.

use std::collections::HashMap;

use proxbox::events::ItemStatus;
use proxbox::server::sync::stage::Stage;
use proxbox_netbox::models::{Device, Interface, InterfaceWrite, IpAddress, Vlan, DCIM_INTERFACE};

use crate::support::*;
use crate::sync_support::*;

const NODE_INTERFACES: &[Stage] = &[Stage::NodeInterfaces];

async fn interfaces_of(
    netbox: &proxbox_netbox::NetboxClient,
    device: u64,
) -> HashMap<String, Interface> {
    netbox
        .list::<Interface>(&[("device_id", device.to_string())])
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.name.clone(), i))
        .collect()
}

async fn first_device(netbox: &proxbox_netbox::NetboxClient, cluster: &str) -> Device {
    let (cluster, _) = cluster_and_vms(netbox, cluster).await;
    let mut devices = netbox
        .list::<Device>(&[("cluster_id", cluster.id.to_string())])
        .await
        .unwrap();
    devices.sort_by(|a, b| a.name.cmp(&b.name));
    devices.remove(0)
}

#[tokio::test]
async fn node_networks_become_interfaces_with_bonds_bridges_vlans_and_addresses() {
    let (netbox, name, sim) = scenario("nifs", 14, 2, 5).await;
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;

    let first = sync(&db, &netbox, &sim, endpoint_id, NODE_INTERFACES).await;
    let created = first
        .statuses("node-interfaces", "interface")
        .into_iter()
        .filter(|(_, s)| *s == ItemStatus::Created)
        .count();
    assert_eq!(created, 20, "ten interfaces on each of two nodes");

    let device = first_device(&netbox, &name).await;
    let on = interfaces_of(&netbox, device.id).await;
    let id = |name: &str| on[name].id;
    let points_at = |r: &Option<proxbox_netbox::models::Ref>| r.as_ref().map(|r| r.id);
    assert_eq!(on["bond0"].kind.value, "lag");
    assert_eq!(on["bond0"].mtu, Some(9000));
    for member in ["eno2", "eno3"] {
        assert_eq!(points_at(&on[member].lag), Some(id("bond0")), "{member}");
    }
    assert_eq!(on["vmbr0"].kind.value, "bridge");
    assert_eq!(points_at(&on["eno1"].bridge), Some(id("vmbr0")));
    assert_eq!(points_at(&on["bond0"].bridge), Some(id("vmbr1")));
    assert!(!on["eno4"].enabled, "the spare NIC is down");
    for (vlan_interface, parent, vid) in [
        ("vmbr0.50", "vmbr0", 50),
        ("bond0.20", "bond0", 20),
        ("vlan30", "vmbr1", 30),
    ] {
        let interface = &on[vlan_interface];
        assert_eq!(interface.kind.value, "virtual");
        assert_eq!(
            points_at(&interface.parent),
            Some(id(parent)),
            "{vlan_interface}"
        );
        assert_eq!(
            interface.mode.as_ref().map(|m| m.value.as_str()),
            Some("access")
        );
        let vlan = netbox
            .get::<Vlan>(interface.untagged_vlan.as_ref().unwrap().id)
            .await
            .unwrap();
        assert_eq!(vlan.vid, vid);
    }

    // The node's addresses are on their interfaces; its /cluster/status address is primary.
    let addresses: Vec<IpAddress> = netbox
        .list(&[("device_id", device.id.to_string())])
        .await
        .unwrap();
    let on_vmbr0: Vec<&str> = addresses
        .iter()
        .filter(|a| {
            a.assigned_object_type.as_deref() == Some(DCIM_INTERFACE)
                && a.assigned_object_id == Some(id("vmbr0"))
        })
        .map(|a| a.address.as_str())
        .collect();
    assert_eq!(on_vmbr0.len(), 2, "{on_vmbr0:?}");
    assert!(on_vmbr0.contains(&"10.114.250.11/24"), "{on_vmbr0:?}");
    let device = netbox.get::<Device>(device.id).await.unwrap();
    let primary = device.primary_ip4.expect("the node address is primary").id;
    assert_eq!(
        netbox.get::<IpAddress>(primary).await.unwrap().address,
        "10.114.250.11/24"
    );

    assert_resync_writes_nothing(&db, &netbox, &sim, endpoint_id, NODE_INTERFACES).await;

    // An operator's own interface stays; one Proxmox no longer lists goes, with its address.
    netbox
        .create::<Interface, _>(&[InterfaceWrite {
            device: Some(device.id),
            name: Some("ipmi".into()),
            kind: Some("1000base-t".into()),
            ..Default::default()
        }])
        .await
        .unwrap()
        .into_result()
        .unwrap();
    let node_name = device.name.clone().unwrap();
    {
        let mut c = sim.state.cluster.write().await;
        let node = c.nodes.iter_mut().find(|n| n.name == node_name).unwrap();
        node.interfaces.retain(|i| i.iface != "vlan30");
        let spare = node
            .interfaces
            .iter_mut()
            .find(|i| i.iface == "eno4")
            .unwrap();
        spare.active = true;
    }
    let ran = sync(&db, &netbox, &sim, endpoint_id, NODE_INTERFACES).await;
    let mut changes: Vec<(String, ItemStatus)> = ran
        .statuses("node-interfaces", "interface")
        .into_iter()
        .filter(|(_, s)| *s != ItemStatus::Skipped)
        .collect();
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        changes,
        [
            (format!("{node_name}/eno4"), ItemStatus::Updated),
            (format!("{node_name}/vlan30"), ItemStatus::Deleted),
        ]
    );
    let on = interfaces_of(&netbox, device.id).await;
    assert!(on.contains_key("ipmi") && !on.contains_key("vlan30"));
    assert!(on["eno4"].enabled);
    let v6_of_vlan30 = netbox
        .list::<IpAddress>(&[("address", "fd00:10e:0:30::b".into())])
        .await
        .unwrap();
    assert!(v6_of_vlan30.is_empty(), "{v6_of_vlan30:?}");
    assert_resync_writes_nothing(&db, &netbox, &sim, endpoint_id, NODE_INTERFACES).await;

    cleanup(&netbox, &name).await;
    sim.stop().await;
}
