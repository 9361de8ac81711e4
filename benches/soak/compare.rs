//! What NetBox must hold for one simulated cluster after a clean full update, derived from
//! what each sync stage writes (not from what the last run reported): the cluster, a device
//! per node and its network, a VM per guest by its recorded identity, and each VM's interfaces, MAC
//! addresses, virtual disks and IP addresses. One line per mismatch; the soak counts the
//! lines that say "duplicate", so only duplicates say it.
//!
//! Assumes NetBox has the identity custom field (Proxbox creates it when its token may), and
//! that the servers delete orphans without a grace period: otherwise a removed guest's VM
//! stays, reported here as a VM of a guest Proxmox no longer has.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Display;
use std::net::IpAddr;

use proxbox::server::infra::db::inventory::StoredRecord;
use proxbox::server::sync::addresses::is_recordable;
use proxbox::server::sync::managed::{
    guest_identity, is_managed, node_identity, recorded_identity, IDENTITY_FIELD, PROXBOX_TAG,
};
use proxbox::server::sync::stages::virtual_machines::tags::TEMPLATE_TAG;
use proxbox_netbox::models::{
    Cluster, Device, Interface, IpAddress, JournalEntry, MacAddress, VirtualDisk, VirtualMachine,
    VmInterface,
};
use proxbox_netbox::{NbError, NetboxClient};
use proxbox_pve::GuestKind;
use pve_sim::model::{Guest, Kind, Nic};

/// How many items a message names before it says how many more there are.
const SHOWN: usize = 5;

/// Every way NetBox differs from what Proxbox should have written for `cluster`; empty
/// when it holds exactly that.
pub async fn mismatches(netbox: &NetboxClient, cluster: &pve_sim::model::Cluster) -> Vec<String> {
    let mut out = Vec::new();
    if let Err(error) = check(netbox, cluster, &mut out).await {
        let name = &cluster.name;
        out.push(format!("cluster {name}: NetBox could not be read: {error}"));
    }
    out
}

async fn check(
    netbox: &NetboxClient,
    sim: &pve_sim::model::Cluster,
    out: &mut Vec<String>,
) -> Result<(), NbError> {
    let name = &sim.name;
    let clusters: Vec<Cluster> = netbox.list(&[("name", name.clone())]).await?;
    let clusters: Vec<&Cluster> = clusters.iter().filter(|c| &c.name == name).collect();
    let [cluster] = clusters[..] else {
        let n = clusters.len();
        out.push(match n {
            0 => format!("cluster {name}: not in NetBox"),
            _ => format!("cluster {name}: duplicate clusters ({n})"),
        });
        return Ok(());
    };
    // Few requests whatever the cluster's size: VMs and devices by cluster, all below them
    // by the ids of those (100 a request), with the filters the sync itself reads by.
    let by_cluster = [("cluster_id", cluster.id.to_string())];
    let (devices, vms) = tokio::try_join!(
        netbox.list::<Device>(&by_cluster),
        netbox.list::<VirtualMachine>(&by_cluster),
    )?;
    let device_of = check_devices(sim, &devices, out);
    check_node_interfaces(netbox, sim, &device_of, out).await?;
    let pairs = match_vms(sim, &vms, out);
    for (label, guest, vm) in &pairs {
        check_vm(label, guest, vm, &device_of, out);
    }

    let vm_ids: Vec<u64> = vms.iter().map(|v| v.id).collect();
    check_journal(netbox, sim, &vms, out).await?;
    let (interfaces, disks) = tokio::try_join!(
        netbox.list_in::<VmInterface, _>("virtual_machine_id", &vm_ids),
        netbox.list_in::<VirtualDisk, _>("virtual_machine_id", &vm_ids),
    )?;
    let interface_ids: Vec<u64> = interfaces.iter().map(|i| i.id).collect();
    let (macs, ips) = tokio::try_join!(
        netbox.list_in::<MacAddress, _>("vminterface_id", &interface_ids),
        netbox.list_in::<IpAddress, _>("vminterface_id", &interface_ids),
    )?;
    let address_of: HashMap<u64, String> = ips
        .iter()
        .map(|ip| {
            let address = canonical(&ip.address).map_or_else(|| ip.address.clone(), |(_, a)| a);
            (ip.id, address)
        })
        .collect();
    let on_vm = group(&interfaces, |i| Some(i.virtual_machine.id));
    let disks_of = group(&disks, |d| Some(d.virtual_machine.id));
    let macs_on = group(&macs, |m| m.assigned_object_id);
    let ips_on = group(&ips, |a| a.assigned_object_id);
    for (label, guest, vm) in &pairs {
        let interfaces = of(&on_vm, vm.id);
        check_interfaces(label, guest, interfaces, &macs_on, &ips_on, out);
        check_primary(label, guest, vm, &address_of, out);
        // A virtual disk per disk key (CD-ROMs are none: the simulator's `ide2` is one), in
        // MiB: `virtual-machines` divides the config's bytes by 2^20 (NetBox says MB). One
        // config value per key, so a later disk of the same key wins, as in the simulator.
        let sizes: BTreeMap<&str, u64> = guest
            .disks
            .iter()
            .map(|d| (d.key.as_str(), d.size_gib))
            .collect();
        let expected = sizes
            .iter()
            .map(|(k, gib)| format!("{k} {} MB", gib * 1024));
        let expected = expected.collect();
        let found = of(&disks_of, vm.id).iter();
        let found = found.map(|d| format!("{} {} MB", d.name, d.size));
        compare(label, "virtual disks", &expected, found, out);
    }
    Ok(())
}

/// One device per node (`devices`): named after it, recording its identity, active while
/// the node is online. Returns each node's device id.
fn check_devices<'a>(
    sim: &'a pve_sim::model::Cluster,
    devices: &[Device],
    out: &mut Vec<String>,
) -> HashMap<&'a str, u64> {
    let mut by_name: BTreeMap<&str, Vec<&Device>> = BTreeMap::new();
    for device in devices {
        let name = device.name.as_deref().unwrap_or("");
        by_name.entry(name).or_default().push(device);
    }
    let mut ids = HashMap::new();
    for node in &sim.nodes {
        let label = format!("device {} of cluster {}", node.name, sim.name);
        match by_name.remove(node.name.as_str()).unwrap_or_default()[..] {
            [] => out.push(format!("{label}: not in NetBox")),
            [device] => {
                ids.insert(node.name.as_str(), device.id);
                let identity = node_identity(&sim.name, &node.name);
                let found = recorded_identity(&device.custom_fields);
                if found != Some(identity.as_str()) {
                    let text = format!("{IDENTITY_FIELD} {found:?}, expected {identity}");
                    out.push(format!("{label}: {text}"));
                }
                let status = if node.online { "active" } else { "offline" };
                let found = &device.status.value;
                if found != status {
                    out.push(format!("{label}: status {found}, expected {status}"));
                }
            }
            ref more => out.push(format!("{label}: duplicate devices ({})", more.len())),
        }
    }
    for (name, extra) in by_name {
        let text = format!("{name:?} ×{}: no such node", extra.len());
        out.push(format!("device in cluster {}: {text}", sim.name));
    }
    ids
}

/// Proxbox's own records after a clean sync: a guest card per guest (`qemu/100`) and a
/// backup record per backup volume, none of a guest or volume Proxmox no longer has unless
/// marked stale (a vanished backup is kept stale through the grace; the soak's is zero, so
/// the next sync removes it).
pub fn record_mismatches(
    sim: &pve_sim::model::Cluster,
    guests: &[StoredRecord],
    backups: &[StoredRecord],
) -> Vec<String> {
    let mut out = Vec::new();
    let current = |records: &[StoredRecord]| -> Vec<String> {
        let fresh = records.iter().filter(|r| r.stale_since.is_none());
        fresh.map(|r| r.key.clone()).collect()
    };
    let expected: BTreeSet<String> = sim
        .guests
        .values()
        .map(|g| {
            let kind = match g.kind {
                Kind::Qemu => "qemu",
                Kind::Lxc => "lxc",
            };
            format!("{kind}/{}", g.vmid)
        })
        .collect();
    let label = format!("Proxbox's records of cluster {}", sim.name);
    compare(&label, "guest cards", &expected, current(guests), &mut out);
    let expected = sim.backups.iter().map(|b| b.volid.clone()).collect();
    compare(&label, "backups", &expected, current(backups), &mut out);
    out
}

/// Each online node's network (`node-interfaces`): an interface per name Proxmox lists,
/// none twice, bridge ports on their bridge and bond members on their LAG, each with
/// exactly its recordable addresses (IPv4 with its netmask's prefix, IPv6 /64, as the
/// simulator answers them). An offline node keeps what NetBox has: it is not checked.
async fn check_node_interfaces(
    netbox: &NetboxClient,
    sim: &pve_sim::model::Cluster,
    device_of: &HashMap<&str, u64>,
    out: &mut Vec<String>,
) -> Result<(), NbError> {
    let device_ids: Vec<u64> = device_of.values().copied().collect();
    let interfaces = netbox
        .list_in::<Interface, _>("device_id", &device_ids)
        .await?;
    let interface_ids: Vec<u64> = interfaces.iter().map(|i| i.id).collect();
    let ips = netbox
        .list_in::<IpAddress, _>("interface_id", &interface_ids)
        .await?;
    let on_device = group(&interfaces, |i| Some(i.device.id));
    let ips_on = group(&ips, |a| a.assigned_object_id);
    let name_of: HashMap<u64, &str> = interfaces.iter().map(|i| (i.id, i.name.as_str())).collect();
    for node in sim.nodes.iter().filter(|n| n.online) {
        let Some(&device) = device_of.get(node.name.as_str()) else {
            continue; // reported by check_devices
        };
        let label = format!("device {} of cluster {}", node.name, sim.name);
        let found = of(&on_device, device);
        let expected = node.interfaces.iter().map(|i| i.iface.clone()).collect();
        let names = found.iter().map(|i| i.name.clone());
        compare(&label, "interfaces", &expected, names, out);

        let listed = |name: &str| node.interfaces.iter().any(|i| i.iface == name);
        let mut links = BTreeSet::new();
        for iface in &node.interfaces {
            let relation = match iface.kind.as_str() {
                "bridge" => "bridge",
                "bond" => "lag",
                _ => continue,
            };
            let members = iface
                .ports
                .as_deref()
                .unwrap_or_default()
                .split([' ', ',', ';']);
            for member in members.filter(|m| !m.is_empty() && *m != "none" && listed(m)) {
                links.insert(format!("{member} {relation} {}", iface.iface));
            }
        }
        let found_links = found.iter().flat_map(|i| {
            [("bridge", &i.bridge), ("lag", &i.lag)]
                .into_iter()
                .filter_map(|(relation, link)| {
                    let to = name_of.get(&link.as_ref()?.id)?;
                    Some(format!("{} {relation} {to}", i.name))
                })
                .collect::<Vec<_>>()
        });
        compare(
            &label,
            "bridge ports and bond members",
            &links,
            found_links,
            out,
        );

        let expected = node
            .interfaces
            .iter()
            .flat_map(|i| {
                node_addresses(i)
                    .into_iter()
                    .map(move |a| format!("{} {a}", i.iface))
            })
            .collect();
        let found = found.iter().flat_map(|i| {
            of(&ips_on, i.id).iter().map(move |ip| {
                let address = canonical(&ip.address).map_or_else(|| ip.address.clone(), |(_, a)| a);
                format!("{} {address}", i.name)
            })
        });
        compare(&label, "node addresses", &expected, found, out);
    }
    Ok(())
}

/// A node interface's addresses as `node-interfaces` records them: `address` with its
/// netmask's prefix, `address6` /64; loopback, link-local and unspecified ones never.
fn node_addresses(iface: &pve_sim::model::NodeIface) -> Vec<String> {
    let bits = |mask: &str| -> Option<u32> {
        let octets: Vec<u8> = mask
            .split('.')
            .map(|o| o.parse().ok())
            .collect::<Option<_>>()?;
        (octets.len() == 4).then(|| octets.iter().map(|o| o.count_ones()).sum())
    };
    // The simulator lists an IPv4 address only with its netmask.
    let v4 = match (&iface.address, &iface.netmask) {
        (Some(address), Some(mask)) => bits(mask).map(|prefix| format!("{address}/{prefix}")),
        _ => None,
    };
    let v6 = iface
        .address6
        .as_ref()
        .map(|address| format!("{address}/64"));
    [v4, v6]
        .into_iter()
        .flatten()
        .filter_map(|a| canonical(&a))
        .filter(|(ip, _)| is_recordable(*ip))
        .map(|(_, a)| a)
        .collect()
}

/// Pairs each guest with its VM by the identity recorded on the VM: every guest's exactly
/// once (templates too: they are synced, offline, unless PROXBOX_TEMPLATES=skip), and no VM
/// without an identity or of a guest Proxmox no longer has.
fn match_vms<'a>(
    sim: &'a pve_sim::model::Cluster,
    vms: &'a [VirtualMachine],
    out: &mut Vec<String>,
) -> Vec<(String, &'a Guest, &'a VirtualMachine)> {
    let mut by_identity: BTreeMap<&str, Vec<&VirtualMachine>> = BTreeMap::new();
    for vm in vms {
        let (name, id) = (&vm.name, vm.id);
        match recorded_identity(&vm.custom_fields) {
            Some(identity) => by_identity.entry(identity).or_default().push(vm),
            // Proxbox writes the identity on create and patches it in on adoption: one of
            // its VMs without one is an object it lost track of.
            None if is_managed(&vm.tags) => out.push(format!(
                "VM {name} (id {id}): an orphan, tagged {PROXBOX_TAG} but no {IDENTITY_FIELD}"
            )),
            None => out.push(format!(
                "VM {name} (id {id}): neither {IDENTITY_FIELD} nor the {PROXBOX_TAG} tag"
            )),
        }
    }
    let (mut pairs, mut missing) = (Vec::new(), Vec::new());
    let name = &sim.name;
    for guest in sim.guests.values() {
        let identity = guest_identity(name, kind_of(guest.kind), guest.vmid);
        let label = format!("VM {identity} ({})", guest.name);
        match by_identity.remove(identity.as_str()).unwrap_or_default()[..] {
            [] => missing.push(format!("{identity} ({})", guest.name)),
            [vm] => pairs.push((label, guest, vm)),
            ref more => out.push(format!("{label}: duplicate VMs ({})", more.len())),
        }
    }
    let stale: Vec<&str> = by_identity.into_keys().collect();
    if !missing.is_empty() {
        let text = format!("{} guests without a VM: {}", missing.len(), few(&missing));
        out.push(format!("cluster {name}: {text}"));
    }
    if !stale.is_empty() {
        let text = format!("{} VMs of gone guests: {}", stale.len(), few(&stale));
        out.push(format!("cluster {name}: {text}"));
    }
    pairs
}

/// The VM's own fields as `virtual-machines` writes them.
fn check_vm(
    label: &str,
    guest: &Guest,
    vm: &VirtualMachine,
    device_of: &HashMap<&str, u64>,
    out: &mut Vec<String>,
) {
    // A template is offline whatever its state (the simulator never pauses a guest).
    let running = guest.running && !guest.template;
    // `GuestConfig::vcpu_count`: cores × sockets; an LXC config has no `sockets`.
    let vcpus = match guest.kind {
        Kind::Qemu => guest.cores * guest.sockets,
        Kind::Lxc => guest.cores,
    };
    let status = if running { "active" } else { "offline" };
    // NetBox answers vCPUs as a decimal with two places.
    let found_vcpus = shown(vm.vcpus.map(|v| format!("{v:.2}")));
    let fields = [
        ("name", vm.name.clone(), guest.name.clone()),
        ("status", vm.status.value.clone(), status.to_string()),
        ("vcpus", found_vcpus, format!("{vcpus}.00")),
        // The config's `memory` is MiB, written as is (NetBox calls the unit MB).
        ("memory", shown(vm.memory), guest.memory_mib.to_string()),
    ];
    for (field, found, expected) in fields {
        if found != expected {
            out.push(format!("{label}: {field} {found:?}, expected {expected:?}"));
        }
    }
    let device = vm.device.as_ref();
    if device.map(|d| d.id) != device_of.get(guest.node.as_str()).copied() {
        let on = shown(device.and_then(|d| d.name.as_deref()));
        out.push(format!("{label}: on device {on}, not {}'s", guest.node));
    }
    // Only this way round: an operator may put the template tag on any VM.
    let mut tags = vm.tags.iter().filter_map(|t| t.slug.as_deref());
    if guest.template && !tags.any(|slug| slug == TEMPLATE_TAG) {
        out.push(format!("{label}: a template without {TEMPLATE_TAG}"));
    }
}

/// An interface per `netN` (`vm-interfaces`), each with its NIC's MAC as its one MAC address
/// and its primary MAC, and exactly the addresses `vm-ip-addresses` puts on it.
fn check_interfaces(
    label: &str,
    guest: &Guest,
    interfaces: &[&VmInterface],
    macs_on: &HashMap<u64, Vec<&MacAddress>>,
    ips_on: &HashMap<u64, Vec<&IpAddress>>,
    out: &mut Vec<String>,
) {
    let names = (0..).map(|i| format!("net{i}"));
    let nics: BTreeMap<String, &Nic> = names.zip(&guest.nics).collect();
    let expected = nics.keys().cloned().collect();
    let found = interfaces.iter().map(|i| i.name.clone());
    compare(label, "interfaces", &expected, found, out);
    let mut addresses = Vec::new();
    for interface in interfaces {
        if let Some(nic) = nics.get(&interface.name) {
            let (mac, macs) = (&nic.mac, of(macs_on, interface.id));
            // Proxbox writes the config's MAC upper-case; NetBox may answer either case.
            let at = format!("{label} {}", interface.name);
            let expected = BTreeSet::from([mac.to_ascii_uppercase()]);
            let found = macs.iter().map(|m| m.mac_address.to_ascii_uppercase());
            compare(&at, "MAC addresses", &expected, found, out);
            // Only where the right MAC is there (its absence is reported just above).
            let right = macs
                .iter()
                .filter(|m| m.mac_address.eq_ignore_ascii_case(mac));
            let right: Vec<u64> = right.map(|m| m.id).collect();
            let primary = interface.primary_mac_address.as_ref().map(|r| r.id);
            if !right.is_empty() && !primary.is_some_and(|p| right.contains(&p)) {
                out.push(format!("{at}: primary MAC {primary:?} is not its {mac}"));
            }
            // A `tag=` makes the interface an access port on that VLAN; none, no VLAN.
            let mode = interface.mode.as_ref().map(|m| m.value.as_str());
            let vlan = interface.untagged_vlan.is_some();
            let expected_mode = nic.tag.map(|_| "access");
            if mode != expected_mode || vlan != nic.tag.is_some() {
                out.push(format!(
                    "{at}: mode {mode:?} with{} an untagged VLAN, expected {expected_mode:?} for tag {:?}",
                    if vlan { "" } else { "out" },
                    nic.tag
                ));
            }
        }
        for ip in of(ips_on, interface.id) {
            let address = canonical(&ip.address).map_or_else(|| ip.address.clone(), |(_, a)| a);
            addresses.push(format!("{} {address}", interface.name));
        }
    }
    // The same address on two interfaces shows as one unexpected; on one, as a duplicate.
    let expected = expected_addresses(guest);
    compare(label, "addresses", &expected, addresses, out);
}

/// One journal entry per backup volume (`backups`): no VM has two entries for one volume.
async fn check_journal(
    netbox: &NetboxClient,
    sim: &pve_sim::model::Cluster,
    vms: &[VirtualMachine],
    out: &mut Vec<String>,
) -> Result<(), NbError> {
    let vm_ids: Vec<u64> = vms.iter().map(|v| v.id).collect();
    let entries = netbox
        .list_in::<JournalEntry, _>("assigned_object_id", &vm_ids)
        .await?;
    let mut seen: BTreeMap<(u64, &str), usize> = BTreeMap::new();
    let on_vms = entries
        .iter()
        .filter(|e| e.assigned_object_type == "virtualization.virtualmachine");
    for entry in on_vms {
        for backup in &sim.backups {
            if entry.comments.contains(&format!("`{}`", backup.volid)) {
                *seen
                    .entry((entry.assigned_object_id, backup.volid.as_str()))
                    .or_default() += 1;
            }
        }
    }
    for ((vm, volid), count) in seen {
        if count > 1 {
            out.push(format!(
                "VM {vm}: duplicate journal entries ({count}) for backup {volid}"
            ));
        }
    }
    Ok(())
}

/// The VM's primary IPv4 and IPv6 (`vm-ip-addresses`): for a family the guest reports, one
/// of the addresses it reports of that family.
fn check_primary(
    label: &str,
    guest: &Guest,
    vm: &VirtualMachine,
    address_of: &HashMap<u64, String>,
    out: &mut Vec<String>,
) {
    let reported: Vec<String> = expected_addresses(guest)
        .into_iter()
        .filter_map(|line| Some(line.split_once(' ')?.1.to_string()))
        .collect();
    for (family, v4, primary) in [
        ("IPv4", true, &vm.primary_ip4),
        ("IPv6", false, &vm.primary_ip6),
    ] {
        let of_family: Vec<&String> = reported
            .iter()
            .filter(|a| canonical(a).is_some_and(|(ip, _)| ip.is_ipv4() == v4))
            .collect();
        if of_family.is_empty() {
            continue;
        }
        let found = primary.as_ref().and_then(|r| address_of.get(&r.id));
        if !found.is_some_and(|address| of_family.contains(&address)) {
            out.push(format!(
                "{label}: primary {family} {}, expected one of {}",
                shown(found),
                few(&of_family)
            ));
        }
    }
}

/// The addresses `vm-ip-addresses` selects, as `netN address`: LXC's static `ip=` / `ip6=`
/// (the simulator writes a NIC's `ip` / `ip6` into its `netN`; `dhcp` is none); a QEMU
/// guest's agent addresses while it runs with the agent configured, matched to `netN` by
/// MAC (the simulator answers `agent_ips[i]` under NIC i's MAC). Loopback, link-local and
/// unspecified addresses are never recorded.
fn expected_addresses(guest: &Guest) -> BTreeSet<String> {
    let mut expected = BTreeSet::new();
    for (i, nic) in guest.nics.iter().enumerate() {
        let reported: Vec<&String> = match guest.kind {
            Kind::Lxc => nic.ip.iter().chain(&nic.ip6).collect(),
            Kind::Qemu if guest.agent && guest.running => {
                guest.agent_ips.get(i).into_iter().flatten().collect()
            }
            Kind::Qemu => Vec::new(),
        };
        for (ip, address) in reported.into_iter().filter_map(|a| canonical(a)) {
            if is_recordable(ip) {
                expected.insert(format!("net{i} {address}"));
            }
        }
    }
    expected
}

fn kind_of(kind: Kind) -> GuestKind {
    match kind {
        Kind::Qemu => GuestKind::Qemu,
        Kind::Lxc => GuestKind::Lxc,
    }
}

/// `address/prefix` with the address in its canonical text, as NetBox answers it.
fn canonical(cidr: &str) -> Option<(IpAddr, String)> {
    let (host, prefix) = cidr.split_once('/')?;
    let ip: IpAddr = host.trim().parse().ok()?;
    let prefix: u8 = prefix.trim().parse().ok()?;
    Some((ip, format!("{ip}/{prefix}")))
}

/// The items of `id` in a [`group`]ing.
fn of<T>(groups: &HashMap<u64, Vec<T>>, id: u64) -> &[T] {
    groups.get(&id).map(Vec::as_slice).unwrap_or_default()
}

fn group<T>(items: &[T], key: impl Fn(&T) -> Option<u64>) -> HashMap<u64, Vec<&T>> {
    let mut groups: HashMap<u64, Vec<&T>> = HashMap::new();
    for item in items {
        if let Some(key) = key(item) {
            groups.entry(key).or_default().push(item);
        }
    }
    groups
}

/// `found` against `expected`: what is there more than once, what is missing, what is
/// there besides; a few of each.
fn compare(
    label: &str,
    what: &str,
    expected: &BTreeSet<String>,
    found: impl IntoIterator<Item = String>,
    out: &mut Vec<String>,
) {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for item in found {
        *counts.entry(item).or_insert(0) += 1;
    }
    let twice: Vec<String> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(item, n)| format!("{item} ×{n}"))
        .collect();
    if !twice.is_empty() {
        out.push(format!("{label}: duplicate {what}: {}", few(&twice)));
    }
    let found: BTreeSet<String> = counts.into_keys().collect();
    let missing: Vec<&String> = expected.difference(&found).collect();
    let extra: Vec<&String> = found.difference(expected).collect();
    let parts = [("missing", missing), ("unexpected", extra)];
    let parts: Vec<String> = parts
        .iter()
        .filter(|(_, items)| !items.is_empty())
        .map(|(kind, items)| format!("{kind} {}", few(items)))
        .collect();
    if !parts.is_empty() {
        out.push(format!("{label}: {what} differ: {}", parts.join("; ")));
    }
}

fn shown<T: Display>(value: Option<T>) -> String {
    value.map_or_else(|| "none".into(), |v| v.to_string())
}

fn few<T: Display>(items: &[T]) -> String {
    let shown: Vec<String> = items.iter().take(SHOWN).map(ToString::to_string).collect();
    match items.len().saturating_sub(SHOWN) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}
