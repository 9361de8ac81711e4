//! A first full update against a NetBox that another tool or an operator filled: every
//! pre-existing object of a Proxmox object adopted with its id, not one duplicate, nothing
//! deleted, the preview (a dry run) exactly what the run then did, and a resync that writes
//! nothing. The fills are in `takeover_fixtures`; the oracle is the simulator's cluster.

use std::collections::BTreeSet;

use proxbox::events::{SyncEvent, Takeover};
use proxbox::models::TakeoverReport;
use proxbox::server::sync::context::RunOptions;
use proxbox::server::sync::stage::Stage;
use proxbox_netbox::models::{
    Device, Interface, IpAddress, MacAddress, VirtualDisk, VirtualMachine, VmInterface,
};
use proxbox_netbox::NetboxClient;
use pve_sim::Cluster as SimCluster;
use reqwest::Method;
use serde_json::{json, Value};

use proxbox::server::infra::db::Db;

use crate::support::*;
use crate::sync_support::*;
use crate::takeover_fixtures::*;

fn takeover_of(ran: &Ran) -> TakeoverReport {
    TakeoverReport::of(ran.events.iter().filter_map(|e| match e {
        SyncEvent::ItemProgress(item) => Some(item),
        _ => None,
    }))
}

async fn object(netbox: &NetboxClient, path: &str, id: u64) -> Option<Value> {
    netbox
        .request(Method::GET, &format!("{path}{id}/"), &[], None)
        .await
        .ok()
}

fn slugs(object: &Value) -> BTreeSet<String> {
    object["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["slug"].as_str().map(str::to_string))
        .collect()
}

/// The preview, then the run: what the preview lists is what the run did, and the run
/// writes one object per Proxmox object, the filled one where there was one. Returns
/// Proxbox's database, for more syncs.
async fn take_over(
    netbox: &NetboxClient,
    sim: &pve_sim::RunningSim,
    c: &SimCluster,
    filled: &Filled,
) -> (TestDb, Db, i64) {
    let (test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;
    let (_, writes) = netbox.request_counts();
    let dry_run = RunOptions {
        dry_run: true,
        ..RunOptions::default()
    };
    let preview = run_on(&db, netbox, sim, endpoint_id, &Stage::ALL, dry_run).await;
    assert!(preview.outcome.ok, "{:?}", preview.outcome.error);
    assert_eq!(
        netbox.request_counts().1,
        writes,
        "a preview writes nothing"
    );
    let ran = sync(&db, netbox, sim, endpoint_id, &Stage::ALL).await;
    let (previewed, done) = (takeover_of(&preview), takeover_of(&ran));
    assert!(done.conflicts.is_empty(), "{:?}", done.conflicts);
    assert_eq!(
        previewed.adoptions, done.adoptions,
        "the preview's adoptions are the run's"
    );
    assert_eq!(previewed.conflicts, done.conflicts);
    assert_eq!(previewed.kinds, done.kinds, "and so are its counts");

    // Every object the fill made for a Proxmox object is adopted: same id, tagged; those
    // made without Proxbox's tag are each reported as adopted.
    let adopted_ids: BTreeSet<u64> = done.adoptions.iter().filter_map(|a| a.netbox_id).collect();
    for (of, (path, id)) in &filled.ids {
        let now = object(netbox, path, *id)
            .await
            .unwrap_or_else(|| panic!("{of:?} ({path}{id}) was deleted"));
        assert!(
            slugs(&now).contains("proxbox"),
            "{of:?} {path}{id} is not tagged proxbox: {now}"
        );
        if !filled.tagged_proxbox {
            assert!(
                adopted_ids.contains(id),
                "{of:?} ({path}{id}) is not reported adopted"
            );
        }
    }
    for (path, id) in &filled.others {
        assert!(
            object(netbox, path, *id).await.is_some(),
            "{path}{id} was deleted"
        );
    }

    // Not one duplicate: one object per Proxmox object, the filled one where there was one.
    let cluster = filled.ids[&Of::Cluster].1;
    let clusters = netbox
        .request(
            Method::GET,
            CLUSTERS,
            &[("name".into(), c.name.clone())],
            None,
        )
        .await
        .unwrap();
    assert_eq!(clusters["count"], json!(1), "one cluster of the name");
    let devices: Vec<Device> = netbox
        .list(&[("cluster_id", cluster.to_string())])
        .await
        .unwrap();
    let names: Vec<&str> = devices.iter().filter_map(|d| d.name.as_deref()).collect();
    let nodes: Vec<&str> = c.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names.len(), nodes.len(), "{names:?}");
    for node in &c.nodes {
        let device = devices
            .iter()
            .find(|d| d.name.as_deref() == Some(&node.name))
            .unwrap();
        assert_eq!(
            device.id,
            filled.ids[&Of::Node(node.name.clone())].1,
            "{}",
            node.name
        );
        let interfaces: Vec<Interface> = netbox
            .list(&[("device_id", device.id.to_string())])
            .await
            .unwrap();
        let mut seen = BTreeSet::new();
        for interface in &interfaces {
            assert!(
                seen.insert(&interface.name),
                "two interfaces {} on {}",
                interface.name,
                node.name
            );
            if let Some((_, id)) = filled.ids.get(&Of::NodeInterface(
                node.name.clone(),
                interface.name.clone(),
            )) {
                assert_eq!(interface.id, *id);
            }
        }
    }
    let vms: Vec<VirtualMachine> = netbox
        .list(&[("cluster_id", cluster.to_string())])
        .await
        .unwrap();
    assert_eq!(vms.len(), c.guests.len(), "one VM per guest");
    for guest in c.guests.values() {
        let vm = filled.ids[&Of::Guest(guest.kind, guest.vmid)].1;
        assert!(
            vms.iter().any(|v| v.id == vm),
            "guest {} keeps VM {vm}",
            guest.vmid
        );
        let interfaces: Vec<VmInterface> = netbox
            .list(&[("virtual_machine_id", vm.to_string())])
            .await
            .unwrap();
        let extra = filled
            .others
            .iter()
            .filter(|(p, id)| *p == VM_INTERFACES && interfaces.iter().any(|i| i.id == *id))
            .count();
        assert_eq!(
            interfaces.len(),
            guest.nics.len() + extra,
            "VM {vm}: {interfaces:?}"
        );
        for (i, nic) in guest.nics.iter().enumerate() {
            let mac = nic.mac.to_ascii_lowercase();
            let macs: Vec<MacAddress> = netbox
                .list(&[
                    ("mac_address", nic.mac.clone()),
                    ("virtual_machine_id", vm.to_string()),
                ])
                .await
                .unwrap();
            assert_eq!(macs.len(), 1, "one MAC object {} on VM {vm}", nic.mac);
            let on = macs[0].assigned_object_id.unwrap();
            if let Some((_, id)) = filled.ids.get(&Of::Nic(mac.clone())) {
                assert_eq!(on, *id, "the NIC's interface is the filled one");
                assert_eq!(macs[0].id, filled.ids[&Of::Mac(mac.clone())].1);
            }
            for address in addresses(guest, i) {
                let ips: Vec<IpAddress> =
                    netbox.list(&[("address", host(&address))]).await.unwrap();
                assert_eq!(ips.len(), 1, "one address {address}: {ips:?}");
                assert_eq!(
                    ips[0].assigned_object_id,
                    Some(on),
                    "{address} on its NIC's interface"
                );
                if let Some((_, id)) = filled.ids.get(&Of::Ip(host(&address))) {
                    assert_eq!(ips[0].id, *id);
                }
            }
        }
        let disks: Vec<VirtualDisk> = netbox
            .list(&[("virtual_machine_id", vm.to_string())])
            .await
            .unwrap();
        assert_eq!(disks.len(), guest.disks.len(), "VM {vm}: {disks:?}");
        for disk in &guest.disks {
            let named = disks
                .iter()
                .find(|d| d.name == disk.key)
                .unwrap_or_else(|| panic!("{} of VM {vm}", disk.key));
            if let Some((_, id)) =
                filled
                    .ids
                    .get(&Of::Disk(guest.kind, guest.vmid, disk.key.clone()))
            {
                assert_eq!(named.id, *id);
            }
        }
    }
    assert_resync_writes_nothing(&db, netbox, sim, endpoint_id, &Stage::ALL).await;
    (test_db, db, endpoint_id)
}

async fn remove(netbox: &NetboxClient, name: &str, filled: &Filled) {
    cleanup(netbox, name).await;
    for (path, id) in filled.others.iter().rev() {
        let _ = netbox
            .request(Method::DELETE, &format!("{path}{id}/"), &[], None)
            .await;
    }
}

#[tokio::test]
async fn a_netbox_the_system_proxbox_replaces_filled_is_taken_over_object_for_object() {
    let (netbox, name, sim) = scenario("nbpx", 38, 2, 6).await;
    let c = sim.state.cluster.read().await.clone();
    let filled = as_netbox_proxbox(&netbox, &c).await;
    take_over(&netbox, &sim, &c, &filled).await;
    // It recorded the VMID; Proxbox found each VM by it, and left its custom field.
    let (_, vms) = cluster_and_vms(&netbox, &name).await;
    for vm in &vms {
        assert!(
            vm.custom_fields
                .get("proxmox_vm_id")
                .is_some_and(|v| !v.is_null()),
            "{}",
            vm.name
        );
    }
    remove(&netbox, &name, &filled).await;
    sim.stop().await;
}

#[tokio::test]
async fn a_netbox_netbox_ssot_filled_is_taken_over_object_for_object() {
    let (netbox, name, sim) = scenario("ssot", 39, 2, 6).await;
    let c = sim.state.cluster.read().await.clone();
    let filled = as_netbox_ssot(&netbox, &c).await;
    take_over(&netbox, &sim, &c, &filled).await;
    // Its own marks stay beside Proxbox's: its tag and the VMID it recorded.
    for guest in c.guests.values() {
        let (_, id) = filled.ids[&Of::Guest(guest.kind, guest.vmid)];
        let vm = object(&netbox, VMS, id).await.unwrap();
        assert!(slugs(&vm).contains("netbox-ssot"), "{vm}");
        assert_eq!(
            vm["custom_fields"]["source_id"],
            json!(guest.vmid.to_string())
        );
    }
    remove(&netbox, &name, &filled).await;
    sim.stop().await;
}

#[tokio::test]
async fn a_netbox_filled_by_hand_is_taken_over_object_for_object() {
    let (netbox, name, sim) = scenario("hand", 43, 2, 6).await;
    let c = sim.state.cluster.read().await.clone();
    let filled = by_hand(&netbox, &c).await;
    let (_test_db, db, endpoint_id) = take_over(&netbox, &sim, &c, &filled).await;

    // A NIC taken over as `eth0` gets a new MAC in Proxmox: still the same interface.
    let (key, old_mac) = {
        let mut c = sim.state.cluster.write().await;
        let guest = c
            .guests
            .values_mut()
            .find(|g| g.nics.len() == 1)
            .expect("a guest with one NIC");
        let old = guest.nics[0].mac.to_ascii_lowercase();
        guest.nics[0].mac = "BC:24:FF:00:00:01".into();
        ((guest.kind, guest.vmid), old)
    };
    sync(&db, &netbox, &sim, endpoint_id, &Stage::ALL).await;
    let interface = filled.ids[&Of::Nic(old_mac)].1;
    let vm = filled.ids[&Of::Guest(key.0, key.1)].1;
    let interfaces: Vec<VmInterface> = netbox
        .list(&[("virtual_machine_id", vm.to_string())])
        .await
        .unwrap();
    assert_eq!(
        interfaces
            .iter()
            .map(|i| (i.id, i.name.as_str()))
            .collect::<Vec<_>>(),
        [(interface, "eth0")],
        "the same interface, not a new net0"
    );
    let macs: Vec<MacAddress> = netbox
        .list(&[("virtual_machine_id", vm.to_string())])
        .await
        .unwrap();
    assert_eq!(macs.len(), 1);
    assert!(macs[0]
        .mac_address
        .eq_ignore_ascii_case("BC:24:FF:00:00:01"));
    remove(&netbox, &name, &filled).await;
    sim.stop().await;
}

/// Two VMs of one guest's name in its cluster, and a guest's address on a VM Proxbox does
/// not manage: each a named conflict; neither is taken, nothing is made in their place.
#[tokio::test]
async fn two_candidates_and_an_address_held_elsewhere_are_conflicts_and_nothing_is_taken() {
    let (netbox, name, sim) = scenario("clash", 44, 1, 6).await;
    let c = sim.state.cluster.read().await.clone();
    let mut guests = c.guests.values();
    let twin = guests.next().unwrap().clone();
    let (held, held_nic) = guests
        .flat_map(|g| (0..g.nics.len()).map(move |i| (g, i)))
        .find(|(g, i)| !addresses(g, *i).is_empty())
        .map(|(g, i)| (g.clone(), i))
        .expect("a guest with an address");
    let address = addresses(&held, held_nic).remove(0);

    let cluster_type = slugged(
        &netbox,
        "virtualization/cluster-types/",
        "slug",
        "proxmox-ve",
        json!({"name": "Proxmox VE", "slug": "proxmox-ve"}),
    )
    .await;
    let cluster = post(
        &netbox,
        CLUSTERS,
        json!({"name": name, "type": cluster_type}),
    )
    .await;
    let mut tenants = Vec::new();
    let mut twins = Vec::new();
    for side in ["a", "b"] {
        let tenant = post(
            &netbox,
            "tenancy/tenants/",
            json!({"name": format!("{name}-{side}"), "slug": format!("{name}-{side}")}),
        )
        .await;
        tenants.push(tenant);
        twins.push(
            post(
                &netbox,
                VMS,
                json!({"name": twin.name, "cluster": cluster, "tenant": tenant}),
            )
            .await,
        );
    }
    let other = format!("{name}-other");
    let other_cluster = post(
        &netbox,
        CLUSTERS,
        json!({"name": other, "type": cluster_type}),
    )
    .await;
    let stranger = post(
        &netbox,
        VMS,
        json!({"name": "stranger", "cluster": other_cluster}),
    )
    .await;
    let interface = post(
        &netbox,
        VM_INTERFACES,
        json!({"virtual_machine": stranger, "name": "eth0"}),
    )
    .await;
    let ip = post(
        &netbox,
        IPS,
        json!({"address": address,
        "assigned_object_type": "virtualization.vminterface", "assigned_object_id": interface}),
    )
    .await;

    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;
    let dry_run = RunOptions {
        dry_run: true,
        ..RunOptions::default()
    };
    let preview = takeover_of(&run_on(&db, &netbox, &sim, endpoint_id, &Stage::ALL, dry_run).await);
    let ran = sync(&db, &netbox, &sim, endpoint_id, &Stage::ALL).await;
    let done = takeover_of(&ran);
    assert_eq!(
        preview.conflicts, done.conflicts,
        "the preview names the same conflicts"
    );
    let twin_conflict = done
        .conflicts
        .iter()
        .find(|c| c.name == twin.name)
        .unwrap_or_else(|| panic!("{:?}", done.conflicts));
    assert!(
        twin_conflict.why.contains(&twins[0].to_string())
            && twin_conflict.why.contains(&twins[1].to_string()),
        "names both candidates: {}",
        twin_conflict.why
    );
    assert!(
        twin_conflict.why.contains("proxbox_identity"),
        "says what to do"
    );
    let address_conflict = done
        .conflicts
        .iter()
        .find(|c| c.kind == "ip" && c.name.contains(&address))
        .unwrap_or_else(|| panic!("{:?}", done.conflicts));
    assert!(
        address_conflict.why.contains("stranger"),
        "{}",
        address_conflict.why
    );
    let item = ran
        .items("virtual-machines")
        .into_iter()
        .find(|i| i.name == twin.name)
        .unwrap();
    assert!(matches!(item.takeover, Some(Takeover::Conflict(_))));

    // Nothing taken: the twins as they were, no third; the address where it was, once.
    let (_, vms) = cluster_and_vms(&netbox, &name).await;
    let named: Vec<&VirtualMachine> = vms.iter().filter(|v| v.name == twin.name).collect();
    assert_eq!(named.iter().map(|v| v.id).collect::<Vec<_>>(), twins);
    for vm in named {
        assert!(
            vm.tags.is_empty()
                && vm
                    .custom_fields
                    .get("proxbox_identity")
                    .is_none_or(Value::is_null),
            "{vm:?}"
        );
    }
    assert_eq!(
        vms.len(),
        c.guests.len() + 1,
        "every other guest has its VM"
    );
    let ips: Vec<IpAddress> = netbox.list(&[("address", host(&address))]).await.unwrap();
    assert_eq!(ips.len(), 1);
    assert_eq!(
        (ips[0].id, ips[0].assigned_object_id),
        (ip, Some(interface))
    );
    assert!(ips[0].tags.is_empty());

    cleanup(&netbox, &name).await;
    cleanup(&netbox, &other).await;
    for tenant in tenants {
        netbox
            .request(
                Method::DELETE,
                &format!("tenancy/tenants/{tenant}/"),
                &[],
                None,
            )
            .await
            .unwrap();
    }
    sim.stop().await;
}
