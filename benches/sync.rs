//! The sync engine against the real NetBox: 3 nodes and 1,000 guests (2 NICs, 2 disks,
//! 2 IPs, 3 backups, 2 snapshots and 20 tasks each). One cluster's first sync runs only the
//! six NetBox stages, a second cluster's the whole full update (all twelve stages); then
//! the full update again with nothing changed, in seconds and NetBox requests. Compare the
//! NetBox stages with the NetBox floor (`crates/netbox/benches/floor.rs`), which writes the
//! same objects in the fewest requests.
//!
//! `make bench` runs it against `scripts/netbox-up`'s NetBox; `BENCH_VMS` scales it.

use std::time::Instant;

use proxbox::events::{ItemStatus, SyncEvent};
use proxbox::models::{ProxmoxCredentials, ProxmoxEndpointInput};
use proxbox::server::infra::crypto::SecretBox;
use proxbox::server::infra::db::Db;
use proxbox::server::sync::context::{ClusterSource, RunOptions, SyncContext};
use proxbox::server::sync::run::run_sync;
use proxbox::server::sync::sink::{CollectSink, EventSink};
use proxbox::server::sync::stage::Stage;
use proxbox_netbox::{NetboxClient, NetboxOptions};
use proxbox_pve::{Credentials, PveClient, PveOptions};

/// Every guest gets exactly 2 NICs, 2 disks and 2 IPv4 addresses (LXC: static `ip=`;
/// QEMU: running with the agent reporting them), so that the object counts are those of
/// the floor. Each lab's addresses are its own (`lab` picks their range), so that two
/// clusters in one NetBox never claim the same address.
async fn shape(sim: &pve_sim::RunningSim, lab: usize) {
    let mut c = sim.state.cluster.write().await;
    for (i, g) in c.guests.values_mut().enumerate() {
        g.nics.truncate(2);
        while g.nics.len() < 2 {
            let mut nic = g.nics[0].clone();
            nic.mac = format!(
                "BC:25:00:{:02X}:{:02X}:{:02X}",
                (i >> 8) & 0xff,
                i & 0xff,
                g.nics.len()
            );
            g.nics.push(nic);
        }
        let addresses: Vec<String> = (0..2)
            .map(|n| format!("10.{}.{}.{}/16", 230 + 2 * lab + n, i / 250, i % 250 + 1))
            .collect();
        for (nic, address) in g.nics.iter_mut().zip(&addresses) {
            nic.ip = None;
            nic.ip6 = None;
            if g.kind == pve_sim::Kind::Lxc {
                nic.ip = Some(address.clone());
            }
        }
        if g.kind == pve_sim::Kind::Qemu {
            g.running = true;
            g.agent = true;
            g.agent_ips = addresses.iter().map(|a| vec![a.clone()]).collect();
        }
        g.disks.truncate(2);
        while g.disks.len() < 2 {
            let mut disk = g.disks[0].clone();
            disk.key = match g.kind {
                pve_sim::Kind::Qemu => "scsi1".into(),
                pve_sim::Kind::Lxc => "mp0".into(),
            };
            g.disks.push(disk);
        }
    }
    // Every fifth guest's first NIC on an SDN VNet, for the networks stage.
    c.turn_on(pve_sim::Shape::VnetGuests);
}

/// Keeps every event with when it came, for the longest stretch of a run without one.
#[derive(Default)]
struct TimedSink {
    events: CollectSink,
    times: std::sync::Mutex<Vec<(Instant, String)>>,
}

impl EventSink for TimedSink {
    fn emit(&self, event: SyncEvent) {
        let what = match &event {
            SyncEvent::Substep(s) => format!("{} substep {}", s.phase, s.message),
            SyncEvent::ItemProgress(p) => format!("{} item {}", p.phase, p.name),
            SyncEvent::Step(s) => format!("{} step {:?}", s.step, s.status),
            other => other.name().to_string(),
        };
        self.times.lock().unwrap().push((Instant::now(), what));
        self.events.emit(event);
    }
}

impl TimedSink {
    /// The longest time between two events (or the start and the first event), with the
    /// event that ended it.
    fn longest_silence(&self, started: Instant) -> (f64, String) {
        let times = self.times.lock().unwrap();
        let mut last = started;
        let mut longest = (0.0, String::new());
        for (at, what) in times.iter() {
            let gap = at.duration_since(last).as_secs_f64();
            if gap > longest.0 {
                longest = (gap, what.clone());
            }
            last = *at;
        }
        longest
    }
}

/// Resets this process's peak resident set size (Linux), so that the next reading is the
/// peak of what ran in between.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// This process's peak resident set size since the last reset, in MB (Linux `VmHWM`).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

#[path = "common/peers.rs"]
mod peers;
use peers::netbox_env;

#[path = "../tests/common/netbox_cleanup.rs"]
mod netbox_cleanup;
use netbox_cleanup::cleanup;

#[path = "common/targets.rs"]
mod targets;
use targets::Targets;

/// One simulated cluster with its own Proxbox database.
struct Lab {
    sim: pve_sim::RunningSim,
    name: String,
    db: Db,
    _dir: tempfile::TempDir,
    endpoint_id: i64,
    pve: PveClient,
}

impl Lab {
    async fn start(name: String, lab: usize, guests: usize) -> Lab {
        let sim = pve_sim::start(pve_sim::SimOptions::local(pve_sim::ClusterSpec {
            seed: 1,
            name: name.clone(),
            // Its own node addresses too: two clusters in one NetBox.
            index: lab as u8 + 1,
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
        shape(&sim, lab).await;
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!(
            "sqlite://{}",
            dir.path().join("bench.db").display()
        ))
        .await
        .unwrap();
        let secrets = SecretBox::from_key_text(&"ab".repeat(32)).unwrap();
        let endpoint_id = db
            .insert_proxmox_endpoint(
                &ProxmoxEndpointInput {
                    name: "bench".into(),
                    url: sim.http_url.clone().unwrap(),
                    credentials: ProxmoxCredentials::Token {
                        token_id: "root@pam!proxbox".into(),
                        secret: Some("unused".into()),
                    },
                    verify_tls: true,
                    ca_pem: None,
                    timeout_secs: 30,
                    enabled: true,
                    watch: true,
                },
                &secrets,
            )
            .await
            .unwrap();
        let c = sim.credentials();
        let pve = PveClient::new(PveOptions::new(
            sim.http_url.clone().unwrap(),
            Credentials::token(&c.token_id, Some(&c.token_secret)),
        ))
        .unwrap();
        Lab {
            sim,
            name,
            db,
            _dir: dir,
            endpoint_id,
            pve,
        }
    }
}

/// What one measured run did.
struct Measured {
    secs: f64,
    /// Seconds of each stage, by name.
    stage_secs: std::collections::HashMap<String, f64>,
    writes: u64,
    /// Proxbox's own rows written (inventory records), from the stages' items.
    records: usize,
}

/// Runs `stages` once on `lab` and prints its row of the table.
async fn measure(
    lab: &Lab,
    netbox: &NetboxClient,
    label: &str,
    stages: &[Stage],
    options: RunOptions,
    timings: &mut Vec<String>,
) -> Measured {
    let sink = TimedSink::default();
    let mut ctx = SyncContext::new(
        &lab.db,
        netbox,
        vec![ClusterSource {
            endpoint_id: lab.endpoint_id,
            endpoint_name: "bench".into(),
            pve: lab.pve.clone(),
        }],
        &sink,
    );
    ctx.options = options;
    let (reads, writes) = netbox.request_counts();
    reset_peak_rss();
    let started = Instant::now();
    let outcome = run_sync(&ctx, stages, "bench").await;
    let secs = started.elapsed().as_secs_f64();
    let peak = peak_rss_mb();
    assert!(outcome.ok, "{:?}", outcome.error);
    let (silence, ended_by) = sink.longest_silence(started);
    let events = sink.events.events();
    let changed = |p: &proxbox::events::ItemProgress| {
        matches!(
            p.status,
            ItemStatus::Created | ItemStatus::Updated | ItemStatus::Deleted
        )
    };
    let is_inventory = |phase: &str| INVENTORY_STAGES.iter().any(|s| s.name() == phase);
    let written = events
        .iter()
        .filter(|e| matches!(e, SyncEvent::ItemProgress(p) if changed(p) && (!is_inventory(&p.phase) || p.kind == "journal-entry")))
        .count();
    let records = events
        .iter()
        .filter(|e| matches!(e, SyncEvent::ItemProgress(p) if changed(p) && is_inventory(&p.phase) && p.kind != "journal-entry"))
        .count();

    // Where the time went, per stage, for the lines under the table.
    let stages: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            SyncEvent::PhaseSummary(p) => Some(format!(
                "{} {:.1} s",
                p.phase,
                p.timing.elapsed_ms as f64 / 1000.0
            )),
            _ => None,
        })
        .collect();
    let stage_secs = events
        .iter()
        .filter_map(|e| match e {
            SyncEvent::PhaseSummary(p) => {
                Some((p.phase.clone(), p.timing.elapsed_ms as f64 / 1000.0))
            }
            _ => None,
        })
        .collect();
    let netbox_reads = proxbox::server::sync::run::netbox_reads(&events).unwrap_or_default();
    timings.push(format!(
        "{label}: {} (NetBox: {netbox_reads})",
        stages.join(", ")
    ));
    let (reads_after, writes_after) = netbox.request_counts();
    println!(
        "| {label} | {secs:.1} | {} | {} | {written} | {records} | {} | {silence:.1} s (until: {ended_by}) | {peak:.0} MB |",
        reads_after - reads,
        writes_after - writes,
        if written == 0 {
            "–".to_string()
        } else {
            format!("{:.1}", secs * 1000.0 / written as f64)
        }
    );
    let failed: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            SyncEvent::ItemProgress(p) if p.status == ItemStatus::Failed => {
                Some(format!("{} {}", p.phase, p.name))
            }
            _ => None,
        })
        .collect();
    assert!(
        failed.is_empty(),
        "no object may fail in the benchmark: {failed:?}"
    );
    Measured {
        secs,
        stage_secs,
        writes: writes_after - writes,
        records,
    }
}

/// The stages that keep Proxmox's inventory in Proxbox's database.
const INVENTORY_STAGES: [Stage; 6] = [
    Stage::Storage,
    Stage::TaskHistory,
    Stage::Backups,
    Stage::Snapshots,
    Stage::Replications,
    Stage::BackupRoutines,
];

/// The stages that write NetBox objects.
const NETBOX_STAGES: [Stage; 6] = [
    Stage::Devices,
    Stage::VirtualMachines,
    Stage::VirtualDisks,
    Stage::NodeInterfaces,
    Stage::VmInterfaces,
    Stage::VmIpAddresses,
];

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let guests: usize = std::env::var("BENCH_VMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 0xfffff;
    let mut options = NetboxOptions::new(netbox_env("NETBOX_URL"), netbox_env("NETBOX_TOKEN"));
    options.timeout = std::time::Duration::from_secs(900);
    let netbox = NetboxClient::new(options).unwrap();
    let netbox_only = Lab::start(format!("bsync{stamp:x}"), 0, guests).await;
    let full = Lab::start(format!("bfull{stamp:x}"), 1, guests).await;

    println!("| Sync engine: 3 nodes, {guests} guests × (2 NICs, 2 disks, 2 IPs; 3 backups, 2 snapshots, 20 tasks) | seconds | read requests | write requests | NetBox objects written | Proxbox records written | ms per NetBox object | longest stretch without an event | peak RSS |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut timings = Vec::new();
    let base = measure(
        &netbox_only,
        &netbox,
        "first sync, the six NetBox stages (empty NetBox)",
        &NETBOX_STAGES,
        RunOptions::default(),
        &mut timings,
    )
    .await;
    let first = measure(
        &full,
        &netbox,
        "first sync, full update: all thirteen stages (another cluster, empty NetBox)",
        &[],
        RunOptions::default(),
        &mut timings,
    )
    .await;
    let resync = measure(
        &full,
        &netbox,
        "full update again, nothing changed",
        &[],
        RunOptions::default(),
        &mut timings,
    )
    .await;
    let full_reads = RunOptions {
        mirror_max_age: None,
        ..RunOptions::default()
    };
    measure(
        &full,
        &netbox,
        "full update again, nothing changed, full reads (`PROXBOX_NETBOX_MIRROR_HOURS=0`)",
        &[],
        full_reads,
        &mut timings,
    )
    .await;
    // The networks stage's share, and the twelve stages of the system Proxbox replaces
    // without it, both from the one full update.
    let networks = first
        .stage_secs
        .get("networks")
        .copied()
        .unwrap_or_default();
    let twelve = first.secs - networks;
    println!();
    println!(
        "The networks stage's first sync adds **{:.1} s** to the other twelve stages' {twelve:.1} s: **{:.3}** (target at most 0.10).",
        networks,
        networks / twelve
    );
    println!(
        "Full update's first sync (its twelve stages) / the NetBox stages' first sync: **{:.2}** (target at most 1.20; {} Proxbox records). No-change resync of the full update: **{:.1} s with {} NetBox writes and {} Proxbox records** (target under 5 s, 0 writes).",
        twelve / base.secs,
        first.records,
        resync.secs,
        resync.writes,
        resync.records
    );
    println!();
    for line in timings {
        println!("Per stage — {line}.");
    }
    for lab in [netbox_only, full] {
        cleanup(&netbox, &lab.name).await;
        lab.sim.stop().await;
    }
    let mut targets = Targets::default();
    targets.at_most(
        "full update's first sync (twelve stages) / the NetBox stages' first sync",
        twelve / base.secs,
        1.20,
        "×",
    );
    targets.at_most(
        "the networks stage's first sync / the other twelve stages'",
        networks / twelve,
        0.10,
        "×",
    );
    targets.under("no-change resync of the full update", resync.secs, 5.0, "s");
    targets.equal("NetBox writes of the no-change resync", resync.writes, 0);
    targets.equal(
        "Proxbox records written by the no-change resync",
        resync.records as u64,
        0,
    );
    targets.finish("sync");
}
