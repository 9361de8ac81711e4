//! What the inventory stages know of a cluster before reading their own paths: its nodes
//! (online or not) and its guests, from `/cluster/resources`, read once per run and
//! endpoint and kept in the run's state for the next stage; likewise each node's storages,
//! which the storage and backups stages both need.

use std::collections::{HashMap, HashSet};

use proxbox_pve::{ClusterResource, GuestKind, NetDevice, NodeStorage, PveError, SdnVnet};

use super::context::ClusterSource;
use super::failure::StageError;
use super::state::{RunState, Scope};

/// A guest as `/cluster/resources` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGuest {
    pub kind: GuestKind,
    pub vmid: u64,
    pub node: String,
    pub name: String,
    pub pool: Option<String>,
    pub template: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterView {
    /// Node name and whether it is online.
    pub nodes: Vec<(String, bool)>,
    pub guests: Vec<ListedGuest>,
    /// Proxmox listed entries that could not be identified (a VMID of a shape no Proxmox
    /// sends): a guest missing from `guests` may still be there, so none is gone.
    pub incomplete: bool,
}

impl ClusterView {
    pub fn online_nodes(&self) -> impl Iterator<Item = &str> {
        self.nodes
            .iter()
            .filter(|(_, online)| *online)
            .map(|(name, _)| name.as_str())
    }

    /// A guest's name by its vmid (and kind, when known): how tasks and backups, which name
    /// only a vmid, are shown.
    pub fn guest(&self, vmid: u64, kind: Option<&str>) -> Option<&ListedGuest> {
        self.guests
            .iter()
            .find(|g| g.vmid == vmid && kind.is_none_or(|k| k == g.kind.as_str()))
    }

    /// Only the nodes and guests inside `scope`.
    pub fn within(mut self, scope: &Scope) -> ClusterView {
        self.nodes.retain(|(node, _)| scope.has_node(node));
        self.guests
            .retain(|g| scope.has_node(&g.node) && scope.has_guest(Some(g.vmid)));
        self
    }

    fn of(resources: &[ClusterResource], incomplete: bool) -> ClusterView {
        let mut view = ClusterView {
            incomplete,
            ..ClusterView::default()
        };
        for r in resources {
            if r.kind == "node" {
                if let Some(node) = &r.node {
                    view.nodes
                        .push((node.clone(), r.status.as_deref() != Some("offline")));
                }
            } else if let (Some(kind), Some(vmid), Some(node)) = (r.guest_kind(), r.vmid, &r.node) {
                view.guests.push(ListedGuest {
                    kind,
                    vmid,
                    node: node.clone(),
                    name: r
                        .name
                        .clone()
                        .unwrap_or_else(|| format!("{} {vmid}", kind.as_str())),
                    pool: r.pool.clone(),
                    template: r.template,
                });
            }
        }
        view.nodes.sort();
        view.guests.sort_by_key(|g| (g.vmid, g.kind));
        view
    }
}

/// The cluster of one endpoint as far as the run's scope reaches, read once per run.
pub async fn cluster_view(
    state: &mut RunState,
    source: &ClusterSource,
) -> Result<ClusterView, StageError> {
    Ok(whole_cluster(state, source).await?.within(&state.scope))
}

/// The cluster of one endpoint, whatever the run's scope.
pub async fn whole_cluster(
    state: &mut RunState,
    source: &ClusterSource,
) -> Result<ClusterView, StageError> {
    let endpoint = source.endpoint_id;
    if let Some(resources) = state.resources.get(&endpoint) {
        return Ok(ClusterView::of(
            resources,
            state.incomplete_lists.contains(&endpoint),
        ));
    }
    let listed = source.pve.cluster_resources().await?;
    let incomplete = listed.warnings.iter().any(|w| w.leaves_an_entry_out());
    if incomplete {
        state.incomplete_lists.insert(endpoint);
    }
    let view = ClusterView::of(&listed.value, incomplete);
    state.resources.insert(endpoint, listed.value);
    Ok(view)
}

/// Each online node's storages (`/nodes/{node}/storage`), read concurrently, once per run
/// and endpoint. A node whose storages could not be read comes with its error (and is
/// read again by the next stage that asks).
pub async fn node_storages(
    state: &mut RunState,
    source: &ClusterSource,
    view: &ClusterView,
) -> Vec<(String, Result<Vec<NodeStorage>, PveError>)> {
    let mut reads = tokio::task::JoinSet::new();
    let mut out = Vec::new();
    for node in view.online_nodes() {
        let key = (source.endpoint_id, node.to_string());
        if let Some(storages) = state.node_storages.get(&key) {
            out.push((node.to_string(), Ok(storages.clone())));
            continue;
        }
        let (pve, node) = (source.pve.clone(), node.to_string());
        reads.spawn(async move { (pve.node_storages(&node).await.map(|p| p.value), node) });
    }
    while let Some(joined) = reads.join_next().await {
        let Ok((result, node)) = joined else { continue };
        if let Ok(storages) = &result {
            state
                .node_storages
                .insert((source.endpoint_id, node.clone()), storages.clone());
        }
        out.push((node, result));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// An endpoint's SDN VNets, read once per run (the vm-interfaces and networks stages both
/// need them). A failed read is not kept: the next stage asks again.
pub async fn sdn_vnets(
    state: &mut RunState,
    source: &ClusterSource,
) -> Result<Vec<SdnVnet>, PveError> {
    if let Some(vnets) = state.sdn_vnets.get(&source.endpoint_id) {
        return Ok(vnets.clone());
    }
    let vnets = without_sdn_is_empty(source.pve.sdn_vnets().await.map(|v| v.value))?;
    state.sdn_vnets.insert(source.endpoint_id, vnets.clone());
    Ok(vnets)
}

/// A Proxmox without SDN (before 8.1, `libpve-network-perl` not installed) answers its
/// paths with 404 or 501: no zone, no VNet.
pub fn without_sdn_is_empty<T>(read: Result<Vec<T>, PveError>) -> Result<Vec<T>, PveError> {
    match read {
        Err(e) if matches!(e.status, Some(404 | 501)) => Ok(Vec::new()),
        other => other,
    }
}

/// Which guest NICs are bridged to an SDN VNet: the networks stage sets their VLAN (it
/// knows the VNets' VLANs), so the vm-interfaces stage leaves it alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VnetBridges {
    /// Per endpoint, its VNets; `None` when they could not be read.
    endpoints: HashMap<i64, Option<HashSet<String>>>,
}

impl VnetBridges {
    pub fn read(&mut self, endpoint_id: i64, vnets: Option<&[SdnVnet]>) {
        let names = vnets.map(|v| v.iter().map(|v| v.vnet.clone()).collect());
        self.endpoints.insert(endpoint_id, names);
    }

    /// Whether the NIC's VLAN is the networks stage's to set: its bridge is a VNet, or
    /// the endpoint's VNets are unknown and the NIC has no `tag=` of its own (its VLAN may
    /// be a VNet's; clearing it could undo the networks stage's work).
    pub fn leaves_vlan(&self, endpoint_id: i64, net: &NetDevice) -> bool {
        match self.endpoints.get(&endpoint_id) {
            Some(Some(vnets)) => net.bridge.as_ref().is_some_and(|b| vnets.contains(b)),
            Some(None) => net.vlan.is_none(),
            None => false,
        }
    }
}
