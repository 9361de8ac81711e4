//! Properties of the networks stage's plans over generated SDN: every layer planned by
//! `reconcile` and written by the shared `apply` into an in-memory NetBox, as the stage
//! does, then Proxmox changes (VNets and subnets dropped, retagged, realiased, added) and
//! the stage runs again.
//! - planned again over what it wrote, nothing is written;
//! - NetBox holds each subnet's prefix once, in its VRF, and nothing of what was dropped;
//! - an operator's prefix of a subnet's network is used, never changed, duplicated or removed.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use proxbox_netbox::models::*;
use proxbox_pve::{DhcpRange, SdnSubnet, SdnVnet, SdnZone};
use serde_json::json;

use super::reconcile::{reconcile, Existing, Held, Known, Wanted};
use super::wanted::ClusterSdn;
use crate::server::sync::apply::{self, Writer};
use crate::server::sync::context::StopSignal;
use crate::server::sync::managed::is_managed;
use crate::server::sync::memory::MemoryNetbox;
use crate::server::sync::plan::{Plan, PLANNED_ID_BASE};
use crate::server::sync::report::StageReport;
use crate::server::sync::sink::CollectSink;

const KINDS: [&str; 5] = ["vlan", "qinq", "vxlan", "evpn", "simple"];

/// A VNet: its zone (index in KINDS), tag, whether it has an alias, and its subnets (third
/// octet, gateway, DHCP range).
type GenVnet = (usize, u16, bool, Vec<(u8, bool, bool)>);

fn vnets_strategy() -> impl Strategy<Value = Vec<GenVnet>> {
    prop::collection::vec(
        (
            0..KINDS.len(),
            1u16..4000,
            any::<bool>(),
            prop::collection::vec((0u8..40, any::<bool>(), any::<bool>()), 0..3),
        ),
        0..6,
    )
}

/// The SDN of generated VNets: a zone per type in use; subnets of one third octet once.
fn sdn_of(vnets: &[GenVnet]) -> ClusterSdn {
    let mut sdn = ClusterSdn {
        endpoint_id: 1,
        cluster: "lab".into(),
        cluster_id: 5,
        site: 3,
        ..ClusterSdn::default()
    };
    let mut thirds = std::collections::HashSet::new();
    let mut tags = std::collections::HashSet::new();
    for (index, (kind, tag, alias, subnets)) in vnets.iter().enumerate() {
        // Proxmox refuses a tag twice in one zone.
        if !tags.insert((*kind, *tag)) {
            continue;
        }
        let zone = format!("{}zone", KINDS[*kind]);
        if !sdn.zones.iter().any(|z| z.zone == zone) {
            sdn.zones.push(SdnZone {
                zone: zone.clone(),
                kind: KINDS[*kind].into(),
                bridge: None,
                tag: None,
                controller: None,
                vrf_vxlan: (KINDS[*kind] == "evpn").then_some(10_000),
                ipam: None,
            });
        }
        let vnet = format!("vnet{index}");
        sdn.vnets.push(SdnVnet {
            vnet: vnet.clone(),
            zone,
            tag: (KINDS[*kind] != "simple").then_some(u64::from(*tag)),
            alias: alias.then(|| format!("alias of {vnet}")),
        });
        for (third, gateway, dhcp) in subnets {
            if !thirds.insert(*third) {
                continue;
            }
            let net = format!("10.1.{third}");
            sdn.subnets.push(SdnSubnet {
                id: format!("s{third}"),
                cidr: format!("{net}.0/24"),
                vnet: vnet.clone(),
                zone: None,
                gateway: gateway.then(|| format!("{net}.1")),
                snat: false,
                dhcp_ranges: if *dhcp {
                    vec![DhcpRange {
                        start: format!("{net}.100"),
                        end: format!("{net}.199"),
                    }]
                } else {
                    Vec::new()
                },
            });
        }
    }
    sdn
}

/// The identity maps, by model.
type Maps = HashMap<&'static str, HashMap<String, u64>>;

/// Writes one layer but its removals (as the stage does); returns identity → id and the
/// removals.
async fn layer<M: Model + Existing>(
    writer: &Writer<'_, MemoryNetbox>,
    maps: &mut Maps,
    report: &mut StageReport<'_>,
    wanted: Vec<Wanted<M::Write>>,
) -> (HashMap<String, u64>, Plan<M::Write, Held>)
where
    M::Write: serde::Serialize + Sync,
{
    let known = Known::mapped(maps.get(M::PATH).cloned().unwrap_or_default());
    let existing = writer.target.all::<M>();
    let mut plan = reconcile("objects", wanted, &existing, &known, |_| true);
    let mut removals = Plan::new("objects");
    removals.deletes = std::mem::take(&mut plan.deletes);
    let applied = apply::write::<M, _, _, _>(writer, report, &plan)
        .await
        .expect("written");
    let map = maps.entry(M::PATH).or_default();
    for (held, id) in applied.existing() {
        if held.ours {
            map.insert(held.identity.clone(), id);
        }
    }
    let settled = applied
        .existing()
        .map(|(held, id)| (held.identity.clone(), id))
        .collect();
    (settled, removals)
}

async fn remove<M: Model + Existing>(
    writer: &Writer<'_, MemoryNetbox>,
    maps: &mut Maps,
    report: &mut StageReport<'_>,
    removals: Plan<M::Write, Held>,
) where
    M::Write: serde::Serialize + Sync,
{
    let applied = apply::write::<M, _, _, _>(writer, report, &removals)
        .await
        .expect("removed");
    let gone: Vec<u64> = applied
        .deleted
        .iter()
        .filter(|(_, g)| *g)
        .map(|(id, _)| *id)
        .collect();
    maps.entry(M::PATH)
        .or_default()
        .retain(|_, id| !gone.contains(id));
}

fn ids_of<'a>(
    settled: &HashMap<String, u64>,
    names: impl Iterator<Item = &'a str>,
    identity: impl Fn(&str) -> String,
) -> HashMap<String, u64> {
    names
        .filter_map(|n| Some((n.to_string(), *settled.get(&identity(n))?)))
        .collect()
}

/// One run of the stage's SDN layers over `sdn`, in the stage's order.
async fn pass(netbox: &MemoryNetbox, maps: &mut Maps, sdn: &ClusterSdn) {
    let (sink, planned) = (CollectSink::default(), AtomicU64::new(PLANNED_ID_BASE));
    let stop = StopSignal::default();
    let writer = Writer {
        target: netbox,
        dry_run: false,
        stop: &stop,
        planned_ids: &planned,
    };
    let mut report = StageReport::new(&sink, "networks");
    let zones = || sdn.zones.iter().map(|z| z.zone.as_str());
    let vnets = || sdn.vnets.iter().map(|v| v.vnet.as_str());
    let zone = |z: &str| sdn.identity("zone", z);
    let vnet = |v: &str| sdn.identity("vnet", v);
    let w = &writer;
    let (groups, groups_gone) = layer::<VlanGroup>(w, maps, &mut report, sdn.vlan_groups()).await;
    let (vrfs, vrfs_gone) = layer::<VrfDetail>(w, maps, &mut report, sdn.vrfs()).await;
    let (l2vpns, l2vpns_gone) = layer::<L2vpn>(w, maps, &mut report, sdn.l2vpns()).await;
    let group_ids = ids_of(&groups, zones(), zone);
    let vrf_ids = ids_of(&vrfs, zones(), zone);
    let _ = ids_of(&l2vpns, vnets(), vnet);
    let (vlans, vlans_gone) =
        layer::<GroupedVlan>(w, maps, &mut report, sdn.vlans(&group_ids)).await;
    let vlan_ids = ids_of(&vlans, vnets(), vnet);
    let (_, prefixes_gone) =
        layer::<Prefix>(w, maps, &mut report, sdn.prefixes(&vrf_ids, &vlan_ids)).await;
    let (_, gateways_gone) = layer::<IpAddress>(w, maps, &mut report, sdn.gateways(&vrf_ids)).await;
    let (_, ranges_gone) = layer::<IpRange>(w, maps, &mut report, sdn.dhcp_ranges(&vrf_ids)).await;
    remove::<IpRange>(w, maps, &mut report, ranges_gone).await;
    remove::<IpAddress>(w, maps, &mut report, gateways_gone).await;
    remove::<Prefix>(w, maps, &mut report, prefixes_gone).await;
    remove::<GroupedVlan>(w, maps, &mut report, vlans_gone).await;
    remove::<L2vpn>(w, maps, &mut report, l2vpns_gone).await;
    remove::<VrfDetail>(w, maps, &mut report, vrfs_gone).await;
    remove::<VlanGroup>(w, maps, &mut report, groups_gone).await;
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a test runtime")
}

/// Prefix → (VRF id, tagged) of what the memory NetBox holds.
fn prefixes(netbox: &MemoryNetbox) -> BTreeMap<String, Vec<(Option<u64>, bool)>> {
    let mut by_cidr: BTreeMap<String, Vec<(Option<u64>, bool)>> = BTreeMap::new();
    for p in netbox.all::<Prefix>() {
        by_cidr
            .entry(p.prefix.clone())
            .or_default()
            .push((p.vrf.as_ref().map(|v| v.id), is_managed(&p.tags)));
    }
    by_cidr
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn applied_sdn_plans_nothing_again_and_keeps_each_subnet_once(
        before in vnets_strategy(),
        after in vnets_strategy(),
        operators_third in prop::option::of(0u8..40),
    ) {
        let rt = runtime();
        let netbox = MemoryNetbox::new(3);
        let mut maps = Maps::new();
        // An operator's prefix, made by hand before Proxbox came.
        let operators = operators_third.map(|third| format!("10.1.{third}.0/24"));
        if let Some(cidr) = &operators {
            netbox.seed::<Prefix>(json!({"prefix": cidr, "status": {"value": "reserved"}, "description": "by hand", "tags": []}));
        }
        let (first, second) = (sdn_of(&before), sdn_of(&after));
        rt.block_on(pass(&netbox, &mut maps, &first));
        rt.block_on(pass(&netbox, &mut maps, &second));
        let writes = netbox.writes.load(Ordering::Relaxed);
        rt.block_on(pass(&netbox, &mut maps, &second));
        prop_assert_eq!(netbox.writes.load(Ordering::Relaxed), writes, "planned again, nothing to write");

        // Each subnet's prefix once in its VRF; Proxbox's prefixes are the subnets' only.
        let held = prefixes(&netbox);
        let evpn_vrf = netbox.all::<VrfDetail>().first().map(|v| v.id);
        for subnet in &second.subnets {
            let in_evpn = second.zone_of_vnet(&subnet.vnet) == Some("evpn");
            let want_vrf = if in_evpn { evpn_vrf } else { None };
            let of_cidr = held.get(&subnet.cidr).cloned().unwrap_or_default();
            prop_assert_eq!(of_cidr.iter().filter(|(vrf, _)| *vrf == want_vrf).count(), 1, "{} once: {:?}", subnet.cidr, of_cidr);
        }
        for (cidr, found) in &held {
            let ours = found.iter().filter(|(_, tagged)| *tagged).count();
            let subnets = second.subnets.iter().filter(|s| &s.cidr == cidr).count();
            prop_assert!(ours <= subnets, "{} is Proxbox's but no subnet's", cidr);
        }
        if let Some(cidr) = &operators {
            let theirs = netbox.all::<Prefix>().into_iter().find(|p| &p.prefix == cidr && !is_managed(&p.tags));
            let theirs = theirs.expect("the operator's prefix stays");
            prop_assert_eq!(theirs.description.as_str(), "by hand");
            prop_assert_eq!(theirs.status.value.as_str(), "reserved");
        }
        // A VLAN per tagged VNet of a VLAN or QinQ zone, with its tag.
        let vlans = netbox.all::<GroupedVlan>();
        let want: usize = second.vnets.iter().filter(|v| matches!(second.zone_of_vnet(&v.vnet), Some("vlan" | "qinq"))).count();
        prop_assert_eq!(vlans.len(), want);
    }
}
