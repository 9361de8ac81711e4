//! The watcher's reading of a cluster against the simulator: two looks at
//! `/cluster/resources` and the new part of `/cluster/tasks` tell which guest changed how,
//! and who did it.

use std::collections::HashSet;

use proxbox::server::sync::watch::{changes, look, new_tasks, Change};
use pve_sim::Kind;
use serde_json::json;

use crate::sim_control::SimControl;
use crate::sync_support::*;
use reqwest::Method;

/// A QEMU guest of the simulator, and a node it is not on.
struct Moving {
    vmid: u64,
    name: String,
    from: String,
    to: String,
}

/// A lab whose server runs the watcher, looking every `every`.
async fn watched_lab(
    prefix: &str,
    seed: u64,
    guests: usize,
    every: std::time::Duration,
    workers: usize,
) -> crate::jobs_support::JobsLab {
    let settings = proxbox::server::jobs::JobSettings {
        watch: Some(every),
        workers,
        ..crate::support::test_job_settings()
    };
    crate::jobs_support::JobsLab::start_with(
        crate::support::Backend::Sqlite,
        prefix,
        seed,
        guests,
        settings,
    )
    .await
}

async fn a_qemu_guest_and_another_node(sim: &pve_sim::RunningSim) -> Moving {
    // The workspace builds reqwest without a default TLS provider; the tests' HTTP calls
    // to the simulator's control API need one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let c = sim.state.cluster.read().await;
    let g = c
        .guests
        .values()
        .find(|g| g.kind == Kind::Qemu && !g.template)
        .expect("a QEMU guest");
    let to = c
        .nodes
        .iter()
        .find(|n| n.name != g.node)
        .expect("two nodes");
    Moving {
        vmid: g.vmid,
        name: g.name.clone(),
        from: g.node.clone(),
        to: to.name.clone(),
    }
}

#[tokio::test]
async fn changes_made_in_proxmox_are_seen_with_the_user_who_made_them() {
    let sim = simulator(&unique("watch"), 49, 2, 4).await;
    let pve = source(&sim, 1).pve;
    let before = look(&pve.cluster_resources().await.unwrap().value);
    let seen: HashSet<String> = pve
        .cluster_tasks()
        .await
        .unwrap()
        .value
        .into_iter()
        .map(|t| t.upid)
        .collect();
    let Moving {
        vmid,
        name,
        from,
        to,
    } = a_qemu_guest_and_another_node(&sim).await;
    let control = SimControl::new(sim.http_url.as_deref().unwrap());
    let path = format!("/_sim/guests/qemu/{vmid}");
    control
        .call(
            Method::PATCH,
            &path,
            Some(json!({"node": to, "by": "alice@pve"})),
        )
        .await;
    // A rename through the config (no task, as Proxmox's config PUT runs none).
    control
        .call(
            Method::PATCH,
            &path,
            Some(json!({"name": format!("{name}-new")})),
        )
        .await;

    let after = look(&pve.cluster_resources().await.unwrap().value);
    let tasks = new_tasks(&pve.cluster_tasks().await.unwrap().value, &seen);
    let found = changes(&before, &after, &tasks);
    let summary: Vec<(Option<u64>, Change, Option<String>)> = found
        .iter()
        .map(|w| {
            (
                w.vmid(),
                w.change.clone(),
                w.task.as_ref().map(|t| t.user.clone()),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (Some(vmid), Change::Renamed { from: name.clone() }, None),
            (
                Some(vmid),
                Change::Migrated {
                    from: from.clone(),
                    to: to.clone()
                },
                Some("alice@pve".into())
            ),
        ]
    );
    assert_eq!(
        found[1].describe(),
        format!("{name}-new moved {from} → {to} by alice@pve")
    );
    assert!(found[1]
        .provenance()
        .starts_with(&format!("qmigrate of {vmid} by alice@pve, UPID:")));
    sim.stop().await;
}

/// A guest moved to another node by a user reaches NetBox through the watcher alone: no
/// button, no schedule. The job it queues is that guest's run, names the Proxmox task,
/// and its NetBox writes carry the task into NetBox's change log.
#[tokio::test]
async fn a_guest_moved_in_proxmox_reaches_netbox_through_the_watcher_alone() {
    use crate::jobs_support::*;
    use proxbox::models::JobStatus;
    use proxbox_netbox::models::{Device, VirtualMachine};
    use std::time::{Duration, Instant};

    let lab = watched_lab("watched", 50, 3, Duration::from_millis(300), 2).await;
    let (first, _) = lab.start_sync("full-update").await;
    assert_status(&lab.wait_until_ended(first).await, JobStatus::Completed);
    let Moving { vmid, to, .. } = a_qemu_guest_and_another_node(&lab.sim).await;
    SimControl::new(lab.sim.http_url.as_deref().unwrap())
        .call(
            Method::PATCH,
            &format!("/_sim/guests/qemu/{vmid}"),
            Some(json!({"node": to, "by": "alice@pve"})),
        )
        .await;

    // The watcher's job appears by itself and ends.
    let deadline = Instant::now() + Duration::from_secs(60);
    let job = loop {
        let jobs = lab.app.db.jobs(None, None, 10).await.unwrap();
        if let Some(job) = jobs
            .iter()
            .find(|j| j.requested_by.starts_with("watcher: "))
        {
            break job.summary();
        }
        assert!(Instant::now() < deadline, "no job for the move: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let expected = format!("watcher: qmigrate of {vmid} by alice@pve, UPID:");
    assert!(
        job.requested_by.starts_with(&expected),
        "{}",
        job.requested_by
    );
    assert!(
        job.scope.title().contains(&format!("guest {vmid}")),
        "that guest's run: {}",
        job.scope.title()
    );
    assert_status(&lab.wait_until_ended(job.id).await, JobStatus::Completed);

    // NetBox has the VM on the new node's device, and says why.
    let netbox = netbox();
    let (cluster, vms) = cluster_and_vms(&netbox, &lab.cluster).await;
    let vm: &VirtualMachine = vms
        .iter()
        .find(|v| {
            v.custom_fields
                .get("proxbox_identity")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|i| i.ends_with(&format!("/qemu/{vmid}")))
        })
        .unwrap();
    let devices: Vec<Device> = netbox
        .list(&[("cluster_id", cluster.id.to_string())])
        .await
        .unwrap();
    let device = devices
        .iter()
        .find(|d| d.name.as_deref() == Some(to.as_str()))
        .unwrap();
    assert_eq!(vm.device.as_ref().map(|d| d.id), Some(device.id));
    let query = [
        (
            "changed_object_type".to_string(),
            "virtualization.virtualmachine".to_string(),
        ),
        ("changed_object_id".to_string(), vm.id.to_string()),
        ("ordering".to_string(), "-time".to_string()),
    ];
    let records = netbox
        .request(reqwest::Method::GET, "core/object-changes/", &query, None)
        .await
        .unwrap();
    let message = records["results"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.starts_with(&format!("Proxbox job {}: ", job.id))
            && message.contains(&format!("qmigrate of {vmid} by alice@pve")),
        "{message}"
    );
    cleanup(&netbox, &lab.cluster).await;
}

/// With nothing changing, the watcher asks each Proxmox two things per look — its guests
/// and its task list — and queues nothing; a Proxmox that does not answer is asked again
/// later and later, never every tick.
#[tokio::test]
async fn an_idle_cluster_costs_two_reads_a_look_and_a_silent_one_is_asked_less_and_less() {
    use pve_sim::{Fault, FaultKind};
    use std::time::{Duration, Instant};

    let every = Duration::from_millis(100);
    let lab = watched_lab("idle", 51, 2, every, 2).await;
    let reads_of = |requests: &[String], path: &str| {
        requests
            .iter()
            .filter(|r| r.starts_with(&format!("GET {path}")))
            .count()
    };
    // Twenty looks, with nothing changing.
    lab.sim.take_requests();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while reads_of(&seen, "/cluster/resources") < 20 {
        assert!(
            Instant::now() < deadline,
            "the watcher does not look: {seen:?}"
        );
        tokio::time::sleep(every).await;
        seen.extend(lab.sim.take_requests());
    }
    let (guests, tasks) = (
        reads_of(&seen, "/cluster/resources"),
        reads_of(&seen, "/cluster/tasks"),
    );
    assert!(
        guests.abs_diff(tasks) <= 1,
        "one of each per look: {guests} and {tasks}"
    );
    assert_eq!(guests + tasks, seen.len(), "nothing else: {seen:?}");
    let jobs = lab.app.db.jobs(None, None, 10).await.unwrap();
    assert!(jobs.is_empty(), "nothing changed, nothing queued: {jobs:?}");
    let failing = |text: &str| {
        text.lines()
            .find(|l| {
                l.starts_with(&format!(
                    "proxbox_watch_failures{{endpoint=\"{}\"}}",
                    lab.cluster
                ))
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<u32>().ok())
    };
    let metrics = lab
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(failing(&metrics), Some(0), "it sees the cluster: {metrics}");

    // Proxmox stops answering: the tries thin out (at most 1 + 2 + 4 + 8… ticks apart).
    lab.sim
        .add_fault(Fault {
            path: "/cluster/resources".into(),
            kind: FaultKind::Status { code: 503 },
            times: None,
        })
        .await;
    lab.sim.take_requests();
    let start = Instant::now();
    while start.elapsed() < every * 30 {
        tokio::time::sleep(every).await;
    }
    let tries = reads_of(&lab.sim.take_requests(), "/cluster/resources");
    // 30 ticks: without backoff, 30 tries (more with the client's own retries per try);
    // with it, a try after 2, 4, 8 and 16 ticks: 5 at most.
    assert!(tries <= 5 * 3, "{tries} tries in 30 ticks");
    assert!(tries >= 1, "it keeps trying");
    // And /metrics says so, for an alert.
    let metrics = lab
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(failing(&metrics).is_some_and(|n| n >= 1), "{metrics}");
    // And the dashboard, with what failed and when it tries again.
    let dashboard: serde_json::Value = lab
        .get("/api/dashboard")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let problem = dashboard["live"]["problem"].as_str().unwrap_or_default();
    assert!(
        problem.starts_with(&format!("Following {} live failed", lab.cluster))
            && problem.contains("503")
            && problem.contains("it tries again within"),
        "{problem}"
    );
}

/// A node evacuated — many guests moved in one go — is one job of the whole cluster, not
/// one per guest.
#[tokio::test]
async fn many_changes_in_one_look_are_one_job() {
    use std::time::{Duration, Instant};

    let every = Duration::from_millis(500);
    let lab = watched_lab("evac", 52, 80, every, 0).await;
    // Let the watcher take its first look, then move every guest of one node at once.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !lab
        .sim
        .take_requests()
        .iter()
        .any(|r| r.starts_with("GET /cluster/tasks"))
    {
        assert!(Instant::now() < deadline, "the watcher does not look");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let moved = {
        let mut c = lab.sim.state.cluster.write().await;
        let (from, to) = (c.nodes[0].name.clone(), c.nodes[1].name.clone());
        let vmids: Vec<(Kind, u64)> = c
            .guests
            .values()
            .filter(|g| g.node == from)
            .map(|g| (g.kind, g.vmid))
            .collect();
        for key in &vmids {
            c.guests.get_mut(key).unwrap().node = to.clone();
            let kind = if key.0 == Kind::Qemu {
                "qmigrate"
            } else {
                "vzmigrate"
            };
            c.add_task_by(&from, kind, &key.1.to_string(), "OK", "alice@pve");
        }
        vmids.len()
    };
    assert!(moved >= 20, "the test needs a busy node, has {moved}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let jobs = loop {
        let jobs = lab.app.db.jobs(None, None, 100).await.unwrap();
        if !jobs.is_empty() {
            // A few more looks: nothing else may be queued for the same move.
            let settle = Instant::now();
            while settle.elapsed() < every * 4 {
                tokio::time::sleep(every).await;
            }
            break lab.app.db.jobs(None, None, 100).await.unwrap();
        }
        assert!(Instant::now() < deadline, "no job for the evacuation");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = jobs[0].summary();
    assert!(
        job.scope.target.is_none(),
        "the whole cluster: {:?}",
        job.scope
    );
    assert!(
        job.requested_by.starts_with("watcher: "),
        "{}",
        job.requested_by
    );
    assert!(
        job.requested_by
            .ends_with(&format!("(and {} more)", moved - 1)),
        "{}",
        job.requested_by
    );
}

/// An endpoint whose changes are not to be followed (its page's "Follow its changes live"
/// unticked) is not looked at; the others are.
#[tokio::test]
async fn an_endpoint_switched_off_is_not_watched() {
    use crate::support::*;
    use proxbox::server::infra::crypto::SecretBox;
    use std::time::{Duration, Instant};

    let every = Duration::from_millis(100);
    let lab = watched_lab("unwatched", 53, 2, every, 2).await;
    let row = lab
        .app
        .db
        .proxmox_endpoint(lab.endpoint_id)
        .await
        .unwrap()
        .unwrap();
    let mut form = row.view().to_form();
    assert!(form.watch.is_some(), "followed unless switched off");
    form.watch = None;
    let secrets = SecretBox::from_key_text(TEST_KEY).unwrap();
    proxbox::server::services::endpoints::save_proxmox(
        &lab.app.db,
        &secrets,
        "test",
        Some(row.id),
        form,
    )
    .await
    .unwrap();
    lab.sim.take_requests();
    let start = Instant::now();
    while start.elapsed() < every * 10 {
        tokio::time::sleep(every).await;
    }
    let requests = lab.sim.take_requests();
    assert!(
        !requests
            .iter()
            .any(|r| r.starts_with("GET /cluster/resources")),
        "{requests:?}"
    );
}
