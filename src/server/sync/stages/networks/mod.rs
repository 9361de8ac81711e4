//! `networks`: Proxmox SDN in NetBox's IPAM. Per cluster, read its zones, VNets and
//! subnets; plan each layer with [`reconcile`] (VLAN groups, VRFs and L2VPNs; VLANs;
//! prefixes; gateways and DHCP ranges; guests' interfaces on VNets), each needing the ids
//! the one before settled; write each through `sync::apply`; keep the identity map of
//! what Proxbox made so that a VNet gone from Proxmox takes only Proxbox's objects along.
//!
//! A cluster whose SDN cannot be read is reported and left as NetBox has it.

mod existing;
pub mod interfaces;
pub mod reconcile;
pub mod seen;
pub mod wanted;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};

use ipnet::IpNet;

use proxbox_netbox::models::*;

use self::interfaces::{plan_interface_vlans, terminations, vnet_nics, VnetNic};
use self::reconcile::{reconcile, Existing, Held, Known, Wanted};
use self::wanted::{vrf_filter, ClusterSdn};
use crate::events::{Item, StepStatus};
use crate::server::sync::apply;
use crate::server::sync::cluster_view::{sdn_vnets, without_sdn_is_empty};
use crate::server::sync::context::{ClusterSource, SyncContext};
use crate::server::sync::failure::StageError;
use crate::server::sync::inventory::report_unread;
use crate::server::sync::overwrite::{Field, Overwrite};
use crate::server::sync::plan::{is_planned, Label, Plan};
use crate::server::sync::report::StageReport;
use crate::server::sync::state::{RunState, SyncedCluster};

pub async fn run(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &mut RunState,
) -> Result<(), StageError> {
    report.substep(
        "read-proxmox",
        StepStatus::Started,
        "Reading each cluster's SDN zones, VNets and subnets from Proxmox",
    );
    let mut read = Vec::new();
    for source in &ctx.sources {
        let Some(cluster) = state
            .clusters
            .iter()
            .find(|c| c.endpoint_id == source.endpoint_id)
            .cloned()
        else {
            continue;
        };
        match read_sdn(state, source, &cluster).await {
            Ok(sdn) => read.push(sdn),
            Err(e) => report_unread(
                report,
                Label::new(
                    format!("{} SDN", source.endpoint_name),
                    "cluster",
                    "cluster",
                ),
                "its SDN could not be read; NetBox's networks of it are left as they are",
                e,
            ),
        }
    }
    let items: Vec<Item> = read
        .iter()
        .flat_map(|sdn| {
            let zones = sdn.zones.iter().map(|z| Item::new(&z.zone, "zone"));
            let vnets = sdn.vnets.iter().map(|v| Item::new(&v.vnet, "vnet"));
            let subnets = sdn.subnets.iter().map(|s| Item::new(&s.cidr, "subnet"));
            zones.chain(vnets).chain(subnets).collect::<Vec<_>>()
        })
        .collect();
    report.substep(
        "read-proxmox",
        StepStatus::Completed,
        format!("{} zones, VNets and subnets", items.len()),
    );
    report.discover("SDN objects", items);
    for sdn in &read {
        write_cluster(ctx, report, state, sdn).await?;
    }
    Ok(())
}

/// One cluster's SDN from Proxmox: zones, VNets, and each VNet's subnets.
async fn read_sdn(
    state: &mut RunState,
    source: &ClusterSource,
    cluster: &SyncedCluster,
) -> Result<ClusterSdn, StageError> {
    let zones = async { without_sdn_is_empty(source.pve.sdn_zones().await.map(|z| z.value)) };
    let (zones, vnets) = tokio::try_join!(zones, sdn_vnets(state, source))?;
    let subnets =
        futures::future::try_join_all(vnets.iter().map(|vnet| source.pve.sdn_subnets(&vnet.vnet)))
            .await?
            .into_iter()
            .flat_map(|parsed| parsed.value)
            .collect();
    Ok(ClusterSdn {
        endpoint_id: source.endpoint_id,
        cluster: cluster.name.clone(),
        cluster_id: cluster.netbox_cluster,
        site: cluster.site,
        zones,
        vnets,
        subnets,
    })
}

/// What Proxbox's database knows of one endpoint's objects of a model.
async fn mapped<M: Model>(ctx: &SyncContext<'_>, endpoint_id: i64) -> Result<Known, StageError> {
    mapped_as(ctx, endpoint_id, M::PATH).await
}

/// [`mapped`] under a map name of its own.
async fn mapped_as(
    ctx: &SyncContext<'_>,
    endpoint_id: i64,
    model: &'static str,
) -> Result<Known, StageError> {
    let mapped = ctx
        .db
        .mapped_objects(endpoint_id, model)
        .await?
        .into_iter()
        .map(|(identity, m)| (identity, m.netbox_id as u64))
        .collect();
    let elsewhere = ctx.db.mapped_elsewhere(endpoint_id, model).await?;
    Ok(Known {
        endpoint_id,
        model,
        mapped,
        elsewhere,
    })
}

/// What NetBox has of a model for a plan: the mapped objects, and those `natural` finds
/// (by the wanted objects' own keys), once each.
async fn existing<M: Model>(
    ctx: &SyncContext<'_>,
    known: &Known,
    natural: Vec<M>,
) -> Result<Vec<M>, StageError> {
    let ids: Vec<u64> = known.mapped.values().copied().collect();
    let mut objects = ctx.netbox.list_by_ids::<M>(&ids).await?;
    let seen: std::collections::HashSet<u64> = objects.iter().map(Model::id).collect();
    objects.extend(natural.into_iter().filter(|m| !seen.contains(&m.id())));
    Ok(objects)
}

/// A layer written but for its removals, which wait until every layer that may hang on
/// its objects has let go of them (a prefix holds its VLAN, a VRF its prefixes).
struct Layer<M: Existing> {
    /// Identity → NetBox id of every wanted object that exists now (Proxbox's and
    /// operators' alike).
    settled: HashMap<String, u64>,
    removals: Plan<M::Write, Held>,
    known: Known,
}

/// Plans one layer and writes its creates and updates, mapping what is Proxbox's.
async fn settle<M: Model + Existing>(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    what: &'static str,
    wanted: Vec<Wanted<M::Write>>,
    existing: &[M],
    known: Known,
    in_scope: impl Fn(&M) -> bool,
) -> Result<Layer<M>, StageError>
where
    M::Write: serde::Serialize + Sync,
{
    let mut plan = reconcile(what, wanted, existing, &known, in_scope);
    let mut removals = Plan::new(what);
    removals.deletes = std::mem::take(&mut plan.deletes);
    let applied = apply::apply::<M, _, Held>(ctx, report, &plan).await?;
    if !ctx.options.dry_run {
        let ours: Vec<(String, i64)> = applied
            .existing()
            .filter(|(held, _)| held.ours)
            .map(|(held, id)| (held.identity.clone(), id as i64))
            .collect();
        ctx.db
            .map_objects(known.endpoint_id, known.model, &ours)
            .await?;
    }
    Ok(Layer {
        settled: applied
            .existing()
            .map(|(held, id)| (held.identity.clone(), id))
            .collect(),
        removals,
        known,
    })
}

/// Removes what a layer's plan removes, and forgets it.
async fn remove<M: Model + Existing>(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    layer: Layer<M>,
) -> Result<(), StageError>
where
    M::Write: serde::Serialize + Sync,
{
    let applied = apply::apply::<M, _, Held>(ctx, report, &layer.removals).await?;
    if ctx.options.dry_run {
        return Ok(());
    }
    let identity_of: HashMap<u64, &String> =
        layer.known.mapped.iter().map(|(k, id)| (*id, k)).collect();
    let gone: Vec<String> = applied
        .deleted
        .iter()
        .filter(|(_, gone)| *gone)
        .filter_map(|(id, _)| identity_of.get(id).map(|identity| (*identity).clone()))
        .collect();
    Ok(ctx
        .db
        .unmap_objects(layer.known.endpoint_id, layer.known.model, &gone)
        .await?)
}

/// Picks the ids of `names` out of a layer's settled identities.
fn by_name<'a>(
    settled: &HashMap<String, u64>,
    names: impl Iterator<Item = &'a str>,
    identity: impl Fn(&str) -> String,
) -> HashMap<String, u64> {
    names
        .filter_map(|name| Some((name.to_string(), *settled.get(&identity(name))?)))
        .collect()
}

/// Every object of a layer the run saw the whole of (a cluster's SDN is read whole).
fn everything<M>(_: &M) -> bool {
    true
}

/// Ids NetBox can be asked about (not those a dry run only planned).
fn stored(ids: impl IntoIterator<Item = u64>) -> Vec<u64> {
    ids.into_iter().filter(|id| !is_planned(*id)).collect()
}

async fn write_cluster(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &RunState,
    sdn: &ClusterSdn,
) -> Result<(), StageError> {
    let endpoint = sdn.endpoint_id;
    report.substep(
        "apply",
        StepStatus::Started,
        format!("Writing the SDN of {}", sdn.cluster),
    );

    // Every read up front and side by side (a resync with nothing changed is these reads):
    // no layer's read needs an id a write of this run makes, but for VLANs in groups made
    // now, which have none yet.
    let (groups_wanted, vrfs_wanted, l2vpns_wanted) = (sdn.vlan_groups(), sdn.vrfs(), sdn.l2vpns());
    let no_ids = HashMap::new();
    let (prefixes_keyed, gateways_keyed, ranges_keyed) = (
        sdn.prefixes(&no_ids, &no_ids),
        sdn.gateways(&no_ids),
        sdn.dhcp_ranges(&no_ids),
    );
    let host_of = |a: Option<&str>| a.and_then(|a| a.split('/').next()).map(str::to_string);
    let cidrs: Vec<String> = prefixes_keyed
        .iter()
        .filter_map(|w| w.body.prefix.clone())
        .collect();
    let hosts: Vec<String> = gateways_keyed
        .iter()
        .filter_map(|w| host_of(w.body.address.as_deref()))
        .collect();
    let starts: Vec<String> = ranges_keyed
        .iter()
        .filter_map(|w| host_of(w.body.start_address.as_deref()))
        .collect();
    let vrf_names: Vec<&str> = vrfs_wanted.iter().map(|w| w.natural.as_str()).collect();
    let slugs: Vec<&str> = l2vpns_wanted.iter().map(|w| w.natural.as_str()).collect();
    let scope = [
        ("scope_type", CLUSTER_SCOPE.to_string()),
        ("scope_id", sdn.cluster_id.to_string()),
    ];
    let (group_map, vrf_map, l2vpn_map, vlan_map, prefix_map, gateway_map, range_map) = tokio::try_join!(
        mapped::<VlanGroup>(ctx, endpoint),
        mapped::<VrfDetail>(ctx, endpoint),
        mapped::<L2vpn>(ctx, endpoint),
        mapped::<GroupedVlan>(ctx, endpoint),
        mapped::<Prefix>(ctx, endpoint),
        mapped::<IpAddress>(ctx, endpoint),
        mapped::<IpRange>(ctx, endpoint),
    )?;
    let ((groups, vlans), vrfs, l2vpns, prefixes, gateways, ranges) = tokio::try_join!(
        async {
            let scoped = if is_planned(sdn.cluster_id) {
                Vec::new()
            } else {
                ctx.netbox.list::<VlanGroup>(&scope).await?
            };
            let groups = existing(ctx, &group_map, scoped).await?;
            let group_ids: Vec<u64> = groups.iter().map(|g| g.id).collect();
            let in_groups = ctx.netbox.list_in("group_id", &group_ids).await?;
            let vlans = existing::<GroupedVlan>(ctx, &vlan_map, in_groups).await?;
            Ok::<_, StageError>((groups, vlans))
        },
        async {
            existing::<VrfDetail>(ctx, &vrf_map, ctx.netbox.list_in("name", &vrf_names).await?)
                .await
        },
        async {
            existing::<L2vpn>(ctx, &l2vpn_map, ctx.netbox.list_in("slug", &slugs).await?).await
        },
        async {
            existing::<Prefix>(
                ctx,
                &prefix_map,
                ctx.netbox.list_in("prefix", &cidrs).await?,
            )
            .await
        },
        async {
            existing::<IpAddress>(
                ctx,
                &gateway_map,
                ctx.netbox.list_in("address", &hosts).await?,
            )
            .await
        },
        async {
            let found = ctx.netbox.list_in("start_address", &starts).await?;
            existing::<IpRange>(ctx, &range_map, found).await
        },
    )?;

    // Zones and overlays, then VLANs, then subnets, each on the ids the one before settled.
    let zone = |z: &str| sdn.identity("zone", z);
    let vnet = |v: &str| sdn.identity("vnet", v);
    let zones = || sdn.zones.iter().map(|z| z.zone.as_str());
    let vnets = || sdn.vnets.iter().map(|v| v.vnet.as_str());
    let groups = settle(
        ctx,
        report,
        "VLAN groups",
        groups_wanted,
        &groups,
        group_map,
        everything,
    )
    .await?;
    let group_ids = by_name(&groups.settled, zones(), zone);
    let vrfs = settle(ctx, report, "VRFs", vrfs_wanted, &vrfs, vrf_map, everything).await?;
    let vrf_ids = by_name(&vrfs.settled, zones(), zone);
    let l2vpns = settle(
        ctx,
        report,
        "L2VPNs",
        l2vpns_wanted,
        &l2vpns,
        l2vpn_map,
        everything,
    )
    .await?;
    let l2vpn_ids = by_name(&l2vpns.settled, vnets(), vnet);
    let wanted = sdn.vlans(&group_ids);
    let vlans = settle(ctx, report, "VLANs", wanted, &vlans, vlan_map, everything).await?;
    let vlan_ids = by_name(&vlans.settled, vnets(), vnet);

    let wanted = sdn.prefixes(&vrf_ids, &vlan_ids);
    let covered: HashSet<(Option<u64>, IpNet)> = wanted
        .iter()
        .filter_map(|w| Some((w.body.vrf?, w.body.prefix.as_deref()?.parse().ok()?)))
        .collect();
    let prefixes = settle(
        ctx, report, "prefixes", wanted, &prefixes, prefix_map, everything,
    )
    .await?;
    let networks = write_seen(ctx, report, state, sdn, &covered).await?;
    let wanted = sdn.gateways(&vrf_ids);
    let gateways = settle(
        ctx,
        report,
        "gateways",
        wanted,
        &gateways,
        gateway_map,
        everything,
    )
    .await?;
    let wanted = sdn.dhcp_ranges(&vrf_ids);
    let ranges = settle(
        ctx,
        report,
        "DHCP ranges",
        wanted,
        &ranges,
        range_map,
        everything,
    )
    .await?;

    let terminations = write_guest_nics(ctx, report, state, sdn, &vlan_ids, &l2vpn_ids).await?;

    // What Proxmox dropped goes last, what hangs on others first.
    remove(ctx, report, terminations).await?;
    remove(ctx, report, ranges).await?;
    remove(ctx, report, gateways).await?;
    remove(ctx, report, networks).await?;
    remove(ctx, report, prefixes).await?;
    remove(ctx, report, vlans).await?;
    remove(ctx, report, l2vpns).await?;
    remove(ctx, report, vrfs).await?;
    remove(ctx, report, groups).await?;
    report.substep(
        "apply",
        StepStatus::Completed,
        format!("SDN of {} written", sdn.cluster),
    );
    Ok(())
}

/// The map name of the prefixes of networks seen.
const SEEN_MODEL: &str = "ipam/prefixes#seen";

/// Prefixes for the networks of the addresses Proxbox wrote on the cluster's guests and
/// nodes (see [`seen`]). Only a run of the whole cluster sees every address, so only it
/// removes the prefix of a network no address is in any more.
async fn write_seen(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &RunState,
    sdn: &ClusterSdn,
    covered: &HashSet<(Option<u64>, IpNet)>,
) -> Result<Layer<Prefix>, StageError> {
    let interfaces = stored(
        state
            .interfaces
            .iter()
            .filter(|i| state.guests[i.guest].endpoint_id == sdn.endpoint_id)
            .map(|i| i.netbox_id),
    );
    let devices = stored(
        state
            .clusters
            .iter()
            .filter(|c| c.endpoint_id == sdn.endpoint_id)
            .flat_map(|c| c.devices.values().copied()),
    );
    let (known, mut addresses, on_nodes) = tokio::try_join!(
        mapped_as(ctx, sdn.endpoint_id, SEEN_MODEL),
        async {
            Ok::<_, StageError>(
                ctx.read_in::<IpAddress>("vminterface_id", &interfaces)
                    .await?,
            )
        },
        async {
            Ok(ctx
                .netbox
                .list_in::<IpAddress, _>("device_id", &devices)
                .await?)
        },
    )?;
    addresses.extend(on_nodes);
    // What NetBox holds, and what this run wrote (a dry run's only planned).
    let written = state
        .addresses
        .iter()
        .filter(|a| a.endpoint_id == sdn.endpoint_id)
        .map(|a| (a.vrf, a.address.as_str()));
    let mut networks = ctx
        .options
        .seen_prefixes
        .networks(seen::on_interfaces(&addresses).chain(written));
    // A prefix Proxbox made stays while any address is in it: the run may not have seen
    // every guest (an unreadable config, a list with entries it could not identify).
    let existing = existing::<Prefix>(ctx, &known, Vec::new()).await?;
    for prefix in &existing {
        let (vrf, Ok(net)) = (
            prefix.vrf.as_ref().map(|v| v.id),
            prefix.prefix.parse::<IpNet>(),
        ) else {
            continue;
        };
        if networks.contains(&(vrf, net)) {
            continue;
        }
        let vrf_filter = vrf_filter(vrf);
        let filters = [("parent", net.to_string()), ("vrf_id", vrf_filter)];
        if !ctx.netbox.list::<IpAddress>(&filters).await?.is_empty() {
            networks.insert((vrf, net));
        }
    }
    let asks = seen::to_ask(&sdn.cluster, &networks, covered, &known.mapped);
    let answers = futures::future::try_join_all(asks.iter().map(|(vrf, net)| {
        let vrf = vrf_filter(*vrf);
        let filters = [("contains", net.to_string()), ("vrf_id", vrf)];
        async move { ctx.netbox.list::<Prefix>(&filters).await }
    }))
    .await?;
    let uncontained: HashSet<(Option<u64>, IpNet)> = asks
        .into_iter()
        .zip(answers)
        .filter(|(_, containing)| containing.is_empty())
        .map(|(key, _)| key)
        .collect();
    let wanted = seen::wanted(
        &sdn.cluster,
        sdn.site,
        &networks,
        covered,
        &known.mapped,
        &uncontained,
    );
    let whole = state.scope.is_whole();
    settle(
        ctx,
        report,
        "prefixes of networks seen",
        wanted,
        &existing,
        known,
        |_| whole,
    )
    .await
}

/// The run's guest interfaces on VNets: their VLAN, their L2VPN termination.
async fn write_guest_nics(
    ctx: &SyncContext<'_>,
    report: &mut StageReport<'_>,
    state: &RunState,
    sdn: &ClusterSdn,
    vlan_ids: &HashMap<String, u64>,
    l2vpn_ids: &HashMap<String, u64>,
) -> Result<Layer<L2vpnTermination>, StageError> {
    let nics: Vec<VnetNic> = vnet_nics(sdn, &state.guests, &state.interfaces);
    let run_interfaces: std::collections::HashSet<u64> =
        state.interfaces.iter().map(|i| i.netbox_id).collect();
    let vm_ids = stored(
        nics.iter()
            .filter_map(|nic| {
                state
                    .interfaces
                    .iter()
                    .find(|i| i.netbox_id == nic.interface_id)
            })
            .map(|i| state.guests[i.guest].vm_id),
    );
    let current: Vec<VmInterface> = ctx.read_in("virtual_machine_id", &vm_ids).await?;
    let owns = ctx.policy.rule(Field::Interfaces) == Overwrite::Always;
    let plan = plan_interface_vlans(&nics, &current, vlan_ids, owns);
    apply::apply::<VmInterface, _, _>(ctx, report, &plan).await?;

    let termination_map = mapped::<L2vpnTermination>(ctx, sdn.endpoint_id).await?;
    let interface_ids = stored(nics.iter().map(|nic| nic.interface_id));
    let found = ctx.netbox.list_in("vminterface_id", &interface_ids).await?;
    let existing_terminations = existing::<L2vpnTermination>(ctx, &termination_map, found).await?;
    // A guest's run sees only its own interfaces: a termination of another's stays.
    let in_run = |t: &L2vpnTermination| {
        t.assigned_object_type == VM_INTERFACE && run_interfaces.contains(&t.assigned_object_id)
    };
    settle(
        ctx,
        report,
        "L2VPN terminations",
        terminations(&nics, l2vpn_ids),
        &existing_terminations,
        termination_map,
        in_run,
    )
    .await
}
