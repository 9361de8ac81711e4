//! What the dashboard shows: its endpoints, jobs and the job panel (rendered on the server),
//! and what it asks its peers (keepalive badges, a card per Proxmox cluster) once hydrated.

use serde::{Deserialize, Serialize};

use crate::models::{EndpointsOverview, JobSnapshot, JobSummary, LiveFeed};

/// The server-rendered part of the dashboard, read in one go: the dashboard island starts
/// from it (a prop) and reads it again when a sync starts or ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardData {
    pub overview: EndpointsOverview,
    /// The newest running or pending job, else the newest one; `None` before the first.
    pub current: Option<JobSnapshot>,
    pub recent: Vec<JobSummary>,
    /// What the watcher saw change in Proxmox lately. Rendered on the server only (the
    /// island swaps in the server's rendering), so the browser build does not read it.
    #[cfg_attr(feature = "hydrate", serde(skip))]
    pub live: LiveFeed,
}

/// One keepalive check: a Proxmox endpoint, NetBox or Proxbox's database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerHealth {
    /// `proxmox-<id>`, `netbox` or `database`.
    pub key: String,
    /// What the badge says: "Proxmox lab", "NetBox", "Database".
    pub label: String,
    pub ok: bool,
    /// Round trip of the check, when it answered.
    pub latency_ms: Option<u64>,
    /// The version when it answered, else what failed.
    pub detail: String,
    /// What to do when it failed.
    pub suggestion: Option<String>,
}

/// All keepalive checks of one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    /// When the checks ran (UTC, as `format_utc` writes it).
    pub checked_at: String,
    pub peers: Vec<PeerHealth>,
    /// How often the dashboard checks again (`PROXBOX_HEALTH_REFRESH_SECS`).
    pub refresh_secs: u64,
}

/// A Proxmox endpoint as its dashboard card shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterCard {
    pub endpoint_id: i64,
    pub name: String,
    pub url: String,
    pub enabled: bool,
    /// Filled when the endpoint answered.
    pub inventory: Option<ClusterInventory>,
    /// What failed and what to do, when it did not.
    pub error: Option<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInventory {
    /// The cluster's name; `None` for a single node without a cluster.
    pub cluster: Option<String>,
    pub version: String,
    pub nodes: usize,
    pub nodes_online: usize,
    pub vms: usize,
    pub containers: usize,
    pub running: usize,
    /// Things an operator should look at ("1 node offline: pve03").
    pub warnings: Vec<String>,
}
