//! Properties of the whole engine shape, over generated clusters and NetBox states: each
//! stage's plan written by the shared `apply` into an in-memory NetBox, then planned again.
//! - a second pass over what the first wrote plans nothing (no write at all);
//! - no two Proxmox identities ever settle on one NetBox object;
//! - a dry run reports exactly the items the real run then does, and writes nothing.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use proxbox_netbox::models::*;
use proxbox_pve::{GuestKind, NetDevice};
use serde_json::json;

use super::apply::{self, Writer};
use super::context::{RunOptions, StopSignal};
use super::memory::MemoryNetbox;
use super::overwrite::OverwritePolicy;
use super::plan::PLANNED_ID_BASE;
use super::report::StageReport;
use super::sink::CollectSink;
use super::stages::vm_ip_addresses::Found;
use super::stages::{devices, virtual_disks, virtual_machines, vm_interfaces, vm_ip_addresses};
use super::state::{GuestDisk, SyncedCluster, SyncedGuest};
use crate::events::{ItemStatus, SyncEvent};
use crate::server::infra::db::sync_objects::Mapped;
use crate::server::sync::managed::{guest_identity, node_identity, recorded_identity};
use crate::server::sync::stages::virtual_machines::tags::TEMPLATE_TAG;

const NAMES: [&str; 3] = ["web", "db", "app"];
/// Proxmox tags a guest may carry.
const TAGS: [&str; 3] = ["prod", "eu", "web"];
/// A tag only an operator puts on VMs, in NetBox.
const OPERATOR_TAG: &str = "owner-ops";
const PREREQUISITES: devices::Prerequisites = devices::Prerequisites {
    cluster_type: 9001,
    role: 9002,
    device_type: 9003,
    identity_field: true,
};

#[derive(Debug, Clone)]
struct GenGuest {
    kind: GuestKind,
    vmid: u64,
    name: &'static str,
    node: usize,
    running: bool,
    memory: u64,
    disks: Vec<u64>,
    /// Per NIC: the last byte of its MAC, its VLAN, the last byte of its address.
    nets: Vec<(u8, Option<u16>, Option<u8>)>,
    tags: Vec<&'static str>,
    template: bool,
}

#[derive(Debug, Clone)]
struct GenCluster {
    name: String,
    nodes: Vec<bool>,
    guests: Vec<GenGuest>,
}

fn guest_strategy(nodes: usize) -> impl Strategy<Value = GenGuest> {
    (
        prop_oneof![Just(GuestKind::Qemu), Just(GuestKind::Lxc)],
        100u64..104,
        0..NAMES.len(),
        0..nodes,
        any::<bool>(),
        prop_oneof![Just(1024u64), Just(2048)],
        prop::collection::vec(prop_oneof![Just(10u64), Just(20)], 0..3),
        prop::collection::vec(
            (
                0u8..4,
                prop_oneof![Just(None), Just(Some(10u16)), Just(Some(20))],
                prop_oneof![Just(None), (1u8..4).prop_map(Some)],
            ),
            0..3,
        ),
        prop::sample::subsequence(TAGS.to_vec(), 0..=TAGS.len()),
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(kind, vmid, name, node, running, memory, disks, nets, tags, template)| GenGuest {
                kind,
                vmid,
                name: NAMES[name],
                node,
                running: running && !template,
                memory,
                disks,
                nets,
                tags,
                template,
            },
        )
}

fn cluster_strategy(name: &'static str) -> impl Strategy<Value = GenCluster> {
    prop::collection::vec(any::<bool>(), 1..4).prop_flat_map(move |nodes| {
        let count = nodes.len();
        prop::collection::vec(guest_strategy(count), 0..7).prop_map(move |guests| {
            let mut seen = HashSet::new();
            GenCluster {
                name: name.to_string(),
                nodes: nodes.clone(),
                // One guest per (kind, vmid): Proxmox's own rule.
                guests: guests
                    .into_iter()
                    .filter(|g| seen.insert((g.kind, g.vmid)))
                    .collect(),
            }
        })
    })
}

/// What an operator did between two syncs.
#[derive(Debug, Clone)]
struct Edits {
    /// Proxbox's database was lost: the identity map starts empty.
    lose_identity_map: bool,
    /// VMs an operator made by hand in the first cluster, by name.
    hand_made: Vec<&'static str>,
    /// Memory an operator typed into every VM named so.
    edited_memory: Option<&'static str>,
    /// VMs named so get the operator's own tag and one of Proxmox's, by hand.
    tagged_by_hand: Option<&'static str>,
    delete_orphans: bool,
}

fn edits_strategy() -> impl Strategy<Value = Edits> {
    (
        any::<bool>(),
        prop::collection::vec(prop::sample::select(NAMES.to_vec()), 0..3),
        prop::option::of(prop::sample::select(NAMES.to_vec())),
        prop::option::of(prop::sample::select(NAMES.to_vec())),
        any::<bool>(),
    )
        .prop_map(
            |(lose_identity_map, hand_made, edited_memory, tagged_by_hand, delete_orphans)| Edits {
                lose_identity_map,
                hand_made,
                edited_memory,
                tagged_by_hand,
                delete_orphans,
            },
        )
}

/// The identity map: endpoint → model → identity → NetBox id.
type IdentityMap = HashMap<(i64, &'static str), HashMap<String, Mapped>>;

struct World {
    netbox: MemoryNetbox,
    map: IdentityMap,
}

fn node_name(cluster: &GenCluster, node: usize) -> String {
    format!("{}-pve{node}", cluster.name)
}

fn net(index: usize, guest: &GenGuest, nic: &(u8, Option<u16>, Option<u8>)) -> NetDevice {
    let (mac, vlan, _) = nic;
    let mut text = format!(
        "virtio=BC:24:11:00:{:02X}:{mac:02X},bridge=vmbr0",
        guest.vmid % 256
    );
    if let Some(vid) = vlan {
        text.push_str(&format!(",tag={vid}"));
    }
    proxbox_pve::config::parse_net(&format!("net{index}"), index as u32, &text, guest.kind)
        .expect("generated NICs parse")
}

/// One pass of the NetBox stages over `clusters`: each stage reads the memory NetBox,
/// plans, and writes through `apply`. Returns every item reported, as (phase, name, kind,
/// status) with a dry run's `would_*` read as what it would be.
async fn pass(
    world: &mut World,
    clusters: &[GenCluster],
    dry_run: bool,
    delete_orphans: bool,
) -> Vec<(String, String, String, ItemStatus)> {
    let sink = CollectSink::default();
    let stop = StopSignal::default();
    let planned_ids = AtomicU64::new(PLANNED_ID_BASE);
    let writer = Writer {
        target: &world.netbox,
        dry_run,
        stop: &stop,
        planned_ids: &planned_ids,
    };
    let policy = OverwritePolicy::default();
    let nb = &world.netbox;
    let endpoint = |index: usize| index as i64 + 1;

    // devices
    let mut report = StageReport::new(&sink, "devices");
    let proxmox: Vec<devices::ProxmoxCluster> = clusters
        .iter()
        .enumerate()
        .map(|(i, c)| devices::ProxmoxCluster {
            endpoint_id: endpoint(i),
            name: c.name.clone(),
            nodes: (0..c.nodes.len())
                .map(|n| (node_name(c, n), c.nodes[n]))
                .collect(),
            site: devices::site_slug(&c.name),
        })
        .collect();
    let netbox_clusters: HashMap<String, u64> = nb
        .all::<Cluster>()
        .into_iter()
        .map(|c| (c.name, c.id))
        .collect();
    let inputs = devices::Inputs {
        sites: nb
            .all::<Site>()
            .into_iter()
            .map(|s| (s.slug, s.id))
            .collect(),
        devices: nb
            .all::<Device>()
            .into_iter()
            .filter(|d| {
                d.cluster
                    .as_ref()
                    .is_some_and(|c| netbox_clusters.values().any(|id| *id == c.id))
            })
            .collect(),
        cluster_sites: nb
            .all::<Cluster>()
            .into_iter()
            .filter_map(|c| Some((c.name, c.scope_id?)))
            .collect(),
        cluster_tags: nb
            .all::<Cluster>()
            .into_iter()
            .map(|c| (c.name, c.tags))
            .collect(),
        netbox_clusters,
        mapped: (0..clusters.len())
            .map(|i| {
                (
                    endpoint(i),
                    world
                        .map
                        .get(&(endpoint(i), devices::DEVICE_MODEL))
                        .cloned()
                        .unwrap_or_default(),
                )
            })
            .collect(),
        clusters: proxmox,
        prerequisites: PREREQUISITES,
    };
    let synced: Vec<SyncedCluster> = devices::write(&writer, &mut report, &inputs, &policy)
        .await
        .expect("the memory NetBox takes every write");
    if !dry_run {
        for s in &synced {
            let map = world
                .map
                .entry((s.endpoint_id, devices::DEVICE_MODEL))
                .or_default();
            for (node, id) in &s.devices {
                map.insert(
                    node_identity(&s.name, node),
                    Mapped {
                        netbox_id: *id as i64,
                        missing_since: None,
                        ..Default::default()
                    },
                );
            }
        }
    }

    // virtual-machines
    let mut report = StageReport::new(&sink, "virtual-machines");
    let cluster_ids: HashSet<u64> = synced.iter().map(|c| c.netbox_cluster).collect();
    let mut guests = Vec::new();
    let mut present = HashSet::new();
    for (ci, c) in clusters.iter().enumerate() {
        let Some(s) = synced.iter().find(|s| s.endpoint_id == endpoint(ci)) else {
            continue;
        };
        for g in &c.guests {
            let identity = guest_identity(&c.name, g.kind, g.vmid);
            present.insert(identity.clone());
            guests.push(virtual_machines::Guest {
                identity,
                endpoint_id: endpoint(ci),
                name: g.name.to_string(),
                kind: g.kind,
                status: if g.running { "active" } else { "offline" },
                cluster: s.netbox_cluster,
                device: s.devices.get(&node_name(c, g.node)).copied(),
                site: s.site,
                vcpus: Some(1.0),
                memory: Some(g.memory),
                disk: Some(g.disks.iter().sum::<u64>()).filter(|d| *d > 0),
                ostype: None,
                agent_os: None,
                agent_unheard: false,
                description: format!("Proxmox guest {} of cluster {}", g.vmid, c.name),
                disks: g
                    .disks
                    .iter()
                    .enumerate()
                    .map(|(i, size)| {
                        GuestDisk::new(format!("scsi{i}"), format!("local:vm-{i}"), *size)
                    })
                    .collect(),
                nets: g
                    .nets
                    .iter()
                    .enumerate()
                    .map(|(i, nic)| net(i, g, nic))
                    .collect(),
                node: node_name(c, g.node),
                vmid: g.vmid,
                running: g.running,
                agent: true,
                start_on_boot: g.running,
                serial: Some(format!("00000000-0000-4000-8000-{:012x}", g.vmid)),
                notes: format!("# {}\n\nowned by *ops*", g.name),
                tags: g.tags.iter().map(|t| t.to_uppercase()).collect(),
                template: g.template,
                pool: None,
                mapped: Default::default(),
                warning: None,
                ha: Default::default(),
            });
        }
    }
    let vm_inputs = virtual_machines::Inputs {
        guests,
        present,
        existing: nb
            .all::<VirtualMachine>()
            .into_iter()
            .filter(|v| {
                v.cluster
                    .as_ref()
                    .is_some_and(|c| cluster_ids.contains(&c.id))
            })
            .collect(),
        mapped: (0..clusters.len())
            .map(|i| {
                (
                    endpoint(i),
                    world
                        .map
                        .get(&(endpoint(i), virtual_machines::VM_MODEL))
                        .cloned()
                        .unwrap_or_default(),
                )
            })
            .collect(),
        vm_types: Some(virtual_machines::VmTypes {
            qemu: 9004,
            lxc: 9005,
        }),
        // Proxmox's tags by their lowercase name, and an operator's tag of the same name as
        // one of them, with a slug of its own.
        tag_slugs: TAGS
            .iter()
            .map(|t| {
                (
                    t.to_string(),
                    if *t == "eu" {
                        "europe".into()
                    } else {
                        t.to_string()
                    },
                )
            })
            .chain([(TEMPLATE_TAG.to_string(), TEMPLATE_TAG.to_string())])
            .collect(),
        identity_field: true,
        now_ms: 0,
        ..Default::default()
    };
    let options = RunOptions {
        delete_orphans,
        orphan_grace: Duration::ZERO,
        ..RunOptions::default()
    };
    let vm_plan = virtual_machines::plan(&vm_inputs, &policy, &options);
    let applied = apply::write::<VirtualMachine, _, _, _>(&writer, &mut report, &vm_plan.plan)
        .await
        .expect("the memory NetBox takes every write");
    let synced_guests: Vec<SyncedGuest> = virtual_machines::settle(&vm_inputs, &applied);
    // No two identities on one object.
    let settled: Vec<u64> = applied.existing().map(|(_, id)| id).collect();
    assert_eq!(
        settled.iter().collect::<HashSet<_>>().len(),
        settled.len(),
        "two guests settled on one VM: {settled:?}"
    );
    if !dry_run {
        for (index, id) in applied.existing() {
            let g = &vm_inputs.guests[*index];
            world
                .map
                .entry((g.endpoint_id, virtual_machines::VM_MODEL))
                .or_default()
                .entry(g.identity.clone())
                .or_default()
                .netbox_id = id as i64;
        }
        for (endpoint_id, identity, added) in
            virtual_machines::landed_tags(&vm_inputs, &applied, vm_plan.added_tags.clone())
        {
            if let Some(mapped) = world
                .map
                .get_mut(&(endpoint_id, virtual_machines::VM_MODEL))
                .and_then(|m| m.get_mut(&identity))
            {
                mapped.added_tags = added;
            }
        }
        for (orphan, (_, gone)) in vm_plan.orphans.iter().zip(&applied.deleted) {
            if *gone {
                if let Some(map) = world
                    .map
                    .get_mut(&(orphan.endpoint_id, virtual_machines::VM_MODEL))
                {
                    map.remove(&orphan.identity);
                }
            }
        }
    }
    let vm_ids: HashSet<u64> = synced_guests.iter().map(|g| g.vm_id).collect();

    // virtual-disks
    let mut report = StageReport::new(&sink, "virtual-disks");
    let disks: Vec<VirtualDisk> = nb
        .all::<VirtualDisk>()
        .into_iter()
        .filter(|d| vm_ids.contains(&d.virtual_machine.id))
        .collect();
    let plan = virtual_disks::plan(&synced_guests, &disks, &policy);
    apply::write::<VirtualDisk, _, _, _>(&writer, &mut report, &plan)
        .await
        .expect("written");

    // vm-interfaces
    let mut report = StageReport::new(&sink, "vm-interfaces");
    let interfaces: Vec<VmInterface> = nb
        .all::<VmInterface>()
        .into_iter()
        .filter(|i| vm_ids.contains(&i.virtual_machine.id))
        .collect();
    let interface_ids: HashSet<u64> = interfaces.iter().map(|i| i.id).collect();
    let vids: BTreeSet<u16> = vm_interfaces::vids(&synced_guests);
    let inputs = vm_interfaces::Inputs {
        macs: nb
            .all::<MacAddress>()
            .into_iter()
            .filter(|m| {
                m.assigned_object_id
                    .is_some_and(|id| interface_ids.contains(&id))
            })
            .collect(),
        vlans: nb
            .all::<Vlan>()
            .into_iter()
            .filter(|v| vids.contains(&v.vid))
            .collect(),
        interfaces,
        vnet_bridges: Default::default(),
    };
    let synced_interfaces = vm_interfaces::write(
        &writer,
        &mut report,
        &synced_guests,
        &inputs,
        &policy,
        &mut HashMap::new(),
    )
    .await
    .expect("written");

    // vm-ip-addresses: every guest answers with the addresses its NICs were generated with.
    let mut report = StageReport::new(&sink, "vm-ip-addresses");
    let mut found: HashMap<usize, Found> = HashMap::new();
    for (iface_index, interface) in synced_interfaces.iter().enumerate() {
        let guest = &synced_guests[interface.guest];
        let generated = clusters
            .iter()
            .flat_map(|c| &c.guests)
            .find(|g| g.kind == guest.kind && g.vmid == guest.vmid && g.name == guest.name);
        let entry = found
            .entry(interface.guest)
            .or_insert_with(|| Found::Known(Vec::new()));
        let (Found::Known(list), Some(g)) = (entry, generated) else {
            continue;
        };
        let index: usize = interface.key.trim_start_matches("net").parse().unwrap_or(0);
        if let Some((_, _, Some(last))) = g.nets.get(index) {
            list.push((
                iface_index,
                format!(
                    "10.{}.{}.{last}/24",
                    g.vmid % 256,
                    u8::from(g.kind == GuestKind::Lxc)
                ),
            ));
        }
    }
    let synced_ids: HashSet<u64> = synced_interfaces.iter().map(|i| i.netbox_id).collect();
    let all_ips = nb.all::<IpAddress>();
    let assigned: Vec<IpAddress> = all_ips
        .iter()
        .filter(|ip| {
            ip.assigned_object_id
                .is_some_and(|id| synced_ids.contains(&id))
        })
        .cloned()
        .collect();
    let hosts: HashSet<String> =
        vm_ip_addresses::new_hosts(&synced_guests, &synced_interfaces, &found, &assigned)
            .into_iter()
            .collect();
    let inputs = vm_ip_addresses::Inputs {
        holders: nb
            .all::<HeldAddress>()
            .into_iter()
            .filter(|ip| hosts.contains(ip.address.split('/').next().unwrap_or("")))
            .collect(),
        found,
        assigned,
        host_names: HashMap::new(),
    };
    let addresses =
        vm_ip_addresses::plan_addresses(&synced_guests, &synced_interfaces, &inputs, &policy);
    let applied = apply::write::<IpAddress, _, _, _>(&writer, &mut report, &addresses.plan)
        .await
        .expect("written");
    let settled = vm_ip_addresses::settle(&addresses.reported, &applied);
    let plan = vm_ip_addresses::plan_primary(
        &synced_guests,
        &synced_interfaces,
        &settled,
        &addresses.guests_known,
        &policy,
    );
    apply::write::<VirtualMachine, _, _, _>(&writer, &mut report, &plan)
        .await
        .expect("written");

    sink.events()
        .into_iter()
        .filter_map(|e| match e {
            SyncEvent::ItemProgress(p) => {
                let status = match p.status {
                    ItemStatus::WouldCreate => ItemStatus::Created,
                    ItemStatus::WouldUpdate => ItemStatus::Updated,
                    ItemStatus::WouldDelete => ItemStatus::Deleted,
                    other => other,
                };
                Some((p.phase, p.name, p.kind, status))
            }
            _ => None,
        })
        .collect()
}

/// What an operator does in NetBox and to Proxbox between two syncs.
fn edit(world: &mut World, edits: &Edits) {
    if edits.lose_identity_map {
        world.map.clear();
    }
    let clusters = world.netbox.all::<Cluster>();
    if let Some(first) = clusters.iter().min_by_key(|c| c.id) {
        for name in &edits.hand_made {
            world.netbox.seed::<VirtualMachine>(json!({
                "name": name, "status": {"value": "active"}, "cluster": {"id": first.id},
            }));
        }
    }
    if let Some(name) = edits.edited_memory {
        for vm in world
            .netbox
            .all::<VirtualMachine>()
            .into_iter()
            .filter(|v| v.name == name)
        {
            let patch = VirtualMachineWrite {
                id: Some(vm.id),
                memory: Some(777),
                ..Default::default()
            };
            world.netbox.write::<VirtualMachine, _>(&[&patch], false);
        }
    }
    if let Some(name) = edits.tagged_by_hand {
        for vm in world
            .netbox
            .all::<VirtualMachine>()
            .into_iter()
            .filter(|v| v.name == name)
        {
            let mut tags: BTreeSet<String> =
                vm.tags.iter().filter_map(|t| t.slug.clone()).collect();
            tags.extend([OPERATOR_TAG.to_string(), "prod".to_string()]);
            let patch = VirtualMachineWrite {
                id: Some(vm.id),
                tags: Some(tags.into_iter().map(|slug| TagRef { slug }).collect()),
                ..Default::default()
            };
            world.netbox.write::<VirtualMachine, _>(&[&patch], false);
        }
    }
}

/// The VMs that carry the operator's own tag.
fn hand_tagged(world: &World) -> BTreeSet<u64> {
    world
        .netbox
        .all::<VirtualMachine>()
        .into_iter()
        .filter(|v| {
            v.tags
                .iter()
                .any(|t| t.slug.as_deref() == Some(OPERATOR_TAG))
        })
        .map(|v| v.id)
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a test runtime")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn plans_settle_never_share_an_object_and_dry_runs_tell_the_truth(
        before in prop::collection::vec(cluster_strategy("alpha"), 1..2)
            .prop_flat_map(|first| (Just(first), prop::option::of(cluster_strategy("beta"))))
            .prop_map(|(mut clusters, second)| { clusters.extend(second); clusters }),
        after_first in cluster_strategy("alpha"),
        edits in edits_strategy(),
    ) {
        let rt = runtime();
        let mut world = World { netbox: MemoryNetbox::new(3), map: IdentityMap::new() };
        rt.block_on(pass(&mut world, &before, false, false));
        edit(&mut world, &edits);
        let tagged_by_hand = hand_tagged(&world);
        // The first cluster changed; a second one, if any, stays as it was.
        let mut after = before.clone();
        after[0] = GenCluster { nodes: after_first.nodes.clone(), ..after_first };

        let writes_before = world.netbox.writes.load(Ordering::Relaxed);
        let planned = rt.block_on(pass(&mut world, &after, true, edits.delete_orphans));
        prop_assert_eq!(world.netbox.writes.load(Ordering::Relaxed), writes_before, "a dry run writes nothing");
        let done = rt.block_on(pass(&mut world, &after, false, edits.delete_orphans));
        prop_assert_eq!(&planned, &done, "the dry run reported what the real run did");

        let writes_after = world.netbox.writes.load(Ordering::Relaxed);
        let again = rt.block_on(pass(&mut world, &after, false, edits.delete_orphans));
        let changed: Vec<_> = again.iter().filter(|(.., s)| !matches!(s, ItemStatus::Skipped)).collect();
        prop_assert!(changed.is_empty(), "planned again, nothing to do: {:?}", changed);
        prop_assert_eq!(world.netbox.writes.load(Ordering::Relaxed), writes_after);

        // One NetBox VM per guest identity, each recorded once.
        let vms = world.netbox.all::<VirtualMachine>();
        let recorded: Vec<&str> = vms.iter().filter_map(|v| recorded_identity(&v.custom_fields)).collect();
        let unique: HashSet<&str> = recorded.iter().copied().collect();
        prop_assert_eq!(unique.len(), recorded.len(), "an identity recorded on two VMs: {:?}", recorded);
        // A new guest of the first cluster whose name two VMs made by hand carry is a
        // conflict: neither is taken, none is made.
        let conflicted = |index: usize, g: &GenGuest| {
            index == 0
                && !before[0].guests.iter().any(|b| (b.kind, b.vmid) == (g.kind, g.vmid))
                && edits.hand_made.iter().filter(|name| **name == g.name).count() >= 2
        };
        for (index, c) in after.iter().enumerate() {
            for g in &c.guests {
                let identity = guest_identity(&c.name, g.kind, g.vmid);
                let has_vm = unique.contains(identity.as_str());
                if conflicted(index, g) {
                    prop_assert!(!has_vm, "{} took one of two candidates", identity);
                } else {
                    prop_assert!(has_vm, "{} has no VM", identity);
                }
            }
        }
        // The operator's tag survives every sync on every VM still there.
        let still_there: BTreeSet<u64> = vms.iter().map(|v| v.id).collect();
        let expected: BTreeSet<u64> = tagged_by_hand.intersection(&still_there).copied().collect();
        prop_assert_eq!(hand_tagged(&world), expected, "an operator's tag was taken off");
        // Each guest's VM carries its Proxmox tags (as NetBox's slugs), templates the marker.
        for c in &after {
            for g in &c.guests {
                let identity = guest_identity(&c.name, g.kind, g.vmid);
                let Some(vm) = vms.iter().find(|v| recorded_identity(&v.custom_fields) == Some(identity.as_str())) else { continue };
                let tags: BTreeSet<&str> = vm.tags.iter().filter_map(|t| t.slug.as_deref()).collect();
                for tag in &g.tags {
                    let slug = if *tag == "eu" { "europe" } else { tag };
                    prop_assert!(tags.contains(slug), "{} lacks {}: {:?}", identity, slug, tags);
                }
                if g.template {
                    prop_assert!(tags.contains(TEMPLATE_TAG), "{}: {:?}", identity, tags);
                } else if !edits.lose_identity_map {
                    // Without the record of what Proxbox added, it takes nothing off.
                    prop_assert!(!tags.contains(TEMPLATE_TAG), "{}: {:?}", identity, tags);
                }
            }
        }
        // Every mapped id is a distinct object.
        let mapped: Vec<i64> = world.map.values().flat_map(|m| m.values().map(|v| v.netbox_id)).collect();
        let distinct: HashSet<i64> = mapped.iter().copied().collect();
        prop_assert_eq!(distinct.len(), mapped.len());
    }
}
