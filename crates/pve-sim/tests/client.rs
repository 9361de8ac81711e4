//! The Proxmox client against the simulator: both auth modes, TLS verify on / off / custom
//! CA, and every fault kind classified into the right category without a panic.

use std::time::Duration;

use proxbox_pve::{Credentials, ErrorKind, GuestKind, PveClient, PveError, PveOptions};
use pve_sim::{start, ClusterSpec, Fault, FaultKind, RunningSim, SimOptions};

async fn sim(guests: usize) -> RunningSim {
    start(SimOptions::local(ClusterSpec {
        seed: 11,
        name: "lab".into(),
        index: 0,
        nodes: 3,
        guests,
        history: Default::default(),
    }))
    .await
    .unwrap()
}

fn token(sim: &RunningSim) -> Credentials {
    let c = sim.credentials();
    Credentials::token(&c.token_id, Some(&c.token_secret))
}

fn options(url: &str, credentials: Credentials) -> PveOptions {
    let mut o = PveOptions::new(url, credentials);
    o.timeout = Duration::from_secs(2);
    o.backoff = Duration::from_millis(20);
    o
}

fn client(sim: &RunningSim) -> PveClient {
    PveClient::new(options(sim.http_url.as_deref().unwrap(), token(sim))).unwrap()
}

async fn fault(sim: &RunningSim, path: &str, kind: FaultKind, times: Option<u32>) {
    sim.add_fault(Fault {
        path: path.into(),
        kind,
        times,
    })
    .await;
}

#[tokio::test]
async fn token_auth_reads_everything_the_stages_use_without_warnings() {
    let sim = sim(40).await;
    let pve = client(&sim);
    assert_eq!(pve.version().await.unwrap().value.version, "8.3.2");
    let status = pve.cluster_status().await.unwrap();
    assert!(status
        .value
        .iter()
        .any(|e| e.kind == "cluster" && e.name == "lab"));
    let nodes = pve.nodes().await.unwrap().value;
    assert_eq!(nodes.len(), 3);
    let guests = pve.guests().await.unwrap();
    assert!(guests.warnings.is_empty(), "{:?}", guests.warnings);
    assert_eq!(guests.value.len(), 40);
    assert!(guests
        .value
        .iter()
        .any(|g| g.vmid == Some(100) && g.guest_kind() == Some(GuestKind::Qemu)));
    assert!(guests
        .value
        .iter()
        .any(|g| g.vmid == Some(100) && g.guest_kind() == Some(GuestKind::Lxc)));

    let mut agent_addresses = 0;
    for g in &guests.value {
        let (node, kind, vmid) = (
            g.node.as_deref().unwrap(),
            g.guest_kind().unwrap(),
            g.vmid.unwrap(),
        );
        let config = pve.guest_config(node, kind, vmid).await.unwrap();
        assert!(config.warnings.is_empty(), "{vmid}: {:?}", config.warnings);
        let c = config.value;
        assert_eq!(c.name.as_deref(), g.name.as_deref());
        assert!(!c.nets.is_empty() && !c.disks.is_empty(), "{vmid}");
        assert_eq!(c.total_disk_bytes(), g.maxdisk.unwrap());
        if vmid == 102 {
            assert_eq!(c.nets.len(), 30);
        }
        if kind == GuestKind::Qemu && c.agent_enabled() && g.status.as_deref() == Some("running") {
            let interfaces = pve.agent_interfaces(node, vmid).await.unwrap().value;
            agent_addresses += interfaces.iter().map(|i| i.addresses.len()).sum::<usize>();
            assert!(interfaces
                .iter()
                .any(|i| i.addresses.iter().any(|a| a.address.starts_with("fe80::"))));
            assert_eq!(
                pve.agent_host_name(node, vmid).await.unwrap().as_deref(),
                g.name.as_deref()
            );
        }
        pve.snapshots(node, kind, vmid).await.unwrap();
    }
    assert!(
        agent_addresses > 0,
        "some guests report addresses through the agent"
    );

    for node in &nodes {
        let network = pve.node_network(&node.node).await.unwrap();
        assert!(network.warnings.is_empty(), "{:?}", network.warnings);
        assert!(network
            .value
            .iter()
            .any(|i| i.kind == "bridge" && i.cidr.is_some()));
        let storages = pve.node_storages(&node.node).await.unwrap().value;
        assert!(storages
            .iter()
            .any(|s| s.content.contains(&"backup".to_string())));
        let all = pve
            .storage_content(&node.node, "local", Some("backup"), None)
            .await
            .unwrap()
            .value;
        // `vmid=` asks for one guest's volumes only.
        if let Some(vmid) = all.first().and_then(|v| v.vmid) {
            let one = pve
                .storage_content(&node.node, "local", Some("backup"), Some(vmid))
                .await
                .unwrap()
                .value;
            assert!(!one.is_empty() && one.iter().all(|v| v.vmid == Some(vmid)));
            assert!(one.len() <= all.len());
        }
        let tasks = pve
            .node_tasks(&node.node, proxbox_pve::TaskFilter::default(), 10_000)
            .await
            .unwrap();
        assert!(tasks.warnings.is_empty());
    }
    assert!(!pve.replication_jobs().await.unwrap().value.is_empty());
    assert_eq!(pve.backup_jobs().await.unwrap().value.len(), 3);
    sim.stop().await;
}

#[tokio::test]
async fn task_history_is_read_page_by_page() {
    // One node with 1,400 guests: more tasks than one page of 500.
    let sim = start(SimOptions::local(ClusterSpec {
        seed: 11,
        name: "big".into(),
        index: 0,
        nodes: 1,
        guests: 1400,
        history: Default::default(),
    }))
    .await
    .unwrap();
    let pve = client(&sim);
    let node = pve.nodes().await.unwrap().value[0].node.clone();
    let expected = sim
        .state
        .cluster
        .read()
        .await
        .tasks
        .iter()
        .filter(|t| t.node == node)
        .count();
    assert!(
        expected > 500,
        "the test needs more than one page, has {expected}"
    );
    let tasks = pve
        .node_tasks(&node, proxbox_pve::TaskFilter::default(), 100_000)
        .await
        .unwrap()
        .value;
    assert_eq!(tasks.len(), expected);
    let capped = pve
        .node_tasks(&node, proxbox_pve::TaskFilter::default(), 120)
        .await
        .unwrap()
        .value;
    assert_eq!(capped.len(), 120);
    // `since` asks only for what started at or after a time: the newest 700 and their ties.
    let since = tasks[699].starttime.unwrap();
    let newer = tasks.iter().filter(|t| t.starttime >= Some(since)).count();
    let filter = proxbox_pve::TaskFilter {
        since: Some(since),
        ..Default::default()
    };
    let recent = pve.node_tasks(&node, filter, 100_000).await.unwrap().value;
    assert_eq!(recent.len(), newer);
    assert!(newer >= 700 && newer < tasks.len());
    sim.stop().await;
}

#[tokio::test]
async fn password_login_gets_a_ticket_and_logs_in_again_when_it_is_refused() {
    let sim = sim(10).await;
    let c = sim.credentials().clone();
    let creds = Credentials::Password {
        username: c.username.clone(),
        password: c.password.clone(),
    };
    let pve = PveClient::new(options(sim.http_url.as_deref().unwrap(), creds)).unwrap();
    assert_eq!(pve.nodes().await.unwrap().value.len(), 3);
    assert_eq!(sim.state.tickets.lock().await.len(), 1);
    // A ticket the server no longer accepts: one new login, then the read succeeds.
    fault(&sim, "/nodes", FaultKind::Unauthorized, Some(1)).await;
    assert_eq!(pve.nodes().await.unwrap().value.len(), 3);
    assert_eq!(sim.state.tickets.lock().await.len(), 2);

    let wrong = Credentials::Password {
        username: c.username,
        password: "wrong".into(),
    };
    let err = PveClient::new(options(sim.http_url.as_deref().unwrap(), wrong))
        .unwrap()
        .nodes()
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Authentication, "{err}");
    sim.stop().await;
}

#[tokio::test]
async fn a_wrong_token_is_an_authentication_error() {
    let sim = sim(10).await;
    let creds = Credentials::token("root@pam!proxbox", Some("not-the-secret"));
    let err = PveClient::new(options(sim.http_url.as_deref().unwrap(), creds))
        .unwrap()
        .version()
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Authentication);
    assert!(err.suggestion.contains("token"), "{err}");
    sim.stop().await;
}

#[tokio::test]
async fn tls_verification_on_off_and_with_a_custom_ca() {
    let sim = sim(10).await;
    let url = sim.https_url.clone().unwrap();

    let strict = PveClient::new(options(&url, token(&sim))).unwrap();
    let err = strict.version().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connection, "{err}");
    assert!(err.message.contains("not trusted"), "{err}");
    assert!(
        err.suggestion.contains("Custom CA") && err.suggestion.contains("Verify TLS"),
        "{err}"
    );

    let mut with_ca = options(&url, token(&sim));
    with_ca.ca_pem = Some(sim.ca_pem().to_string());
    assert!(PveClient::new(with_ca).unwrap().version().await.is_ok());

    let mut unverified = options(&url, token(&sim));
    unverified.verify_tls = false;
    assert!(PveClient::new(unverified).unwrap().version().await.is_ok());

    let mut bad_ca = options(&url, token(&sim));
    bad_ca.ca_pem =
        Some("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----".into());
    let err = PveClient::new(bad_ca).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Validation, "{err}");
    sim.stop().await;
}

async fn classify(sim: &RunningSim, kind: FaultKind) -> PveError {
    sim.clear_faults().await;
    fault(sim, "/cluster/resources", kind, None).await;
    client(sim).guests().await.unwrap_err()
}

#[tokio::test]
async fn every_fault_kind_lands_in_its_category() {
    let sim = sim(10).await;
    let cases = [
        (FaultKind::Status { code: 500 }, ErrorKind::Internal),
        (FaultKind::Status { code: 503 }, ErrorKind::Connection),
        (FaultKind::Status { code: 595 }, ErrorKind::Connection),
        (FaultKind::Status { code: 403 }, ErrorKind::Permission),
        (FaultKind::Status { code: 404 }, ErrorKind::NotFound),
        (FaultKind::Status { code: 429 }, ErrorKind::RateLimit),
        (FaultKind::Unauthorized, ErrorKind::Authentication),
        (FaultKind::Reset, ErrorKind::Connection),
        (FaultKind::Malformed, ErrorKind::Validation),
        (FaultKind::Hang, ErrorKind::Timeout),
    ];
    for (kind, expected) in cases {
        let err = classify(&sim, kind.clone()).await;
        assert_eq!(err.kind, expected, "{kind:?}: {err}");
        assert!(!err.suggestion.is_empty(), "{kind:?}");
    }
    let timeout = classify(&sim, FaultKind::Hang).await;
    assert!(
        timeout.suggestion.contains("2 s"),
        "names the setting and its value: {timeout}"
    );
    sim.stop().await;
}

#[tokio::test]
async fn reads_are_retried_after_a_passing_server_error_but_not_after_4xx() {
    let sim = sim(10).await;
    fault(
        &sim,
        "/cluster/resources",
        FaultKind::Status { code: 502 },
        Some(2),
    )
    .await;
    assert_eq!(
        client(&sim).guests().await.unwrap().value.len(),
        10,
        "third attempt succeeds"
    );
    fault(
        &sim,
        "/cluster/resources",
        FaultKind::Status { code: 403 },
        Some(1),
    )
    .await;
    assert_eq!(
        client(&sim).guests().await.unwrap_err().kind,
        ErrorKind::Permission,
        "4xx is not retried"
    );
    sim.stop().await;
}

#[tokio::test]
async fn latency_slows_but_does_not_fail() {
    let sim = sim(10).await;
    fault(&sim, "/version", FaultKind::Latency { ms: 300 }, Some(1)).await;
    let started = std::time::Instant::now();
    client(&sim).version().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    sim.stop().await;
}

#[tokio::test]
async fn a_wrong_type_in_one_field_skips_the_field_not_the_guest() {
    let sim = sim(20).await;
    fault(
        &sim,
        "/cluster/resources",
        FaultKind::WrongType {
            field: "maxmem".into(),
        },
        None,
    )
    .await;
    fault(
        &sim,
        "/nodes/*/qemu/100/config",
        FaultKind::WrongType {
            field: "cores".into(),
        },
        None,
    )
    .await;
    let pve = client(&sim);
    let guests = pve.guests().await.unwrap();
    assert_eq!(guests.value.len(), 20, "every guest is still there");
    assert!(guests.value.iter().all(|g| g.maxmem.is_none()));
    assert_eq!(guests.warnings.len(), 20);
    assert!(guests.warnings.iter().all(|w| w.field == "maxmem"));
    let node = guests
        .value
        .iter()
        .find(|g| g.vmid == Some(100) && g.kind == "qemu")
        .unwrap()
        .node
        .clone()
        .unwrap();
    let config = pve.guest_config(&node, GuestKind::Qemu, 100).await.unwrap();
    assert_eq!(config.value.cores, None);
    assert!(config.value.name.is_some() && !config.value.nets.is_empty());
    assert_eq!(config.warnings.len(), 1);
    sim.stop().await;
}

#[tokio::test]
async fn an_unreachable_cluster_is_a_connection_error() {
    let sim = sim(10).await;
    let url = sim.http_url.clone().unwrap();
    sim.stop().await;
    let pve = PveClient::new(options(&url, Credentials::token("root@pam!x", Some("y")))).unwrap();
    let err = pve.version().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connection, "{err}");
    assert!(err.message.contains("connection refused"), "{err}");
}

#[tokio::test]
async fn agent_calls_for_a_stopped_vm_fail_cleanly() {
    let sim = sim(10).await;
    let pve = client(&sim);
    let guest = {
        let mut c = sim.state.cluster.write().await;
        let g = c
            .guests
            .values_mut()
            .find(|g| g.agent)
            .expect("a guest with the agent");
        g.running = false;
        g.clone()
    };
    let err = pve
        .agent_interfaces(&guest.node, guest.vmid)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Internal);
    assert!(err.message.contains("not running"), "{err}");
    sim.stop().await;
}

/// With every shape of real servers' answers turned on (string numbers, `""` / `"1"`
/// template flags, `total` and `changes` beside lists, `"boot": " "`, EFI and cloud-init
/// drives, Open vSwitch), the client reads what the simulator holds, field for field.
#[tokio::test]
async fn every_real_shape_is_read_as_the_simulator_holds_it() {
    let sim = sim(12).await;
    {
        let mut c = sim.state.cluster.write().await;
        for shape in pve_sim::Shape::ALL {
            c.turn_on(shape);
        }
        c.guests
            .get_mut(&(pve_sim::Kind::Qemu, 103))
            .unwrap()
            .template = true;
    }
    let pve = client(&sim);
    let model = sim.state.cluster.read().await.clone();
    let nodes = pve.nodes().await.unwrap();
    assert!(nodes.warnings.is_empty(), "{:?}", nodes.warnings);
    for (read, held) in nodes.value.iter().zip(&model.nodes) {
        assert_eq!(read.maxcpu, Some(held.cpus), "{}", held.name);
        assert_eq!(read.maxmem, Some(held.memory_bytes));
    }
    for guest in model.guests.values() {
        let kind = match guest.kind {
            pve_sim::Kind::Qemu => GuestKind::Qemu,
            pve_sim::Kind::Lxc => GuestKind::Lxc,
        };
        let config = pve
            .guest_config(&guest.node, kind, guest.vmid)
            .await
            .unwrap();
        assert!(
            config.warnings.is_empty(),
            "{}: {:?}",
            guest.vmid,
            config.warnings
        );
        let c = config.value;
        assert_eq!(
            c.vcpu_count(),
            Some(guest.cores * guest.sockets),
            "{}",
            guest.vmid
        );
        assert_eq!(c.memory_mib, Some(guest.memory_mib));
        assert_eq!(c.template, guest.template, "{}", guest.vmid);
        // The EFI disk is a disk; the cloud-init drive is a CD-ROM, not one.
        let extra = usize::from(kind == GuestKind::Qemu);
        assert_eq!(c.disks.len(), guest.disks.len() + extra, "{}", guest.vmid);
        assert!(!c.disks.iter().any(|d| d.volume.contains("cloudinit")));
    }
    let node = &model.nodes[0];
    let network = pve.node_network(&node.name).await.unwrap();
    assert!(network.warnings.is_empty(), "{:?}", network.warnings);
    assert_eq!(network.value.len(), node.interfaces.len());
    assert!(network
        .value
        .iter()
        .any(|i| i.kind == "OVSBond" && i.ovs_bonds.as_deref() == Some("eno2 eno3")));
    let tasks = pve
        .node_tasks(&node.name, proxbox_pve::TaskFilter::default(), 10_000)
        .await
        .unwrap();
    assert!(tasks.warnings.is_empty());
    let held_tasks = model.tasks.iter().filter(|t| t.node == node.name).count();
    assert_eq!(tasks.value.len(), held_tasks);
    sim.stop().await;
}

/// Guests changed through the control API with the user who did it are recorded as
/// Proxmox records them — a task of that user, on the node it ran on — and `/cluster/tasks`
/// lists every node's latest tasks, newest first.
#[tokio::test]
async fn a_change_by_a_user_is_a_task_in_the_clusters_task_list() {
    let sim = sim(4).await;
    let pve = client(&sim);
    let url = sim.http_url.clone().unwrap();
    // The workspace builds reqwest without a default TLS provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let (kind, vmid, from, to) = {
        let c = sim.state.cluster.read().await;
        let g = c
            .guests
            .values()
            .find(|g| g.kind == pve_sim::Kind::Qemu && g.running)
            .unwrap();
        let to = c
            .nodes
            .iter()
            .find(|n| n.name != g.node)
            .unwrap()
            .name
            .clone();
        (g.kind, g.vmid, g.node.clone(), to)
    };
    let path = format!("{url}/_sim/guests/{}/{vmid}", kind.as_str());
    // Without a user: no task (a seed's history stays as it is).
    let before = sim.state.cluster.read().await.tasks.len();
    http.patch(&path)
        .json(&serde_json::json!({"name": "renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sim.state.cluster.read().await.tasks.len(), before);
    // A migration and a stop by alice, a container created by bob and destroyed by carol.
    let moved = http
        .patch(&path)
        .json(&serde_json::json!({"node": to, "running": false, "by": "alice@pve"}))
        .send()
        .await
        .unwrap();
    assert!(moved.status().is_success());
    let created: serde_json::Value = http
        .post(format!("{url}/_sim/guests"))
        .json(&serde_json::json!({"kind": "lxc", "name": "ct-new", "by": "bob@pve"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ct = created["vmid"].as_u64().unwrap();
    let ct_node = created["node"].as_str().unwrap().to_string();
    http.delete(format!("{url}/_sim/guests/lxc/{ct}?by=carol@pve"))
        .send()
        .await
        .unwrap();

    let tasks = pve.cluster_tasks().await.unwrap().value;
    let find = |kind: &str, id: u64| {
        tasks
            .iter()
            .find(|t| t.kind == kind && t.id == id.to_string())
            .map(|t| (t.node.clone(), t.user.clone()))
    };
    assert_eq!(
        find("qmigrate", vmid),
        Some((from, "alice@pve".into())),
        "on the node it left"
    );
    assert_eq!(
        find("qmstop", vmid),
        Some((to, "alice@pve".into())),
        "on the node it stopped on"
    );
    assert_eq!(
        find("vzcreate", ct),
        Some((ct_node.clone(), "bob@pve".into()))
    );
    assert_eq!(find("vzdestroy", ct), Some((ct_node, "carol@pve".into())));
    assert!(
        tasks
            .iter()
            .all(|t| t.upid.contains(&format!(":{}:", t.user))),
        "the UPID names the user"
    );
    let times: Vec<Option<i64>> = tasks.iter().map(|t| t.starttime).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    // Each node shares its latest tasks only.
    let c = sim.state.cluster.read().await;
    for node in &c.nodes {
        let listed = tasks.iter().filter(|t| t.node == node.name).count();
        let held = c.tasks.iter().filter(|t| t.node == node.name).count();
        assert_eq!(
            listed,
            held.min(pve_sim::api::CLUSTER_TASKS_PER_NODE),
            "{}",
            node.name
        );
    }
    drop(c);
    sim.stop().await;
}

/// Proxmox SDN and HA as the client reads them from the simulator: a zone of each type, the
/// VNets (no tag in a simple zone), each VNet's subnets with gateway and DHCP ranges, and
/// the HA resources with the manager's service entries — exactly what the cluster holds.
#[tokio::test]
async fn sdn_zones_vnets_subnets_and_ha_read_as_the_cluster_holds_them() {
    let sim = sim(30).await;
    let pve = client(&sim);
    let model = sim.state.cluster.read().await.clone();

    let zones = pve.sdn_zones().await.unwrap();
    assert!(zones.warnings.is_empty(), "{:?}", zones.warnings);
    let kinds: Vec<(&str, &str)> = zones
        .value
        .iter()
        .map(|z| (z.zone.as_str(), z.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("vlanzone", "vlan"),
            ("qinqzone", "qinq"),
            ("vxzone", "vxlan"),
            ("evpnzone", "evpn"),
            ("simple", "simple")
        ]
    );
    let evpn = &zones.value[3];
    assert_eq!(evpn.vrf_vxlan, model.sdn.zones[3].vrf_vxlan.map(u64::from));

    let vnets = pve.sdn_vnets().await.unwrap();
    assert!(vnets.warnings.is_empty(), "{:?}", vnets.warnings);
    assert_eq!(vnets.value.len(), model.sdn.vnets.len());
    for (read, held) in vnets.value.iter().zip(&model.sdn.vnets) {
        assert_eq!(
            (
                read.vnet.as_str(),
                read.zone.as_str(),
                read.tag,
                read.alias.as_deref()
            ),
            (
                held.vnet.as_str(),
                held.zone.as_str(),
                held.tag.map(u64::from),
                held.alias.as_deref()
            )
        );
    }
    assert_eq!(
        vnets.value.iter().find(|v| v.zone == "simple").unwrap().tag,
        None,
        "a simple zone's VNet has no tag"
    );

    for held in &model.sdn.vnets {
        let subnets = pve.sdn_subnets(&held.vnet).await.unwrap();
        assert!(subnets.warnings.is_empty(), "{:?}", subnets.warnings);
        let expected: Vec<_> = model
            .sdn
            .subnets
            .iter()
            .filter(|s| s.vnet == held.vnet)
            .collect();
        assert_eq!(subnets.value.len(), expected.len(), "{}", held.vnet);
        for (read, held_subnet) in subnets.value.iter().zip(expected) {
            assert_eq!(read.cidr, held_subnet.cidr);
            assert_eq!(read.gateway, held_subnet.gateway);
            assert_eq!(read.snat, held_subnet.snat);
            let ranges: Vec<(String, String)> = read
                .dhcp_ranges
                .iter()
                .map(|r| (r.start.clone(), r.end.clone()))
                .collect();
            let held_ranges: Vec<(String, String)> = held_subnet
                .dhcp_ranges
                .iter()
                .map(|r| (r.start.clone(), r.end.clone()))
                .collect();
            assert_eq!(ranges, held_ranges);
        }
    }
    assert!(
        pve.sdn_subnets("nosuch").await.is_err(),
        "a VNet that does not exist is an error"
    );

    let ha = pve.ha_resources().await.unwrap();
    assert!(ha.warnings.is_empty(), "{:?}", ha.warnings);
    let read: Vec<(String, Option<String>)> = ha
        .value
        .iter()
        .map(|r| (r.sid.clone(), r.state.clone()))
        .collect();
    let held: Vec<(String, Option<String>)> = model
        .ha
        .iter()
        .map(|r| (r.sid.clone(), Some(r.state.clone())))
        .collect();
    assert_eq!(read, held);
    assert!(read.len() >= 3, "several states: {read:?}");
    let status = pve.ha_status().await.unwrap();
    assert!(status.warnings.is_empty(), "{:?}", status.warnings);
    let services = status.value.iter().filter(|e| e.kind == "service").count();
    assert_eq!(services, model.ha.len());
    sim.stop().await;
}
