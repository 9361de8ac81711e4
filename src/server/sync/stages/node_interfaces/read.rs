//! What the node-interfaces stage reads: each online node's network and its address in
//! `/cluster/status` from Proxmox, beside NetBox's interfaces and addresses on the nodes'
//! devices, the VLANs they name and any holder of an address new on its interface.

use std::collections::HashMap;

use proxbox_netbox::models::{Device, HeldAddress, Interface, IpAddress};
use proxbox_pve::ClusterStatusEntry;

use super::network::wanted_interfaces;
use super::{label, vids, Inputs, NodeNetwork};
use crate::events::{Item, StepStatus};
use crate::server::sync::addresses::{self, Reporting};
use crate::server::sync::context::SyncContext;
use crate::server::sync::failure::StageError;
use crate::server::sync::plan::{is_planned, Label};
use crate::server::sync::report::StageReport;
use crate::server::sync::state::RunState;
use crate::server::sync::vlans::read_vlans;

fn node_label(node: &str) -> Label {
    Label::new(node, "node", "network of node")
}

pub(super) async fn read(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &RunState,
) -> Result<Inputs, StageError> {
    report.substep(
        "read-proxmox",
        StepStatus::Started,
        "Reading each node's network from Proxmox",
    );
    let mut nodes: Vec<NodeNetwork> = Vec::new();
    let mut unread: Vec<(Label, Option<StageError>)> = Vec::new();
    for source in &ctx.sources {
        let Some(synced) = state
            .clusters
            .iter()
            .find(|c| c.endpoint_id == source.endpoint_id)
        else {
            continue;
        };
        let status: Vec<ClusterStatusEntry> = source.pve.cluster_status().await?.value;
        let mut reads = tokio::task::JoinSet::new();
        for (node, device) in &synced.devices {
            let entry = status.iter().find(|e| e.kind == "node" && e.name == *node);
            if entry.and_then(|e| e.online) == Some(false) {
                unread.push((
                    node_label(node).warned(Some(
                        "the node is offline; its interfaces in NetBox are left as they are".into(),
                    )),
                    None,
                ));
                continue;
            }
            let address = entry
                .and_then(|e| e.ip.as_deref())
                .and_then(|ip| ip.parse().ok());
            let vrf = ctx
                .options
                .mapping
                .node_vrf(&state.mapping, &synced.name, node);
            let (pve, node, device) = (source.pve.clone(), node.clone(), *device);
            reads.spawn(async move {
                let network = pve.node_network(&node).await;
                (node, device, address, vrf, network)
            });
        }
        while let Some(joined) = reads.join_next().await {
            let Ok((node, device, address, vrf, network)) = joined else {
                continue;
            };
            match network {
                Ok(parsed) => nodes.push(NodeNetwork {
                    interfaces: wanted_interfaces(&parsed.value),
                    node,
                    device,
                    address,
                    vrf,
                }),
                Err(e) => unread.push((node_label(&node), Some(e.into()))),
            }
        }
    }
    nodes.sort_by(|a, b| a.node.cmp(&b.node));
    unread.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    report.substep(
        "read-proxmox",
        StepStatus::Completed,
        format!(
            "{} interfaces on {} nodes",
            nodes.iter().map(|n| n.interfaces.len()).sum::<usize>(),
            nodes.len()
        ),
    );
    report.discover(
        "node interfaces",
        nodes
            .iter()
            .flat_map(|n| {
                n.interfaces
                    .iter()
                    .map(|i| Item::new(label(n, &i.name).name, "interface"))
            })
            .collect(),
    );

    report.substep(
        "read-netbox",
        StepStatus::Started,
        "Reading the interfaces and addresses of the nodes' devices",
    );
    // A dry run's planned devices have nothing in NetBox yet.
    let device_ids: Vec<u64> = nodes
        .iter()
        .map(|n| n.device)
        .filter(|id| !is_planned(*id))
        .collect();
    let wanted_vids = vids(&nodes);
    let (existing, vlans, devices) = tokio::try_join!(
        async {
            Ok::<_, StageError>(
                ctx.netbox
                    .list_in::<Interface, _>("device_id", &device_ids)
                    .await?,
            )
        },
        read_vlans(ctx, &wanted_vids),
        async { Ok(ctx.netbox.list_by_ids::<Device>(&device_ids).await?) },
    )?;
    let interface_ids: Vec<u64> = existing.iter().map(|i| i.id).collect();
    let assigned: Vec<IpAddress> = ctx.netbox.list_in("interface_id", &interface_ids).await?;
    let mut holders: Vec<HeldAddress> = ctx
        .netbox
        .list_in("address", &new_hosts(&nodes, &existing, &assigned))
        .await?;
    addresses::name_clusters(ctx, &mut holders).await?;
    report.substep(
        "read-netbox",
        StepStatus::Completed,
        format!(
            "{} interfaces, {} addresses on the nodes' devices",
            existing.len(),
            assigned.len()
        ),
    );
    Ok(Inputs {
        nodes,
        unread,
        existing,
        vlans,
        assigned,
        holders,
        primary_ips: devices
            .into_iter()
            .map(|d| {
                (
                    d.id,
                    (
                        d.primary_ip4.as_ref().map(|r| r.id),
                        d.primary_ip6.as_ref().map(|r| r.id),
                    ),
                )
            })
            .collect(),
    })
}

/// The hosts of Proxmox's addresses that are not yet on their interface in NetBox (an
/// interface NetBox lacks has none yet).
fn new_hosts(nodes: &[NodeNetwork], existing: &[Interface], assigned: &[IpAddress]) -> Vec<String> {
    let ids: HashMap<(u64, &str), u64> = existing
        .iter()
        .map(|i| ((i.device.id, i.name.as_str()), i.id))
        .collect();
    let reportings: Vec<Reporting> = nodes
        .iter()
        .flat_map(|n| {
            n.interfaces.iter().map(|i| Reporting {
                // 0 is no NetBox id: no address is on it.
                interface_id: ids.get(&(n.device, i.name.as_str())).copied().unwrap_or(0),
                assigned_type: proxbox_netbox::models::DCIM_INTERFACE,
                label: String::new(),
                addresses: i.addresses.clone(),
                vrf: n.vrf,
                owner: n.device,
            })
        })
        .collect();
    addresses::new_hosts(&reportings, assigned)
}
