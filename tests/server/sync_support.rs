//! A sync run against the Proxmox simulator and the real NetBox, for the sync tests.

use proxbox::events::{ErrorDetail, ItemProgress, ItemStatus, SyncEvent};
use proxbox::models::{NetboxEndpointInput, ProxmoxCredentials, ProxmoxEndpointInput};
use proxbox::server::infra::crypto::SecretBox;
use proxbox::server::infra::db::Db;
use proxbox::server::sync::context::{ClusterSource, RunOptions, StopSignal, SyncContext};
use proxbox::server::sync::run::{run_sync, RunOutcome};
use proxbox::server::sync::sink::{CollectSink, EventSink};
use proxbox::server::sync::stage::Stage;
use proxbox_netbox::models::{Cluster, IpAddress, IpRange, Prefix, VirtualMachine};
use proxbox_netbox::{NetboxClient, NetboxOptions};
use proxbox_pve::{Credentials, PveClient, PveOptions};

use crate::netbox_cleanup::delete_listed;
use crate::support::*;

pub async fn endpoint(db: &Db, name: &str) -> i64 {
    let input = ProxmoxEndpointInput {
        name: name.into(),
        url: "http://127.0.0.1:1".into(),
        credentials: ProxmoxCredentials::Token {
            token_id: "root@pam!proxbox".into(),
            secret: Some("s".into()),
        },
        verify_tls: true,
        ca_pem: None,
        timeout_secs: 30,
        enabled: true,
        watch: true,
    };
    db.insert_proxmox_endpoint(&input, &SecretBox::from_key_text(TEST_KEY).unwrap())
        .await
        .unwrap()
}

/// Stores the simulator as a Proxmox endpoint and the test NetBox as the NetBox endpoint,
/// as an operator would on the Endpoints page. Returns the Proxmox endpoint's id.
pub async fn store_endpoints(db: &Db, sim: &pve_sim::RunningSim, name: &str) -> i64 {
    let secrets = SecretBox::from_key_text(TEST_KEY).unwrap();
    let c = sim.credentials();
    let id = db
        .insert_proxmox_endpoint(
            &ProxmoxEndpointInput {
                name: name.into(),
                url: sim.http_url.clone().unwrap(),
                credentials: ProxmoxCredentials::Token {
                    token_id: c.token_id.clone(),
                    secret: Some(c.token_secret.clone()),
                },
                verify_tls: true,
                ca_pem: None,
                timeout_secs: 10,
                enabled: true,
                watch: true,
            },
            &secrets,
        )
        .await
        .unwrap();
    let (netbox_url, token) = netbox_env();
    db.save_netbox_endpoint(
        &NetboxEndpointInput {
            url: netbox_url,
            token: Some(token),
            verify_tls: true,
            ca_pem: None,
            timeout_secs: 120,
        },
        &secrets,
    )
    .await
    .unwrap();
    id
}

/// A Proxmox client of the simulator, as an endpoint of a run.
pub fn source(sim: &pve_sim::RunningSim, endpoint_id: i64) -> ClusterSource {
    let c = sim.credentials();
    let pve = PveClient::new(PveOptions::new(
        sim.http_url.clone().unwrap(),
        Credentials::token(&c.token_id, Some(&c.token_secret)),
    ))
    .unwrap();
    ClusterSource {
        endpoint_id,
        endpoint_name: format!("endpoint-{endpoint_id}"),
        pve,
    }
}

/// What one run emitted, and how it ended.
pub struct Ran {
    pub events: Vec<SyncEvent>,
    pub outcome: RunOutcome,
}

impl Ran {
    /// The `item_progress` events of one stage (phase), in order.
    pub fn items(&self, phase: &str) -> Vec<ItemProgress> {
        self.events
            .iter()
            .filter_map(|e| match e {
                SyncEvent::ItemProgress(p) if p.phase == phase => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    /// `(name, status)` of every item of one stage.
    pub fn all(&self, phase: &str) -> Vec<(String, ItemStatus)> {
        self.items(phase)
            .into_iter()
            .map(|p| (p.name, p.status))
            .collect()
    }

    /// `(name, status)` of one stage's items of one type.
    pub fn statuses(&self, phase: &str, kind: &str) -> Vec<(String, ItemStatus)> {
        self.items(phase)
            .into_iter()
            .filter(|p| p.kind == kind)
            .map(|p| (p.name, p.status))
            .collect()
    }

    /// Items of every stage that are not `skipped`, as `(phase, type, name, status)`.
    /// What the run changed in NetBox: `(phase, type, name, status)` of every item that was
    /// not left as it was, outside the inventory stages (which `inventory_changes` lists).
    pub fn changes(&self) -> Vec<(String, String, String, ItemStatus)> {
        self.all_changes()
            .into_iter()
            .filter(|(phase, ..)| !INVENTORY_PHASES.contains(&phase.as_str()))
            .collect()
    }

    /// What the inventory stages changed (Proxbox's records and the backups' journal entries).
    pub fn inventory_changes(&self) -> Vec<(String, String, String, ItemStatus)> {
        self.all_changes()
            .into_iter()
            .filter(|(phase, ..)| INVENTORY_PHASES.contains(&phase.as_str()))
            .collect()
    }

    /// What the run changed anywhere: NetBox and Proxbox's records.
    pub fn all_changes(&self) -> Vec<(String, String, String, ItemStatus)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                SyncEvent::ItemProgress(p) if p.status != ItemStatus::Skipped => {
                    Some((p.phase.clone(), p.kind.clone(), p.name.clone(), p.status))
                }
                _ => None,
            })
            .collect()
    }

    /// The `error_detail` events, in order.
    pub fn error_details(&self) -> Vec<ErrorDetail> {
        self.events
            .iter()
            .filter_map(|e| match e {
                SyncEvent::ErrorDetail(d) => Some(d.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn assert_no_failed_items(&self) {
        for event in &self.events {
            if let SyncEvent::ItemProgress(p) = event {
                assert_ne!(
                    p.status,
                    ItemStatus::Failed,
                    "{} {}: {:?}",
                    p.phase,
                    p.name,
                    p.error
                );
            }
        }
    }
}

/// One run of `stages` over the given endpoints.
pub async fn run_with(
    db: &Db,
    netbox: &NetboxClient,
    sources: Vec<ClusterSource>,
    stages: &[Stage],
    options: RunOptions,
    stop: Option<StopSignal>,
    tee: Option<&dyn EventSink>,
) -> Ran {
    let collect = CollectSink::default();
    let fan;
    let sink: &dyn EventSink = match tee {
        Some(other) => {
            fan = proxbox::server::sync::sink::FanOut(vec![&collect, other]);
            &fan
        }
        None => &collect,
    };
    let mut ctx = SyncContext::new(db, netbox, sources, sink);
    ctx.options = options;
    if let Some(stop) = stop {
        ctx.stop = stop;
    }
    let outcome = run_sync(&ctx, stages, "test-run").await;
    Ran {
        events: collect.events(),
        outcome,
    }
}

/// One run of `stages` on the simulator with `options`.
pub async fn run_on(
    db: &Db,
    netbox: &NetboxClient,
    sim: &pve_sim::RunningSim,
    endpoint_id: i64,
    stages: &[Stage],
    options: RunOptions,
) -> Ran {
    let sources = vec![source(sim, endpoint_id)];
    run_with(db, netbox, sources, stages, options, None, None).await
}

/// One ordinary run of `stages` on the simulator; fails the test on a failed run or item.
pub async fn sync(
    db: &Db,
    netbox: &NetboxClient,
    sim: &pve_sim::RunningSim,
    endpoint_id: i64,
    stages: &[Stage],
) -> Ran {
    let ran = run_on(db, netbox, sim, endpoint_id, stages, RunOptions::default()).await;
    assert!(ran.outcome.ok, "{:?}", ran.outcome.error);
    ran.assert_no_failed_items();
    ran
}

/// The cluster `name` in NetBox (it must exist) and its VMs.
pub async fn cluster_and_vms(netbox: &NetboxClient, name: &str) -> (Cluster, Vec<VirtualMachine>) {
    let cluster = netbox
        .list::<Cluster>(&[("name", name.to_string())])
        .await
        .unwrap()
        .remove(0);
    let vms = netbox
        .list(&[("cluster_id", cluster.id.to_string())])
        .await
        .unwrap();
    (cluster, vms)
}

/// A fresh Proxbox database of the given kind with one Proxmox endpoint in it.
pub async fn proxbox_db(backend: Backend) -> (TestDb, Db, i64) {
    let test_db = TestDb::new(backend).await;
    let db = Db::connect(&test_db.url).await.unwrap();
    let endpoint_id = endpoint(&db, "lab").await;
    (test_db, db, endpoint_id)
}

/// Runs `stages` again with nothing changed: no NetBox write, every item skipped.
pub async fn assert_resync_writes_nothing(
    db: &Db,
    netbox: &NetboxClient,
    sim: &pve_sim::RunningSim,
    endpoint_id: i64,
    stages: &[Stage],
) -> Ran {
    let (_, writes_before) = netbox.request_counts();
    let again = sync(db, netbox, sim, endpoint_id, stages).await;
    assert_eq!(
        netbox.request_counts().1,
        writes_before,
        "a resync with nothing changed writes nothing; it changed {:?}",
        again.changes()
    );
    assert_eq!(again.changes(), vec![], "every item is skipped");
    again
}

/// The stages that keep Proxmox's inventory in Proxbox's database.
pub const INVENTORY_PHASES: [&str; 6] = [
    "storage",
    "task-history",
    "backups",
    "snapshots",
    "replications",
    "backup-routines",
];

pub fn netbox() -> NetboxClient {
    let (url, token) = netbox_env();
    NetboxClient::new(NetboxOptions::new(url, token)).unwrap()
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros();
    format!("{prefix}{:x}", micros % 0xffffff)
}

/// A simulated cluster of its own name. The seed also picks the cluster's address range
/// (`10.{100+seed}.0.0/16`): NetBox refuses an address twice, and tests run side by side,
/// so each test uses its own seed. Addresses a failed earlier run left behind are removed.
pub async fn simulator(name: &str, seed: u64, nodes: usize, guests: usize) -> pve_sim::RunningSim {
    assert!(seed < 150, "the seed is the address range too");
    let spec = pve_sim::ClusterSpec {
        seed,
        name: name.to_string(),
        index: seed as u8,
        nodes,
        guests,
        history: Default::default(),
    };
    let netbox = netbox();
    for range in [
        format!("10.{}.0.0/16", 100 + seed),
        format!("fd00:{:x}::/32", 0x100 + seed),
    ] {
        delete_listed::<IpAddress>(&netbox, &[("parent", range.clone())]).await;
        delete_listed::<IpRange>(&netbox, &[("parent", range.clone())]).await;
        delete_listed::<Prefix>(&netbox, &[("within", range)]).await;
    }
    pve_sim::start(pve_sim::SimOptions::local(spec))
        .await
        .unwrap()
}

/// A NetBox client, a name no other test uses, and a simulated cluster of that name.
pub async fn scenario(
    prefix: &str,
    seed: u64,
    nodes: usize,
    guests: usize,
) -> (NetboxClient, String, pve_sim::RunningSim) {
    let name = unique(prefix);
    let sim = simulator(&name, seed, nodes, guests).await;
    (netbox(), name, sim)
}

pub use crate::netbox_cleanup::cleanup;
