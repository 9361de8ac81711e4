//! A Proxmox endpoint's detail page and its node pages: the cluster as Proxmox answers now
//! (quorum, each node's state and load), beside what Proxbox keeps of it (guests, storage).

use serde::{Deserialize, Serialize};

use super::endpoint::ProxmoxEndpointView;
use super::guests::GuestRow;
use super::inventory::StorageRecord;

/// One node of a cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSummary {
    pub name: String,
    pub online: bool,
    pub ip: Option<String>,
    /// Share of the CPUs in use, 0 to 1.
    pub cpu: Option<f64>,
    pub cpus: Option<u64>,
    /// Bytes.
    pub memory_used: Option<u64>,
    pub memory_total: Option<u64>,
    /// Seconds.
    pub uptime: Option<u64>,
    /// Guests Proxmox lists on the node, and how many of them run.
    pub guests: usize,
    pub running: usize,
    /// Storages as the last sync read them.
    pub storages: usize,
    /// Network interfaces, when the node's network was read.
    pub interfaces: Option<usize>,
}

/// `/endpoints/proxmox/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointDetail {
    pub endpoint: ProxmoxEndpointView,
    pub cluster: Option<String>,
    pub version: Option<String>,
    /// `None`: a single node without a cluster.
    pub quorate: Option<bool>,
    pub nodes: Vec<NodeSummary>,
    /// What could not be read from Proxmox, and what to do.
    pub error: Option<(String, String)>,
}

/// A node's network interface as Proxmox has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInterfaceView {
    pub name: String,
    /// `eth`, `bridge`, `bond`, `vlan`…
    pub kind: String,
    pub active: bool,
    pub addresses: Vec<String>,
    /// Bridge ports or bond members.
    pub members: Option<String>,
    pub comments: Option<String>,
}

/// `/endpoints/proxmox/{id}/nodes/{node}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeDetail {
    pub endpoint_id: i64,
    pub endpoint: String,
    pub node: NodeSummary,
    pub guests: Vec<GuestRow>,
    pub interfaces: Vec<NodeInterfaceView>,
    pub storages: Vec<StorageRecord>,
    pub error: Option<(String, String)>,
}

/// `3d 4h`, `5h 12m`, `7m`.
pub fn format_uptime(secs: u64) -> String {
    let (days, hours, minutes) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (days, hours) {
        (0, 0) => format!("{minutes}m"),
        (0, h) => format!("{h}h {minutes:02}m"),
        (d, h) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptimes_read_in_their_largest_units() {
        assert_eq!(format_uptime(420), "7m");
        assert_eq!(format_uptime(5 * 3600 + 12 * 60), "5h 12m");
        assert_eq!(format_uptime(3 * 86_400 + 4 * 3600 + 59), "3d 4h");
    }
}
