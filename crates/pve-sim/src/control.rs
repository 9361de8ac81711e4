//! The control API for tests (`/_sim/…`, no authentication: bind it to loopback):
//! add, remove, rename, start/stop and re-wire guests; inject and clear faults.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::faults::Fault;
use crate::model::{Kind, Nic, Shape};
use crate::SimState;

pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/_sim/cluster", get(summary))
        .route("/_sim/ca.pem", get(ca_pem))
        .route("/_sim/guests", get(list_guests).post(add_guest))
        .route(
            "/_sim/guests/{kind}/{vmid}",
            patch(change_guest).delete(remove_guest).get(one_guest),
        )
        .route("/_sim/history", get(history))
        .route("/_sim/sdn", get(sdn))
        .route("/_sim/nodes/{name}", patch(change_node))
        .route("/_sim/requests", get(request_count))
        .route("/_sim/shapes/{shape}", post(turn_on_shape))
        .route(
            "/_sim/permissions",
            get(permissions)
                .put(restrict_permissions)
                .delete(grant_everything),
        )
        .route("/_sim/backups", post(add_backup).delete(remove_backup))
        .route("/_sim/tasks", post(add_task))
        .route("/_sim/guests/{kind}/{vmid}/snapshots", post(add_snapshot))
        .route(
            "/_sim/guests/{kind}/{vmid}/snapshots/{name}",
            delete(remove_snapshot),
        )
        .route("/_sim/backup-jobs/{id}", delete(remove_backup_job))
        .route(
            "/_sim/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
}

fn bad(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": message.into()})),
    )
        .into_response()
}

async fn summary(State(sim): State<Arc<SimState>>) -> Response {
    let c = sim.cluster.read().await;
    // VMs and containers as Proxmox's summaries count them: templates apart.
    let count = |k: Kind| {
        c.guests
            .values()
            .filter(|g| g.kind == k && !g.template)
            .count()
    };
    Json(json!({
        "name": c.name, "version": c.version, "nodes": c.nodes.iter().map(|n| n.name.clone()).collect::<Vec<_>>(),
        "guests": c.guests.len(), "qemu": count(Kind::Qemu), "lxc": count(Kind::Lxc),
        "templates": c.guests.values().filter(|g| g.template).count(),
        "token_id": sim.credentials.token_id, "username": sim.credentials.username
    }))
    .into_response()
}

/// `POST /_sim/shapes/{shape}`: the cluster answers in that shape of real servers from now on.
async fn turn_on_shape(State(sim): State<Arc<SimState>>, Path(shape): Path<String>) -> Response {
    let Some(shape) = Shape::parse(&shape) else {
        return bad(format!(
            "no shape {shape:?}; the shapes are {:?}",
            Shape::ALL
        ));
    };
    sim.cluster.write().await.turn_on(shape);
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /_sim/permissions`: what `/access/permissions` answers the token.
async fn permissions(State(sim): State<Arc<SimState>>) -> Response {
    let (privileges, major) = sim.access().await;
    Json(privileges.answer(major)).into_response()
}

/// `PUT /_sim/permissions` `{"/": ["Sys.Audit", …], "/vms": […]}`: the token holds only
/// these, each on its path and below.
async fn restrict_permissions(
    State(sim): State<Arc<SimState>>,
    Json(acl): Json<BTreeMap<String, BTreeSet<String>>>,
) -> Response {
    if let Some(bad_path) = acl.keys().find(|p| !p.starts_with('/')) {
        return bad(format!("ACL paths start with '/', not {bad_path:?}"));
    }
    sim.restrict(acl);
    StatusCode::NO_CONTENT.into_response()
}

/// `DELETE /_sim/permissions`: the token holds every privilege again.
async fn grant_everything(State(sim): State<Arc<SimState>>) -> Response {
    *sim.privileges.write().unwrap_or_else(|p| p.into_inner()) = Default::default();
    StatusCode::NO_CONTENT.into_response()
}

async fn ca_pem(State(sim): State<Arc<SimState>>) -> String {
    sim.ca_pem.clone()
}

async fn list_guests(State(sim): State<Arc<SimState>>) -> Response {
    let c = sim.cluster.read().await;
    Json(c.guests.values().cloned().collect::<Vec<_>>()).into_response()
}

fn kind_of(raw: &str) -> Result<Kind, Response> {
    Kind::parse(raw).ok_or_else(|| bad(format!("kind must be qemu or lxc, not {raw:?}")))
}

/// The guest a `/_sim/guests/{kind}/{vmid}…` path names; a kind other than `qemu` or `lxc`
/// is refused with what to write instead.
struct GuestKey(Kind, u64);

impl<S: Send + Sync> FromRequestParts<S> for GuestKey {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        #[derive(Deserialize)]
        struct Params {
            kind: String,
            vmid: u64,
        }
        let Path(params) = Path::<Params>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(GuestKey(kind_of(&params.kind)?, params.vmid))
    }
}

async fn one_guest(State(sim): State<Arc<SimState>>, GuestKey(kind, vmid): GuestKey) -> Response {
    match sim.cluster.read().await.guests.get(&(kind, vmid)) {
        Some(g) => Json(g).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(Deserialize)]
struct NewGuest {
    kind: Kind,
    name: String,
    vmid: Option<u64>,
    node: Option<String>,
    /// The user who made it: the change is then recorded as Proxmox records it, as a
    /// `qmcreate` / `vzcreate` task of that user (without, no task: seeds keep theirs).
    by: Option<String>,
    /// Made as a clone of this VMID: the task is then a `qmclone` / `vzclone`, which
    /// Proxmox files under the source's VMID.
    clone_of: Option<u64>,
    /// Restored from a backup: a `qmrestore` / `vzrestore` task.
    #[serde(default)]
    restored: bool,
}

/// The task type of a guest change of `kind`, as Proxmox names it: `qm…` for QEMU
/// (`qmigrate` with one `m`), `vz…` for LXC.
fn task_type(kind: Kind, action: &str) -> String {
    match (kind, action) {
        (Kind::Qemu, "migrate") => "qmigrate".into(),
        (Kind::Qemu, _) => format!("qm{action}"),
        (Kind::Lxc, _) => format!("vz{action}"),
    }
}

async fn add_guest(State(sim): State<Arc<SimState>>, Json(new): Json<NewGuest>) -> Response {
    let mut c = sim.cluster.write().await;
    match c.add_guest(new.kind, new.name, new.vmid, new.node) {
        Ok(g) => {
            if let Some(user) = &new.by {
                let (action, id) = match (new.clone_of, new.restored) {
                    (Some(source), _) => ("clone", source),
                    (None, true) => ("restore", g.vmid),
                    (None, false) => ("create", g.vmid),
                };
                let kind = task_type(g.kind, action);
                c.add_task_by(&g.node, &kind, &id.to_string(), "OK", user);
            }
            (StatusCode::CREATED, Json(g)).into_response()
        }
        Err(e) => bad(e),
    }
}

/// Fields to change; absent fields stay as they are.
#[derive(Deserialize)]
struct GuestPatch {
    name: Option<String>,
    running: Option<bool>,
    node: Option<String>,
    cores: Option<u64>,
    memory_mib: Option<u64>,
    description: Option<String>,
    nics: Option<Vec<Nic>>,
    agent_ips: Option<Vec<Vec<String>>>,
    tags: Option<Vec<String>>,
    /// The user who made the change: a move to another node is then a `qmigrate` /
    /// `vzmigrate` task, a start or stop a `qmstart` / `qmstop` (`vz…`) task of that user,
    /// on the node it ran on. Config edits make none (Proxmox's config `PUT` runs no task).
    by: Option<String>,
}

async fn change_guest(
    State(sim): State<Arc<SimState>>,
    GuestKey(kind, vmid): GuestKey,
    Json(p): Json<GuestPatch>,
) -> Response {
    let mut c = sim.cluster.write().await;
    if let Some(node) = &p.node {
        if c.node(node).is_none() {
            return bad(format!("no node {node:?}"));
        }
    }
    let Some(g) = c.guests.get_mut(&(kind, vmid)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut tasks = Vec::new();
    if p.node.as_ref().is_some_and(|n| *n != g.node) {
        tasks.push((g.node.clone(), task_type(kind, "migrate")));
    }
    if let Some(running) = p.running.filter(|r| *r != g.running) {
        let node = p.node.clone().unwrap_or_else(|| g.node.clone());
        tasks.push((
            node,
            task_type(kind, if running { "start" } else { "stop" }),
        ));
    }
    if let Some(v) = p.name {
        g.name = v;
    }
    if let Some(v) = p.running {
        g.running = v;
    }
    if let Some(v) = p.node {
        g.node = v;
    }
    if let Some(v) = p.cores {
        g.cores = v;
    }
    if let Some(v) = p.memory_mib {
        g.memory_mib = v;
    }
    if let Some(v) = p.description {
        g.description = v;
    }
    if let Some(v) = p.nics {
        g.nics = v;
    }
    if let Some(v) = p.agent_ips {
        g.agent_ips = v;
    }
    if let Some(v) = p.tags {
        g.tags = v;
    }
    let changed = g.clone();
    if let Some(user) = &p.by {
        for (node, kind) in tasks {
            c.add_task_by(&node, &kind, &vmid.to_string(), "OK", user);
        }
    }
    Json(changed).into_response()
}

#[derive(Deserialize)]
struct RemovedBy {
    /// The user who destroyed it: a `qmdestroy` / `vzdestroy` task of that user.
    by: Option<String>,
}

async fn remove_guest(
    State(sim): State<Arc<SimState>>,
    GuestKey(kind, vmid): GuestKey,
    Query(removed): Query<RemovedBy>,
) -> Response {
    let mut c = sim.cluster.write().await;
    match c.guests.remove(&(kind, vmid)) {
        Some(g) => {
            if let Some(user) = &removed.by {
                c.add_task_by(
                    &g.node,
                    &task_type(kind, "destroy"),
                    &vmid.to_string(),
                    "OK",
                    user,
                );
            }
            StatusCode::NO_CONTENT.into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn list_faults(State(sim): State<Arc<SimState>>) -> Response {
    Json(sim.faults.lock().await.clone()).into_response()
}

async fn add_fault(State(sim): State<Arc<SimState>>, Json(fault): Json<Fault>) -> Response {
    sim.faults.lock().await.push(fault);
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_faults(State(sim): State<Arc<SimState>>) -> Response {
    sim.faults.lock().await.clear();
    StatusCode::NO_CONTENT.into_response()
}

/// What the cluster keeps besides its guests, as the simulator holds it: what a sync of the
/// inventory must end up with.
/// `GET /_sim/sdn`: the cluster's SDN zones, VNets and subnets and its HA resources, for
/// harnesses in another process to check against.
async fn sdn(State(sim): State<Arc<SimState>>) -> Response {
    let c = sim.cluster.read().await;
    Json(json!({"sdn": c.sdn, "ha": c.ha})).into_response()
}

async fn history(State(sim): State<Arc<SimState>>) -> Response {
    Json(sim.cluster.read().await.history()).into_response()
}

#[derive(Deserialize)]
struct NewBackup {
    kind: Kind,
    vmid: u64,
    storage: String,
    /// Who ran the backup (its `vzdump` task's user; `root@pam` without).
    by: Option<String>,
}

async fn add_backup(State(sim): State<Arc<SimState>>, Json(new): Json<NewBackup>) -> Response {
    match sim
        .cluster
        .write()
        .await
        .add_backup(new.kind, new.vmid, &new.storage, new.by.as_deref())
    {
        Ok(b) => (StatusCode::CREATED, Json(b)).into_response(),
        Err(e) => bad(e),
    }
}

#[derive(Deserialize)]
struct VolumeQuery {
    volid: String,
}

async fn remove_backup(
    State(sim): State<Arc<SimState>>,
    axum::extract::Query(q): axum::extract::Query<VolumeQuery>,
) -> Response {
    let mut c = sim.cluster.write().await;
    let before = c.backups.len();
    c.backups.retain(|b| b.volid != q.volid);
    if c.backups.len() == before {
        return StatusCode::NOT_FOUND.into_response();
    }
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct NewTask {
    node: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    id: String,
    #[serde(default = "ok")]
    status: String,
}

fn ok() -> String {
    "OK".into()
}

async fn add_task(State(sim): State<Arc<SimState>>, Json(new): Json<NewTask>) -> Response {
    let mut c = sim.cluster.write().await;
    if c.node(&new.node).is_none() {
        return bad(format!("no node {:?}", new.node));
    }
    let task = c.add_task(&new.node, &new.kind, &new.id, &new.status);
    (StatusCode::CREATED, Json(task)).into_response()
}

#[derive(Deserialize)]
struct NewSnapshot {
    name: String,
    #[serde(default)]
    description: String,
    /// Who took it: a `qmsnapshot` / `vzsnapshot` task of that user.
    by: Option<String>,
}

async fn add_snapshot(
    State(sim): State<Arc<SimState>>,
    GuestKey(kind, vmid): GuestKey,
    Json(new): Json<NewSnapshot>,
) -> Response {
    let mut c = sim.cluster.write().await;
    let Some(g) = c.guests.get_mut(&(kind, vmid)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if g.snapshots.iter().any(|s| s.name == new.name) {
        return bad(format!("snapshot {:?} exists", new.name));
    }
    let snapshot = crate::model::SnapshotSpec {
        name: new.name,
        description: new.description,
        snaptime: crate::model::unix_now(),
        vmstate: false,
    };
    g.snapshots.push(snapshot.clone());
    let node = g.node.clone();
    let user = new.by.as_deref().unwrap_or("root@pam");
    c.add_task_by(
        &node,
        &task_type(kind, "snapshot"),
        &vmid.to_string(),
        "OK",
        user,
    );
    (StatusCode::CREATED, Json(snapshot)).into_response()
}

async fn remove_snapshot(
    State(sim): State<Arc<SimState>>,
    GuestKey(kind, vmid): GuestKey,
    Path((_, _, name)): Path<(String, u64, String)>,
    Query(removed): Query<RemovedBy>,
) -> Response {
    let mut c = sim.cluster.write().await;
    let Some(g) = c.guests.get_mut(&(kind, vmid)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let before = g.snapshots.len();
    g.snapshots.retain(|s| s.name != name);
    if g.snapshots.len() == before {
        return StatusCode::NOT_FOUND.into_response();
    }
    let node = g.node.clone();
    if let Some(user) = &removed.by {
        c.add_task_by(
            &node,
            &task_type(kind, "delsnapshot"),
            &vmid.to_string(),
            "OK",
            user,
        );
    }
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct NodePatch {
    online: bool,
}

/// A node going offline or coming back, as `/cluster/resources` and `/cluster/status`
/// then show it.
async fn change_node(
    State(sim): State<Arc<SimState>>,
    Path(name): Path<String>,
    Json(p): Json<NodePatch>,
) -> Response {
    let mut c = sim.cluster.write().await;
    let Some(node) = c.nodes.iter_mut().find(|n| n.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    node.online = p.online;
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct Since {
    #[serde(default)]
    since: usize,
}

/// The API requests the simulator answered (control requests aside), for a harness in
/// another process: `{"count": N, "lines": ["GET /cluster/resources", …]}` with the lines
/// from the `since`-th on.
async fn request_count(State(sim): State<Arc<SimState>>, Query(q): Query<Since>) -> Response {
    let requests = sim
        .requests
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let lines = requests.get(q.since..).unwrap_or_default();
    Json(json!({ "count": requests.len(), "lines": lines })).into_response()
}

async fn remove_backup_job(State(sim): State<Arc<SimState>>, Path(id): Path<String>) -> Response {
    let mut c = sim.cluster.write().await;
    let before = c.backup_jobs.len();
    c.backup_jobs.retain(|j| j.id != id);
    if c.backup_jobs.len() == before {
        return StatusCode::NOT_FOUND.into_response();
    }
    StatusCode::NO_CONTENT.into_response()
}
