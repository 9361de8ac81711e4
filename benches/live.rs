//! Live: the real binary following a simulated cluster of 1,000 guests with its watcher
//! (the default 5 s), into the real NetBox. It measures, each against its target:
//! - the server's peak memory (`VmHWM`) during the first full update of all twelve stages
//!   (nothing else running: no clients);
//! - the Proxmox requests of an idle minute (nothing changing): the watcher's two per look;
//! - the time from a change made in the simulator (as Proxmox makes it, with its task) to
//!   the change visible in NetBox — or, for a snapshot, which NetBox does not keep, in
//!   Proxbox's VM panel — over 100 changes: ten of each kind (rename, move, stop or start,
//!   resize, retag, create, clone, destroy, backup, snapshot) on random guests, one after
//!   the other, p50 and p95.
//!
//! `make bench` runs it against `scripts/netbox-up`'s NetBox; `BENCH_VMS` and
//! `BENCH_CHANGES` scale it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use proxbox_netbox::models::{Device, JournalEntry, VirtualMachine};
use proxbox_netbox::{NetboxClient, NetboxOptions};
use serde_json::{json, Value};

#[path = "common/peers.rs"]
mod peers;
use peers::netbox_env;

#[path = "common/server.rs"]
mod server;
use server::BenchServer;

#[path = "../tests/common/netbox_cleanup.rs"]
mod netbox_cleanup;

#[path = "../tests/common/sim_control.rs"]
mod sim_control;
use sim_control::SimControl;

#[path = "common/targets.rs"]
mod targets;
use targets::Targets;

/// The watcher's interval (the default).
const WATCH_SECS: u64 = 5;

fn env_number(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The kinds of change, in the order the bench cycles through them.
const KINDS: [&str; 10] = [
    "rename", "move", "power", "resize", "retag", "create", "clone", "destroy", "backup",
    "snapshot",
];

/// A small deterministic generator (xorshift), so that two runs make the same changes.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

struct Bench {
    http: reqwest::Client,
    sim: SimControl,
    netbox: NetboxClient,
    server_base: String,
    key: String,
    cluster_id: u64,
    /// NetBox VM id of each QEMU guest, by VMID.
    vms: HashMap<u64, u64>,
    /// NetBox device id of each node, by name.
    devices: HashMap<String, u64>,
}

impl Bench {
    async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.sim.call(method, path, body).await
    }

    async fn vm(&self, id: u64) -> Option<VirtualMachine> {
        let answer = self
            .netbox
            .request(
                reqwest::Method::GET,
                &format!("virtualization/virtual-machines/{id}/"),
                &[],
                None,
            )
            .await
            .ok()?;
        serde_json::from_value(answer).ok()
    }

    async fn vm_named(&self, name: &str) -> Option<VirtualMachine> {
        let found: Vec<VirtualMachine> = self
            .netbox
            .list(&[
                ("cluster_id", self.cluster_id.to_string()),
                ("name", name.to_string()),
            ])
            .await
            .ok()?;
        found.into_iter().next()
    }

    async fn has_journal(&self, vm: u64, volid: &str) -> bool {
        let entries: Vec<JournalEntry> = self
            .netbox
            .list(&[
                (
                    "assigned_object_type",
                    "virtualization.virtualmachine".to_string(),
                ),
                ("assigned_object_id", vm.to_string()),
            ])
            .await
            .unwrap_or_default();
        entries.iter().any(|e| e.comments.contains(volid))
    }

    async fn panel_has(&self, vm: u64, text: &str) -> bool {
        let answer = self
            .http
            .get(format!("{}/api/guest_panel?id={vm}", self.server_base))
            .header("x-proxbox-api-key", &self.key)
            .send()
            .await;
        match answer {
            Ok(a) => a.text().await.is_ok_and(|t| t.contains(text)),
            Err(_) => false,
        }
    }
}

/// What to wait for after a change.
enum Visible {
    Name(u64, String),
    Device(u64, u64),
    Status(u64, &'static str),
    Vcpus(u64, u64),
    Tag(u64, String),
    Exists(String),
    Gone(u64),
    Journal(u64, String),
    Snapshot(u64, String),
}

impl Visible {
    async fn holds(&self, b: &Bench) -> bool {
        match self {
            Visible::Name(vm, name) => b.vm(*vm).await.is_some_and(|v| &v.name == name),
            Visible::Device(vm, device) => b
                .vm(*vm)
                .await
                .is_some_and(|v| v.device.map(|d| d.id) == Some(*device)),
            Visible::Status(vm, status) => {
                b.vm(*vm).await.is_some_and(|v| v.status.value == *status)
            }
            Visible::Vcpus(vm, n) => b
                .vm(*vm)
                .await
                .is_some_and(|v| v.vcpus.map(|c| c.round() as u64) == Some(*n)),
            Visible::Tag(vm, tag) => b
                .vm(*vm)
                .await
                .is_some_and(|v| v.tags.iter().any(|t| t.name.as_deref() == Some(tag))),
            Visible::Exists(name) => b.vm_named(name).await.is_some(),
            Visible::Gone(vm) => b.vm(*vm).await.is_none(),
            Visible::Journal(vm, volid) => b.has_journal(*vm, volid).await,
            Visible::Snapshot(vm, name) => b.panel_has(*vm, name).await,
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let guests = env_number("BENCH_VMS", 1000);
    let changes = env_number("BENCH_CHANGES", 100);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 0xfffff;
    let name = format!("blive{stamp:x}");
    let sim = pve_sim::start(pve_sim::SimOptions::local(pve_sim::ClusterSpec {
        seed: 142,
        name: name.clone(),
        index: 142,
        nodes: 3,
        guests,
        history: pve_sim::model::HistorySpec {
            backups: Some(3),
            snapshots: Some(2),
            tasks: Some(20),
            now: None,
        },
    }))
    .await
    .unwrap();
    let server = BenchServer::start(
        &sim,
        &name,
        &[
            ("PROXBOX_WATCH_SECS", &WATCH_SECS.to_string()),
            // A destroyed guest's VM is deleted at once: its removal is then visible.
            ("PROXBOX_DELETE_ORPHANS", "true"),
            ("PROXBOX_ORPHAN_GRACE_HOURS", "0"),
        ],
    )
    .await;

    // The first full update, alone: the server's peak memory.
    let (idle_rss, _) = server.rss_mb();
    let began = Instant::now();
    let job = server.start_full_update().await;
    let (status, sampled) = server.wait_for_job(job).await;
    let full_secs = began.elapsed().as_secs_f64();
    let peak = server.rss_mb().1.max(sampled);

    let mut options = NetboxOptions::new(netbox_env("NETBOX_URL"), netbox_env("NETBOX_TOKEN"));
    options.timeout = Duration::from_secs(900);
    let netbox = NetboxClient::new(options).unwrap();
    let cluster: Vec<proxbox_netbox::models::Cluster> =
        netbox.list(&[("name", name.clone())]).await.unwrap();
    let cluster_id = cluster.first().expect("the cluster in NetBox").id;
    let listed: Vec<VirtualMachine> = netbox
        .list(&[("cluster_id", cluster_id.to_string())])
        .await
        .unwrap();
    let vms: HashMap<u64, u64> = listed
        .iter()
        .filter_map(|v| {
            let identity = v.custom_fields.get("proxbox_identity")?.as_str()?;
            let vmid = identity.rsplit_once("/qemu/")?.1.parse().ok()?;
            Some((vmid, v.id))
        })
        .collect();
    let devices: Vec<Device> = netbox
        .list(&[("cluster_id", cluster_id.to_string())])
        .await
        .unwrap();
    let devices: HashMap<String, u64> = devices
        .iter()
        .filter_map(|d| Some((d.name.clone()?, d.id)))
        .collect();
    let mut b = Bench {
        http: reqwest::Client::new(),
        sim: SimControl::new(sim.http_url.as_deref().unwrap()),
        netbox,
        server_base: server.base.clone(),
        key: server.key.clone(),
        cluster_id,
        vms,
        devices,
    };

    // An idle minute: what the watcher asks Proxmox with nothing changing.
    sim.take_requests();
    let idle = Duration::from_secs(60);
    tokio::time::sleep(idle).await;
    let asked = sim.take_requests();
    let watched_paths = asked
        .iter()
        .filter(|r| r.starts_with("GET /cluster/resources") || r.starts_with("GET /cluster/tasks"))
        .count();
    let looks = idle.as_secs() / WATCH_SECS + 1;

    // The changes, one after the other.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut latencies: HashMap<&str, Vec<f64>> = HashMap::new();
    let mut missed = Vec::new();
    let mut made: Vec<u64> = Vec::new();
    for i in 0..changes {
        let kind = KINDS[i % KINDS.len()];
        let (vmid, node, running, sockets) = {
            let c = sim.state.cluster.read().await;
            let candidates: Vec<&pve_sim::model::Guest> = c
                .guests
                .values()
                .filter(|g| {
                    g.kind == pve_sim::Kind::Qemu && !g.template && b.vms.contains_key(&g.vmid)
                })
                .collect();
            let g = candidates[rng.below(candidates.len())];
            (g.vmid, g.node.clone(), g.running, g.sockets)
        };
        let vm = b.vms[&vmid];
        let path = format!("/_sim/guests/qemu/{vmid}");
        let by = "bench@pve";
        use reqwest::Method;
        let sent = Instant::now();
        let visible = match kind {
            "rename" => {
                let new = format!("live-{i}-renamed");
                b.control(Method::PATCH, &path, Some(json!({"name": new})))
                    .await;
                Visible::Name(vm, new)
            }
            "move" => {
                let to = b
                    .devices
                    .keys()
                    .filter(|n| **n != node)
                    .nth(rng.below(2))
                    .unwrap()
                    .clone();
                b.control(Method::PATCH, &path, Some(json!({"node": to, "by": by})))
                    .await;
                Visible::Device(vm, b.devices[&to])
            }
            "power" => {
                b.control(
                    Method::PATCH,
                    &path,
                    Some(json!({"running": !running, "by": by})),
                )
                .await;
                Visible::Status(vm, if running { "offline" } else { "active" })
            }
            "resize" => {
                let cores = 1 + rng.below(15) as u64;
                b.control(Method::PATCH, &path, Some(json!({"cores": cores})))
                    .await;
                Visible::Vcpus(vm, cores * sockets)
            }
            "retag" => {
                let tag = format!("live-{i}");
                b.control(Method::PATCH, &path, Some(json!({"tags": [tag]})))
                    .await;
                Visible::Tag(vm, tag)
            }
            "create" | "clone" => {
                let new = format!("live-{i}-{kind}");
                let mut body = json!({"kind": "qemu", "name": new, "node": node, "by": by});
                if kind == "clone" {
                    body["clone_of"] = json!(vmid);
                }
                let guest = b.control(Method::POST, "/_sim/guests", Some(body)).await;
                made.push(guest["vmid"].as_u64().unwrap());
                Visible::Exists(new)
            }
            "destroy" => {
                b.control(Method::DELETE, &format!("{path}?by={by}"), None)
                    .await;
                b.vms.remove(&vmid);
                Visible::Gone(vm)
            }
            "backup" => {
                let backup = b
                    .control(
                        Method::POST,
                        "/_sim/backups",
                        Some(json!({"kind": "qemu", "vmid": vmid, "storage": "backup-nfs", "by": by})),
                    )
                    .await;
                Visible::Journal(vm, backup["volid"].as_str().unwrap().to_string())
            }
            _ => {
                let snapshot = format!("live-{i}");
                b.control(
                    Method::POST,
                    &format!("{path}/snapshots"),
                    Some(json!({"name": snapshot, "by": by})),
                )
                .await;
                Visible::Snapshot(vm, snapshot)
            }
        };
        let deadline = sent + Duration::from_secs(120);
        loop {
            if visible.holds(&b).await {
                latencies
                    .entry(kind)
                    .or_default()
                    .push(sent.elapsed().as_secs_f64());
                break;
            }
            if Instant::now() > deadline {
                missed.push(format!("change {i} ({kind} of {vmid})"));
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    let mut all: Vec<f64> = latencies.values().flatten().copied().collect();
    all.sort_by(f64::total_cmp);
    println!("| Live: 3 nodes, {guests} guests, watcher every {WATCH_SECS} s | value |");
    println!("|---|---|");
    println!("| first full update (all twelve stages) | {status} in {full_secs:.1} s |");
    println!("| server RSS idle / peak during it | {idle_rss:.0} MB / {peak:.0} MB (target under 100 MB) |");
    println!(
        "| Proxmox requests in an idle minute | {} ({watched_paths} of them the watcher's `/cluster/resources` and `/cluster/tasks`; target at most 2 × {looks} looks) |",
        asked.len()
    );
    for kind in KINDS {
        let mut seen = latencies.get(kind).cloned().unwrap_or_default();
        seen.sort_by(f64::total_cmp);
        println!(
            "| change → NetBox, {kind} ({} changes) p50 / p95 | {:.1} s / {:.1} s |",
            seen.len(),
            percentile(&seen, 0.5),
            percentile(&seen, 0.95)
        );
    }
    println!(
        "| change → NetBox, all {} changes, p50 / p95 / max | {:.1} s / {:.1} s / {:.1} s (target p95 under 10 s) |",
        all.len(),
        percentile(&all, 0.5),
        percentile(&all, 0.95),
        all.last().copied().unwrap_or(f64::NAN)
    );
    for m in &missed {
        println!("\nNot visible within 120 s: {m}");
    }
    netbox_cleanup::cleanup(&b.netbox, &name).await;
    sim.stop().await;
    let mut targets = Targets::default();
    targets.holds("the first full update", status == "completed", &status);
    targets.under("server peak RSS during the full update", peak, 100.0, "MB");
    targets.at_most(
        "Proxmox requests in an idle minute",
        asked.len() as f64,
        (2 * looks) as f64,
        "requests",
    );
    targets.under("change → NetBox p95", percentile(&all, 0.95), 10.0, "s");
    targets.equal("changes never visible", missed.len() as u64, 0);
    targets.finish("live");
}
