use super::*;
use crate::server::sync::stages::fixtures::{guest, managed, model, nic};
use proxbox_pve::GuestKind;
use serde_json::json;

fn with_nics(nics: &[&str]) -> SyncedGuest {
    let mut g = guest("web", 7);
    g.nets = nics
        .iter()
        .enumerate()
        .map(|(i, text)| nic(i as u32, GuestKind::Qemu, text))
        .collect();
    g
}

fn interface(id: u64, name: &str, changes: serde_json::Value) -> VmInterface {
    let mut value = json!({
        "id": id, "virtual_machine": {"id": 7}, "name": name, "enabled": true, "mtu": null,
        "mode": null, "untagged_vlan": null, "primary_mac_address": null, "tags": managed(),
    });
    for (key, change) in changes.as_object().cloned().unwrap_or_default() {
        value[key] = change;
    }
    model(value)
}

fn synced(netbox_id: u64, key: &str, mac: &str) -> SyncedInterface {
    SyncedInterface {
        guest: 0,
        key: key.into(),
        netbox_id,
        mac: Some(mac.into()),
    }
}

#[test]
fn interfaces_new_changed_unchanged_and_stale() {
    let guests = [with_nics(&[
        "virtio=BC:24:11:00:00:01,bridge=vmbr0",
        "virtio=BC:24:11:00:00:02,bridge=vmbr0,tag=10,link_down=1",
        "virtio=BC:24:11:00:00:03,bridge=vmbr1,mtu=9000",
    ])];
    let existing = [
        interface(1, "net0", json!({})),
        interface(2, "net1", json!({})),
        interface(3, "net9", json!({})),
        interface(4, "eth-by-hand", json!({"tags": []})),
    ];
    let vlan_ids: HashMap<u16, u64> = [(10, 50)].into();
    let plan = plan_interfaces(
        &guests,
        &existing,
        &[],
        &vlan_ids,
        &Default::default(),
        &OverwritePolicy::default(),
    );
    assert_eq!(plan.skips.len(), 1, "net0 unchanged");
    assert_eq!(plan.updates.len(), 1);
    assert_eq!(
        plan.updates[0].changed,
        ["enabled", "mode", "untagged_vlan"]
    );
    assert_eq!(plan.updates[0].body.untagged_vlan, Some(Some(50)));
    assert_eq!(plan.creates.len(), 1);
    assert_eq!(plan.creates[0].key, (0, 2));
    assert_eq!(plan.creates[0].body.mtu, Some(9000));
    assert_eq!(
        plan.creates[0].body.description.as_deref(),
        Some("virtio on vmbr1")
    );
    let deleted: Vec<u64> = plan.deletes.iter().map(|(_, id)| *id).collect();
    assert_eq!(deleted, [3], "the operator's interface stays");
}

#[test]
fn interfaces_an_operator_changed_stay_when_interfaces_are_set_on_create_only() {
    let guests = [with_nics(&[
        "virtio=BC:24:11:00:00:01,bridge=vmbr0,mtu=1400",
    ])];
    let existing = [interface(1, "net0", json!({}))];
    let mut policy = OverwritePolicy::default();
    policy.0.insert(
        Field::Interfaces,
        crate::server::sync::overwrite::Overwrite::OnCreate,
    );
    assert!(plan_interfaces(
        &guests,
        &existing,
        &[],
        &HashMap::new(),
        &Default::default(),
        &policy
    )
    .writes_nothing());
}

#[test]
fn macs_are_kept_corrected_or_created() {
    let guests = [guest("web", 7)];
    let interfaces = [
        synced(1, "net0", "BC:24:11:00:00:01"),
        synced(2, "net1", "BC:24:11:00:00:22"),
        synced(3, "net2", "BC:24:11:00:00:03"),
    ];
    let mac = |id: u64, address: &str, on: u64, tags: serde_json::Value| {
        model::<MacAddress>(json!({"id": id, "mac_address": address,
            "assigned_object_type": VM_INTERFACE, "assigned_object_id": on, "tags": tags}))
    };
    let macs = [
        mac(10, "bc:24:11:00:00:01", 1, json!([])),
        mac(11, "BC:24:11:00:00:02", 2, managed()),
        mac(12, "BC:24:11:00:00:99", 3, json!([])),
    ];
    let plan = plan_macs(&guests, &interfaces, &macs);
    assert_eq!(
        (plan.updates[0].key, plan.updates[0].id),
        (0, Some(10)),
        "the same MAC in another case, taken over"
    );
    assert_eq!(plan.updates[0].changed, ["tags"]);
    assert_eq!(
        plan.updates[1].id,
        Some(11),
        "Proxbox's own MAC follows the NIC"
    );
    assert_eq!(
        plan.creates[0].key, 2,
        "an operator's MAC is not Proxbox's to change"
    );
    assert_eq!(plan.creates[0].body.assigned_object_id, Some(3));
}

#[test]
fn primary_macs_link_new_interfaces_and_update_existing_ones() {
    let guests = [guest("web", 7)];
    let interfaces = [
        synced(1, "net0", "BC:24:11:00:00:01"),
        synced(2, "net1", "BC:24:11:00:00:02"),
        synced(3, "net2", "BC:24:11:00:00:03"),
    ];
    let existing = [
        interface(1, "net0", json!({"primary_mac_address": {"id": 10}})),
        interface(2, "net1", json!({})),
    ];
    let primaries = [(0, 10), (1, 11), (2, 12)];
    let fresh: HashSet<u64> = [3].into();
    let policy = OverwritePolicy::default();
    let plan = plan_primary_macs(&guests, &interfaces, &primaries, &existing, &fresh, &policy);
    assert_eq!(plan.updates.len(), 1);
    assert_eq!(plan.updates[0].id, Some(2));
    assert_eq!(plan.links.len(), 1, "part of net2's create");
    assert_eq!(plan.links[0].body.primary_mac_address, Some(Some(12)));
    assert_eq!(plan.items(), 1, "a link is no item of its own");
}

#[test]
fn a_nic_on_a_vnet_keeps_the_vlan_the_networks_stage_gave_it() {
    let guests = [with_nics(&[
        "virtio=BC:24:11:00:00:01,bridge=vnet10",
        "virtio=BC:24:11:00:00:02,bridge=vmbr0",
        "virtio=BC:24:11:00:00:03,bridge=vnet20",
    ])];
    // net0's VLAN came from the networks stage; net1 had a tag removed in Proxmox.
    let on_vlan = json!({"mode": {"value": "access"}, "untagged_vlan": {"id": 70}});
    let existing = [
        interface(1, "net0", on_vlan.clone()),
        interface(2, "net1", on_vlan),
    ];
    let vnet = |name: &str| proxbox_pve::SdnVnet {
        vnet: name.into(),
        zone: "vlanzone".into(),
        tag: Some(10),
        alias: None,
    };
    let mut bridges = VnetBridges::default();
    bridges.read(1, Some(&[vnet("vnet10"), vnet("vnet20")]));
    let policy = OverwritePolicy::default();
    let plan = plan_interfaces(&guests, &existing, &[], &HashMap::new(), &bridges, &policy);
    let updated: Vec<u64> = plan.updates.iter().map(|u| u.id.unwrap()).collect();
    assert_eq!(
        updated,
        [2],
        "only the NIC on a plain bridge loses its VLAN"
    );
    let created = &plan.creates[0].body;
    assert_eq!(
        (created.mode.clone(), created.untagged_vlan),
        (None, None),
        "the VNet's VLAN comes later"
    );

    // VNets unreadable: a NIC without a tag keeps whatever VLAN it has.
    let mut unknown = VnetBridges::default();
    unknown.read(1, None);
    let plan = plan_interfaces(&guests, &existing, &[], &HashMap::new(), &unknown, &policy);
    assert!(plan.updates.is_empty(), "{:?}", plan.updates);
}
