use super::*;
use crate::server::sync::apply::Applied;
use crate::server::sync::stages::fixtures::{guest, managed, model, nic};
use proxbox_pve::{AgentAddress, ErrorKind};
use serde_json::json;

fn lxc(ip: &str) -> SyncedGuest {
    let mut g = guest("ct", 8);
    g.kind = GuestKind::Lxc;
    g.nets = vec![nic(
        0,
        GuestKind::Lxc,
        &format!("name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:08,{ip}"),
    )];
    g
}

fn qemu() -> SyncedGuest {
    let mut g = guest("vm", 7);
    g.nets = vec![nic(
        0,
        GuestKind::Qemu,
        "virtio=BC:24:11:00:00:07,bridge=vmbr0",
    )];
    g
}

fn interface(guest: usize, netbox_id: u64, mac: &str) -> SyncedInterface {
    SyncedInterface {
        guest,
        key: "net0".into(),
        netbox_id,
        mac: Some(mac.into()),
    }
}

fn ip(id: u64, address: &str, on: Option<u64>, tags: serde_json::Value) -> IpAddress {
    model(
        json!({"id": id, "address": address, "status": {"value": "active"},
        "assigned_object_type": on.map(|_| VM_INTERFACE), "assigned_object_id": on, "tags": tags}),
    )
}

/// An address another object holds: interface `eth0` of VM `legacy`.
fn held(id: u64, address: &str, tags: serde_json::Value) -> HeldAddress {
    model(
        json!({"id": id, "address": address, "assigned_object_type": VM_INTERFACE,
        "assigned_object": {"id": 77, "name": "eth0", "virtual_machine": {"id": 3, "name": "legacy"}},
        "tags": tags}),
    )
}

fn known(addresses: &[&str]) -> HashMap<usize, Found> {
    [(
        0,
        Found::Known(addresses.iter().map(|a| (0, a.to_string())).collect()),
    )]
    .into()
}

#[test]
fn addresses_come_from_lxc_configs_and_from_the_agent_by_mac() {
    let guests = [lxc("ip=10.0.0.8/24,ip6=fe80::1/64"), qemu()];
    let interfaces = [
        interface(0, 1, "BC:24:11:00:00:08"),
        interface(1, 2, "BC:24:11:00:00:07"),
    ];
    let answer = |mac: &str, address: &str| AgentInterface {
        name: "eth0".into(),
        mac: Some(mac.into()),
        addresses: vec![AgentAddress {
            address: address.into(),
            family: "ipv4".into(),
            prefix: Some(24),
        }],
    };
    let agent = [(
        1,
        Ok(vec![
            answer("bc:24:11:00:00:07", "10.0.0.7"),
            answer("02:00:00:00:00:01", "172.17.0.1"),
            answer("00:00:00:00:00:00", "127.0.0.1"),
        ]),
    )]
    .into();
    let found = found_addresses(&guests, &interfaces, agent);
    assert!(
        matches!(&found[&0], Found::Known(list) if list == &[(0, "10.0.0.8/24".to_string())]),
        "link-local left out: {:?}",
        found[&0]
    );
    assert!(
        matches!(&found[&1], Found::Known(list) if list == &[(1, "10.0.0.7/24".to_string())]),
        "only the NIC's own MAC: {:?}",
        found[&1]
    );
}

#[test]
fn a_silent_agent_leaves_the_guests_addresses_unknown() {
    let guests = [qemu()];
    let interfaces = [interface(0, 2, "BC:24:11:00:00:07")];
    let agent = [(
        0,
        Err(PveError {
            kind: ErrorKind::Timeout,
            message: "agent timed out".into(),
            suggestion: String::new(),
            status: None,
        }),
    )]
    .into();
    let found = found_addresses(&guests, &interfaces, agent);
    assert!(matches!(found[&0], Found::Unknown(_)));
    let inputs = Inputs {
        found,
        ..Default::default()
    };
    let plan = plan_addresses(&guests, &interfaces, &inputs, &OverwritePolicy::default());
    assert!(plan.plan.writes_nothing() && plan.guests_known.is_empty());
}

#[test]
fn addresses_kept_corrected_taken_over_created_and_removed() {
    let guests = [qemu()];
    let interfaces = [interface(0, 2, "BC:24:11:00:00:07")];
    let inputs = Inputs {
        found: known(&["10.0.0.7/24", "10.0.1.7/16", "10.0.2.7/24", "10.0.3.7/24"]),
        assigned: vec![
            ip(1, "10.0.0.7/24", Some(2), managed()),
            ip(2, "10.0.1.7/24", Some(2), managed()),
            ip(3, "10.9.9.9/24", Some(2), managed()),
            ip(4, "10.8.8.8/24", Some(2), managed()),
        ],
        holders: Vec::new(),
        host_names: HashMap::new(),
    };
    let AddressPlan { plan, reported, .. } =
        plan_addresses(&guests, &interfaces, &inputs, &OverwritePolicy::default());
    assert_eq!(plan.skips.len(), 1, "10.0.0.7 as it is");
    let updates: Vec<(Option<u64>, Option<&str>)> = plan
        .updates
        .iter()
        .map(|w| (w.id, w.body.address.as_deref()))
        .collect();
    assert_eq!(
        updates,
        [
            (Some(2), Some("10.0.1.7/16")),
            (Some(3), Some("10.0.2.7/24")),
            (Some(4), Some("10.0.3.7/24"))
        ],
        "the prefix corrected; two new addresses take over two no longer reported"
    );
    assert!(plan.creates.is_empty() && plan.deletes.is_empty());
    assert_eq!(reported.len(), 4);
}

#[test]
fn an_address_held_by_an_unmanaged_object_is_left_alone_with_a_warning() {
    let guests = [qemu()];
    let interfaces = [interface(0, 2, "BC:24:11:00:00:07")];
    let inputs = Inputs {
        found: known(&["10.0.0.7/24", "10.0.0.8/24"]),
        assigned: vec![ip(5, "10.9.9.9/24", Some(2), managed())],
        holders: vec![held(9, "10.0.0.7/24", json!([]))],
        host_names: HashMap::new(),
    };
    let AddressPlan { plan, .. } =
        plan_addresses(&guests, &interfaces, &inputs, &OverwritePolicy::default());
    let left = &plan.skips[0];
    assert_eq!((left.key, left.id), (None, Some(9)));
    let warning = left.label.warning.as_deref().unwrap();
    assert!(
        warning.contains("eth0 of VM legacy") && warning.contains("does not manage"),
        "{warning}"
    );
    assert_eq!(plan.updates[0].body.address.as_deref(), Some("10.0.0.8/24"));
    assert!(plan.creates.is_empty());
    assert_eq!(
        new_hosts(&guests, &interfaces, &inputs.found, &inputs.assigned),
        ["10.0.0.7", "10.0.0.8"]
    );
}

#[test]
fn a_new_address_is_created_and_becomes_the_primary_one() {
    let guests = [qemu()];
    let interfaces = [interface(0, 2, "BC:24:11:00:00:07")];
    let inputs = Inputs {
        found: known(&["10.0.0.7/24", "2001:db8::7/64", "10.0.0.70/24"]),
        ..Default::default()
    };
    let policy = OverwritePolicy::default();
    let addresses = plan_addresses(&guests, &interfaces, &inputs, &policy);
    assert_eq!(addresses.plan.creates.len(), 3);
    assert_eq!(addresses.plan.creates[0].body.assigned_object_id, Some(2));
    let applied = Applied {
        created: vec![(0, Some(40)), (1, Some(41)), (2, Some(42))],
        updated: Vec::new(),
        refused: Vec::new(),
        unchanged: Vec::new(),
        deleted: Vec::new(),
    };
    let settled = settle(&addresses.reported, &applied);
    let plan = plan_primary(
        &guests,
        &interfaces,
        &settled,
        &addresses.guests_known,
        &policy,
    );
    assert_eq!(plan.updates[0].body.primary_ip4, Some(Some(40)));
    assert_eq!(plan.updates[0].body.primary_ip6, Some(Some(41)));

    let mut already = guests.clone();
    already[0].primary_ips = (Some(40), Some(41));
    assert!(plan_primary(
        &already,
        &interfaces,
        &settled,
        &addresses.guests_known,
        &policy
    )
    .writes_nothing());
    let mut on_create = OverwritePolicy::default();
    on_create.0.insert(
        Field::Addresses,
        crate::server::sync::overwrite::Overwrite::OnCreate,
    );
    assert!(plan_primary(
        &guests,
        &interfaces,
        &settled,
        &addresses.guests_known,
        &on_create
    )
    .writes_nothing());
}

#[test]
fn only_fully_qualified_host_names_become_dns_names() {
    // (what the agent says, the DNS name), by hand.
    for (said, dns) in [
        ("web1.example.com", Some("web1.example.com")),
        ("Web1.Example.COM.", Some("web1.example.com")),
        ("web1", None),
        ("localhost.localdomain", None),
        ("db.local", None),
        ("bad_name.example.com", None),
        ("-x.example.com", None),
        ("", None),
    ] {
        assert_eq!(fully_qualified(said).as_deref(), dns, "{said:?}");
    }
}

#[test]
fn the_primary_addresses_carry_the_agents_host_name_as_their_dns_name() {
    let interfaces = vec![interface(0, 500, "BC:24:11:00:00:07")];
    // Address 41 was there with another name; 42 was created this run.
    let assigned = vec![model::<IpAddress>(json!({
        "id": 41, "address": "10.0.0.7/24", "status": {"value": "active"},
        "assigned_object_type": VM_INTERFACE, "assigned_object_id": 500,
        "dns_name": "old.example.com", "tags": managed()
    }))];
    let settled: Vec<(Reported, u64)> = vec![
        ((0, "10.0.0.7/24".into()), 41),
        ((0, "fd00::7/64".into()), 42),
        ((0, "10.0.0.8/24".into()), 43),
    ];
    let names: HashMap<usize, String> = [(0, "vm7.example.com".to_string())].into();
    let plan = plan_dns_names(
        &interfaces,
        &settled,
        &assigned,
        &names,
        &OverwritePolicy::default(),
    );
    let written: Vec<(u64, Option<String>)> = plan
        .updates
        .iter()
        .map(|w| (w.body.id.unwrap(), w.body.dns_name.clone()))
        .collect();
    assert_eq!(
        written,
        [
            (41, Some("vm7.example.com".to_string())),
            (42, Some("vm7.example.com".to_string()))
        ],
        "the primaries only"
    );
    // The operator's name stays under `dns_name=on_create`; a fresh address still gets one.
    let keep = OverwritePolicy::parse("dns_name=on_create").unwrap();
    let plan = plan_dns_names(&interfaces, &settled, &assigned, &names, &keep);
    let ids: Vec<u64> = plan.updates.iter().map(|w| w.body.id.unwrap()).collect();
    assert_eq!(ids, [42]);
    // Without a host name, nothing.
    assert!(plan_dns_names(
        &interfaces,
        &settled,
        &assigned,
        &HashMap::new(),
        &OverwritePolicy::default()
    )
    .updates
    .is_empty());
}
