//! `devices`: each Proxmox cluster becomes a NetBox cluster (with its own site), each node a
//! device. Reads `/cluster/status` and `/nodes` of every endpoint, NetBox once per type.

use std::collections::HashMap;

use proxbox_netbox::models::*;

use crate::events::{ItemStatus, StepStatus};
use crate::server::sync::context::{slugify, StageError, SyncContext};
use crate::server::sync::overwrite::Field;
use crate::server::sync::report::StageReport;

pub const PROXBOX_TAG: &str = "proxbox";
const DEVICE_MODEL: &str = "dcim.device";

/// What later stages need from this one, per endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedCluster {
    pub endpoint_id: i64,
    pub name: String,
    pub netbox_cluster: u64,
    pub site: u64,
    /// Node name → NetBox device id.
    pub devices: HashMap<String, u64>,
}

struct ProxmoxCluster {
    endpoint_id: i64,
    name: String,
    /// Node name and whether it is online.
    nodes: Vec<(String, bool)>,
}

fn tags() -> Option<Vec<TagRef>> {
    Some(vec![TagRef {
        slug: PROXBOX_TAG.into(),
    }])
}

/// The identity of a node in the identity map.
pub fn node_identity(cluster: &str, node: &str) -> String {
    format!("{cluster}/node/{node}")
}

pub async fn run(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
) -> Result<Vec<SyncedCluster>, StageError> {
    report.substep(
        "read-proxmox",
        StepStatus::Started,
        "Reading cluster status and nodes from Proxmox",
    );
    let mut found = Vec::new();
    for source in &ctx.sources {
        let status = source.pve.cluster_status().await?.value;
        let nodes: Vec<(String, bool)> = status
            .iter()
            .filter(|e| e.kind == "node")
            .map(|e| (e.name.clone(), e.online.unwrap_or(true)))
            .collect();
        // A single node without a cluster is named after the node (as Proxmox's UI does).
        let name = status
            .iter()
            .find(|e| e.kind == "cluster")
            .map(|e| e.name.clone())
            .or_else(|| nodes.first().map(|(n, _)| n.clone()))
            .unwrap_or_else(|| source.endpoint_name.clone());
        found.push(ProxmoxCluster {
            endpoint_id: source.endpoint_id,
            name,
            nodes,
        });
    }
    let node_count: usize = found.iter().map(|c| c.nodes.len()).sum();
    report.expect(node_count);
    report.substep(
        "read-proxmox",
        StepStatus::Completed,
        format!("{node_count} nodes in {} clusters", found.len()),
    );

    report.substep(
        "prerequisites",
        StepStatus::Started,
        "Making sure the tag, cluster type, manufacturer, device type and role exist",
    );
    let nb = ctx.netbox;
    nb.ensure::<Tag, _>(PROXBOX_TAG, || NewTag {
        name: "Proxbox".into(),
        slug: PROXBOX_TAG.into(),
        color: "ff5722".into(),
        description: "Managed by Proxbox".into(),
    })
    .await?;
    let named = |name: &str, slug: &str| NewNamed {
        name: name.into(),
        slug: slug.into(),
        description: String::new(),
        tags: vec![TagRef {
            slug: PROXBOX_TAG.into(),
        }],
    };
    let cluster_type = nb
        .ensure::<ClusterType, _>("proxmox", || named("Proxmox VE", "proxmox"))
        .await?;
    let maker = nb
        .ensure::<Manufacturer, _>("proxmox", || named("Proxmox", "proxmox"))
        .await?;
    let device_type = nb
        .ensure::<DeviceType, _>("proxmox-node", || NewDeviceType {
            manufacturer: maker.id,
            model: "Proxmox VE Node".into(),
            slug: "proxmox-node".into(),
            u_height: 1.0,
            tags: vec![TagRef {
                slug: PROXBOX_TAG.into(),
            }],
        })
        .await?;
    let role = nb
        .ensure::<DeviceRole, _>("proxmox-node", || NewDeviceRole {
            name: "Proxmox Node".into(),
            slug: "proxmox-node".into(),
            color: "ff5722".into(),
            vm_role: false,
            tags: vec![TagRef {
                slug: PROXBOX_TAG.into(),
            }],
        })
        .await?;
    report.substep(
        "prerequisites",
        StepStatus::Completed,
        "Tag, cluster type, manufacturer, device type and role are in place",
    );

    report.substep(
        "read-netbox",
        StepStatus::Started,
        "Reading the sites, clusters and devices Proxbox manages",
    );
    let tagged = [("tag", PROXBOX_TAG.to_string())];
    let mut sites: HashMap<String, u64> = nb
        .list::<Site>(&tagged)
        .await?
        .into_iter()
        .map(|s| (s.slug, s.id))
        .collect();
    let mut clusters: HashMap<String, Cluster> = nb
        .list::<Cluster>(&tagged)
        .await?
        .into_iter()
        .map(|c| (c.name.clone(), c))
        .collect();
    let devices: Vec<Device> = nb.list::<Device>(&tagged).await?;
    report.substep(
        "read-netbox",
        StepStatus::Completed,
        format!(
            "{} sites, {} clusters, {} devices managed by Proxbox",
            sites.len(),
            clusters.len(),
            devices.len()
        ),
    );

    // Sites and clusters first: devices point at them.
    let missing_sites: Vec<NewSite> = found
        .iter()
        .map(|c| (c, format!("proxmox-{}", slugify(&c.name))))
        .filter(|(_, slug)| !sites.contains_key(slug))
        .map(|(c, slug)| NewSite {
            name: format!("Proxmox {}", c.name),
            slug,
            status: "active".into(),
            tags: vec![TagRef {
                slug: PROXBOX_TAG.into(),
            }],
        })
        .collect();
    if !missing_sites.is_empty() {
        for site in nb.create::<Site, _>(&missing_sites).await?.into_result()? {
            sites.insert(site.slug, site.id);
        }
    }
    let missing_clusters: Vec<ClusterWrite> = found
        .iter()
        .filter(|c| !clusters.contains_key(&c.name))
        .map(|c| ClusterWrite {
            name: Some(c.name.clone()),
            cluster_type: Some(cluster_type.id),
            status: Some("active".into()),
            scope_type: Some("dcim.site".into()),
            scope_id: sites.get(&format!("proxmox-{}", slugify(&c.name))).copied(),
            tags: tags(),
            ..Default::default()
        })
        .collect();
    if !missing_clusters.is_empty() {
        for cluster in nb
            .create::<Cluster, _>(&missing_clusters)
            .await?
            .into_result()?
        {
            clusters.insert(cluster.name.clone(), cluster);
        }
    }

    // Devices: by the identity map, else by cluster and name (re-adoption).
    let mut creates = Vec::new();
    let mut updates = Vec::new();
    let mut outcome = Vec::new();
    for c in &found {
        let cluster = &clusters[&c.name];
        let site = sites[&format!("proxmox-{}", slugify(&c.name))];
        let mapped = ctx.db.mapped_objects(c.endpoint_id, DEVICE_MODEL).await?;
        let mut synced = SyncedCluster {
            endpoint_id: c.endpoint_id,
            name: c.name.clone(),
            netbox_cluster: cluster.id,
            site,
            devices: HashMap::new(),
        };
        for (node, online) in &c.nodes {
            let status = if *online { "active" } else { "offline" };
            let by_map = mapped
                .get(&node_identity(&c.name, node))
                .and_then(|m| devices.iter().find(|d| d.id as i64 == m.netbox_id));
            let by_name = || {
                devices.iter().find(|d| {
                    d.name.as_deref() == Some(node)
                        && d.cluster.as_ref().is_some_and(|r| r.id == cluster.id)
                })
            };
            match by_map.or_else(by_name) {
                Some(device) => {
                    let patch = DeviceWrite {
                        id: Some(device.id),
                        status: ctx
                            .policy
                            .update(Field::Status, &device.status.value.as_str(), status)
                            .map(str::to_string),
                        name: ctx
                            .policy
                            .update(Field::Name, &device.name.as_deref(), Some(node.as_str()))
                            .flatten()
                            .map(str::to_string),
                        cluster: (device.cluster.as_ref().map(|r| r.id) != Some(cluster.id))
                            .then_some(cluster.id),
                        ..Default::default()
                    };
                    synced.devices.insert(node.clone(), device.id);
                    if patch.status.is_some() || patch.name.is_some() || patch.cluster.is_some() {
                        updates.push((node.clone(), patch));
                    } else {
                        report.item(
                            node,
                            "node",
                            "device",
                            ItemStatus::Skipped,
                            Some(device.id),
                            None,
                        );
                    }
                }
                None => creates.push((
                    c.endpoint_id,
                    c.name.clone(),
                    node.clone(),
                    DeviceWrite {
                        name: Some(node.clone()),
                        device_type: Some(device_type.id),
                        role: Some(role.id),
                        site: Some(site),
                        cluster: Some(cluster.id),
                        status: Some(status.into()),
                        description: Some(format!("Proxmox VE node of cluster {}", c.name)),
                        tags: tags(),
                        ..Default::default()
                    },
                )),
            }
        }
        outcome.push(synced);
    }

    report.substep(
        "apply",
        StepStatus::Started,
        format!(
            "{} devices to create, {} to update",
            creates.len(),
            updates.len()
        ),
    );
    let writes: Vec<DeviceWrite> = creates.iter().map(|(.., w)| w.clone()).collect();
    let created = nb.create::<Device, _>(&writes).await?;
    for (index, device) in &created.done {
        let (endpoint_id, cluster, node, _) = &creates[*index];
        report.item(
            node,
            "node",
            "device",
            ItemStatus::Created,
            Some(device.id),
            None,
        );
        if let Some(synced) = outcome
            .iter_mut()
            .find(|s| s.endpoint_id == *endpoint_id && &s.name == cluster)
        {
            synced.devices.insert(node.clone(), device.id);
        }
    }
    for failure in &created.failed {
        let (_, _, node, _) = &creates[failure.index];
        report.item(
            node,
            "node",
            "device",
            ItemStatus::Failed,
            None,
            Some(failure.error.to_string()),
        );
    }
    let patches: Vec<DeviceWrite> = updates.iter().map(|(_, w)| w.clone()).collect();
    let updated = nb.update::<Device, _>(&patches).await?;
    for (index, device) in &updated.done {
        report.item(
            &updates[*index].0,
            "node",
            "device",
            ItemStatus::Updated,
            Some(device.id),
            None,
        );
    }
    for failure in &updated.failed {
        report.item(
            &updates[failure.index].0,
            "node",
            "device",
            ItemStatus::Failed,
            None,
            Some(failure.error.to_string()),
        );
    }
    // Every device that exists now, once per identity (created ones were added above).
    let mut mapped_now: HashMap<i64, Vec<(String, i64)>> = HashMap::new();
    for synced in &outcome {
        let entry = mapped_now.entry(synced.endpoint_id).or_default();
        entry.extend(
            synced
                .devices
                .iter()
                .map(|(node, id)| (node_identity(&synced.name, node), *id as i64)),
        );
    }
    for (endpoint_id, objects) in mapped_now {
        ctx.db
            .map_objects(endpoint_id, DEVICE_MODEL, &objects)
            .await?;
    }
    report.substep("apply", StepStatus::Completed, "Devices written");
    Ok(outcome)
}
