//! `devices`: each Proxmox cluster becomes a NetBox cluster (with its own site), each node a
//! device. Reads `/cluster/status` of every endpoint and NetBox once per type; plans sites,
//! then clusters, then devices, each pointing at the one before.

use std::collections::HashMap;

use proxbox_netbox::models::*;

use crate::events::{ErrorCategory, Item, StepStatus};
use crate::server::infra::db::sync_objects::Mapped;
use crate::server::sync::adopt::AdoptedBy;
use crate::server::sync::adopt::{conflict_words, mapped_ids, Adopter, Claim, Found};
use crate::server::sync::apply::{self, Target, Writer};
use crate::server::sync::context::SyncContext;
use crate::server::sync::custom_fields;
use crate::server::sync::failure::StageError;
use crate::server::sync::managed::*;
use crate::server::sync::overwrite::{Field, OverwritePolicy};
use crate::server::sync::plan::{Label, Plan};
use crate::server::sync::report::StageReport;
use crate::server::sync::state::{RunState, Scope, SyncedCluster};

pub const DEVICE_MODEL: &str = "dcim.device";

/// A Proxmox cluster as `/cluster/status` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxmoxCluster {
    pub endpoint_id: i64,
    pub name: String,
    /// Node name and whether it is online.
    pub nodes: Vec<(String, bool)>,
    /// The slug of the site a new cluster is scoped to: a mapping rule's, else its own
    /// [`site_slug`], which Proxbox creates.
    pub site: String,
}

/// The shared objects every node device points at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prerequisites {
    pub cluster_type: u64,
    pub role: u64,
    pub device_type: u64,
    /// Whether NetBox has the identity custom field.
    pub identity_field: bool,
}

/// What the stage read: Proxmox's clusters and NetBox's sites, clusters and devices of
/// them, and the identity map of each endpoint's devices.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub clusters: Vec<ProxmoxCluster>,
    /// Site slug → id.
    pub sites: HashMap<String, u64>,
    /// Cluster name → id.
    pub netbox_clusters: HashMap<String, u64>,
    /// Cluster name → the tags an existing cluster carries: one without `proxbox` is
    /// taken over.
    pub cluster_tags: HashMap<String, Vec<Ref>>,
    /// Cluster name → the site an existing cluster is scoped to: its devices and VMs must
    /// be in it, whatever a rule names now.
    pub cluster_sites: HashMap<String, u64>,
    pub devices: Vec<Device>,
    pub mapped: HashMap<i64, HashMap<String, Mapped>>,
    pub prerequisites: Prerequisites,
}

/// A node device's key in the plan: the cluster's index in `Inputs::clusters` and the node.
pub type NodeKey = (usize, String);

/// The site each cluster gets by default.
pub fn site_slug(cluster: &str) -> String {
    format!("proxmox-{}", slugify(cluster))
}

/// Sites the clusters lack, by slug.
pub fn plan_sites(inputs: &Inputs) -> Plan<NewSite, String> {
    let mut plan = Plan::new("sites");
    for cluster in &inputs.clusters {
        let slug = site_slug(&cluster.name);
        // A rule's site is the operator's (checked to exist before the run wrote anything).
        if cluster.site != slug
            || inputs.sites.contains_key(&slug)
            || plan.creates.iter().any(|w| w.key == slug)
        {
            continue;
        }
        let name = format!("Proxmox {}", cluster.name);
        plan.create(
            slug.clone(),
            Label::new(name.clone(), "site", "site"),
            NewSite {
                name,
                slug,
                status: "active".into(),
                tags: vec![proxbox_tag()],
            },
        );
    }
    plan
}

/// The site of a cluster's devices and VMs: the one an existing cluster is scoped to, else
/// the one a new cluster gets.
fn site_of(inputs: &Inputs, sites: &HashMap<String, u64>, cluster: &ProxmoxCluster) -> Option<u64> {
    inputs
        .cluster_sites
        .get(&cluster.name)
        .or_else(|| sites.get(&cluster.site))
        .copied()
}

/// Clusters NetBox lacks, by name, each scoped to its site; one of the name that another
/// tool or an operator made is taken over as it is (type and site), tagged.
pub fn plan_clusters(inputs: &Inputs, sites: &HashMap<String, u64>) -> Plan<ClusterWrite, String> {
    let mut plan = Plan::new("clusters");
    for cluster in &inputs.clusters {
        if plan
            .creates
            .iter()
            .chain(&plan.updates)
            .any(|w| w.key == cluster.name)
        {
            continue;
        }
        if let Some(&id) = inputs.netbox_clusters.get(&cluster.name) {
            let current = inputs.cluster_tags.get(&cluster.name);
            if let Some(tags) = adoption_tags(current.map(Vec::as_slice).unwrap_or_default()) {
                plan.update(
                    cluster.name.clone(),
                    Label::new(cluster.name.clone(), "cluster", "cluster")
                        .adopted(AdoptedBy::Name.words()),
                    id,
                    ClusterWrite {
                        id: Some(id),
                        tags: Some(tags),
                        ..Default::default()
                    },
                );
            }
            continue;
        }
        plan.create(
            cluster.name.clone(),
            Label::new(cluster.name.clone(), "cluster", "cluster"),
            ClusterWrite {
                name: Some(cluster.name.clone()),
                cluster_type: Some(inputs.prerequisites.cluster_type),
                status: Some("active".into()),
                scope_type: Some("dcim.site".into()),
                scope_id: sites.get(&cluster.site).copied(),
                tags: tags(),
                ..Default::default()
            },
        );
    }
    plan
}

/// A device per node: adopted ones corrected where the policy owns the field, missing
/// ones created; nodes of a cluster NetBox refused fail.
pub fn plan_devices(
    inputs: &Inputs,
    sites: &HashMap<String, u64>,
    clusters: &HashMap<String, u64>,
    policy: &OverwritePolicy,
) -> Plan<DeviceWrite, NodeKey> {
    let mut plan = Plan::new("devices");
    let prerequisites = inputs.prerequisites;
    let label = |node: &str| Label::new(node, "node", "device");
    // The nodes of the clusters NetBox has, with their identity.
    let mut nodes = Vec::new();
    for (cluster_index, c) in inputs.clusters.iter().enumerate() {
        let (Some(&cluster), Some(site)) = (clusters.get(&c.name), site_of(inputs, sites, c))
        else {
            let why = StageError {
                category: ErrorCategory::Validation,
                message: format!("cluster {} could not be created in NetBox", c.name),
                detail: "See the cluster's own error above.".into(),
                suggestion: "Fix what NetBox refused about the cluster, then sync again.".into(),
            };
            for (node, _) in &c.nodes {
                plan.fail(label(node), None, why.clone());
            }
            continue;
        };
        for (node, online) in &c.nodes {
            let identity = node_identity(&c.name, node);
            let in_map = inputs
                .mapped
                .get(&c.endpoint_id)
                .and_then(|m| m.get(&identity))
                .map(|m| m.netbox_id as u64);
            nodes.push(PlannedNode {
                key: (cluster_index, node.clone()),
                cluster_name: &c.name,
                online: *online,
                cluster,
                site,
                identity,
                in_map,
            });
        }
    }
    let claims: Vec<Claim<'_>> = nodes
        .iter()
        .map(|n| Claim {
            mapped: n.in_map,
            identity: &n.identity,
            name: &n.key.1,
            cluster: n.cluster,
            vmid: None,
        })
        .collect();
    let found = Adopter::new(&inputs.devices, mapped_ids(&inputs.mapped)).adopt_all(&claims);
    for ((n, found), claim) in nodes.iter().zip(found).zip(&claims) {
        let node = &n.key.1;
        let status = if n.online { "active" } else { "offline" };
        match found {
            Found::Conflict(how, ids) => {
                plan.leave(
                    label(node).conflict(conflict_words("device", claim, how, &ids)),
                    None,
                );
            }
            Found::Adopted(device, how) => {
                let tags = adoption_tags(&device.tags);
                let label = if tags.is_some() || !how.is_identity() {
                    label(node).adopted(how.words())
                } else {
                    label(node)
                };
                let patch = DeviceWrite {
                    id: Some(device.id),
                    status: policy
                        .update(Field::Status, &device.status.value.as_str(), status)
                        .map(str::to_string),
                    name: policy
                        .update(Field::Name, &device.name.as_deref(), Some(node.as_str()))
                        .flatten()
                        .map(str::to_string),
                    cluster: (device.cluster.as_ref().map(|r| r.id) != Some(n.cluster))
                        .then_some(n.cluster),
                    tags,
                    custom_fields: identity_patch(
                        prerequisites.identity_field,
                        &device.custom_fields,
                        &n.identity,
                    ),
                    ..Default::default()
                };
                plan.update(n.key.clone(), label, device.id, patch);
            }
            Found::New => plan.create(
                n.key.clone(),
                label(node),
                DeviceWrite {
                    name: Some(node.clone()),
                    device_type: Some(prerequisites.device_type),
                    role: Some(prerequisites.role),
                    site: Some(n.site),
                    cluster: Some(n.cluster),
                    status: Some(status.into()),
                    description: Some(format!("Proxmox VE node of cluster {}", n.cluster_name)),
                    tags: tags(),
                    custom_fields: identity_fields(prerequisites.identity_field, &n.identity),
                    ..Default::default()
                },
            ),
        }
    }
    plan
}

/// A node of a cluster NetBox has, on its way to its device.
struct PlannedNode<'i> {
    key: NodeKey,
    cluster_name: &'i str,
    online: bool,
    cluster: u64,
    site: u64,
    identity: String,
    in_map: Option<u64>,
}

/// Plans and writes sites, clusters and devices in turn (each needs the ids of the one
/// before); returns the clusters as NetBox has them now.
pub async fn write<T: Target>(
    writer: &Writer<'_, T>,
    report: &mut StageReport<'_>,
    inputs: &Inputs,
    policy: &OverwritePolicy,
) -> Result<Vec<SyncedCluster>, StageError> {
    let mut sites = inputs.sites.clone();
    let applied = apply::write::<Site, _, _, _>(writer, report, &plan_sites(inputs)).await?;
    sites.extend(applied.settled().map(|(slug, id)| (slug.clone(), id)));
    let mut clusters = inputs.netbox_clusters.clone();
    let applied =
        apply::write::<Cluster, _, _, _>(writer, report, &plan_clusters(inputs, &sites)).await?;
    clusters.extend(applied.settled().map(|(name, id)| (name.clone(), id)));
    let plan = plan_devices(inputs, &sites, &clusters, policy);
    let applied = apply::write::<Device, _, _, _>(writer, report, &plan).await?;
    let mut synced: Vec<SyncedCluster> = inputs
        .clusters
        .iter()
        .filter_map(|c| {
            Some(SyncedCluster {
                endpoint_id: c.endpoint_id,
                name: c.name.clone(),
                netbox_cluster: *clusters.get(&c.name)?,
                site: site_of(inputs, &sites, c)?,
                devices: HashMap::new(),
            })
        })
        .collect();
    for ((cluster_index, node), id) in applied.existing() {
        let c = &inputs.clusters[*cluster_index];
        if let Some(s) = synced
            .iter_mut()
            .find(|s| s.endpoint_id == c.endpoint_id && s.name == c.name)
        {
            s.devices.insert(node.clone(), id);
        }
    }
    Ok(synced)
}

pub async fn run(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &mut RunState,
) -> Result<(), StageError> {
    let inputs = read(ctx, report, &state.scope).await?;
    report.substep(
        "apply",
        StepStatus::Started,
        "Writing sites, clusters and devices",
    );
    let synced = write(&ctx.writer(), report, &inputs, &ctx.policy).await?;
    if !ctx.options.dry_run {
        // Every device that exists now, once per identity.
        for s in &synced {
            let objects: Vec<(String, i64)> = s
                .devices
                .iter()
                .map(|(node, id)| (node_identity(&s.name, node), *id as i64))
                .collect();
            ctx.db
                .map_objects(s.endpoint_id, DEVICE_MODEL, &objects)
                .await?;
        }
    }
    report.substep("apply", StepStatus::Completed, "Devices written");
    state.identity_field = inputs.prerequisites.identity_field;
    state.clusters = synced;
    Ok(())
}

/// Proxmox's clusters, the shared objects (created when missing, outside a dry run), and
/// what NetBox and the identity map hold of the run's clusters.
pub async fn read(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    scope: &Scope,
) -> Result<Inputs, StageError> {
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
        // A node's or guest's run writes that node's device only.
        let nodes = nodes
            .into_iter()
            .filter(|(n, _)| scope.has_node(n))
            .collect();
        found.push(ProxmoxCluster {
            endpoint_id: source.endpoint_id,
            site: ctx
                .options
                .mapping
                .cluster_site(&name)
                .map_or_else(|| site_slug(&name), str::to_string),
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
    report.discover(
        "devices",
        found
            .iter()
            .flat_map(|c| {
                c.nodes
                    .iter()
                    .map(|(node, _)| Item::new(node.clone(), "node"))
            })
            .collect(),
    );
    let prerequisites = prerequisites(ctx, report).await?;

    report.substep(
        "read-netbox",
        StepStatus::Started,
        "Reading the sites, clusters and devices of the synced clusters",
    );
    // Only what this run's clusters need: reads that other clusters' syncs cannot disturb.
    let nb = &ctx.netbox;
    let slugs: Vec<String> = found.iter().map(|c| c.site.clone()).collect();
    let names: Vec<String> = found.iter().map(|c| c.name.clone()).collect();
    let (sites, clusters) = tokio::try_join!(
        nb.list_in::<Site, _>("slug", &slugs),
        nb.list_in::<Cluster, _>("name", &names),
    )?;
    let sites: HashMap<String, u64> = sites.into_iter().map(|s| (s.slug, s.id)).collect();
    let cluster_sites: HashMap<String, u64> = clusters
        .iter()
        .filter(|c| c.scope_type.as_deref() == Some("dcim.site"))
        .filter_map(|c| Some((c.name.clone(), c.scope_id?)))
        .collect();
    let cluster_tags: HashMap<String, Vec<Ref>> = clusters
        .iter()
        .map(|c| (c.name.clone(), c.tags.clone()))
        .collect();
    let netbox_clusters: HashMap<String, u64> =
        clusters.into_iter().map(|c| (c.name, c.id)).collect();
    let cluster_ids: Vec<u64> = netbox_clusters.values().copied().collect();
    // A node entered by hand is often a device of its site in no cluster: those of the
    // nodes' names are candidates too.
    let node_names: Vec<&str> = found
        .iter()
        .flat_map(|c| c.nodes.iter().map(|(n, _)| n.as_str()))
        .collect();
    let (mut devices, named) = tokio::try_join!(
        nb.list_in::<Device, _>("cluster_id", &cluster_ids),
        nb.list_in::<Device, _>("name", &node_names),
    )?;
    devices.extend(named.into_iter().filter(|d| d.cluster.is_none()));
    let mut mapped = HashMap::new();
    for c in &found {
        mapped.insert(
            c.endpoint_id,
            ctx.db.mapped_objects(c.endpoint_id, DEVICE_MODEL).await?,
        );
    }
    report.substep(
        "read-netbox",
        StepStatus::Completed,
        format!(
            "{} sites, {} clusters, {} devices of the synced clusters",
            sites.len(),
            netbox_clusters.len(),
            devices.len()
        ),
    );
    Ok(Inputs {
        clusters: found,
        sites,
        netbox_clusters,
        cluster_tags,
        cluster_sites,
        devices,
        mapped,
        prerequisites,
    })
}

/// The tag, the identity field, cluster type, manufacturer, device role and type: looked
/// up on every run and created when missing (a dry run only looks, planning ids).
async fn prerequisites(
    ctx: &SyncContext<'_>,
    report: &StageReport<'_>,
) -> Result<Prerequisites, StageError> {
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
        tags: vec![proxbox_tag()],
    };
    // Independent of each other (the tag exists now): asked side by side, since each is a
    // NetBox round trip on every run.
    let (identity_field, (), cluster_type, maker, role) = tokio::try_join!(
        custom_fields::ensure(ctx, report, &custom_fields::IDENTITY),
        crate::server::sync::custom_link::ensure(ctx, report),
        apply::ensure::<ClusterType, _>(ctx, "proxmox", || named("Proxmox VE", "proxmox")),
        apply::ensure::<Manufacturer, _>(ctx, "proxmox", || named("Proxmox", "proxmox")),
        apply::ensure::<DeviceRole, _>(ctx, "proxmox-node", || NewDeviceRole {
            name: "Proxmox Node".into(),
            slug: "proxmox-node".into(),
            color: "ff5722".into(),
            vm_role: false,
            tags: vec![proxbox_tag()],
        }),
    )?;
    let device_type = apply::ensure::<DeviceType, _>(ctx, "proxmox-node", || NewDeviceType {
        manufacturer: maker,
        model: "Proxmox VE Node".into(),
        slug: "proxmox-node".into(),
        u_height: 1.0,
        tags: vec![proxbox_tag()],
    })
    .await?;
    report.substep(
        "prerequisites",
        StepStatus::Completed,
        "Tag, cluster type, manufacturer, device type and role are in place",
    );
    Ok(Prerequisites {
        cluster_type,
        role,
        device_type,
        identity_field,
    })
}

#[cfg(test)]
#[path = "devices_tests.rs"]
mod tests;
