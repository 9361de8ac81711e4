//! A Proxmox endpoint's detail page and its node pages: the cluster as Proxmox answers now
//! (read live, in a few requests, with the endpoint's own timeout), beside what Proxbox's
//! database keeps of it (guest cards, storages). Proxmox down still gives a page: what
//! Proxbox keeps, and what failed with what to do.

use std::collections::HashMap;
use std::sync::Arc;

use proxbox_pve::{ClusterResource, NodeEntry, NodeInterface, PveClient};

use crate::error::AppError;
use crate::models::*;
use crate::server::infra::db::endpoints::ProxmoxEndpointRow;
use crate::server::services::peer_views::{configured_key, Failure, LiveCluster};
use crate::server::services::peers::proxmox_client;
use crate::server::services::views::inventory::guest_rows;
use crate::server::services::Services;

async fn endpoint_row(state: &Services, id: i64) -> Result<ProxmoxEndpointRow, AppError> {
    state
        .db
        .proxmox_endpoint(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("Proxmox endpoint {id}")))
}

fn client(state: &Services, row: &ProxmoxEndpointRow) -> Result<PveClient, Failure> {
    proxmox_client(row, &state.secrets).map_err(|e| (e.message, e.suggestion))
}

fn failure(e: proxbox_pve::PveError) -> Failure {
    (e.message, e.suggestion)
}

type Live = LiveCluster;

/// The cluster of the endpoint `row` as it answers now, or as it answered a few seconds ago
/// (see `peer_views`).
async fn live_cluster(state: &Services, row: &ProxmoxEndpointRow) -> Result<Arc<Live>, Failure> {
    let read = || async {
        let pve = client(state, row)?;
        read_live(&pve).await.map(Arc::new)
    };
    let key = configured_key(row, "cluster");
    state.peer_views.live.get(&key, read).await
}

/// A node's network as Proxmox answers it now, or did a few seconds ago.
async fn node_network(
    state: &Services,
    row: &ProxmoxEndpointRow,
    node: &str,
) -> Result<Arc<Vec<NodeInterface>>, Failure> {
    let read = || async {
        let pve = client(state, row)?;
        let network = pve.node_network(node).await.map_err(failure)?;
        Ok(Arc::new(network.value))
    };
    let key = configured_key(row, &format!("network/{node}"));
    state.peer_views.networks.get(&key, read).await
}

async fn read_live(pve: &PveClient) -> Result<Live, Failure> {
    let (version, status, nodes, resources) = tokio::join!(
        pve.version(),
        pve.cluster_status(),
        pve.nodes(),
        pve.cluster_resources()
    );
    Ok(Live {
        version: version.map_err(failure)?.value.version,
        status: status.map_err(failure)?.value,
        nodes: nodes.map_err(failure)?.value,
        resources: resources.map_err(failure)?.value,
    })
}

/// The stored storages of one endpoint, by node.
async fn storages_by_node(
    state: &Services,
    endpoint_id: i64,
) -> Result<HashMap<String, Vec<StorageRecord>>, AppError> {
    let mut by_node: HashMap<String, Vec<StorageRecord>> = HashMap::new();
    for record in state
        .db
        .inventory(endpoint_id, RecordKind::Storage, None)
        .await?
    {
        if let Some(storage) = record.parse::<StorageRecord>() {
            by_node
                .entry(storage.node.clone())
                .or_default()
                .push(storage);
        }
    }
    Ok(by_node)
}

fn summary(live: &Live, node: &NodeEntry, storages: usize) -> NodeSummary {
    let on_node = |r: &&ClusterResource| {
        r.node.as_deref() == Some(node.node.as_str()) && r.guest_kind().is_some() && !r.template
    };
    NodeSummary {
        name: node.node.clone(),
        online: node.status == "online",
        ip: live
            .status
            .iter()
            .find(|e| e.kind == "node" && e.name == node.node)
            .and_then(|e| e.ip.clone()),
        cpu: node.cpu,
        cpus: node.maxcpu,
        memory_used: node.mem,
        memory_total: node.maxmem,
        uptime: node.uptime,
        guests: live.resources.iter().filter(on_node).count(),
        running: live
            .resources
            .iter()
            .filter(on_node)
            .filter(|r| r.status.as_deref() == Some("running"))
            .count(),
        storages,
        interfaces: None,
    }
}

fn interface_view(i: &NodeInterface) -> NodeInterfaceView {
    NodeInterfaceView {
        name: i.iface.clone(),
        kind: i.kind.clone(),
        active: i.active.unwrap_or(false),
        addresses: i.cidr.iter().chain(&i.cidr6).cloned().collect(),
        members: i.bridge_ports.clone().or_else(|| i.slaves.clone()),
        comments: i.comments.clone(),
    }
}

/// `/endpoints/proxmox/{id}`: the cluster and each node, with its interface count.
pub async fn endpoint_detail(state: &Services, id: i64) -> Result<EndpointDetail, AppError> {
    let row = endpoint_row(state, id).await?;
    let storages = storages_by_node(state, id).await?;
    let mut detail = EndpointDetail {
        endpoint: row.view(),
        cluster: None,
        version: None,
        quorate: None,
        nodes: Vec::new(),
        error: None,
    };
    let live = match live_cluster(state, &row).await {
        Ok(live) => live,
        Err(e) => {
            detail.error = Some(e);
            return Ok(detail);
        }
    };
    let cluster = live.status.iter().find(|e| e.kind == "cluster");
    detail.cluster = cluster.map(|c| c.name.clone());
    detail.quorate = cluster.and_then(|c| c.quorate);
    detail.version = Some(live.version.clone());
    let mut nodes: Vec<NodeSummary> = live
        .nodes
        .iter()
        .map(|n| summary(&live, n, storages.get(&n.node).map_or(0, Vec::len)))
        .collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let networks = futures::future::join_all(nodes.iter().map(|n| {
        let (row, name, online) = (&row, n.name.clone(), n.online);
        async move {
            match online {
                true => node_network(state, row, &name).await.ok().map(|n| n.len()),
                false => None,
            }
        }
    }))
    .await;
    for (node, interfaces) in nodes.iter_mut().zip(networks) {
        node.interfaces = interfaces;
    }
    detail.nodes = nodes;
    Ok(detail)
}

/// `/endpoints/proxmox/{id}/nodes/{node}`: its guests, interfaces and storages.
pub async fn node_detail(state: &Services, id: i64, node: &str) -> Result<NodeDetail, AppError> {
    let row = endpoint_row(state, id).await?;
    let mut storages = storages_by_node(state, id)
        .await?
        .remove(node)
        .unwrap_or_default();
    storages.sort_by(|a, b| a.storage.cmp(&b.storage));
    let mut guests: Vec<GuestRow> = guest_rows(&state.db)
        .await?
        .into_iter()
        .filter(|g| g.endpoint_id == id && g.guest.node == node)
        .collect();
    guests.sort_by_key(|g| g.guest.vmid);
    let mut detail = NodeDetail {
        endpoint_id: id,
        endpoint: row.name.clone(),
        node: NodeSummary {
            name: node.to_string(),
            online: false,
            ip: None,
            cpu: None,
            cpus: None,
            memory_used: None,
            memory_total: None,
            uptime: None,
            guests: guests.len(),
            running: guests
                .iter()
                .filter(|g| g.guest.status == "running")
                .count(),
            storages: storages.len(),
            interfaces: None,
        },
        guests,
        interfaces: Vec::new(),
        storages,
        error: None,
    };
    let read = async {
        let live = live_cluster(state, &row).await?;
        let entry = live.nodes.iter().find(|n| n.node == node).ok_or_else(|| {
            (
                format!("Proxmox endpoint {} has no node {node}", row.name),
                "Open the endpoint's page for the nodes it has now.".to_string(),
            )
        })?;
        let mut summary = summary(&live, entry, detail.storages.len());
        let interfaces = if summary.online {
            node_network(state, &row, node).await?
        } else {
            Arc::new(Vec::new())
        };
        summary.interfaces = summary.online.then_some(interfaces.len());
        Ok::<_, Failure>((summary, interfaces))
    };
    match read.await {
        Ok((summary, interfaces)) => {
            detail.node = summary;
            detail.interfaces = interfaces.iter().map(interface_view).collect();
        }
        Err(e) => detail.error = Some(e),
    }
    Ok(detail)
}
