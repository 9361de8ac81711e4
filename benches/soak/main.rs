//! `make soak`: cycles of random guest changes and random faults against the real binary,
//! the simulator and the real NetBox, each followed by a clean sync and a check that
//! nothing was lost or duplicated:
//! - changes: guests added, removed, renamed, moved to another node, NICs added, removed or
//!   given a new MAC, disks grown or added, addresses changed;
//! - faults: Proxmox 5xx, hangs, resets, malformed and wrong-type answers and 401s (the
//!   simulator's faults); NetBox 5xx, hangs, dropped connections and gateway timeouts after
//!   the write was applied (a proxy in front of NetBox); `kill -9` of a server at a random
//!   moment of its job, and its restart; in the last cycles two instances on one PostgreSQL;
//! - after every cycle: the faulted job and the clean one ended with `complete` in their log
//!   and a terminal status; a subscriber that followed the faulted job across reconnects
//!   (and restarts, and the other instance) got every event once, in order, without a gap;
//!   NetBox holds exactly the simulator's cluster (`compare`).
//!
//! `SOAK_CYCLES` (default 100), `SOAK_SEED`, `SOAK_GUESTS` (default 30), `SOAK_PAIR_CYCLES`
//! (default a fifth of the cycles). Prints a Markdown table for BENCHMARKS.md.

mod compare;
mod fault_proxy;
mod follow;
mod ids;
mod servers;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proxbox::models::RecordKind;
use pve_sim::model::Rng;
use pve_sim::{Fault, FaultKind, Kind};

use fault_proxy::FaultProxy;
use follow::follow_job;
use servers::{Instances, Setup};

#[path = "../common/peers.rs"]
mod peers;

#[path = "../../tests/common/netbox_cleanup.rs"]
mod netbox_cleanup;

fn env_number(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the soak counted.
#[derive(Default)]
struct Tally {
    changes: BTreeMap<&'static str, u64>,
    proxmox_faults: BTreeMap<&'static str, u64>,
    kills: u64,
    /// Kills that found the job still running (the rest came just after its end).
    kills_mid_job: u64,
    faulted_jobs: BTreeMap<String, u64>,
    reconnects: u64,
    events_followed: u64,
    lost_events: u64,
    duplicates: u64,
    /// Objects whose Proxmox source stayed from one cycle to the next and whose NetBox id
    /// changed (a delete-and-recreate).
    ids_changed: u64,
    mismatches: Vec<String>,
}

/// Random changes to the simulated cluster, as an operator's day would bring. Answers the
/// identities of the guests removed or that lost a NIC: their objects may rightly be made
/// anew (a vmid freed and taken again, a `netN` removed and added again).
async fn change_guests(
    sim: &pve_sim::RunningSim,
    rng: &mut Rng,
    cycle: u64,
    tally: &mut Tally,
) -> Vec<String> {
    let mut cluster = sim.state.cluster.write().await;
    let mut remade = Vec::new();
    let cluster_name = cluster.name.clone();
    let identity =
        |cluster: &str, (kind, vmid): (Kind, u64)| format!("{cluster}/{}/{vmid}", kind.as_str());
    let nodes: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();
    for change in 0..rng.range(1, 4) {
        let keys: Vec<(Kind, u64)> = cluster.guests.keys().copied().collect();
        let key = *rng.pick(&keys);
        let kind = match rng.range(0, 7) {
            0 => {
                let kind = if rng.chance(50) {
                    Kind::Qemu
                } else {
                    Kind::Lxc
                };
                let node = rng.pick(&nodes).clone();
                let _ = cluster.add_guest(kind, format!("soak-{cycle}-{change}"), None, Some(node));
                "guest added"
            }
            1 if keys.len() > 10 => {
                cluster.guests.remove(&key);
                remade.push(identity(&cluster_name, key));
                "guest removed"
            }
            2 => {
                let guest = cluster.guests.get_mut(&key).unwrap();
                guest.name = format!("renamed-{cycle}-{change}");
                "guest renamed"
            }
            3 => {
                let guest = cluster.guests.get_mut(&key).unwrap();
                let others: Vec<&String> = nodes.iter().filter(|n| **n != guest.node).collect();
                guest.node = (*rng.pick(&others)).clone();
                "guest moved"
            }
            4 => {
                let guest = cluster.guests.get_mut(&key).unwrap();
                let mac = format!(
                    "BC:26:{:02X}:{:02X}:{:02X}:{:02X}",
                    cycle >> 8 & 0xff,
                    cycle & 0xff,
                    change,
                    guest.nics.len()
                );
                match (rng.range(0, 2), guest.nics.len()) {
                    (0, n) if n > 1 => {
                        remade.push(identity(&cluster_name, key));
                        guest.nics.pop();
                        if guest.agent_ips.len() > guest.nics.len() {
                            guest.agent_ips.truncate(guest.nics.len());
                        }
                        "NIC removed"
                    }
                    (1, n) if n > 0 => {
                        guest.nics[0].mac = mac;
                        "NIC given a new MAC"
                    }
                    _ => {
                        let mut nic = guest.nics.first().cloned().unwrap_or(pve_sim::model::Nic {
                            mac: String::new(),
                            bridge: "vmbr0".into(),
                            tag: None,
                            ip: None,
                            ip6: None,
                        });
                        nic.mac = mac;
                        nic.ip = None;
                        nic.ip6 = None;
                        guest.nics.push(nic);
                        "NIC added"
                    }
                }
            }
            5 => {
                let guest = cluster.guests.get_mut(&key).unwrap();
                match guest.disks.first_mut() {
                    Some(disk) if rng.chance(50) => {
                        disk.size_gib += 1;
                        "disk grown"
                    }
                    _ => {
                        let index = guest.disks.len() + 5;
                        let key = if guest.kind == Kind::Lxc {
                            format!("mp{index}")
                        } else {
                            format!("scsi{index}")
                        };
                        guest.disks.push(pve_sim::model::DiskSpec {
                            key,
                            storage: "local-lvm".into(),
                            size_gib: 8,
                        });
                        "disk added"
                    }
                }
            }
            _ => {
                let guest = cluster.guests.get_mut(&key).unwrap();
                let address = format!("10.242.{}.{}/24", cycle % 250, change * 10 + 1);
                if guest.kind == Kind::Lxc {
                    if let Some(nic) = guest.nics.first_mut() {
                        nic.ip = Some(address);
                    }
                } else if let Some(first) = guest.agent_ips.first_mut() {
                    *first = vec![address];
                }
                "address changed"
            }
        };
        *tally.changes.entry(kind).or_default() += 1;
    }
    remade
}

/// The soak's name of a fault kind, as it counts them.
fn fault_name(kind: &FaultKind) -> &'static str {
    match kind {
        FaultKind::Status { .. } => "5xx",
        FaultKind::Hang => "hang",
        FaultKind::Reset => "reset",
        FaultKind::Malformed => "malformed",
        FaultKind::WrongType { .. } => "wrong type",
        FaultKind::Unauthorized => "401",
        FaultKind::Latency { .. } => "latency",
    }
}

/// A Proxmox fault for part of the next job.
fn proxmox_fault(rng: &mut Rng) -> Fault {
    let path = *rng.pick(&[
        "/cluster/resources",
        "/nodes/*/qemu/*/config",
        "/nodes/*/lxc/*/config",
        "/nodes/*/network",
        "/nodes",
        "/nodes/*/qemu/*/agent",
    ]);
    let kind = match rng.range(0, 6) {
        0 => FaultKind::Status {
            code: *rng.pick(&[500, 502, 503, 596]),
        },
        1 => FaultKind::Hang,
        2 => FaultKind::Reset,
        3 => FaultKind::Malformed,
        4 => FaultKind::WrongType {
            field: (*rng.pick(&["name", "vmid", "node", "maxmem", "status"])).into(),
        },
        _ => FaultKind::Unauthorized,
    };
    Fault {
        path: path.into(),
        kind,
        times: Some(rng.range(1, 3) as u32),
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cycles = env_number("SOAK_CYCLES", 100);
    let seed = env_number("SOAK_SEED", 7);
    let guests = env_number("SOAK_GUESTS", 30) as usize;
    let pair_cycles = env_number("SOAK_PAIR_CYCLES", cycles / 5).min(cycles);
    let began = Instant::now();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 0xfffff;
    let name = format!("soak{stamp:x}");
    let sim = pve_sim::start(pve_sim::SimOptions::local(pve_sim::ClusterSpec {
        seed: 141,
        name: name.clone(),
        index: 141,
        nodes: 3,
        guests,
        history: Default::default(),
    }))
    .await
    .unwrap();
    let netbox = servers::netbox();
    servers::forget_addresses(&netbox).await;
    let proxy = FaultProxy::start(peers::netbox_env("NETBOX_URL"), seed).await;
    let setup = Setup::new(&sim, &proxy.url).await;
    let mut instances = Instances::single(&setup).await;
    let mut tally = Tally::default();
    let mut rng = Rng::new(seed);
    let mut last_ids = ids::Ids::new();
    let mut reported = 0;

    for cycle in 1..=cycles {
        if cycle == cycles - pair_cycles + 1 && pair_cycles > 0 {
            instances.stop().await;
            instances = Instances::pair_on_postgres(&setup, &sim, &proxy.url).await;
        }
        let remade = change_guests(&sim, &mut rng, cycle, &mut tally).await;
        if rng.chance(50) {
            sim.add_fault(proxmox_fault(&mut rng)).await;
        }
        proxy.set_rate(if rng.chance(50) { 40 } else { 0 });

        let job_id = instances.start_full_update().await;
        let follower = tokio::spawn(follow_job(
            instances.bases(),
            instances.key(),
            job_id,
            rng.next_u64(),
        ));
        if rng.chance(25) {
            // A random moment of the job (or just after it).
            tokio::time::sleep(Duration::from_millis(rng.range(0, 4_000))).await;
            let running = instances.is_active(job_id).await;
            instances.kill_one(&mut rng).await;
            tally.kills += 1;
            tally.kills_mid_job += u64::from(running);
        }
        let status = instances.wait_until_ended(job_id).await;
        *tally.faulted_jobs.entry(status.clone()).or_default() += 1;
        let followed = follower.await.unwrap();
        tally.reconnects += followed.reconnects;
        tally.events_followed += followed.seqs.len() as u64;
        let log = instances.log_of(job_id).await;
        tally.lost_events += followed.lost_against(&log);
        if log.last().map(|(_, name)| name.as_str()) != Some("complete") {
            tally.mismatches.push(format!(
                "cycle {cycle}: job {job_id}'s log does not end with complete"
            ));
        }

        // Counted when they hit a request, not when armed.
        sim.clear_faults().await;
        for hit in sim.take_fault_hits() {
            *tally.proxmox_faults.entry(fault_name(&hit)).or_default() += 1;
        }
        proxy.set_rate(0);
        let clean = instances.start_full_update().await;
        let clean_status = instances.wait_until_ended(clean).await;
        if clean_status != "completed" {
            tally.mismatches.push(format!(
                "cycle {cycle}: the clean sync (job {clean}) ended {clean_status}: {}",
                instances.result_of(clean).await
            ));
        }
        let (guest_cards, backups) = (
            instances.records(RecordKind::Guest).await,
            instances.records(RecordKind::Backup).await,
        );
        let found = {
            let cluster = sim.state.cluster.read().await;
            let mut found = compare::mismatches(&netbox, &cluster).await;
            found.extend(compare::record_mismatches(&cluster, &guest_cards, &backups));
            found
        };
        tally.duplicates += found.iter().filter(|m| m.contains("duplicate")).count() as u64;
        match ids::ids(&netbox, &name).await {
            Ok(now) => {
                let stayed = |key: &String| {
                    !key.split_whitespace()
                        .any(|word| remade.iter().any(|r| r == word))
                };
                let before: ids::Ids = last_ids.into_iter().filter(|(k, _)| stayed(k)).collect();
                for line in ids::changed(&before, &now) {
                    tally.ids_changed += 1;
                    tally.mismatches.push(format!("cycle {cycle}: {line}"));
                }
                last_ids = now;
            }
            Err(e) => {
                tally
                    .mismatches
                    .push(format!("cycle {cycle}: NetBox ids not read: {e}"));
                last_ids = ids::Ids::new();
            }
        }
        for mismatch in found {
            tally.mismatches.push(format!("cycle {cycle}: {mismatch}"));
        }
        // Shown as they are found: a soak cut short still tells what it saw.
        for mismatch in &tally.mismatches[reported..] {
            eprintln!("  mismatch: {mismatch}");
        }
        reported = tally.mismatches.len();
        eprintln!(
            "cycle {cycle}/{cycles}: faulted job {status}, {} events followed, {} mismatches so far",
            followed.seqs.len(),
            tally.mismatches.len()
        );
    }
    instances.stop().await;

    let netbox_faults = proxy.injected();
    let total = |map: &BTreeMap<&'static str, u64>| map.values().sum::<u64>();
    let list = |map: &BTreeMap<&'static str, u64>| {
        map.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("| Soak: {cycles} cycles, 3 nodes, {guests} guests, seed {seed}, the last {pair_cycles} with two instances on PostgreSQL | value |");
    println!("|---|---|");
    println!(
        "| guest changes | {} ({}) |",
        total(&tally.changes),
        list(&tally.changes)
    );
    println!(
        "| Proxmox faults | {} ({}) |",
        total(&tally.proxmox_faults),
        list(&tally.proxmox_faults)
    );
    println!(
        "| NetBox faults | {} ({}) |",
        netbox_faults.values().sum::<u64>(),
        netbox_faults
            .iter()
            .map(|((kind, method), v)| format!("{kind:?} on {method} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "| `kill -9` of a server / of those, with the job still running | {} / {} |",
        tally.kills, tally.kills_mid_job
    );
    println!(
        "| faulted jobs by outcome | {} |",
        tally
            .faulted_jobs
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "| events followed / stream reconnects | {} / {} |",
        tally.events_followed, tally.reconnects
    );
    println!("| duplicates | **{}** |", tally.duplicates);
    println!(
        "| NetBox ids changed for objects whose Proxmox source stayed | **{}** |",
        tally.ids_changed
    );
    println!("| lost events | **{}** |", tally.lost_events);
    println!("| mismatches | **{}** |", tally.mismatches.len());
    println!(
        "| wall time | {:.1} min |",
        began.elapsed().as_secs_f64() / 60.0
    );
    for mismatch in tally.mismatches.iter().take(30) {
        println!("\nMismatch: {mismatch}");
    }
    netbox_cleanup::cleanup(&netbox, &name).await;
    servers::forget_addresses(&netbox).await;
    setup.drop_database().await;
    proxy.stop();
    sim.stop().await;
    assert!(
        tally.mismatches.is_empty()
            && tally.lost_events == 0
            && tally.duplicates == 0
            && tally.ids_changed == 0,
        "the soak found problems"
    );
}
