//! `pve-sim`: run simulated Proxmox VE clusters for demos and tests.
//!
//! ```text
//! pve-sim --clusters 2 --nodes 3 --guests 50 --port 18006
//! ```
//! serves cluster 0 on http://127.0.0.1:18006 and https://127.0.0.1:18007, cluster 1 on
//! 18008/18009, and prints one JSON line per cluster with its URLs and credentials.

use std::net::{IpAddr, SocketAddr};

use clap::Parser;
use pve_sim::{start, ClusterSpec, SimCredentials, SimOptions};

#[derive(Debug, Parser)]
#[command(
    name = "pve-sim",
    version,
    about = "A simulated Proxmox VE API for demos and tests."
)]
struct Args {
    /// Same seed, same clusters.
    #[arg(long, env = "PVE_SIM_SEED", default_value_t = 42)]
    seed: u64,
    /// Clusters to run, each on its own pair of ports.
    #[arg(long, default_value_t = 1)]
    clusters: u8,
    /// Nodes per cluster.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Guests per cluster (at least 5: the special cases are always there).
    #[arg(long, default_value_t = 50)]
    guests: usize,
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// HTTP port of the first cluster; HTTPS is the next port; each further cluster adds 2.
    #[arg(long, env = "PVE_SIM_PORT", default_value_t = 18006)]
    port: u16,
    /// Name prefix of the clusters (`demo` gives demo1, demo2, …).
    #[arg(long, default_value = "demo")]
    name: String,
    #[arg(long, default_value = "root@pam!proxbox")]
    token_id: String,
    #[arg(
        long,
        env = "PVE_SIM_TOKEN_SECRET",
        default_value = "5e1f0c2a-9d3b-4c7e-8a61-2f4b6d8e0a13"
    )]
    token_secret: String,
    #[arg(long, default_value = "root@pam")]
    username: String,
    #[arg(long, env = "PVE_SIM_PASSWORD", default_value = "proxmox-sim")]
    password: String,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("PVE_SIM_LOG").unwrap_or_else(|_| "warn".into()))
        .init();
    let mut running = Vec::new();
    for index in 0..args.clusters.max(1) {
        let port = args.port + 2 * u16::from(index);
        let options = SimOptions {
            spec: ClusterSpec {
                seed: args.seed,
                name: format!("{}{}", args.name, index + 1),
                index,
                nodes: args.nodes,
                guests: args.guests,
                history: Default::default(),
            },
            credentials: SimCredentials {
                token_id: args.token_id.clone(),
                token_secret: args.token_secret.clone(),
                username: args.username.clone(),
                password: args.password.clone(),
            },
            http: Some(SocketAddr::new(args.bind, port)),
            https: Some(SocketAddr::new(args.bind, port + 1)),
        };
        let sim = match start(options).await {
            Ok(sim) => sim,
            Err(e) => {
                eprintln!(
                    "pve-sim: cannot listen on {}:{port}/{}: {e}",
                    args.bind,
                    port + 1
                );
                std::process::exit(1);
            }
        };
        let line = serde_json::json!({
            "cluster": format!("{}{}", args.name, index + 1), "http": sim.http_url, "https": sim.https_url,
            "token_id": args.token_id, "token_secret": args.token_secret, "username": args.username,
            "control": format!("{}/_sim/cluster", sim.http_url.as_deref().unwrap_or_default()),
        });
        println!("{line}");
        running.push(sim);
    }
    let _ = tokio::signal::ctrl_c().await;
    for sim in running {
        sim.stop().await;
    }
}
