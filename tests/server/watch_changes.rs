//! The watcher's reading of a cluster against the simulator: two looks at
//! `/cluster/resources` and the new part of `/cluster/tasks` tell which guest changed how,
//! and who did it.

use std::collections::HashSet;

use proxbox::server::sync::watch::{changes, look, new_tasks, Change};
use pve_sim::Kind;
use serde_json::json;

use crate::sync_support::*;

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
    let (vmid, name, from, to) = {
        let c = sim.state.cluster.read().await;
        let g = c
            .guests
            .values()
            .find(|g| g.kind == Kind::Qemu && !g.template)
            .unwrap();
        let to = c
            .nodes
            .iter()
            .find(|n| n.name != g.node)
            .unwrap()
            .name
            .clone();
        (g.vmid, g.name.clone(), g.node.clone(), to)
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let url = sim.http_url.clone().unwrap();
    let moved = http
        .patch(format!("{url}/_sim/guests/qemu/{vmid}"))
        .json(&json!({"node": to, "by": "alice@pve"}))
        .send()
        .await
        .unwrap();
    assert!(moved.status().is_success());
    // A rename through the config (no task, as Proxmox's config PUT runs none).
    http.patch(format!("{url}/_sim/guests/qemu/{vmid}"))
        .json(&json!({"name": format!("{name}-new")}))
        .send()
        .await
        .unwrap();

    let after = look(&pve.cluster_resources().await.unwrap().value);
    let tasks = new_tasks(&pve.cluster_tasks().await.unwrap().value, &seen);
    let found = changes(&before, &after, &tasks);
    let summary: Vec<(u64, Change, Option<String>)> = found
        .iter()
        .map(|w| {
            (
                w.vmid,
                w.change.clone(),
                w.task.as_ref().map(|t| t.user.clone()),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (vmid, Change::Renamed { from: name.clone() }, None),
            (
                vmid,
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
