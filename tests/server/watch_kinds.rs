//! Every kind of change the watcher follows, made in the simulator the way Proxmox makes it
//! (with its task in `/cluster/tasks` where Proxmox runs one), reaches NetBox (or Proxbox's
//! inventory) through the watcher alone: no button, no schedule. Each is carried by the
//! smallest job that covers it, and its NetBox writes name the Proxmox task.

use std::time::{Duration, Instant};

use proxbox::models::{JobStatus, JobSummary, SyncTarget};
use proxbox_netbox::models::{Device, JournalEntry, VirtualMachine};
use proxbox_netbox::NetboxClient;
use serde_json::{json, Value};

use crate::jobs_support::*;
use crate::sim_control::SimControl;
use crate::sync_support::*;

/// A lab watched every 300 ms that deletes the VM of a guest gone at once (grace 0).
async fn lab() -> JobsLab {
    let mut settings = proxbox::server::jobs::JobSettings {
        watch: Some(Duration::from_millis(300)),
        workers: 2,
        ..crate::support::test_job_settings()
    };
    settings.rules.delete_orphans = true;
    settings.rules.orphan_grace_hours = 0;
    JobsLab::start_with(crate::support::Backend::Sqlite, "kinds", 141, 4, settings).await
}

struct Driver {
    sim: SimControl,
    netbox: NetboxClient,
    /// The newest watcher job seen so far.
    last_job: i64,
}

impl Driver {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.sim.call(method, path, body).await
    }

    /// The next job the watcher queues, once it ended.
    async fn next_job(&mut self, lab: &JobsLab, what: &str) -> JobSummary {
        let deadline = Instant::now() + Duration::from_secs(60);
        let job = loop {
            let jobs = lab.app.db.jobs(None, None, 20).await.unwrap();
            let watched = jobs
                .iter()
                .map(|j| j.summary())
                .filter(|j| j.requested_by.starts_with("watcher: ") && j.id > self.last_job)
                .min_by_key(|j| j.id);
            if let Some(job) = watched {
                break job;
            }
            assert!(Instant::now() < deadline, "no job for {what}: {jobs:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        self.last_job = job.id;
        let ended = lab.wait_until_ended(job.id).await;
        assert_status(&ended, JobStatus::Completed);
        ended
    }

    async fn vm(&self, cluster: &str, vmid: u64) -> Option<VirtualMachine> {
        let (_, vms) = cluster_and_vms(&self.netbox, cluster).await;
        vms.into_iter().find(|v| {
            v.custom_fields
                .get("proxbox_identity")
                .and_then(Value::as_str)
                .is_some_and(|i| i.ends_with(&format!("/qemu/{vmid}")))
        })
    }

    /// The message of the newest change record of NetBox object `kind` `id`.
    async fn last_message(&self, kind: &str, id: u64) -> String {
        let query = [
            ("changed_object_type".to_string(), kind.to_string()),
            ("changed_object_id".to_string(), id.to_string()),
            ("ordering".to_string(), "-time".to_string()),
        ];
        let records = self
            .netbox
            .request(reqwest::Method::GET, "core/object-changes/", &query, None)
            .await
            .unwrap();
        records["results"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

fn guest_run(job: &JobSummary, vmid: u64, stages: &[&str]) {
    assert_eq!(
        job.scope.target,
        Some(SyncTarget::Guest { vmid }),
        "{job:?}"
    );
    let stages: Vec<String> = stages.iter().map(|s| s.to_string()).collect();
    let wanted = if stages.is_empty() {
        vec!["full-update".to_string()]
    } else {
        stages
    };
    assert_eq!(job.scope.stages, wanted, "{job:?}");
}

#[tokio::test]
async fn each_kind_of_change_reaches_netbox_through_the_watcher_alone() {
    use reqwest::Method;

    let lab = lab().await;
    let (first, _) = lab.start_sync("full-update").await;
    assert_status(&lab.wait_until_ended(first).await, JobStatus::Completed);
    let (guest, node, other_node) = {
        let c = lab.sim.state.cluster.read().await;
        let g = c
            .guests
            .values()
            .find(|g| g.kind == pve_sim::Kind::Qemu && !g.template && g.running)
            .expect("a running QEMU guest");
        let other = c.nodes.iter().find(|n| n.name != g.node).unwrap();
        (g.vmid, g.node.clone(), other.name.clone())
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut d = Driver {
        sim: SimControl::new(lab.sim.http_url.as_deref().unwrap()),
        netbox: netbox(),
        last_job: first,
    };
    let vm_type = "virtualization.virtualmachine";

    // Created, cloned and restored: each its guest's run, naming its task.
    for (name, extra, task) in [
        ("watch-created", json!({}), "qmcreate"),
        ("watch-cloned", json!({"clone_of": guest}), "qmclone"),
        ("watch-restored", json!({"restored": true}), "qmrestore"),
    ] {
        let mut body = json!({"kind": "qemu", "name": name, "node": node, "by": "alice@pve"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let made = d.call(Method::POST, "/_sim/guests", Some(body)).await;
        let vmid = made["vmid"].as_u64().unwrap();
        let job = d.next_job(&lab, name).await;
        guest_run(&job, vmid, &[]);
        let vm = d
            .vm(&lab.cluster, vmid)
            .await
            .unwrap_or_else(|| panic!("{name} in NetBox"));
        assert_eq!(vm.name, name);
        let message = d.last_message(vm_type, vm.id).await;
        let id = if task == "qmclone" { guest } else { vmid };
        assert!(
            message.contains(&format!("{task} of {id} by alice@pve, UPID:")),
            "{name}: {message}"
        );
    }

    // Renamed (a config edit: Proxmox runs no task, the change names itself).
    let path = format!("/_sim/guests/qemu/{guest}");
    d.call(Method::PATCH, &path, Some(json!({"name": "watch-renamed"})))
        .await;
    guest_run(&d.next_job(&lab, "the rename").await, guest, &[]);
    let vm = d.vm(&lab.cluster, guest).await.unwrap();
    assert_eq!(vm.name, "watch-renamed");
    assert!(d
        .last_message(vm_type, vm.id)
        .await
        .contains("renamed from"));

    // Resized and retagged.
    d.call(
        Method::PATCH,
        &path,
        Some(json!({"cores": 7, "tags": ["watched-live"]})),
    )
    .await;
    guest_run(&d.next_job(&lab, "the resize").await, guest, &[]);
    let vm = d.vm(&lab.cluster, guest).await.unwrap();
    assert_eq!(
        vm.vcpus.map(|v| v.round() as u64),
        Some(7 * vm_sockets(&lab, guest).await)
    );
    assert!(
        vm.tags
            .iter()
            .any(|t| t.name.as_deref() == Some("watched-live")),
        "{:?}",
        vm.tags
    );

    // Stopped, then started, by a user: the task names them.
    for (running, status, task) in [(false, "offline", "qmstop"), (true, "active", "qmstart")] {
        d.call(
            Method::PATCH,
            &path,
            Some(json!({"running": running, "by": "bob@pve"})),
        )
        .await;
        guest_run(&d.next_job(&lab, task).await, guest, &[]);
        let vm = d.vm(&lab.cluster, guest).await.unwrap();
        assert_eq!(vm.status.value, status);
        let message = d.last_message(vm_type, vm.id).await;
        assert!(
            message.contains(&format!("{task} of {guest} by bob@pve")),
            "{message}"
        );
    }

    // Backed up: the backups stage of that guest alone, and NetBox's journal has it.
    let backup = d
        .call(
            Method::POST,
            "/_sim/backups",
            Some(
                json!({"kind": "qemu", "vmid": guest, "storage": "backup-nfs", "by": "carol@pve"}),
            ),
        )
        .await;
    guest_run(&d.next_job(&lab, "the backup").await, guest, &["backups"]);
    let vm = d.vm(&lab.cluster, guest).await.unwrap();
    let entries: Vec<JournalEntry> = d
        .netbox
        .list(&[
            ("assigned_object_type", vm_type.to_string()),
            ("assigned_object_id", vm.id.to_string()),
        ])
        .await
        .unwrap();
    let volid = backup["volid"].as_str().unwrap();
    let entry = entries
        .iter()
        .find(|e| e.comments.contains(volid))
        .unwrap_or_else(|| panic!("a journal entry names {volid}: {entries:?}"));
    let message = d.last_message("extras.journalentry", entry.id).await;
    assert!(
        message.contains(&format!("vzdump of {guest} by carol@pve")),
        "{message}"
    );

    // A snapshot taken, then removed: the snapshots stage of that guest alone; Proxbox's
    // inventory (the VM panel) follows.
    let snapshots = format!("/_sim/guests/qemu/{guest}/snapshots");
    d.call(
        Method::POST,
        &snapshots,
        Some(json!({"name": "before-upgrade", "by": "dave@pve"})),
    )
    .await;
    guest_run(
        &d.next_job(&lab, "the snapshot").await,
        guest,
        &["snapshots"],
    );
    assert!(has_snapshot(&lab, guest, "before-upgrade").await);
    d.call(
        Method::DELETE,
        &format!("{snapshots}/before-upgrade?by=dave@pve"),
        None,
    )
    .await;
    guest_run(
        &d.next_job(&lab, "the snapshot's removal").await,
        guest,
        &["snapshots"],
    );
    assert!(!has_snapshot(&lab, guest, "before-upgrade").await);

    // A node offline, then back: that node's run; its device says so.
    let nodes = format!("/_sim/nodes/{other_node}");
    for (online, status) in [(false, "offline"), (true, "active")] {
        d.call(Method::PATCH, &nodes, Some(json!({"online": online})))
            .await;
        let job = d.next_job(&lab, "the node").await;
        assert_eq!(
            job.scope.target,
            Some(SyncTarget::Node {
                name: other_node.clone()
            }),
            "{job:?}"
        );
        let devices: Vec<Device> = d
            .netbox
            .list(&[("name", other_node.clone())])
            .await
            .unwrap();
        let device = devices
            .iter()
            .find(|x| x.name.as_deref() == Some(other_node.as_str()))
            .unwrap();
        assert_eq!(device.status.value, status);
    }

    // Removed: the virtual-machines stage over the cluster (the orphan rules decide over
    // the cluster), and the VM is gone (orphan deletion on, no grace); the others stay.
    let created = d.vm(&lab.cluster, guest).await.unwrap().id;
    d.call(Method::DELETE, &format!("{path}?by=erin@pve"), None)
        .await;
    let job = d.next_job(&lab, "the removal").await;
    assert_eq!(job.scope.target, None, "{job:?}");
    assert_eq!(job.scope.stages, ["virtual-machines"], "{job:?}");
    assert!(job
        .requested_by
        .contains(&format!("qmdestroy of {guest} by erin@pve")));
    assert!(
        d.vm(&lab.cluster, guest).await.is_none(),
        "VM {created} deleted"
    );
    let message = d.last_message(vm_type, created).await;
    assert!(
        message.contains(&format!("qmdestroy of {guest} by erin@pve")),
        "the deletion names the task: {message}"
    );
    let (_, vms) = cluster_and_vms(&d.netbox, &lab.cluster).await;
    assert!(
        vms.iter().any(|v| v.name == "watch-created"),
        "the others stay"
    );
    cleanup(&d.netbox, &lab.cluster).await;
}

/// The guest's sockets (NetBox's vCPUs are cores × sockets).
async fn vm_sockets(lab: &JobsLab, vmid: u64) -> u64 {
    let c = lab.sim.state.cluster.read().await;
    c.guests.get(&(pve_sim::Kind::Qemu, vmid)).unwrap().sockets
}

async fn has_snapshot(lab: &JobsLab, vmid: u64, name: &str) -> bool {
    use proxbox::models::RecordKind;
    lab.app
        .db
        .inventory(lab.endpoint_id, RecordKind::Snapshot, None)
        .await
        .unwrap()
        .iter()
        .any(|r| r.vmid == Some(vmid as i64) && r.body.contains(&format!("\"{name}\"")))
}
