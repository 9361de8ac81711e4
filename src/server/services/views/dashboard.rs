//! The dashboard's view of its peers: keepalive checks (Proxmox endpoints, NetBox, the
//! database) and each Proxmox cluster's inventory. Every check has its own short time limit
//! and runs beside the others, so one peer that hangs costs the dashboard one badge.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::models::{format_utc, ClusterCard, ClusterInventory, HealthReport, PeerHealth};
use crate::server::infra::db::endpoints::ProxmoxEndpointRow;
use crate::server::infra::db::now_ms;
use crate::server::services::peer_views::{configured_key, Failure};
use crate::server::services::peers::{netbox_client, proxmox_client};
use crate::server::services::Services;

/// A keepalive check gives up after this long (or the endpoint's own timeout if shorter).
const CHECK_LIMIT: Duration = Duration::from_secs(10);

/// Runs `check` within `limit`, timing it.
async fn timed<T>(
    limit: Duration,
    check: impl Future<Output = Result<T, Failure>>,
) -> (Result<T, Failure>, u64) {
    let started = Instant::now();
    let result = match tokio::time::timeout(limit, check).await {
        Ok(result) => result,
        Err(_) => Err((
            format!("no answer within {} s", limit.as_secs()),
            "Check that the host is up and reachable from Proxbox (firewall, DNS).".into(),
        )),
    };
    (result, started.elapsed().as_millis() as u64)
}

fn peer(key: String, label: String, outcome: (Result<String, Failure>, u64)) -> PeerHealth {
    match outcome {
        (Ok(detail), ms) => PeerHealth {
            key,
            label,
            ok: true,
            latency_ms: Some(ms),
            detail,
            suggestion: None,
        },
        (Err((message, suggestion)), _) => PeerHealth {
            key,
            label,
            ok: false,
            latency_ms: None,
            detail: message,
            suggestion: Some(suggestion),
        },
    }
}

fn limit_of(row: &ProxmoxEndpointRow) -> Duration {
    CHECK_LIMIT.min(Duration::from_secs(row.timeout_secs.max(1) as u64))
}

async fn check_proxmox(state: &Services, row: &ProxmoxEndpointRow) -> PeerHealth {
    let key = configured_key(row, "version");
    let read = || check_proxmox_now(state, row);
    state.peer_views.proxmox_health.get(&key, read).await
}

async fn check_proxmox_now(state: &Services, row: &ProxmoxEndpointRow) -> PeerHealth {
    let check = async {
        let pve = proxmox_client(row, &state.secrets).map_err(|e| (e.message, e.suggestion))?;
        let version = pve.version().await.map_err(|e| (e.message, e.suggestion))?;
        Ok(format!("Proxmox VE {}", version.value.version))
    };
    peer(
        format!("proxmox-{}", row.id),
        format!("Proxmox {}", row.name),
        timed(limit_of(row), check).await,
    )
}

async fn check_netbox(state: &Services) -> Option<PeerHealth> {
    let row = state.db.netbox_endpoint().await.ok().flatten()?;
    let key = configured_key(&row, "status");
    let read = || check_netbox_now(state, &row);
    Some(state.peer_views.netbox_health.get(&key, read).await)
}

async fn check_netbox_now(
    state: &Services,
    row: &crate::server::infra::db::endpoints::NetboxEndpointRow,
) -> PeerHealth {
    let check = async {
        let netbox = netbox_client(row, &state.secrets).map_err(|e| (e.message, e.suggestion))?;
        let version = netbox
            .status()
            .await
            .map_err(|e| (e.message, e.suggestion))?;
        Ok(format!("NetBox {version}"))
    };
    peer(
        "netbox".into(),
        "NetBox".into(),
        timed(CHECK_LIMIT, check).await,
    )
}

async fn check_database(state: &Services) -> PeerHealth {
    let check = async {
        state.db.ping().await.map_err(|e| {
            (
                format!("Proxbox's database does not answer: {e}"),
                "Check PROXBOX_DATABASE_URL and that the database server is running.".to_string(),
            )
        })?;
        Ok(match state.db.backend() {
            crate::server::infra::db::Backend::Sqlite => "SQLite".to_string(),
            crate::server::infra::db::Backend::Postgres => "PostgreSQL".to_string(),
        })
    };
    peer(
        "database".into(),
        "Database".into(),
        timed(CHECK_LIMIT, check).await,
    )
}

/// Every keepalive check, side by side: enabled Proxmox endpoints, NetBox, the database.
pub async fn check_all(state: &Services, refresh_secs: u64) -> HealthReport {
    let rows = state.db.proxmox_endpoints().await.unwrap_or_default();
    let proxmox = futures::future::join_all(
        rows.iter()
            .filter(|r| r.enabled != 0)
            .map(|row| check_proxmox(state, row)),
    );
    let (proxmox, netbox, database) =
        tokio::join!(proxmox, check_netbox(state), check_database(state));
    let mut peers = proxmox;
    peers.extend(netbox);
    peers.push(database);
    HealthReport {
        checked_at: format_utc(now_ms()),
        peers,
        refresh_secs,
    }
}

/// Counts and warnings of one cluster from its version, status and resources.
async fn inventory(
    state: &Services,
    row: &ProxmoxEndpointRow,
) -> Result<ClusterInventory, Failure> {
    let pve = proxmox_client(row, &state.secrets).map_err(|e| (e.message, e.suggestion))?;
    let (version, status, resources) =
        tokio::join!(pve.version(), pve.cluster_status(), pve.cluster_resources());
    let fail = |e: proxbox_pve::PveError| (e.message, e.suggestion);
    let (version, status, resources) = (
        version.map_err(fail)?.value,
        status.map_err(fail)?.value,
        resources.map_err(fail)?.value,
    );
    let guests = |kind: &str| {
        resources
            .iter()
            .filter(|r| r.kind == kind && !r.template)
            .count()
    };
    let nodes: Vec<&proxbox_pve::ClusterResource> =
        resources.iter().filter(|r| r.kind == "node").collect();
    let offline: Vec<String> = nodes
        .iter()
        .filter(|n| n.status.as_deref() != Some("online"))
        .filter_map(|n| n.node.clone())
        .collect();
    let mut warnings = Vec::new();
    if !offline.is_empty() {
        warnings.push(format!(
            "{} node{} offline: {}",
            offline.len(),
            if offline.len() == 1 { "" } else { "s" },
            offline.join(", ")
        ));
    }
    let cluster = status.iter().find(|e| e.kind == "cluster");
    if cluster.is_some_and(|c| c.quorate == Some(false)) {
        warnings.push("the cluster has lost quorum: guests cannot be changed".into());
    }
    Ok(ClusterInventory {
        cluster: cluster.map(|c| c.name.clone()),
        version: version.version,
        nodes: nodes.len(),
        nodes_online: nodes.len() - offline.len(),
        vms: guests("qemu"),
        containers: guests("lxc"),
        running: resources
            .iter()
            .filter(|r| r.guest_kind().is_some() && r.status.as_deref() == Some("running"))
            .count(),
        warnings,
    })
}

/// A card per Proxmox endpoint; disabled ones are listed without being asked.
pub async fn cluster_cards(
    state: &Services,
) -> Result<Vec<ClusterCard>, crate::server::infra::db::DbError> {
    let rows = state.db.proxmox_endpoints().await?;
    Ok(futures::future::join_all(rows.iter().map(|row| async move {
        let (inventory, error) = if row.enabled != 0 {
            let key = configured_key(row, "inventory");
            let read = || async { timed(limit_of(row), inventory(state, row)).await.0 };
            match state.peer_views.inventories.get(&key, read).await {
                Ok(inventory) => (Some(inventory), None),
                Err(failure) => (None, Some(failure)),
            }
        } else {
            (None, None)
        };
        ClusterCard {
            endpoint_id: row.id,
            name: row.name.clone(),
            url: row.url.clone(),
            enabled: row.enabled != 0,
            inventory,
            error,
        }
    }))
    .await)
}
