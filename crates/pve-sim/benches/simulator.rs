//! How fast the simulator answers, so that it is never the bottleneck of a sync benchmark.
//! Targets (issue "Proxmox VE side"): a 3-node, 1,000-guest cluster answers
//! `/cluster/resources` in under 50 ms, and 1,000 guest-config reads at 8 in flight
//! finish in under 2 s. Run with `make bench` (or `cargo bench -p pve-sim --bench simulator`).

use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use proxbox_pve::{Credentials, PveClient, PveOptions};
use pve_sim::{start, ClusterSpec, SimOptions};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let sim = start(SimOptions::local(ClusterSpec {
        seed: 1,
        name: "bench".into(),
        index: 0,
        nodes: 3,
        guests: 1000,
        history: Default::default(),
    }))
    .await
    .unwrap();
    let c = sim.credentials();
    let mut options = PveOptions::new(
        sim.http_url.clone().unwrap(),
        Credentials::token(&c.token_id, Some(&c.token_secret)),
    );
    options.concurrency = 8;
    let pve = PveClient::new(options).unwrap();
    let guests = pve.guests().await.unwrap().value; // warm-up: connections, caches
    assert_eq!(guests.len(), 1000);

    let mut resources = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let data = pve.get_data("/cluster/resources", &[]).await.unwrap();
        resources.push(t.elapsed());
        assert!(data.as_array().unwrap().len() >= 1000);
    }
    resources.sort();

    let mut config_runs = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let done = stream::iter(guests.iter())
            .map(|g| {
                let pve = pve.clone();
                async move {
                    pve.guest_config(
                        g.node.as_deref().unwrap(),
                        g.guest_kind().unwrap(),
                        g.vmid.unwrap(),
                    )
                    .await
                }
            })
            .buffer_unordered(8)
            .filter(|r| std::future::ready(r.is_ok()))
            .count()
            .await;
        config_runs.push(t.elapsed());
        assert_eq!(done, 1000);
    }
    config_runs.sort();

    println!(
        "| measurement (3 nodes, 1,000 guests, HTTP on loopback) | median | p95 / worst | target |"
    );
    println!("|---|---|---|---|");
    println!(
        "| GET /cluster/resources (50 runs) | {} | {} | < 50 ms |",
        ms(percentile(&resources, 0.5)),
        ms(percentile(&resources, 0.95))
    );
    println!(
        "| 1,000 guest-config reads, 8 in flight (5 runs) | {} | {} | < 2,000 ms |",
        ms(percentile(&config_runs, 0.5)),
        ms(*config_runs.last().unwrap())
    );
    sim.stop().await;
}
