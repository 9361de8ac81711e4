//! The inventory paths: storages and their content, snapshots, task history, replication
//! and backup jobs (shapes from the `returns` of each path in the official schema).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{data, flag, guest_or_error, node_or_404, pve_error, GuestPath};
use crate::model::Kind;
use crate::SimState;

/// `GET /storage` → `[{storage}]`: every storage of the cluster's configuration (the
/// schema documents only the name; type and content come per node).
pub(super) async fn storage_list(State(sim): State<Arc<SimState>>) -> Response {
    let c = sim.cluster.read().await;
    let out: Vec<Value> = c
        .storages
        .iter()
        .map(|s| json!({"storage": s.name}))
        .collect();
    data(Value::Array(out))
}

/// `GET /nodes/{node}/storage` → `[{storage, type, content, active, enabled, shared, total, used, avail}]`.
/// A disabled storage is listed inactive, without usage (as Proxmox lists it).
pub(super) async fn node_storage(
    State(sim): State<Arc<SimState>>,
    Path(node): Path<String>,
) -> Response {
    let c = sim.cluster.read().await;
    if let Err(e) = node_or_404(&c, &node) {
        return e;
    }
    let out: Vec<Value> = c
        .storages
        .iter()
        .map(|s| {
            let mut v = json!({
                "storage": s.name, "type": s.kind, "content": s.content, "shared": flag(s.shared),
                "active": flag(s.enabled), "enabled": flag(s.enabled),
            });
            if s.enabled {
                let used = c.storage_used(s, &node);
                v["total"] = json!(s.total);
                v["used"] = json!(used);
                v["avail"] = json!(s.total - used);
                v["used_fraction"] = json!(used as f64 / s.total.max(1) as f64);
            }
            v
        })
        .collect();
    data(Value::Array(out))
}

#[derive(Deserialize)]
pub(super) struct ContentQuery {
    content: Option<String>,
    vmid: Option<u64>,
}

/// `GET /nodes/{node}/storage/{storage}/content` → `[{volid, content, format, size, ctime, vmid, …}]`.
/// A shared storage lists the same volumes from every node.
pub(super) async fn storage_content(
    State(sim): State<Arc<SimState>>,
    Path((node, storage)): Path<(String, String)>,
    Query(q): Query<ContentQuery>,
) -> Response {
    let (privileges, major) = sim.access().await;
    let holds = |path: String, privilege: &str| privileges.holds_any(&path, &[privilege], major);
    // As pve-storage's `check_volume_access`: all of a storage with `Datastore.Allocate`,
    // else a backup with `Datastore.AllocateSpace` and the guest's `VM.Backup`, a disk image
    // with `Datastore.Audit` and the guest's `VM.Config.Disk`.
    let whole = holds(format!("/storage/{storage}"), "Datastore.Allocate");
    let sees_backup = |vmid: u64| {
        whole
            || (holds(format!("/storage/{storage}"), "Datastore.AllocateSpace")
                && holds(format!("/vms/{vmid}"), "VM.Backup"))
    };
    let sees_image = |vmid: u64| {
        whole
            || (holds(format!("/storage/{storage}"), "Datastore.Audit")
                && holds(format!("/vms/{vmid}"), "VM.Config.Disk"))
    };
    let c = sim.cluster.read().await;
    if let Err(e) = node_or_404(&c, &node) {
        return e;
    }
    let Some(spec) = c.storages.iter().find(|s| s.name == storage) else {
        return pve_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("storage '{storage}' does not exist"),
        );
    };
    if !spec.enabled {
        return pve_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("storage '{storage}' is disabled"),
        );
    }
    let mut out = Vec::new();
    if q.content.as_deref().is_none_or(|t| t == "backup") {
        for b in c.backups.iter().filter(|b| {
            b.storage == storage
                && (spec.shared || b.node == node)
                && q.vmid.is_none_or(|v| v == b.vmid)
                && sees_backup(b.vmid)
        }) {
            let mut v = json!({
                "volid": b.volid, "format": b.format, "size": b.size,
                "ctime": b.ctime, "vmid": b.vmid, "protected": flag(b.protected),
            });
            if let Some(notes) = &b.notes {
                v["notes"] = json!(notes);
            }
            if let Some(fingerprint) = &b.encrypted {
                v["encrypted"] = json!(fingerprint);
            }
            if let Some(state) = &b.verification {
                v["verification"] = json!({"state": state, "upid": format!("UPID:{node}:0000AB12:00001234:{:08X}:verify::root@pam:", b.ctime + 600)});
            }
            out.push(v);
        }
    }
    if spec.content.contains("images")
        && q.content
            .as_deref()
            .is_none_or(|t| t == "images" || t == "rootdir")
    {
        for g in c
            .guests
            .values()
            .filter(|g| g.node == node && sees_image(g.vmid))
        {
            for (i, d) in g.disks.iter().filter(|d| d.storage == storage).enumerate() {
                out.push(json!({
                    "volid": format!("{storage}:vm-{}-disk-{i}", g.vmid),
                    "format": "raw", "size": d.size_gib << 30, "vmid": g.vmid, "ctime": c.now - 90 * 86_400
                }));
            }
        }
    }
    data(Value::Array(out))
}

#[derive(Deserialize)]
pub(super) struct TaskQuery {
    start: Option<usize>,
    limit: Option<usize>,
    vmid: Option<u64>,
    since: Option<i64>,
    until: Option<i64>,
}

/// A task as Proxmox lists it.
fn task_row(t: &crate::model::TaskSpec) -> Value {
    json!({
        "upid": t.upid, "node": t.node, "pid": 1000, "pstart": 5000, "starttime": t.starttime, "endtime": t.endtime,
        "type": t.kind, "id": t.id, "user": t.user, "status": t.status
    })
}

/// Tasks per node `/cluster/tasks` lists: each node shares only its most recent ones with
/// the cluster, so a reader that falls behind sees a window, not the whole history.
pub const CLUSTER_TASKS_PER_NODE: usize = 50;

/// `GET /cluster/tasks` → the cluster's recent tasks, every node's, newest first (the same
/// rows as `/nodes/{node}/tasks`); a token without `Sys.Audit` on a node sees only its own
/// tasks there.
pub(super) async fn cluster_tasks(State(sim): State<Arc<SimState>>) -> Response {
    let (privileges, major) = sim.access().await;
    let own = sim.credentials.token_id.clone();
    let c = sim.cluster.read().await;
    let mut per_node: std::collections::HashMap<&str, usize> = Default::default();
    let out: Vec<Value> = c
        .tasks
        .iter()
        .filter(|t| {
            let seen = per_node.entry(t.node.as_str()).or_default();
            *seen += 1;
            *seen <= CLUSTER_TASKS_PER_NODE
        })
        .filter(|t| {
            t.user == own
                || privileges.holds_any(&format!("/nodes/{}", t.node), &["Sys.Audit"], major)
        })
        .map(task_row)
        .collect();
    data(Value::Array(out))
}

/// `GET /nodes/{node}/tasks?start=&limit=&vmid=&since=&until=` → `[{upid, node, pid, pstart, starttime, endtime, type, id, user, status}]`,
/// newest first; Proxmox's default page is 50 tasks.
pub(super) async fn node_tasks(
    State(sim): State<Arc<SimState>>,
    Path(node): Path<String>,
    Query(q): Query<TaskQuery>,
) -> Response {
    let (privileges, major) = sim.access().await;
    // Without `Sys.Audit` on the node a token sees only its own tasks.
    let everyones = privileges.holds_any(&format!("/nodes/{node}"), &["Sys.Audit"], major);
    let own = sim.credentials.token_id.clone();
    let c = sim.cluster.read().await;
    if let Err(e) = node_or_404(&c, &node) {
        return e;
    }
    let out: Vec<Value> = c
        .tasks
        .iter()
        .filter(|t| {
            t.node == node
                && (everyones || t.user == own)
                && q.vmid.is_none_or(|v| t.id == v.to_string())
                && (c.tasks_ignore_window
                    || (q.since.is_none_or(|s| t.starttime >= s)
                        && q.until.is_none_or(|u| t.starttime <= u)))
        })
        .skip(q.start.unwrap_or(0))
        .take(q.limit.unwrap_or(50))
        .map(task_row)
        .collect();
    let total = c.tasks.iter().filter(|t| t.node == node).count();
    Json(super::shapes::list_envelope(
        Value::Array(out),
        Some(("total", json!(total))),
        crate::model::Shape::TaskTotal,
        &c.shapes,
    ))
    .into_response()
}

/// `GET /cluster/replication` → `[{id, type, guest, jobnum, target, source, schedule}]`.
pub(super) async fn replication(State(sim): State<Arc<SimState>>) -> Response {
    let c = sim.cluster.read().await;
    let out: Vec<Value> = c
        .replications
        .iter()
        .map(|r| {
            json!({
                "id": format!("{}-{}", r.guest, r.jobnum), "type": "local", "guest": r.guest, "jobnum": r.jobnum,
                "target": r.target, "source": r.source, "schedule": r.schedule
            })
        })
        .collect();
    data(Value::Array(out))
}

/// `GET /cluster/backup` → `[{id, schedule, storage, all, vmid, pool, exclude, enabled, mode, prune-backups, …}]`.
pub(super) async fn backup_jobs(State(sim): State<Arc<SimState>>) -> Response {
    let c = sim.cluster.read().await;
    let out: Vec<Value> = c
        .backup_jobs
        .iter()
        .map(|j| {
            let mut v = json!({
                "id": j.id, "schedule": j.schedule, "storage": j.storage, "enabled": flag(j.enabled),
                "mode": j.mode, "next-run": j.next_run,
            });
            let mut set = |key: &str, value: &Option<String>| {
                if let Some(value) = value {
                    v[key] = json!(value);
                }
            };
            set("vmid", &j.vmid);
            set("pool", &j.pool);
            set("exclude", &j.exclude);
            set("compress", &j.compress);
            set("comment", &j.comment);
            set("notes-template", &j.notes_template);
            if j.all {
                v["all"] = flag(true);
            }
            if !j.prune.is_empty() {
                let prune: Map<String, Value> =
                    j.prune.iter().map(|(k, n)| (k.clone(), json!(n))).collect();
                v["prune-backups"] = Value::Object(prune);
            }
            v
        })
        .collect();
    data(Value::Array(out))
}

/// `GET /nodes/{node}/{qemu|lxc}/{vmid}/snapshot` → the snapshot chain plus the `current`
/// pseudo-entry ("You are here!"); `vmstate` for QEMU only.
pub(super) async fn guest_snapshots(
    State(sim): State<Arc<SimState>>,
    Path(p): Path<GuestPath>,
) -> Response {
    let g = match guest_or_error(&sim, &p.node, &p.kind, p.vmid).await {
        Ok(g) => g,
        Err(e) => return e,
    };
    let mut out: Vec<Value> = Vec::new();
    let mut parent: Option<String> = None;
    for s in &g.snapshots {
        let mut v = json!({"name": s.name, "description": s.description, "snaptime": s.snaptime});
        if g.kind == Kind::Qemu {
            v["vmstate"] = flag(s.vmstate);
        }
        if let Some(p) = &parent {
            v["parent"] = json!(p);
        }
        parent = Some(s.name.clone());
        out.push(v);
    }
    let mut current = json!({"name": "current", "description": "You are here!"});
    if let Some(p) = parent {
        current["parent"] = json!(p);
    }
    out.push(current);
    data(Value::Array(out))
}
