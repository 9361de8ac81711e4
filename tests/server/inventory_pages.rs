//! The inventory pages without JavaScript, after a full update of the simulator: the guest
//! list and its filters, the VM panel's tabs and counts, the coverage report (page and
//! CSV), storage usage bars, and "Sync this guest" as a form and as a JSON route.

use std::collections::HashMap;

use proxbox::models::{GuestRecord, JobStatus, RecordKind, SyncTarget};
use proxbox::server::infra::db::inventory::StoredRecord;
use serde_json::Value;

use crate::jobs_support::*;
use crate::support::*;

fn count(html: &str, needle: &str) -> usize {
    html.matches(needle).count()
}

/// The text of each element with `data-testid="{testid}"` (up to its first child).
fn texts(html: &str, testid: &str) -> Vec<String> {
    html.split(&format!("data-testid=\"{testid}\""))
        .skip(1)
        .map(|rest| {
            let text = &rest[rest.find('>').unwrap() + 1..];
            text[..text.find('<').unwrap()].to_string()
        })
        .collect()
}

/// The part of `html` from the element with `data-testid="{testid}"` to its section's end.
fn section<'a>(html: &'a str, testid: &str) -> &'a str {
    let start = html
        .find(&format!("data-testid=\"{testid}\""))
        .unwrap_or_else(|| panic!("no {testid} in {html}"));
    let rest = &html[start..];
    let end = rest.find("</details>").unwrap_or(rest.len());
    &rest[..end]
}

#[tokio::test]
async fn the_inventory_pages_show_what_the_full_update_stored() {
    let lab = JobsLab::start(Backend::Sqlite, "invpages", 94, 6).await;
    let (job, _) = lab.start_sync("full-update").await;
    assert_status(&lab.wait_until_ended(job).await, JobStatus::Completed);
    lab.app.login().await;
    let db = &lab.app.db;
    let cards: Vec<GuestRecord> = db
        .inventory(lab.endpoint_id, RecordKind::Guest, None)
        .await
        .unwrap()
        .iter()
        .filter_map(StoredRecord::parse)
        .collect();
    assert!(cards.len() >= 6, "{cards:?}");

    // The list: every guest, then those of one node.
    let list = lab.app.get_text("/virtual-machines").await;
    assert_eq!(
        count(&list, "data-testid=\"guest-row\""),
        cards.len(),
        "{list}"
    );
    assert!(list.contains("odd-config"));
    let node = cards[0].node.clone();
    let on_node = cards.iter().filter(|c| c.node == node).count();
    let filtered = lab
        .app
        .get_text(&format!("/virtual-machines?node={node}"))
        .await;
    assert_eq!(count(&filtered, "data-testid=\"guest-row\""), on_node);
    assert!(filtered.contains(&format!("{on_node} of {} guests", cards.len())));

    // "No backup in 1 day": the guests whose newest backup is older, or that have none.
    let newest = db.newest_backups().await.unwrap();
    let now = proxbox::server::infra::db::now_ms() / 1000;
    let stale = cards
        .iter()
        .filter(|c| {
            newest
                .get(&(lab.endpoint_id, c.vmid))
                .is_none_or(|at| now - at > 86_400)
        })
        .count();
    assert!(stale > 0 && stale < cards.len(), "the simulator has both");
    let no_backup = lab.app.get_text("/virtual-machines?no_backup_days=1").await;
    assert_eq!(count(&no_backup, "data-testid=\"guest-row\""), stale);

    // The VM panel of the guest left out of every backup routine: counts as stored.
    let odd = cards.iter().find(|c| c.name == "odd-config").unwrap();
    let per_kind = |kind| async move {
        db.guest_inventory(lab.endpoint_id, kind, odd.vmid)
            .await
            .unwrap()
            .len()
    };
    let (backups, snapshots, tasks) = (
        per_kind(RecordKind::Backup).await,
        per_kind(RecordKind::Snapshot).await,
        per_kind(RecordKind::Task).await,
    );
    assert!(tasks > 0, "the simulator runs tasks on every guest");
    let panel_path = format!("/virtual-machines/{}", odd.netbox_id);
    let panel = lab.app.get_text(&panel_path).await;
    assert!(panel.contains("data-testid=\"proxmox-card\""), "{panel}");
    assert_eq!(texts(&panel, "card-vmid"), vec![odd.vmid.to_string()]);
    let tab_counts: Vec<usize> = texts(&panel, "tab-count")
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    assert_eq!(tab_counts, vec![backups, snapshots, tasks]);
    assert_eq!(count(&panel, "data-testid=\"backup-row\""), backups);
    let snapshot_tab = lab
        .app
        .get_text(&format!("{panel_path}?tab=snapshots"))
        .await;
    assert_eq!(
        count(&snapshot_tab, "data-testid=\"snapshot-row\""),
        snapshots
    );
    let task_tab = lab.app.get_text(&format!("{panel_path}?tab=tasks")).await;
    assert_eq!(count(&task_tab, "data-testid=\"task-row\""), tasks);
    assert!(panel.contains("data-testid=\"sync-guest\""));
    let missing = lab.app.get_text("/virtual-machines/987654").await;
    assert!(
        missing.contains("A guest synced to NetBox virtual machine 987654 was not found"),
        "{missing}"
    );

    // The coverage report names the guest no enabled routine selects, also as CSV.
    let backups_page = lab.app.get_text("/backups").await;
    let no_routine = section(&backups_page, "no-routine");
    assert!(
        no_routine.contains(&format!(
            "data-vmid=\"{}\"",
            pve_sim::model::UNPROTECTED_VMID
        )),
        "{no_routine}"
    );
    assert!(backups_page.contains("data-testid=\"routine-row\""));
    let csv = lab
        .app
        .client
        .get(lab.app.url("/backups/coverage.csv?days=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = csv.text().await.unwrap();
    assert!(
        csv.starts_with("finding,endpoint,vmid,name,node,newest_backup\n"),
        "{csv}"
    );
    assert!(
        csv.lines()
            .any(|l| l.starts_with("no-routine,") && l.contains(",103,odd-config,")),
        "{csv}"
    );

    // Storage: a usage bar per storage that reports its size.
    let storage = db
        .inventory(lab.endpoint_id, RecordKind::Storage, None)
        .await
        .unwrap();
    let sized = storage
        .iter()
        .filter_map(|r| r.parse::<proxbox::models::StorageRecord>())
        .filter(|s| s.total.is_some_and(|t| t > 0) && s.used.is_some())
        .count();
    assert!(sized > 0);
    let storage_page = lab.app.get_text("/storage").await;
    assert_eq!(count(&storage_page, "data-testid=\"usage-bar\""), sized);

    // "Sync this guest": a form lands on the job page; a JSON client gets the job.
    let csrf = lab.app.csrf().await;
    let form = lab
        .app
        .post_form(&format!("{panel_path}/sync"), &[("csrf", &csrf)])
        .await;
    assert_eq!(form.status(), 303);
    let job_id: i64 = form.headers()["location"]
        .to_str()
        .unwrap()
        .strip_prefix("/jobs/")
        .unwrap()
        .parse()
        .unwrap();
    let job = lab.wait_until_ended(job_id).await;
    assert_status(&job, JobStatus::Completed);
    assert_eq!(job.scope.target, Some(SyncTarget::Guest { vmid: odd.vmid }));
    let job_page = lab.app.get_text(&format!("/jobs/{job_id}")).await;
    assert!(
        job_page.contains(&format!("guest {}", odd.vmid)),
        "the job says whose it is"
    );
    // A machine with an API key (no session, so no CSRF token).
    let machine = new_client();
    let api_post = |path: &str| {
        machine
            .post(lab.app.url(path))
            .header("X-Proxbox-API-Key", &lab.key)
            .header("Accept", "application/json")
    };
    let json = api_post(&format!("{panel_path}/sync"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 202);
    let body: Value = json.json().await.unwrap();
    let again = lab.wait_until_ended(body["job_id"].as_i64().unwrap()).await;
    assert_status(&again, JobStatus::Completed);
    let unknown = api_post("/virtual-machines/987654/sync")
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    let status = unknown.status();
    let error: HashMap<String, Value> = unknown.json().await.unwrap();
    assert_eq!(status, 404, "{error:?}");
    assert!(
        error.values().any(|v| v.to_string().contains("987654")),
        "{error:?}"
    );
    lab.stop().await;
}

#[tokio::test]
async fn the_endpoint_page_shows_the_cluster_and_a_node_page_syncs_that_node() {
    let lab = JobsLab::start(Backend::Postgres, "nodepage", 96, 4).await;
    let (job, _) = lab.start_sync("full-update").await;
    assert_status(&lab.wait_until_ended(job).await, JobStatus::Completed);
    lab.app.login().await;
    let nodes: Vec<String> = {
        let c = lab.sim.state.cluster.read().await;
        c.nodes.iter().map(|n| n.name.clone()).collect()
    };
    let detail = lab
        .app
        .get_text(&format!("/endpoints/proxmox/{}", lab.endpoint_id))
        .await;
    assert_eq!(texts(&detail, "cluster-name"), vec![lab.cluster.clone()]);
    assert!(detail.contains("quorate"), "{detail}");
    assert_eq!(count(&detail, "data-testid=\"node-row\""), nodes.len());
    assert!(detail.contains(&format!("/endpoints/proxmox/{}/edit", lab.endpoint_id)));

    // A node's page: its guests as Proxbox keeps them, its interfaces as Proxmox has them.
    let node = &nodes[0];
    let cards: Vec<GuestRecord> = lab
        .app
        .db
        .inventory(lab.endpoint_id, RecordKind::Guest, None)
        .await
        .unwrap()
        .iter()
        .filter_map(StoredRecord::parse)
        .filter(|c: &GuestRecord| &c.node == node)
        .collect();
    let path = format!("/endpoints/proxmox/{}/nodes/{node}", lab.endpoint_id);
    let page = lab.app.get_text(&path).await;
    assert_eq!(
        count(&page, "data-testid=\"node-guest\""),
        cards.len(),
        "{page}"
    );
    assert!(count(&page, "data-testid=\"interface-row\"") > 0);
    assert!(page.contains("data-testid=\"sync-node\""));
    let missing = lab
        .app
        .get_text(&format!(
            "/endpoints/proxmox/{}/nodes/nosuchnode",
            lab.endpoint_id
        ))
        .await;
    assert!(missing.contains("has no node nosuchnode"), "{missing}");

    // "Sync this node" as a form: a job of that node's device and interfaces.
    let csrf = lab.app.csrf().await;
    let form = lab
        .app
        .post_form(&format!("{path}/sync"), &[("csrf", &csrf)])
        .await;
    assert_eq!(form.status(), 303);
    let job_id: i64 = form.headers()["location"]
        .to_str()
        .unwrap()
        .strip_prefix("/jobs/")
        .unwrap()
        .parse()
        .unwrap();
    let job = lab.wait_until_ended(job_id).await;
    assert_status(&job, JobStatus::Completed);
    assert_eq!(
        job.scope.target,
        Some(SyncTarget::Node { name: node.clone() })
    );
    let stages: Vec<String> = job_log(&lab.app, job_id)
        .await
        .into_iter()
        .filter_map(|(_, e)| match e {
            proxbox::events::SyncEvent::Step(s)
                if s.status == proxbox::events::StepStatus::Started =>
            {
                Some(s.step)
            }
            _ => None,
        })
        .collect();
    assert_eq!(stages, vec!["devices", "node-interfaces"]);
    lab.stop().await;
}

/// Viewers opening an endpoint's page at once share one read of Proxmox, and those who come
/// within a few seconds see that answer again: page views do not multiply the requests made
/// with the stored credentials.
#[tokio::test]
async fn viewers_of_an_endpoint_page_share_one_read_of_proxmox() {
    let lab = JobsLab::start(Backend::Sqlite, "shared", 97, 2).await;
    lab.app.login().await;
    lab.sim.take_requests();
    let path = format!("/endpoints/proxmox/{}", lab.endpoint_id);
    let pages = futures::future::join_all((0..12).map(|_| lab.app.get_text(&path))).await;
    let again = lab.app.get_text(&path).await;
    for page in pages.iter().chain([&again]) {
        assert_eq!(
            texts(page, "cluster-name"),
            vec![lab.cluster.clone()],
            "{page}"
        );
    }
    let version_reads = lab
        .sim
        .take_requests()
        .iter()
        .filter(|r| r.ends_with("/version"))
        .count();
    assert_eq!(version_reads, 1, "thirteen views, one read of the cluster");
    lab.stop().await;
}
