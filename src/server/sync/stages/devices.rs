//! `devices`: each Proxmox cluster becomes a NetBox cluster (with its own site), each node a
//! device. Reads `/cluster/status` and `/nodes` of every endpoint, NetBox once per type.

use std::collections::HashMap;

use proxbox_netbox::models::*;
use proxbox_netbox::ErrorKind;
use serde_json::json;

use crate::events::{ItemStatus, StepStatus};
use crate::server::sync::apply::{self, Label, Write};
use crate::server::sync::context::{slugify, StageError, SyncContext};
use crate::server::sync::overwrite::Field;
use crate::server::sync::report::StageReport;
use crate::server::sync::run::RunState;

pub const PROXBOX_TAG: &str = "proxbox";
/// The custom field that records each object's Proxmox identity in NetBox itself.
pub const IDENTITY_FIELD: &str = "proxbox_identity";
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

/// The tag list of every object Proxbox creates.
pub fn tags() -> Option<Vec<TagRef>> {
    Some(vec![TagRef {
        slug: PROXBOX_TAG.into(),
    }])
}

/// Whether an object carries the proxbox tag (Proxbox made it and may change or remove it).
pub fn is_managed(tags: &[Ref]) -> bool {
    tags.iter().any(|t| t.slug.as_deref() == Some(PROXBOX_TAG))
}

/// The custom fields that record `identity`, when NetBox has the identity field.
pub fn identity_fields(state: &RunState, identity: &str) -> CustomFields {
    let mut fields = CustomFields::new();
    if state.identity_field {
        fields.insert(IDENTITY_FIELD.into(), json!(identity));
    }
    fields
}

/// The identity field's patch for an existing object, when it does not hold `identity` yet.
pub fn identity_patch(state: &RunState, current: &CustomFields, identity: &str) -> CustomFields {
    match current.get(IDENTITY_FIELD) {
        Some(value) if value == &json!(identity) => CustomFields::new(),
        _ => identity_fields(state, identity),
    }
}

/// The identity recorded on an object, for re-adoption after a lost database.
pub fn recorded_identity(fields: &CustomFields) -> Option<&str> {
    fields.get(IDENTITY_FIELD).and_then(|v| v.as_str())
}

/// Makes sure the identity custom field exists. A token that may not create custom fields
/// is not fatal: identities then live in Proxbox's database only, which the run says.
async fn ensure_identity_field(
    ctx: &SyncContext<'_>,
    report: &StageReport<'_>,
) -> Result<bool, StageError> {
    let exists = || async {
        let found = ctx
            .netbox
            .list::<CustomField>(&[("name", IDENTITY_FIELD.to_string())])
            .await?;
        Ok::<_, StageError>(found.iter().any(|f| f.name == IDENTITY_FIELD))
    };
    if exists().await? {
        return Ok(true);
    }
    if ctx.options.dry_run {
        return Ok(false);
    }
    let new = NewCustomField {
        name: IDENTITY_FIELD.into(),
        label: "Proxmox identity".into(),
        kind: "text".into(),
        object_types: vec!["dcim.device".into(), "virtualization.virtualmachine".into()],
        description: "Set by Proxbox: endpoint cluster, guest type and VMID. Do not edit.".into(),
        ui_editable: "no".into(),
    };
    match ctx
        .netbox
        .create::<CustomField, _>(&[new])
        .await?
        .into_result()
    {
        Ok(_) => Ok(true),
        Err(e) if e.kind == ErrorKind::Permission => {
            report.substep(
                "prerequisites",
                StepStatus::Completed,
                format!(
                    "The NetBox token may not create the custom field {IDENTITY_FIELD}; identities are kept in Proxbox's database only. Create the field (text, on devices and virtual machines) or give the token that permission."
                ),
            );
            Ok(false)
        }
        // A concurrent sync created it between our look and our create.
        Err(e) if e.kind == ErrorKind::Validation && exists().await? => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// The identity of a node in the identity map.
pub fn node_identity(cluster: &str, node: &str) -> String {
    format!("{cluster}/node/{node}")
}

pub async fn run(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &mut RunState,
) -> Result<(), StageError> {
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
    apply::ensure::<Tag, _>(ctx, PROXBOX_TAG, || NewTag {
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
    // Independent of each other (the tag exists now): asked side by side, since each is a
    // NetBox round trip on every run.
    let (identity_field, cluster_type, maker, role) = tokio::try_join!(
        ensure_identity_field(ctx, report),
        apply::ensure::<ClusterType, _>(ctx, "proxmox", || named("Proxmox VE", "proxmox")),
        apply::ensure::<Manufacturer, _>(ctx, "proxmox", || named("Proxmox", "proxmox")),
        apply::ensure::<DeviceRole, _>(ctx, "proxmox-node", || NewDeviceRole {
            name: "Proxmox Node".into(),
            slug: "proxmox-node".into(),
            color: "ff5722".into(),
            vm_role: false,
            tags: vec![TagRef {
                slug: PROXBOX_TAG.into(),
            }],
        }),
    )?;
    state.identity_field = identity_field;
    let device_type = apply::ensure::<DeviceType, _>(ctx, "proxmox-node", || NewDeviceType {
        manufacturer: maker,
        model: "Proxmox VE Node".into(),
        slug: "proxmox-node".into(),
        u_height: 1.0,
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
        "Reading the sites, clusters and devices of the synced clusters",
    );
    // Only what this run's clusters need: reads that other clusters' syncs cannot disturb.
    let nb = &ctx.netbox;
    let site_slug = |c: &ProxmoxCluster| format!("proxmox-{}", slugify(&c.name));
    let slugs: Vec<String> = found.iter().map(site_slug).collect();
    let names: Vec<String> = found.iter().map(|c| c.name.clone()).collect();
    let (sites, clusters) = tokio::try_join!(
        nb.list_in::<Site, _>("slug", &slugs),
        nb.list_in::<Cluster, _>("name", &names),
    )?;
    let mut sites: HashMap<String, u64> = sites.into_iter().map(|s| (s.slug, s.id)).collect();
    let mut clusters: HashMap<String, Option<u64>> =
        clusters.into_iter().map(|c| (c.name, Some(c.id))).collect();
    let cluster_ids: Vec<u64> = clusters.values().flatten().copied().collect();
    let devices: Vec<Device> = nb.list_in("cluster_id", &cluster_ids).await?;
    report.substep(
        "read-netbox",
        StepStatus::Completed,
        format!(
            "{} sites, {} clusters, {} devices of the synced clusters",
            sites.len(),
            clusters.len(),
            devices.len()
        ),
    );
    let missing_sites: Vec<Write<NewSite>> = found
        .iter()
        .filter(|c| !sites.contains_key(&site_slug(c)))
        .map(|c| Write {
            label: Label::new(format!("Proxmox {}", c.name), "site", "site"),
            id: None,
            body: NewSite {
                name: format!("Proxmox {}", c.name),
                slug: site_slug(c),
                status: "active".into(),
                tags: vec![TagRef {
                    slug: PROXBOX_TAG.into(),
                }],
            },
        })
        .collect();
    let missing_clusters: Vec<&ProxmoxCluster> = found
        .iter()
        .filter(|c| !clusters.contains_key(&c.name))
        .collect();
    report.expect(node_count + missing_sites.len() + missing_clusters.len());

    // Sites, then clusters, then devices: each points at the one before.
    report.substep(
        "apply",
        StepStatus::Started,
        "Writing sites, clusters and devices",
    );
    let site_ids = apply::create::<Site, _>(ctx, report, &missing_sites).await?;
    for (write, id) in missing_sites.iter().zip(site_ids) {
        if let Some(id) = id {
            sites.insert(write.body.slug.clone(), id);
        }
    }
    let cluster_writes: Vec<Write<ClusterWrite>> = missing_clusters
        .iter()
        .map(|c| Write {
            label: Label::new(c.name.clone(), "cluster", "cluster"),
            id: None,
            body: ClusterWrite {
                name: Some(c.name.clone()),
                cluster_type: Some(cluster_type),
                status: Some("active".into()),
                scope_type: Some("dcim.site".into()),
                scope_id: sites.get(&site_slug(c)).copied(),
                tags: tags(),
                ..Default::default()
            },
        })
        .collect();
    let cluster_ids = apply::create::<Cluster, _>(ctx, report, &cluster_writes).await?;
    for (c, id) in missing_clusters.iter().zip(cluster_ids) {
        clusters.insert(c.name.clone(), id);
    }

    // Devices: by the identity map, by the identity recorded in NetBox, else by cluster
    // and name (re-adoption after a lost database).
    let mut creates: Vec<(usize, Write<DeviceWrite>)> = Vec::new();
    let mut updates: Vec<Write<DeviceWrite>> = Vec::new();
    let mut synced_clusters = Vec::new();
    for (cluster_index, c) in found.iter().enumerate() {
        let label = |node: &str| Label::new(node, "node", "device");
        let (Some(cluster), Some(&site)) = (clusters[&c.name], sites.get(&site_slug(c))) else {
            let why = StageError {
                category: crate::events::ErrorCategory::Validation,
                message: format!("cluster {} could not be created in NetBox", c.name),
                detail: "See the cluster's own error above.".into(),
                suggestion: "Fix what NetBox refused about the cluster, then sync again.".into(),
            };
            for (node, _) in &c.nodes {
                report.labeled(&label(node), ItemStatus::Failed, None, Some(why.clone()));
            }
            continue;
        };
        let mapped = ctx.db.mapped_objects(c.endpoint_id, DEVICE_MODEL).await?;
        let mut synced = SyncedCluster {
            endpoint_id: c.endpoint_id,
            name: c.name.clone(),
            netbox_cluster: cluster,
            site,
            devices: HashMap::new(),
        };
        for (node, online) in &c.nodes {
            let identity = node_identity(&c.name, node);
            let status = if *online { "active" } else { "offline" };
            let by_map = mapped
                .get(&identity)
                .and_then(|m| devices.iter().find(|d| d.id as i64 == m.netbox_id));
            let by_recorded = || {
                devices
                    .iter()
                    .find(|d| recorded_identity(&d.custom_fields) == Some(identity.as_str()))
            };
            let by_name = || {
                devices.iter().find(|d| {
                    d.name.as_deref() == Some(node)
                        && d.cluster.as_ref().is_some_and(|r| r.id == cluster)
                })
            };
            match by_map.or_else(by_recorded).or_else(by_name) {
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
                        cluster: (device.cluster.as_ref().map(|r| r.id) != Some(cluster))
                            .then_some(cluster),
                        custom_fields: identity_patch(state, &device.custom_fields, &identity),
                        ..Default::default()
                    };
                    synced.devices.insert(node.clone(), device.id);
                    if patch
                        == (DeviceWrite {
                            id: Some(device.id),
                            ..Default::default()
                        })
                    {
                        report.labeled(&label(node), ItemStatus::Skipped, Some(device.id), None);
                    } else {
                        updates.push(Write {
                            label: label(node),
                            id: Some(device.id),
                            body: patch,
                        });
                    }
                }
                None => creates.push((
                    cluster_index,
                    Write {
                        label: label(node),
                        id: None,
                        body: DeviceWrite {
                            name: Some(node.clone()),
                            device_type: Some(device_type),
                            role: Some(role),
                            site: Some(site),
                            cluster: Some(cluster),
                            status: Some(status.into()),
                            description: Some(format!("Proxmox VE node of cluster {}", c.name)),
                            tags: tags(),
                            custom_fields: identity_fields(state, &identity),
                            ..Default::default()
                        },
                    },
                )),
            }
        }
        synced_clusters.push(synced);
    }

    let writes: Vec<Write<DeviceWrite>> = creates.iter().map(|(_, w)| w.clone()).collect();
    let created = apply::create::<Device, _>(ctx, report, &writes).await?;
    for ((cluster_index, write), id) in creates.iter().zip(created) {
        let cluster = &found[*cluster_index];
        if let (Some(id), Some(synced)) = (
            id,
            synced_clusters
                .iter_mut()
                .find(|s| s.endpoint_id == cluster.endpoint_id && s.name == cluster.name),
        ) {
            synced.devices.insert(write.label.name.clone(), id);
        }
    }
    apply::update::<Device, _>(ctx, report, &updates).await?;

    if !ctx.options.dry_run {
        // Every device that exists now, once per identity.
        let mut mapped_now: HashMap<i64, Vec<(String, i64)>> = HashMap::new();
        for synced in &synced_clusters {
            mapped_now.entry(synced.endpoint_id).or_default().extend(
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
    }
    report.substep("apply", StepStatus::Completed, "Devices written");
    state.clusters = synced_clusters;
    Ok(())
}
