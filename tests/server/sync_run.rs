//! Whole sync runs against the Proxmox simulator and the real NetBox: the event lifecycle,
//! exact changes, orphans, dry run, cancellation and a run killed half-way.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use proxbox::events::{ErrorCategory, ItemStatus, StepStatus, SyncEvent};
use proxbox::models::RecordKind;
use proxbox::server::infra::db::Db;
use proxbox::server::sync::context::{RunOptions, StopSignal};
use proxbox::server::sync::sink::EventSink;
use proxbox::server::sync::stage::Stage;
use proxbox_netbox::models::*;
use proxbox_netbox::NetboxClient;

use crate::support::*;
use crate::sync_support::*;

/// What the simulator's cluster should look like in NetBox, per model.
#[derive(Debug, PartialEq, Eq)]
struct Expected {
    devices: usize,
    vms: usize,
    disks: usize,
    interfaces: usize,
    ips: usize,
}

async fn expected(sim: &pve_sim::RunningSim) -> Expected {
    let c = sim.state.cluster.read().await;
    let mut ips = 0;
    for g in c.guests.values() {
        ips += match g.kind {
            pve_sim::Kind::Lxc => g
                .nics
                .iter()
                .map(|n| n.ip.iter().count() + n.ip6.iter().count())
                .sum(),
            pve_sim::Kind::Qemu if g.agent && g.running => g
                .agent_ips
                .iter()
                .flatten()
                .filter(|a| !a.starts_with("fe80"))
                .count(),
            pve_sim::Kind::Qemu => 0,
        };
    }
    Expected {
        devices: c.nodes.len(),
        vms: c.guests.len(),
        disks: c.guests.values().map(|g| g.disks.len()).sum(),
        interfaces: c.guests.values().map(|g| g.nics.len()).sum(),
        ips,
    }
}

/// What NetBox holds for the cluster `name`, per model.
async fn in_netbox(netbox: &NetboxClient, name: &str) -> Expected {
    let cluster = netbox
        .list::<Cluster>(&[("name", name.to_string())])
        .await
        .unwrap();
    assert_eq!(cluster.len(), 1, "exactly one cluster {name}");
    let by_cluster = [("cluster_id", cluster[0].id.to_string())];
    let vms: Vec<VirtualMachine> = netbox.list(&by_cluster).await.unwrap();
    let vm_ids: Vec<u64> = vms.iter().map(|v| v.id).collect();
    let interfaces: Vec<VmInterface> = netbox.list_in("virtual_machine_id", &vm_ids).await.unwrap();
    let interface_ids: Vec<u64> = interfaces.iter().map(|i| i.id).collect();
    let macs: Vec<MacAddress> = netbox
        .list_in("vminterface_id", &interface_ids)
        .await
        .unwrap();
    assert_eq!(macs.len(), interfaces.len(), "one MAC per interface");
    assert!(
        interfaces.iter().all(|i| i.primary_mac_address.is_some()),
        "every interface has its primary MAC"
    );
    let ips: Vec<IpAddress> = netbox
        .list_in("vminterface_id", &interface_ids)
        .await
        .unwrap();
    Expected {
        devices: netbox.list::<Device>(&by_cluster).await.unwrap().len(),
        vms: vms.len(),
        disks: netbox
            .list_in::<VirtualDisk, _>("virtual_machine_id", &vm_ids)
            .await
            .unwrap()
            .len(),
        interfaces: interfaces.len(),
        ips: ips.len(),
    }
}

/// The lifecycle of a good run: the discovery of its stages first, then the run's setting;
/// per stage step started, its discovery and other events, phase_summary, step completed;
/// complete ok=true last.
fn assert_lifecycle(events: &[SyncEvent], stages: &[Stage]) {
    assert!(
        matches!(events.first(), Some(SyncEvent::Discovery(d)) if d.phase == "full-update"
            && d.items.iter().map(|i| i.name.as_str()).eq(stages.iter().map(|s| s.name()))),
        "the discovery of the stages first: {:?}",
        events.first()
    );
    assert!(
        matches!(&events[1], SyncEvent::Substep(s) if s.phase == "full-update" && s.substep == "setting"),
        "then the run's setting: {:?}",
        events[1]
    );
    assert!(
        matches!(events.last(), Some(SyncEvent::Complete(c)) if c.ok),
        "complete ok=true last"
    );
    let mut position = 2;
    for stage in stages {
        let started = &events[position];
        assert!(
            matches!(started, SyncEvent::Step(s) if s.step == stage.name() && s.status == StepStatus::Started),
            "{} starts at {position}: {started:?}",
            stage.name()
        );
        let end = position
            + events[position..]
                .iter()
                .position(|e| matches!(e, SyncEvent::Step(s) if s.status != StepStatus::Started))
                .unwrap();
        assert!(
            matches!(&events[end], SyncEvent::Step(s) if s.step == stage.name() && s.status == StepStatus::Completed)
        );
        assert!(
            matches!(&events[end - 1], SyncEvent::PhaseSummary(p) if p.phase == stage.name()),
            "phase_summary just before step completed"
        );
        for event in &events[position + 1..end - 1] {
            match event {
                SyncEvent::Substep(s) => assert_eq!(s.phase, stage.name()),
                SyncEvent::ItemProgress(p) => assert_eq!(p.phase, stage.name()),
                SyncEvent::Discovery(d) => assert_eq!(d.phase, stage.name()),
                other => panic!("unexpected inside {}: {other:?}", stage.name()),
            }
        }
        position = end + 1;
    }
    assert_eq!(
        position,
        events.len() - 1,
        "nothing between the last stage and complete"
    );
    let discoveries: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            SyncEvent::Discovery(d) => Some(d.phase.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        discoveries[1..]
            .iter()
            .copied()
            .eq(stages.iter().map(|s| s.name())),
        "one discovery per stage, in order: {discoveries:?}"
    );
}

#[tokio::test]
async fn a_full_update_creates_each_object_once_then_follows_exact_changes() {
    let (netbox, name, sim) = scenario("run", 21, 2, 14).await;
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Postgres).await;
    let want = expected(&sim).await;
    assert!(want.ips > 0, "the seeded cluster has addresses: {want:?}");

    let first = sync(&db, &netbox, &sim, endpoint_id, &[]).await;
    assert_lifecycle(&first.events, &Stage::ALL);
    assert_eq!(in_netbox(&netbox, &name).await, want);
    let created = |phase: &str, kind: &str| {
        first
            .statuses(phase, kind)
            .iter()
            .filter(|(_, s)| *s == ItemStatus::Created)
            .count()
    };
    assert_eq!(created("devices", "node"), want.devices);
    assert_eq!(
        created("virtual-machines", "qemu") + created("virtual-machines", "lxc"),
        want.vms
    );
    assert_eq!(created("virtual-disks", "disk"), want.disks);
    assert_eq!(created("vm-interfaces", "interface"), want.interfaces);
    assert_eq!(created("vm-interfaces", "mac"), want.interfaces);
    assert_eq!(created("vm-ip-addresses", "ip"), want.ips);
    // The counts of each phase_summary are those of its items.
    for event in &first.events {
        if let SyncEvent::PhaseSummary(p) = event {
            let items = first.items(&p.phase);
            assert_eq!(p.result.total as usize, items.len(), "{}", p.phase);
            assert_eq!(
                p.created as usize,
                items
                    .iter()
                    .filter(|i| i.status == ItemStatus::Created)
                    .count()
            );
        }
    }
    // Primary addresses: each guest with a reported IPv4 has one.
    let (cluster, vms) = cluster_and_vms(&netbox, &name).await;
    let with_v4 = {
        let c = sim.state.cluster.read().await;
        c.guests
            .values()
            .filter(|g| match g.kind {
                pve_sim::Kind::Lxc => g.nics.iter().any(|n| n.ip.is_some()),
                pve_sim::Kind::Qemu => {
                    g.agent && g.running && g.agent_ips.iter().flatten().any(|a| !a.contains(':'))
                }
            })
            .count()
    };
    assert_eq!(
        vms.iter().filter(|v| v.primary_ip4.is_some()).count(),
        with_v4
    );

    assert_resync_writes_nothing(&db, &netbox, &sim, endpoint_id, &[]).await;

    // Rename a guest, add a NIC to another, change a container's address, stop a VM whose
    // agent does not report addresses, remove a guest.
    let lxc_with_ip = {
        let c = sim.state.cluster.read().await;
        c.guests
            .values()
            .find(|g| g.kind == pve_sim::Kind::Lxc && g.nics[0].ip.is_some())
            .map(|g| g.vmid)
            .expect("the seed has a container with a static address")
    };
    let (renamed, nic_guest, stopped, removed, old_ip, new_ip) = {
        let mut c = sim.state.cluster.write().await;
        let renamed = c.guests.get_mut(&(pve_sim::Kind::Qemu, 101)).unwrap();
        renamed.name = "app-renamed".into();
        let nic_guest = c.guests.get_mut(&(pve_sim::Kind::Qemu, 102)).unwrap();
        nic_guest.nics.push(pve_sim::model::Nic {
            mac: "BC:24:11:AA:BB:CC".into(),
            bridge: "vmbr0".into(),
            tag: None,
            ip: None,
            ip6: None,
        });
        let nic_guest = (
            nic_guest.name.clone(),
            format!("net{}", nic_guest.nics.len() - 1),
        );
        let lxc = c
            .guests
            .get_mut(&(pve_sim::Kind::Lxc, lxc_with_ip))
            .unwrap();
        let old_ip = lxc.nics[0].ip.clone().unwrap();
        // In the test's own range (seed 21), which `scenario` clears of what a failed earlier
        // run left behind.
        let new_ip = "10.121.249.77/24".to_string();
        lxc.nics[0].ip = Some(new_ip.clone());
        let lxc_name = lxc.name.clone();
        let stopped = c
            .guests
            .values_mut()
            .find(|g| g.running && !g.agent && g.vmid >= 1000)
            .expect("a running guest without agent");
        stopped.running = false;
        let stopped = stopped.name.clone();
        let removed_key = *c
            .guests
            .iter()
            .find(|(_, g)| g.vmid >= 1000 && g.name != stopped && g.vmid != lxc_with_ip)
            .unwrap()
            .0;
        let removed = c.guests.remove(&removed_key).unwrap();
        (
            "app-renamed".to_string(),
            nic_guest,
            stopped,
            removed,
            (lxc_name.clone(), old_ip),
            (lxc_name, new_ip),
        )
    };
    let _ = old_ip;
    let third = sync(&db, &netbox, &sim, endpoint_id, &[]).await;
    let kind_of = |g: &pve_sim::model::Guest| g.kind.as_str().to_string();
    let mut want_changes = vec![
        (
            "virtual-machines".to_string(),
            "qemu".to_string(),
            renamed,
            ItemStatus::Updated,
        ),
        (
            "virtual-machines".to_string(),
            {
                let c = sim.state.cluster.read().await;
                kind_of(c.guests.values().find(|g| g.name == stopped).unwrap())
            },
            stopped,
            ItemStatus::Updated,
        ),
        (
            "vm-interfaces".to_string(),
            "interface".to_string(),
            format!("{}/{}", nic_guest.0, nic_guest.1),
            ItemStatus::Created,
        ),
        (
            "vm-interfaces".to_string(),
            "mac".to_string(),
            format!("{}/{} BC:24:11:AA:BB:CC", nic_guest.0, nic_guest.1),
            ItemStatus::Created,
        ),
        (
            "vm-ip-addresses".to_string(),
            "ip".to_string(),
            format!("{}/net0 {}", new_ip.0, new_ip.1),
            ItemStatus::Updated,
        ),
        // The moved address is in a network no prefix held yet: the networks stage makes one.
        (
            "networks".to_string(),
            "network".to_string(),
            new_ip
                .1
                .parse::<ipnet::IpNet>()
                .unwrap()
                .trunc()
                .to_string(),
            ItemStatus::Created,
        ),
    ];
    want_changes.sort();
    let mut changes = third.changes();
    changes.sort();
    assert_eq!(changes, want_changes);
    // Orphan deletion is off by default: the removed guest stays in NetBox.
    let removed_vm = |vms: &[VirtualMachine]| vms.iter().any(|v| v.name == removed.name);
    let vms: Vec<VirtualMachine> = netbox
        .list(&[("cluster_id", cluster.id.to_string())])
        .await
        .unwrap();
    assert!(removed_vm(&vms));

    // With orphan deletion on (grace 0), the removed guest goes, and only it.
    let options = RunOptions {
        delete_orphans: true,
        orphan_grace: Duration::ZERO,
        ..Default::default()
    };
    let fourth = run_on(&db, &netbox, &sim, endpoint_id, &[], options).await;
    assert!(fourth.outcome.ok);
    assert_eq!(
        fourth.changes(),
        vec![(
            "virtual-machines".to_string(),
            removed.kind.as_str().to_string(),
            removed.name.clone(),
            ItemStatus::Deleted
        )]
    );
    assert_eq!(in_netbox(&netbox, &name).await, expected(&sim).await);

    cleanup(&netbox, &name).await;
    sim.stop().await;
}

/// Counts of `(phase, type, status)` with planned statuses read as what they plan.
fn plan_of(ran: &Ran) -> BTreeMap<(String, String, String), ItemStatus> {
    ran.events
        .iter()
        .filter_map(|e| match e {
            // VLANs are global and shared with the tests running beside this one, which may
            // create one between the dry run and the real run.
            SyncEvent::ItemProgress(p) if p.kind == "vlan" => None,
            SyncEvent::ItemProgress(p) => {
                let status = match p.status {
                    ItemStatus::WouldCreate => ItemStatus::Created,
                    ItemStatus::WouldUpdate => ItemStatus::Updated,
                    ItemStatus::WouldDelete => ItemStatus::Deleted,
                    other => other,
                };
                Some(((p.phase.clone(), p.kind.clone(), p.name.clone()), status))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_plans_exactly_what_the_real_run_does() {
    let (netbox, name, sim) = scenario("dry", 33, 2, 9).await;
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;
    let dry = RunOptions {
        dry_run: true,
        ..Default::default()
    };

    for round in 0..2 {
        let (_, writes_before) = netbox.request_counts();
        let plan = run_on(&db, &netbox, &sim, endpoint_id, &[], dry.clone()).await;
        assert!(plan.outcome.ok, "{:?}", plan.outcome.error);
        assert_eq!(
            netbox.request_counts().1,
            writes_before,
            "a dry run writes nothing"
        );
        assert!(
            plan.changes().iter().all(|(.., s)| matches!(
                s,
                ItemStatus::WouldCreate | ItemStatus::WouldUpdate | ItemStatus::WouldDelete
            )),
            "{:?}",
            plan.changes()
        );
        let real = sync(&db, &netbox, &sim, endpoint_id, &[]).await;
        assert_eq!(plan_of(&plan), plan_of(&real), "round {round}");
        // Then change something for the second round: a renamed guest and a grown disk.
        let mut c = sim.state.cluster.write().await;
        let g = c.guests.get_mut(&(pve_sim::Kind::Qemu, 101)).unwrap();
        g.name = format!("renamed-{round}");
        g.disks[0].size_gib += 1;
    }

    cleanup(&netbox, &name).await;
    sim.stop().await;
}

#[tokio::test]
async fn the_same_guest_name_in_two_clusters_does_not_collide() {
    let netbox = netbox();
    let (a_name, b_name) = (unique("twa"), unique("twb"));
    let a = simulator(&a_name, 5, 1, 6).await;
    let b = simulator(&b_name, 7, 1, 6).await;
    let (_test_db, db, a_endpoint) = proxbox_db(Backend::Sqlite).await;
    let b_endpoint = endpoint(&db, "second").await;
    let ran = run_with(
        &db,
        &netbox,
        vec![source(&a, a_endpoint), source(&b, b_endpoint)],
        &[Stage::VirtualMachines],
        RunOptions::default(),
        None,
        None,
    )
    .await;
    assert!(ran.outcome.ok, "{:?}", ran.outcome.error);
    ran.assert_no_failed_items();
    for name in [&a_name, &b_name] {
        let cluster = netbox
            .list::<Cluster>(&[("name", name.clone())])
            .await
            .unwrap()
            .remove(0);
        let shared = netbox
            .list::<VirtualMachine>(&[
                ("cluster_id", cluster.id.to_string()),
                ("name", "app-shared".to_string()),
            ])
            .await
            .unwrap();
        assert_eq!(shared.len(), 1, "app-shared exists once in {name}");
    }
    cleanup(&netbox, &a_name).await;
    cleanup(&netbox, &b_name).await;
    a.stop().await;
    b.stop().await;
}

/// Calls a closure on each event, for tests that act in the middle of a run.
struct OnEvent<F: Fn(&SyncEvent) + Send + Sync>(F);

impl<F: Fn(&SyncEvent) + Send + Sync> EventSink for OnEvent<F> {
    fn emit(&self, event: SyncEvent) {
        (self.0)(&event)
    }
}

#[tokio::test]
async fn a_cancelled_run_stops_between_chunks_and_the_next_run_converges() {
    let (mut netbox, name, sim) = scenario("cnc", 41, 1, 12).await;
    // Chunks of at most 8, so that the run has many chunks to stop between; the first of a
    // plan is a quarter of that (2), to take NetBox's pace.
    let mut options = netbox.options().clone();
    options.chunk_size = 8;
    netbox = NetboxClient::new(options).unwrap();
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;
    let stop = StopSignal::default();
    let trigger = stop.clone();
    let cancel_at_first_vm = OnEvent(move |e: &SyncEvent| {
        if matches!(e, SyncEvent::ItemProgress(p) if p.phase == "virtual-machines" && p.status == ItemStatus::Created)
        {
            trigger.cancel();
        }
    });
    let ran = run_with(
        &db,
        &netbox,
        vec![source(&sim, endpoint_id)],
        &[],
        RunOptions::default(),
        Some(stop),
        Some(&cancel_at_first_vm),
    )
    .await;
    assert!(!ran.outcome.ok);
    let created = ran.statuses("virtual-machines", "qemu").len()
        + ran.statuses("virtual-machines", "lxc").len();
    assert_eq!(
        created, 2,
        "the chunk under way finishes, the next does not start"
    );
    let tail: Vec<&str> = ran
        .events
        .iter()
        .rev()
        .take(3)
        .map(SyncEvent::name)
        .collect();
    assert_eq!(tail, ["complete", "error", "step"]);
    let detail = ran.error_details().into_iter().next().unwrap();
    assert_eq!(detail.category, ErrorCategory::Cancelled);
    assert!(!detail.suggestion.is_empty());

    sync(&db, &netbox, &sim, endpoint_id, &[]).await;
    assert_eq!(in_netbox(&netbox, &name).await, expected(&sim).await);
    cleanup(&netbox, &name).await;
    sim.stop().await;
}

#[tokio::test]
async fn a_run_killed_half_way_converges_on_the_next_run_without_duplicates() {
    let (netbox, name, sim) = scenario("kil", 42, 1, 10).await;
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;
    // The run is dropped (as a killed process would stop) as soon as the first VM is
    // written: NetBox has objects the identity map has not recorded yet.
    let written = tokio::sync::Notify::new();
    let seen = Mutex::new(false);
    let on_vm = OnEvent(|e: &SyncEvent| {
        if matches!(e, SyncEvent::ItemProgress(p) if p.phase == "virtual-machines" && p.status == ItemStatus::Created)
            && !std::mem::replace(&mut *seen.lock().unwrap(), true)
        {
            written.notify_one();
        }
    });
    tokio::select! {
        _ = run_with(&db, &netbox, vec![source(&sim, endpoint_id)], &[], RunOptions::default(), None, Some(&on_vm)) => {
            panic!("the run finished before it was killed")
        }
        _ = written.notified() => {}
    }
    let again = sync(&db, &netbox, &sim, endpoint_id, &[]).await;
    assert_eq!(in_netbox(&netbox, &name).await, expected(&sim).await);
    assert!(
        again
            .statuses("virtual-machines", "qemu")
            .iter()
            .chain(&again.statuses("virtual-machines", "lxc"))
            .all(|(_, s)| *s != ItemStatus::Created),
        "every VM already in NetBox is re-adopted by its recorded identity"
    );
    assert_resync_writes_nothing(&db, &netbox, &sim, endpoint_id, &[]).await;

    // Proxbox's database lost and a guest renamed meanwhile: its name no longer matches,
    // the identity recorded in NetBox does, so it is updated, not created again.
    sim.state
        .cluster
        .write()
        .await
        .guests
        .get_mut(&(pve_sim::Kind::Qemu, 101))
        .unwrap()
        .name = "renamed-while-lost".into();
    let (_fresh_db, fresh, fresh_endpoint) = proxbox_db(Backend::Sqlite).await;
    let adopted = sync(
        &fresh,
        &netbox,
        &sim,
        fresh_endpoint,
        &[Stage::VirtualMachines],
    )
    .await;
    assert_eq!(
        adopted.changes(),
        vec![(
            "virtual-machines".to_string(),
            "qemu".to_string(),
            "renamed-while-lost".to_string(),
            ItemStatus::Updated
        )]
    );
    assert_eq!(in_netbox(&netbox, &name).await, expected(&sim).await);
    cleanup(&netbox, &name).await;
    sim.stop().await;
}

/// A guest list with VMIDs of a shape no Proxmox sends (the soak's cycle 53) lists none of
/// the guests: with orphan deletion on and no grace, not one VM goes, and once Proxmox
/// answers again every VM keeps its id.
/// The keys of the snapshot records Proxbox keeps for an endpoint, sorted.
async fn snapshot_keys(db: &Db, endpoint_id: i64) -> Vec<String> {
    let mut keys: Vec<String> = db
        .inventory(endpoint_id, RecordKind::Snapshot, None)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn a_guest_list_of_unreadable_vmids_deletes_no_vm() {
    let (netbox, name, sim) = scenario("unlisted", 53, 2, 6).await;
    let (_test_db, db, endpoint_id) = proxbox_db(Backend::Sqlite).await;
    let orphans_go = RunOptions {
        delete_orphans: true,
        orphan_grace: Duration::ZERO,
        ..Default::default()
    };
    let first = run_on(&db, &netbox, &sim, endpoint_id, &[], orphans_go.clone()).await;
    assert!(first.outcome.ok, "{:?}", first.outcome.error);
    let vm_ids = |vms: Vec<VirtualMachine>| {
        let mut ids: Vec<(String, u64)> = vms.into_iter().map(|v| (v.name, v.id)).collect();
        ids.sort();
        ids
    };
    let cluster = netbox
        .list::<Cluster>(&[("name", name.clone())])
        .await
        .unwrap();
    let by_cluster = [("cluster_id", cluster[0].id.to_string())];
    let before = vm_ids(netbox.list(&by_cluster).await.unwrap());
    assert_eq!(before.len(), sim.state.cluster.read().await.guests.len());
    let snapshots_before = snapshot_keys(&db, endpoint_id).await;
    assert!(!snapshots_before.is_empty(), "the guests have snapshots");

    sim.add_fault(pve_sim::Fault {
        path: "/cluster/resources".into(),
        kind: pve_sim::FaultKind::WrongType {
            field: "vmid".into(),
        },
        times: None,
    })
    .await;
    let faulted = run_on(&db, &netbox, &sim, endpoint_id, &[], orphans_go.clone()).await;
    let deleted: Vec<_> = faulted
        .changes()
        .into_iter()
        .filter(|(.., status)| *status == ItemStatus::Deleted)
        .collect();
    assert!(deleted.is_empty(), "deleted while unlisted: {deleted:?}");
    assert_eq!(vm_ids(netbox.list(&by_cluster).await.unwrap()), before);
    // Proxbox's own records of the guests it could not identify stay too.
    assert_eq!(snapshot_keys(&db, endpoint_id).await, snapshots_before);

    sim.clear_faults().await;
    let healed = run_on(&db, &netbox, &sim, endpoint_id, &[], orphans_go).await;
    assert!(healed.outcome.ok, "{:?}", healed.outcome.error);
    assert_eq!(vm_ids(netbox.list(&by_cluster).await.unwrap()), before);

    cleanup(&netbox, &name).await;
    sim.stop().await;
}
