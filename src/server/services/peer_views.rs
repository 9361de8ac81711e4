//! What Proxmox and NetBox answered for the pages, kept a few seconds: the dashboard's
//! keepalive badges and cluster cards, the endpoint and node pages. Every viewer's page load
//! would otherwise send fresh requests with the stored credentials; now viewers that come
//! at once share one request per key, and those that come within the time kept share its
//! answer. Never what Proxbox's own database holds.

use std::sync::Arc;
use std::time::Duration;

use proxbox_pve::{ClusterResource, ClusterStatusEntry, NodeEntry, NodeInterface};

use crate::models::{ClusterInventory, PeerHealth};
use crate::server::infra::recent::Recent;

/// How long an answer is shown again.
pub const KEPT_FOR: Duration = Duration::from_secs(10);

/// What a cluster answers now, for its endpoint and node pages.
pub struct LiveCluster {
    pub version: String,
    pub status: Vec<ClusterStatusEntry>,
    pub nodes: Vec<NodeEntry>,
    pub resources: Vec<ClusterResource>,
}

/// The key of what a peer answered under the endpoint `row` as configured now: another
/// address, login or trust setting is another key, so a changed endpoint is read afresh.
pub fn configured_key(row: &impl std::fmt::Debug, part: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    format!("{row:?}").hash(&mut hasher);
    format!("{:016x}/{part}", hasher.finish())
}

/// (what failed, what to do)
pub type Failure = (String, String);

/// The peers' answers kept for the pages, each kind by [`configured_key`].
pub struct PeerViews {
    /// A Proxmox endpoint's keepalive badge.
    pub proxmox_health: Recent<PeerHealth>,
    /// NetBox's keepalive badge.
    pub netbox_health: Recent<PeerHealth>,
    /// A cluster card's counts.
    pub inventories: Recent<Result<ClusterInventory, Failure>>,
    /// What a cluster answers for its endpoint and node pages.
    pub live: Recent<Result<Arc<LiveCluster>, Failure>>,
    /// A node's network.
    pub networks: Recent<Result<Arc<Vec<NodeInterface>>, Failure>>,
}

impl PeerViews {
    /// Answers kept for `kept_for`: at most [`KEPT_FOR`], and never longer than the
    /// dashboard waits between two keepalive checks.
    pub fn new(refresh: Duration) -> PeerViews {
        let kept_for = KEPT_FOR.min(refresh);
        PeerViews {
            proxmox_health: Recent::new(kept_for),
            netbox_health: Recent::new(kept_for),
            inventories: Recent::new(kept_for),
            live: Recent::new(kept_for),
            networks: Recent::new(kept_for),
        }
    }
}

impl std::fmt::Debug for PeerViews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerViews")
    }
}
