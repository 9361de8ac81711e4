//! A NetBox filled before Proxbox came, from the simulator's cluster, object for object as
//! each other tool writes it: the system Proxbox replaces (proxbox-api 0.0.11.post2, `PA/`
//! = `proxbox_api/`), netbox-ssot (commit 964004d4; `PS` =
//! `internal/source/proxmox/proxmox_sync.go`, `AI` = `internal/netbox/inventory/add_items.go`)
//! and an operator by hand. `docs/takeover.md` has the same citations in words. Each fill
//! returns the ids it made, keyed by the Proxmox object each stands for: the test's oracle.

use std::collections::BTreeMap;

use proxbox_netbox::NetboxClient;
use pve_sim::model::Guest;
use pve_sim::{Cluster as SimCluster, Kind};
use reqwest::Method;
use serde_json::{json, Value};

/// A Proxmox object, as the oracle names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Of {
    Cluster,
    Node(String),
    Guest(Kind, u64),
    /// A guest's NIC, by its MAC in lowercase.
    Nic(String),
    /// The MAC object of a NIC.
    Mac(String),
    /// An address, by host.
    Ip(String),
    /// A guest's disk, by key.
    Disk(Kind, u64, String),
    /// A node's interface, by name.
    NodeInterface(String, String),
}

/// What a fill made: the NetBox id standing for each Proxmox object, and the objects that
/// stand for none (a guest's `lo`), which must survive too.
#[derive(Debug, Default)]
pub struct Filled {
    pub ids: BTreeMap<Of, (&'static str, u64)>,
    pub others: Vec<(&'static str, u64)>,
    /// The fill tags its objects `proxbox`, as the system Proxbox replaces does.
    pub tagged_proxbox: bool,
}

pub const CLUSTERS: &str = "virtualization/clusters/";
pub const DEVICES: &str = "dcim/devices/";
pub const NODE_INTERFACES: &str = "dcim/interfaces/";
pub const VMS: &str = "virtualization/virtual-machines/";
pub const VM_INTERFACES: &str = "virtualization/interfaces/";
pub const MACS: &str = "dcim/mac-addresses/";
pub const IPS: &str = "ipam/ip-addresses/";
pub const DISKS: &str = "virtualization/virtual-disks/";

pub async fn post(netbox: &NetboxClient, path: &str, body: Value) -> u64 {
    let created = netbox
        .request(Method::POST, path, &[], Some(&body))
        .await
        .unwrap_or_else(|e| panic!("POST {path} {body}: {e}"));
    created["id"].as_u64().unwrap()
}

pub async fn patch(netbox: &NetboxClient, path: &str, id: u64, body: Value) {
    netbox
        .request(Method::PATCH, &format!("{path}{id}/"), &[], Some(&body))
        .await
        .unwrap_or_else(|e| panic!("PATCH {path}{id}: {e}"));
}

/// The id of the object of `path` with this slug, made from `body` when there is none
/// (shared objects: types, roles, tags, custom fields are looked up, never changed). One
/// with the body's name stands for it too (NetBox keeps names unique as well: Proxbox's own
/// cluster type may hold the name under another slug), and a test beside this one that
/// made it first is found after the refusal.
pub async fn slugged(
    netbox: &NetboxClient,
    path: &str,
    key: &str,
    value: &str,
    body: Value,
) -> u64 {
    let name = body["name"].as_str();
    if let Some(id) = by_slug_or_name(netbox, path, (key, value), name).await {
        return id;
    }
    match netbox.request(Method::POST, path, &[], Some(&body)).await {
        Ok(created) => created["id"].as_u64().unwrap(),
        Err(e) => by_slug_or_name(netbox, path, (key, value), name)
            .await
            .unwrap_or_else(|| panic!("POST {path} {body}: {e}")),
    }
}

async fn by_slug_or_name(
    netbox: &NetboxClient,
    path: &str,
    (key, value): (&str, &str),
    name: Option<&str>,
) -> Option<u64> {
    match first_id(netbox, path, key, value).await {
        Some(id) => Some(id),
        None => first_id(netbox, path, "name", name?).await,
    }
}

async fn first_id(netbox: &NetboxClient, path: &str, key: &str, value: &str) -> Option<u64> {
    let found = netbox
        .request(
            Method::GET,
            path,
            &[(key.to_string(), value.to_string())],
            None,
        )
        .await
        .unwrap();
    found["results"].as_array()?.first()?["id"].as_u64()
}

/// The device type (and its manufacturer) and role of a tool's node devices, each found
/// by slug or made: `[name, slug]`, `[model, slug]`, `[name, slug, colour]`.
async fn node_kind(
    netbox: &NetboxClient,
    maker: [&str; 2],
    model: [&str; 2],
    role: [&str; 3],
) -> (u64, u64) {
    let maker = slugged(
        netbox,
        "dcim/manufacturers/",
        "slug",
        maker[1],
        json!({"name": maker[0], "slug": maker[1]}),
    )
    .await;
    let device_type = slugged(
        netbox,
        "dcim/device-types/",
        "slug",
        model[1],
        json!({"manufacturer": maker, "model": model[0], "slug": model[1]}),
    )
    .await;
    let role = slugged(
        netbox,
        "dcim/device-roles/",
        "slug",
        role[1],
        json!({"name": role[0], "slug": role[1], "color": role[2]}),
    )
    .await;
    (device_type, role)
}

async fn tag(netbox: &NetboxClient, name: &str, slug: &str, color: &str) -> u64 {
    let body = json!({"name": name, "slug": slug, "color": color});
    slugged(netbox, "extras/tags/", "slug", slug, body).await
}

async fn custom_field(netbox: &NetboxClient, name: &str, kind: &str, types: &[&str]) {
    let body = json!({"name": name, "label": name, "type": kind, "object_types": types});
    slugged(netbox, "extras/custom-fields/", "name", name, body).await;
}

/// The addresses Proxmox reports for a guest's NIC `i` (what a sync records): the agent's
/// for a running QEMU guest with one, the config's static ones for a container.
pub fn addresses(guest: &Guest, i: usize) -> Vec<String> {
    let all: Vec<String> = match guest.kind {
        Kind::Qemu if guest.running && guest.agent && !guest.template => {
            guest.agent_ips.get(i).cloned().unwrap_or_default()
        }
        Kind::Qemu => Vec::new(),
        Kind::Lxc => [&guest.nics[i].ip, &guest.nics[i].ip6]
            .into_iter()
            .flatten()
            .filter(|ip| ip.contains('/'))
            .cloned()
            .collect(),
    };
    all.into_iter()
        .filter(|a| !a.starts_with("fe80") && !a.starts_with("127."))
        .collect()
}

/// How a tool writes a guest NIC: the interface's fields, and what it adds to the MAC
/// object and to each address (both assigned to the interface).
struct NicStyle {
    interface: Value,
    mac: Value,
    primary: bool,
    ip: Value,
}

fn with(mut body: Value, more: &Value) -> Value {
    if let (Some(body), Some(more)) = (body.as_object_mut(), more.as_object()) {
        body.extend(more.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    body
}

impl Filled {
    /// NIC `i` of `guest` on VM `vm`, with its MAC object and addresses, as `style` says.
    async fn nic(
        &mut self,
        netbox: &NetboxClient,
        guest: &Guest,
        i: usize,
        vm: u64,
        name: String,
        style: &NicStyle,
    ) {
        let nic = &guest.nics[i];
        let body = with(
            json!({"virtual_machine": vm, "name": name}),
            &style.interface,
        );
        let interface = post(netbox, VM_INTERFACES, body).await;
        let mac = nic.mac.to_ascii_lowercase();
        self.ids
            .insert(Of::Nic(mac.clone()), (VM_INTERFACES, interface));
        let on = json!({"assigned_object_type": "virtualization.vminterface", "assigned_object_id": interface});
        let mac_id = post(
            netbox,
            MACS,
            with(
                with(json!({"mac_address": nic.mac.to_ascii_uppercase()}), &on),
                &style.mac,
            ),
        )
        .await;
        if style.primary {
            patch(
                netbox,
                VM_INTERFACES,
                interface,
                json!({"primary_mac_address": mac_id}),
            )
            .await;
        }
        self.ids.insert(Of::Mac(mac), (MACS, mac_id));
        for address in addresses(guest, i) {
            let body = with(with(json!({"address": address}), &on), &style.ip);
            let ip = post(netbox, IPS, body).await;
            self.ids.insert(Of::Ip(host(&address)), (IPS, ip));
        }
    }
}

fn status(guest: &Guest) -> &'static str {
    if guest.running {
        "active"
    } else {
        "offline"
    }
}

/// As the system Proxbox replaces fills NetBox (proxbox-api 0.0.11.post2 with its plugin
/// 0.0.15.post2, on NetBox ≥ 4.6).
pub async fn as_netbox_proxbox(netbox: &NetboxClient, c: &SimCluster) -> Filled {
    let mut filled = Filled {
        tagged_proxbox: true,
        ..Filled::default()
    };
    let slug = proxbox::server::sync::managed::slugify(&c.name);
    // PA/dependencies.py:19-27: the Proxbox tag on nearly everything.
    let proxbox = tag(netbox, "Proxbox", "proxbox", "ff5722").await;
    let tags = json!([proxbox]);
    // PA/routes/extras/__init__.py:118: the VMID custom field.
    custom_field(
        netbox,
        "proxmox_vm_id",
        "integer",
        &["virtualization.virtualmachine"],
    )
    .await;
    // PA/services/sync/device_ensure.py:195-202: cluster type by mode.
    let cluster_type = slugged(
        netbox,
        "virtualization/cluster-types/",
        "slug",
        "cluster",
        json!({"name": "Cluster", "slug": "cluster", "description": "Proxmox cluster mode"}),
    )
    .await;
    // :31-34, :780-801: the default site.
    let site = post(
        netbox,
        "dcim/sites/",
        json!({
        "name": format!("Proxmox Default Site - {}", c.name),
        "slug": format!("proxmox-default-site-{slug}"), "status": "active", "tags": tags}),
    )
    .await;
    filled.others.push(("dcim/sites/", site));
    // :205-226: the cluster, scoped to its site.
    let cluster = post(
        netbox,
        CLUSTERS,
        json!({
        "name": c.name, "type": cluster_type, "description": "Proxmox cluster mode cluster.",
        "scope_type": "dcim.site", "scope_id": site, "tags": tags}),
    )
    .await;
    filled.ids.insert(Of::Cluster, (CLUSTERS, cluster));
    // :229-258: manufacturer, device type and role of the nodes.
    let (device_type, role) = node_kind(
        netbox,
        ["Proxmox", "proxmox"],
        ["Proxmox Generic Device", "proxmox-generic-device"],
        ["Proxmox Node", "proxmox-node", "00bcd4"],
    )
    .await;
    let mut devices = BTreeMap::new();
    for node in &c.nodes {
        // :272-291: each node's device.
        let id = post(netbox, DEVICES, json!({
            "name": node.name, "status": "active", "description": format!("Proxmox Node {}", node.name),
            "device_type": device_type, "role": role, "cluster": cluster, "site": site, "tags": tags})).await;
        filled
            .ids
            .insert(Of::Node(node.name.clone()), (DEVICES, id));
        devices.insert(node.name.clone(), id);
    }
    // PA/constants.py:18-29: VM types on NetBox ≥ 4.6.
    let vm_type = |kind: Kind| match kind {
        Kind::Qemu => ("QEMU Virtual Machine", "qemu-virtual-machine"),
        Kind::Lxc => ("LXC Container", "lxc-container"),
    };
    for guest in c.guests.values() {
        let (type_name, type_slug) = vm_type(guest.kind);
        let vm_type = slugged(
            netbox,
            "virtualization/virtual-machine-types/",
            "slug",
            type_slug,
            json!({"name": type_name, "slug": type_slug}),
        )
        .await;
        // PA/proxmox_to_netbox/models.py:1042-1061, :1189-1209: the VM and its VMID.
        let vm = post(
            netbox,
            VMS,
            json!({
            "name": guest.name, "status": status(guest), "cluster": cluster,
            "device": devices[&guest.node], "site": site, "virtual_machine_type": vm_type,
            "vcpus": guest.cores * guest.sockets, "memory": guest.memory_mib,
            "description": format!("Synced from Proxmox node {}", guest.node), "tags": tags,
            "custom_fields": {"proxmox_vm_id": guest.vmid}}),
        )
        .await;
        filled
            .ids
            .insert(Of::Guest(guest.kind, guest.vmid), (VMS, vm));
        for i in 0..guest.nics.len() {
            // PA/routes/virtualization/virtual_machines/sync_vm.py:2487-2501: LXC the
            // config's name=, QEMU net<i>, or the agent's name when it answers.
            let name = match guest.kind {
                Kind::Lxc => format!("eth{i}"),
                Kind::Qemu if guest.running && guest.agent => format!("ens{}", 18 + i),
                Kind::Qemu => format!("net{i}"),
            };
            // PA/services/sync/mac_address.py:95-145: the MAC upper case, then primary;
            // PA/services/sync/network.py:242-282: each address on its interface.
            let style = NicStyle {
                interface: json!({"enabled": true, "tags": tags}),
                mac: json!({"tags": tags}),
                primary: true,
                ip: json!({"status": "active", "dns_name": guest.name, "tags": tags}),
            };
            filled.nic(netbox, guest, i, vm, name, &style).await;
        }
        // PA/proxmox_to_netbox/schemas/disks.py:42-99: by config key, in MB.
        for disk in &guest.disks {
            let id = post(netbox, DISKS, json!({
                "virtual_machine": vm, "name": disk.key, "size": disk.size_gib * 1024, "tags": tags})).await;
            filled.ids.insert(
                Of::Disk(guest.kind, guest.vmid, disk.key.clone()),
                (DISKS, id),
            );
        }
    }
    // PA/services/sync/bridge_interfaces.py:105-113: the bridges the guests use, on their node.
    let mut bridges: BTreeMap<(String, String), ()> = BTreeMap::new();
    for guest in c.guests.values() {
        for nic in &guest.nics {
            bridges.insert((guest.node.clone(), nic.bridge.clone()), ());
        }
    }
    for (node, bridge) in bridges.into_keys() {
        let id = post(
            netbox,
            NODE_INTERFACES,
            json!({
            "device": devices[&node], "name": bridge, "type": "bridge", "tags": tags}),
        )
        .await;
        filled
            .ids
            .insert(Of::NodeInterface(node, bridge), (NODE_INTERFACES, id));
    }
    filled
}

/// As netbox-ssot's Proxmox source fills NetBox, its source named `pve`.
pub async fn as_netbox_ssot(netbox: &NetboxClient, c: &SimCluster) -> Filled {
    let mut filled = Filled::default();
    // internal/constants/constants.go:18-20 and internal/source/source.go:33-53: its tags.
    let ssot = tag(netbox, "netbox-ssot", "netbox-ssot", "00add8").await;
    let source = tag(netbox, "Source: pve", "source-pve", "9e9e9e").await;
    let kind = tag(netbox, "proxmox", "type-proxmox", "9e9e9e").await;
    let tags = json!([source, kind, ssot]);
    let ssot_only = json!([ssot]);
    // internal/netbox/inventory/init_items.go:469-605: `source` and `source_id`.
    custom_field(
        netbox,
        "source",
        "text",
        &[
            "virtualization.cluster",
            "dcim.device",
            "dcim.interface",
            "virtualization.virtualmachine",
            "virtualization.vminterface",
            "ipam.ipaddress",
            "virtualization.virtualdisk",
        ],
    )
    .await;
    custom_field(
        netbox,
        "source_id",
        "text",
        &["virtualization.virtualmachine"],
    )
    .await;
    let cf = json!({"source": "pve"});
    // PS:46-52: the cluster type; PS:31-34: the site of clusterSiteRelations.
    let cluster_type = slugged(
        netbox,
        "virtualization/cluster-types/",
        "slug",
        "proxmox",
        json!({"name": "Proxmox", "slug": "proxmox"}),
    )
    .await;
    let site = post(netbox, "dcim/sites/", json!({
        "name": format!("{} DC", c.name), "slug": format!("{}-dc", proxbox::server::sync::managed::slugify(&c.name)),
        "status": "active"})).await;
    filled.others.push(("dcim/sites/", site));
    // PS:61-83: the cluster.
    let cluster = post(
        netbox,
        CLUSTERS,
        json!({
        "name": c.name, "type": cluster_type, "scope_type": "dcim.site", "scope_id": site,
        "tags": tags, "custom_fields": cf}),
    )
    .await;
    filled.ids.insert(Of::Cluster, (CLUSTERS, cluster));
    // PS:125-170: generic manufacturer and model, role Server.
    let (device_type, role) = node_kind(
        netbox,
        ["Generic Manufacturer", "generic-manufacturer"],
        ["Generic Model", "generic-manufacturergeneric-model"],
        ["Server", "server", "00add8"],
    )
    .await;
    let mut devices = BTreeMap::new();
    for node in &c.nodes {
        // PS:172-189: no status, serial or platform.
        let id = post(
            netbox,
            DEVICES,
            json!({
            "name": node.name, "device_type": device_type, "role": role, "site": site,
            "cluster": cluster, "tags": tags, "custom_fields": cf}),
        )
        .await;
        filled
            .ids
            .insert(Of::Node(node.name.clone()), (DEVICES, id));
        devices.insert(node.name.clone(), id);
        // PS:203-241: each interface of type other, nothing else.
        for iface in &node.interfaces {
            let interface = post(netbox, NODE_INTERFACES, json!({
                "device": id, "name": iface.iface, "type": "other", "tags": tags, "custom_fields": cf})).await;
            filled.ids.insert(
                Of::NodeInterface(node.name.clone(), iface.iface.clone()),
                (NODE_INTERFACES, interface),
            );
        }
    }
    // add_predefined_items.go:11-22, :83-95: roles of VMs and containers.
    let vm_role = slugged(
        netbox,
        "dcim/device-roles/",
        "slug",
        "vm",
        json!({"name": "VM", "slug": "vm", "color": "81eaea", "vm_role": true}),
    )
    .await;
    let ct_role = slugged(
        netbox,
        "dcim/device-roles/",
        "slug",
        "container",
        json!({"name": "Container", "slug": "container", "color": "0db7ed", "vm_role": true}),
    )
    .await;
    for guest in c.guests.values() {
        // PS:292-637 (QEMU), PS:779-839 (LXC): memory in MiB, the VMID as `source_id`.
        let role = if guest.kind == Kind::Qemu {
            vm_role
        } else {
            ct_role
        };
        let vm = post(
            netbox,
            VMS,
            json!({
            "name": guest.name, "status": status(guest), "cluster": cluster, "site": site,
            "device": devices[&guest.node], "role": role, "vcpus": guest.cores * guest.sockets,
            "memory": guest.memory_mib, "tags": tags,
            "custom_fields": {"source": "pve", "source_id": guest.vmid.to_string()}}),
        )
        .await;
        filled
            .ids
            .insert(Of::Guest(guest.kind, guest.vmid), (VMS, vm));
        // PS:639-677, :841-882: interfaces only as the running guest reports them (the
        // agent's names, `lo` too), MACs upper case and primary.
        let reports = match guest.kind {
            Kind::Qemu => guest.running && guest.agent && !guest.template,
            Kind::Lxc => guest.running,
        };
        if reports {
            let lo = post(
                netbox,
                VM_INTERFACES,
                json!({
                "virtual_machine": vm, "name": "lo", "tags": tags, "custom_fields": cf}),
            )
            .await;
            filled.others.push((VM_INTERFACES, lo));
            // AI:1350-1367: the MAC carries `netbox-ssot` only; PS:679-759: each address,
            // active, no VRF.
            let style = NicStyle {
                interface: json!({"tags": tags, "custom_fields": cf}),
                mac: json!({"tags": ssot_only}),
                primary: true,
                ip: json!({"status": "active", "tags": tags, "custom_fields": cf}),
            };
            for i in 0..guest.nics.len() {
                let name = match guest.kind {
                    Kind::Qemu => format!("ens{}", 18 + i),
                    Kind::Lxc => format!("eth{i}"),
                };
                filled.nic(netbox, guest, i, vm, name, &style).await;
            }
        }
        // PS:364-414: QEMU disks named by their volume, size G × 1000; containers none.
        if guest.kind == Kind::Qemu {
            for (i, disk) in guest.disks.iter().enumerate() {
                let volume = format!("{}:vm-{}-disk-{i}", disk.storage, guest.vmid);
                let id = post(
                    netbox,
                    DISKS,
                    json!({
                    "virtual_machine": vm, "name": volume, "description": volume,
                    "size": disk.size_gib * 1000, "tags": ssot_only, "custom_fields": cf}),
                )
                .await;
                filled.ids.insert(
                    Of::Disk(guest.kind, guest.vmid, disk.key.clone()),
                    (DISKS, id),
                );
            }
        }
    }
    filled
}

/// As an operator enters it by hand: the same names, no tags, no custom fields; the nodes
/// as devices of a site in no cluster, each guest's NICs as the guest sees them (`eth0`)
/// with their MAC and addresses.
pub async fn by_hand(netbox: &NetboxClient, c: &SimCluster) -> Filled {
    let mut filled = Filled::default();
    let cluster_type = slugged(
        netbox,
        "virtualization/cluster-types/",
        "slug",
        "proxmox-ve",
        json!({"name": "Proxmox VE", "slug": "proxmox-ve"}),
    )
    .await;
    let site = post(netbox, "dcim/sites/", json!({
        "name": format!("{} room", c.name),
        "slug": format!("{}-room", proxbox::server::sync::managed::slugify(&c.name)), "status": "active"})).await;
    filled.others.push(("dcim/sites/", site));
    let cluster = post(
        netbox,
        CLUSTERS,
        json!({"name": c.name, "type": cluster_type}),
    )
    .await;
    filled.ids.insert(Of::Cluster, (CLUSTERS, cluster));
    let (device_type, role) = node_kind(
        netbox,
        ["Hand Maker", "hand-maker"],
        ["Hand Server", "hand-server"],
        ["Hypervisor", "hypervisor", "607d8b"],
    )
    .await;
    for node in &c.nodes {
        let id = post(
            netbox,
            DEVICES,
            json!({
            "name": node.name, "device_type": device_type, "role": role, "site": site}),
        )
        .await;
        filled
            .ids
            .insert(Of::Node(node.name.clone()), (DEVICES, id));
    }
    for guest in c.guests.values() {
        let vm = post(
            netbox,
            VMS,
            json!({"name": guest.name, "cluster": cluster, "status": "active"}),
        )
        .await;
        filled
            .ids
            .insert(Of::Guest(guest.kind, guest.vmid), (VMS, vm));
        let style = NicStyle {
            interface: json!({}),
            mac: json!({}),
            primary: false,
            ip: json!({}),
        };
        for i in 0..guest.nics.len() {
            filled
                .nic(netbox, guest, i, vm, format!("eth{i}"), &style)
                .await;
        }
    }
    filled
}

/// `10.0.0.5/24` → `10.0.0.5`.
pub fn host(cidr: &str) -> String {
    cidr.split('/').next().unwrap_or(cidr).to_string()
}
