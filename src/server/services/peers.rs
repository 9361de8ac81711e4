//! The "test connection" check of each configured endpoint, with the clients the engine
//! builds from the stored rows.

use crate::models::ConnectionReport;
use crate::server::infra::crypto::SecretBox;
use crate::server::infra::db::endpoints::{NetboxEndpointRow, ProxmoxEndpointRow};
pub use crate::server::sync::peers::{netbox_client, proxmox_client, sync_peers, PeerSetupError};

fn failed(category: &str, message: String, suggestion: String) -> ConnectionReport {
    ConnectionReport {
        ok: false,
        summary: message,
        category: Some(category.to_string()),
        suggestion: Some(suggestion),
    }
}

impl From<PeerSetupError> for ConnectionReport {
    fn from(e: PeerSetupError) -> Self {
        failed(e.category, e.message, e.suggestion)
    }
}

/// Logs in and reads the version and cluster status: what every sync needs first.
pub async fn test_proxmox(row: &ProxmoxEndpointRow, secrets: &SecretBox) -> ConnectionReport {
    let pve = match proxmox_client(row, secrets) {
        Ok(pve) => pve,
        Err(e) => return e.into(),
    };
    let reads = async {
        let version = pve.version().await?.value;
        let status = pve.cluster_status().await?.value;
        Ok::<_, proxbox_pve::PveError>((version, status))
    };
    match reads.await {
        Ok((version, status)) => {
            let nodes = status.iter().filter(|e| e.kind == "node").count();
            let cluster = status
                .iter()
                .find(|e| e.kind == "cluster")
                .map(|e| e.name.clone());
            let name = cluster.map_or_else(
                || "a single node (no cluster)".to_string(),
                |c| format!("cluster {c}"),
            );
            ConnectionReport {
                ok: true,
                summary: format!(
                    "Proxmox VE {}, {name}, {nodes} node{}",
                    version.version,
                    if nodes == 1 { "" } else { "s" }
                ),
                category: None,
                suggestion: None,
            }
        }
        Err(e) => failed(e.kind.as_str(), e.message, e.suggestion),
    }
}

/// Reads `/api/status/` with the token: proves URL, TLS and token at once.
pub async fn test_netbox(row: &NetboxEndpointRow, secrets: &SecretBox) -> ConnectionReport {
    let netbox = match netbox_client(row, secrets) {
        Ok(netbox) => netbox,
        Err(e) => return e.into(),
    };
    match netbox.status().await {
        Ok(version) => ConnectionReport {
            ok: true,
            summary: format!("NetBox {version}"),
            category: None,
            suggestion: None,
        },
        Err(e) => failed(e.kind.as_str(), e.message, e.suggestion),
    }
}
