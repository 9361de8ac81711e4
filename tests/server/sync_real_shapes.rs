//! What real clusters hold and the generated ones did not: guests of one name, Open vSwitch
//! node networks, the guest's own OS — against the simulator and the real NetBox.

use std::collections::{BTreeMap, HashMap};

use proxbox::events::ItemStatus;
use proxbox::server::sync::stage::Stage;
use proxbox_netbox::models::{Device, Interface, IpAddress, NewNamed, Platform, Vlan};
use pve_sim::Kind;

use crate::support::*;
use crate::sync_support::*;

const VMS: &[Stage] = &[Stage::VirtualMachines];

/// VMID → (NetBox name, NetBox id) of the cluster's VMs.
async fn vms_by_vmid(
    netbox: &proxbox_netbox::NetboxClient,
    cluster: &str,
    vmids: &[u64],
    sim: &pve_sim::RunningSim,
) -> BTreeMap<u64, (String, u64)> {
    let (_, vms) = cluster_and_vms(netbox, cluster).await;
    let c = sim.state.cluster.read().await;
    vmids
        .iter()
        .filter_map(|vmid| {
            let guest = c.guests.get(&(Kind::Lxc, *vmid))?;
            let wanted = [guest.name.clone(), format!("{} (vmid {vmid})", guest.name)];
            let vm = vms.iter().find(|v| wanted.contains(&v.name))?;
            Some((*vmid, (vm.name.clone(), vm.id)))
        })
        .collect()
}

#[tokio::test]
async fn guests_of_one_name_get_stable_unique_names_and_the_last_one_its_plain_name_back() {
    let (netbox, name, sim) = scenario("twins", 31, 2, 6).await;
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;
    let twins = [100u64, 113, 120];
    {
        let mut c = sim.state.cluster.write().await;
        for vmid in [113, 120] {
            c.add_guest(Kind::Lxc, "CT100".into(), Some(vmid), None)
                .unwrap();
        }
        c.guests.get_mut(&(Kind::Lxc, 100)).unwrap().name = "CT100".into();
    }
    let first = sync(&db, &netbox, &sim, endpoint_id, VMS).await;
    first.assert_no_failed_items();
    let named = vms_by_vmid(&netbox, &name, &twins, &sim).await;
    let expected: BTreeMap<u64, String> = twins
        .iter()
        .map(|vmid| (*vmid, format!("CT100 (vmid {vmid})")))
        .collect();
    assert_eq!(
        named
            .iter()
            .map(|(v, (n, _))| (*v, n.clone()))
            .collect::<BTreeMap<_, _>>(),
        expected
    );
    // Each twin's item says which guests share its name.
    let items = first.items("virtual-machines");
    let warned = items
        .iter()
        .find(|i| i.name == "CT100 (vmid 113)")
        .and_then(|i| i.warning.clone())
        .unwrap_or_default();
    assert!(
        warned.contains("lxc 100") && warned.contains("lxc 120"),
        "{warned:?}"
    );

    // Nothing changed in Proxmox: the names stay, nothing is written, twice.
    for _ in 0..2 {
        assert_resync_writes_nothing(&db, &netbox, &sim, endpoint_id, VMS).await;
    }
    assert_eq!(vms_by_vmid(&netbox, &name, &twins, &sim).await, named);

    // Its twins gone from Proxmox, the last one is plainly "CT100" again, same NetBox id.
    {
        let mut c = sim.state.cluster.write().await;
        c.guests.remove(&(Kind::Lxc, 100));
        c.guests.get_mut(&(Kind::Lxc, 120)).unwrap().name = "CT120".into();
    }
    let healed = sync(&db, &netbox, &sim, endpoint_id, VMS).await;
    healed.assert_no_failed_items();
    let now = vms_by_vmid(&netbox, &name, &[113], &sim).await;
    assert_eq!(now[&113], ("CT100".to_string(), named[&113].1));
    let renamed = healed
        .statuses("virtual-machines", "lxc")
        .into_iter()
        .filter(|(_, s)| *s == ItemStatus::Updated)
        .map(|(n, _)| n)
        .collect::<Vec<_>>();
    assert!(renamed.contains(&"CT100".to_string()), "{renamed:?}");

    cleanup(&netbox, &name).await;
    sim.stop().await;
}

#[tokio::test]
async fn an_open_vswitch_nodes_ports_bonds_and_internal_ports_are_linked() {
    let (netbox, name, sim) = scenario("ovs", 32, 1, 4).await;
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;
    sim.state.cluster.write().await.turn_on(pve_sim::Shape::Ovs);
    let nodes = [Stage::NodeInterfaces];
    let first = sync(&db, &netbox, &sim, endpoint_id, &nodes).await;
    first.assert_no_failed_items();

    let (cluster, _) = cluster_and_vms(&netbox, &name).await;
    let device = netbox
        .list::<Device>(&[("cluster_id", cluster.id.to_string())])
        .await
        .unwrap()
        .remove(0);
    let on: HashMap<String, Interface> = netbox
        .list::<Interface>(&[("device_id", device.id.to_string())])
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.name.clone(), i))
        .collect();
    let id = |name: &str| on.get(name).map(|i| i.id);
    let points_at = |r: &Option<proxbox_netbox::models::Ref>| r.as_ref().map(|r| r.id);
    // As the simulator cables an OVS node (written out here by hand).
    for (interface, kind, bridge, lag) in [
        ("vmbr0", "bridge", None, None),
        ("vmbr1", "bridge", None, None),
        ("bond0", "lag", Some("vmbr1"), None),
        ("eno2", "other", None, Some("bond0")),
        ("eno3", "other", None, Some("bond0")),
        ("eno1", "other", Some("vmbr0"), None),
        ("eno4", "other", Some("vmbr1"), None),
        ("mgmt", "virtual", Some("vmbr0"), None),
        ("storage", "virtual", Some("vmbr1"), None),
    ] {
        let got = &on[interface];
        assert_eq!(got.kind.value, kind, "{interface}");
        assert_eq!(points_at(&got.bridge), bridge.and_then(id), "{interface}");
        assert_eq!(points_at(&got.lag), lag.and_then(id), "{interface}");
    }
    for (interface, vid) in [("storage", 20), ("eno4", 70)] {
        let vlan = netbox
            .get::<Vlan>(on[interface].untagged_vlan.as_ref().unwrap().id)
            .await
            .unwrap();
        assert_eq!(vlan.vid, vid, "{interface}");
    }
    // The node's address sits on its internal port and is the device's primary address.
    let primary = netbox
        .get::<Device>(device.id)
        .await
        .unwrap()
        .primary_ip4
        .expect("the node address is primary");
    let address = netbox.get::<IpAddress>(primary.id).await.unwrap();
    assert_eq!(address.address, "10.132.250.11/24");
    assert_eq!(address.assigned_object_id, id("mgmt"));

    assert_resync_writes_nothing(&db, &netbox, &sim, endpoint_id, &nodes).await;
    cleanup(&netbox, &name).await;
    sim.stop().await;
}

/// (kind, vmid, ostype, agent answering, the OS it reports, the platform expected).
type PlatformCase = (
    Kind,
    u64,
    &'static str,
    bool,
    Option<&'static str>,
    &'static str,
);

#[tokio::test]
async fn platforms_name_the_agents_os_else_the_ostype_label_and_old_ones_are_renamed() {
    let (netbox, name, sim) = scenario("platforms", 33, 1, 6).await;
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;
    // (kind, vmid, ostype, agent answering, the OS it reports) → the platform, by hand.
    let cases: [PlatformCase; 5] = [
        (
            Kind::Qemu,
            101,
            "l26",
            true,
            Some("Ubuntu 22.04.4 LTS"),
            "Ubuntu 22.04.4 LTS",
        ),
        (
            Kind::Qemu,
            100,
            "win8",
            false,
            None,
            "Microsoft Windows 8.x/2012/2012r2",
        ),
        (
            Kind::Qemu,
            102,
            "w2k",
            false,
            None,
            "Microsoft Windows 2000",
        ),
        // An agent too old for get-osinfo answers with an error object.
        (Kind::Qemu, 103, "other", true, None, "Other"),
        (Kind::Lxc, 100, "alpine", false, None, "Alpine"),
    ];
    {
        let mut c = sim.state.cluster.write().await;
        for (kind, vmid, ostype, agent, os, _) in cases {
            let guest = c.guests.get_mut(&(kind, vmid)).unwrap();
            guest.ostype = ostype.into();
            guest.agent = agent;
            guest.running = true;
            guest.os_pretty_name = os.map(str::to_string);
        }
    }
    // A platform an earlier Proxbox named after the code: renamed, not duplicated. (`w2k`,
    // which no other test's guests run: platforms are shared by every test's NetBox writes.)
    let old = match netbox.find_slug::<Platform>("proxmox-w2k").await.unwrap() {
        Some(found) => found,
        None => netbox
            .ensure::<Platform, _>("proxmox-w2k", || NewNamed {
                name: "Proxmox ostype w2k".into(),
                slug: "proxmox-w2k".into(),
                description: String::new(),
                tags: vec![],
            })
            .await
            .unwrap(),
    };
    #[derive(serde::Serialize)]
    struct Rename {
        id: u64,
        name: &'static str,
    }
    netbox
        .update::<Platform, _>(&[Rename {
            id: old.id,
            name: "Proxmox ostype w2k",
        }])
        .await
        .unwrap()
        .into_result()
        .unwrap();

    let first = sync(&db, &netbox, &sim, endpoint_id, VMS).await;
    first.assert_no_failed_items();
    let (_, vms) = cluster_and_vms(&netbox, &name).await;
    let c = sim.state.cluster.read().await;
    for (kind, vmid, _, _, _, platform) in cases {
        let guest_name = &c.guests[&(kind, vmid)].name;
        let vm = vms.iter().find(|v| &v.name == guest_name).unwrap();
        let got = netbox
            .get::<Platform>(vm.platform.as_ref().expect("a platform").id)
            .await
            .unwrap();
        assert_eq!(got.name, platform, "{guest_name}");
    }
    let renamed = netbox.get::<Platform>(old.id).await.unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.slug.as_str()),
        ("Microsoft Windows 2000", "proxmox-w2k")
    );
    let windows = netbox
        .list::<Platform>(&[("name__ie", "Microsoft Windows 2000".into())])
        .await
        .unwrap();
    assert_eq!(windows.len(), 1, "{windows:?}");
    drop(c);

    assert_resync_writes_nothing(&db, &netbox, &sim, endpoint_id, VMS).await;
    cleanup(&netbox, &name).await;
    sim.stop().await;
}

#[tokio::test]
async fn a_token_without_the_agent_privilege_is_told_once_at_the_start_and_loses_nothing() {
    let (netbox, name, sim) = scenario("agentless", 36, 1, 8).await;
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;
    sim.state.cluster.write().await.version = "9.0.3".into();
    let addresses = [Stage::VmIpAddresses];
    let first = sync(&db, &netbox, &sim, endpoint_id, &addresses).await;
    first.assert_no_failed_items();
    let (_, vms) = cluster_and_vms(&netbox, &name).await;
    let vm_ids: Vec<String> = vms.iter().map(|v| v.id.to_string()).collect();
    let held = |netbox: proxbox_netbox::NetboxClient, ids: Vec<String>| async move {
        let mut all: Vec<(String, u64)> = Vec::new();
        for id in ids {
            for a in netbox
                .list::<IpAddress>(&[("virtual_machine_id", id)])
                .await
                .unwrap()
            {
                all.push((a.address, a.id));
            }
        }
        all.sort();
        all
    };
    let before = held(netbox.clone(), vm_ids.clone()).await;
    assert!(!before.is_empty(), "the agents reported addresses");

    // Every privilege of PVE 9 but the guest agent's.
    let mut privileges = pve_sim::all_privileges(9);
    privileges.remove("VM.GuestAgent.Audit");
    privileges.remove("VM.GuestAgent.Unrestricted");
    sim.state.restrict([("/".to_string(), privileges)].into());
    sim.take_requests();
    let (_, writes_before) = netbox.request_counts();
    let again = sync(&db, &netbox, &sim, endpoint_id, &addresses).await;
    assert!(again.outcome.ok, "{:?}", again.outcome.error);
    again.assert_no_failed_items();
    let details = again.error_details();
    assert_eq!(details.len(), 1, "one word, not one per guest: {details:?}");
    assert!(
        details[0].detail.contains("VM.GuestAgent.Audit on /vms")
            && details[0].message.contains("vm-ip-addresses"),
        "{details:?}"
    );
    let asked_agents: Vec<String> = sim
        .take_requests()
        .into_iter()
        .filter(|r| r.contains("/agent/"))
        .collect();
    assert_eq!(
        asked_agents,
        Vec::<String>::new(),
        "no agent is asked in vain"
    );
    assert_eq!(netbox.request_counts().1, writes_before, "nothing written");
    assert_eq!(
        held(netbox.clone(), vm_ids).await,
        before,
        "no address lost"
    );

    cleanup(&netbox, &name).await;
    sim.stop().await;
}

#[tokio::test]
async fn the_agents_fully_qualified_host_name_is_the_primary_addresses_dns_name() {
    let (netbox, name, sim) = scenario("dnsname", 37, 1, 6).await;
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;
    let addresses = [Stage::VmIpAddresses];
    let (named, agent_guests): (u64, Vec<(u64, String)>) = {
        let mut c = sim.state.cluster.write().await;
        let reporting: Vec<(u64, String)> = c
            .guests
            .values()
            .filter(|g| g.kind == Kind::Qemu && g.agent && g.running && !g.agent_ips.is_empty())
            .map(|g| (g.vmid, g.name.clone()))
            .collect();
        let named = reporting
            .first()
            .expect("a guest whose agent reports addresses")
            .0;
        c.guests.get_mut(&(Kind::Qemu, named)).unwrap().host_name =
            Some("App.Lab.Example.com".into());
        (named, reporting)
    };
    let first = sync(&db, &netbox, &sim, endpoint_id, &addresses).await;
    first.assert_no_failed_items();
    let (_, vms) = cluster_and_vms(&netbox, &name).await;
    for (vmid, guest_name) in &agent_guests {
        let vm = vms.iter().find(|v| &v.name == guest_name).unwrap();
        let primary = netbox
            .get::<IpAddress>(vm.primary_ip4.as_ref().expect("a primary IPv4").id)
            .await
            .unwrap();
        // Only one says a fully qualified name; the others say their bare guest name.
        let expected = if *vmid == named {
            "app.lab.example.com"
        } else {
            ""
        };
        assert_eq!(primary.dns_name, expected, "{guest_name}");
    }
    assert_resync_writes_nothing(&db, &netbox, &sim, endpoint_id, &addresses).await;
    cleanup(&netbox, &name).await;
    sim.stop().await;
}
