//! Typed answers of the Proxmox VE API paths Proxbox reads. Each type names the path of
//! the official API documentation (https://pve.proxmox.com/pve-docs/api-viewer/) whose
//! `returns` it follows; fields the sync does not use are left out.

use crate::lenient::{FieldWarning, Fields, FromFields};
use serde_json::Value;

/// `GET /version`: `{version, release, repoid, console?}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub version: String,
    pub release: String,
    pub repoid: String,
}

impl FromFields for Version {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(Version {
            version: f.required_string("version")?,
            release: f.string("release").unwrap_or_default(),
            repoid: f.string("repoid").unwrap_or_default(),
        })
    }
}

/// One entry of `GET /cluster/status`: the cluster itself (`type = "cluster"`) or a node.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterStatusEntry {
    pub kind: String,
    pub id: String,
    pub name: String,
    pub ip: Option<String>,
    pub online: Option<bool>,
    pub local: Option<bool>,
    pub nodeid: Option<u64>,
    pub quorate: Option<bool>,
    pub nodes: Option<u64>,
    pub version: Option<u64>,
}

impl FromFields for ClusterStatusEntry {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(ClusterStatusEntry {
            kind: f.required_string("type")?,
            id: f.string("id").unwrap_or_default(),
            name: f.required_string("name")?,
            ip: f.string("ip"),
            online: f.bool("online"),
            local: f.bool("local"),
            nodeid: f.u64("nodeid"),
            quorate: f.bool("quorate"),
            nodes: f.u64("nodes"),
            version: f.u64("version"),
        })
    }
}

/// One entry of `GET /nodes`.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeEntry {
    pub node: String,
    pub status: String,
    pub cpu: Option<f64>,
    pub maxcpu: Option<u64>,
    pub mem: Option<u64>,
    pub maxmem: Option<u64>,
    pub uptime: Option<u64>,
    pub ssl_fingerprint: Option<String>,
}

impl FromFields for NodeEntry {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(NodeEntry {
            node: f.required_string("node")?,
            status: f.string("status").unwrap_or_else(|| "unknown".into()),
            cpu: f.f64("cpu"),
            maxcpu: f.u64("maxcpu"),
            mem: f.u64("mem"),
            maxmem: f.u64("maxmem"),
            uptime: f.u64("uptime"),
            ssl_fingerprint: f.string("ssl_fingerprint"),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GuestKind {
    Qemu,
    Lxc,
}

impl GuestKind {
    /// The path segment and `type` value Proxmox uses: `qemu` or `lxc`.
    pub fn as_str(self) -> &'static str {
        match self {
            GuestKind::Qemu => "qemu",
            GuestKind::Lxc => "lxc",
        }
    }

    pub fn parse(raw: &str) -> Option<GuestKind> {
        match raw {
            "qemu" => Some(GuestKind::Qemu),
            "lxc" => Some(GuestKind::Lxc),
            _ => None,
        }
    }
}

/// One entry of `GET /cluster/resources` (with `type=vm` only guests are listed).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterResource {
    pub id: String,
    pub kind: String,
    pub node: Option<String>,
    pub vmid: Option<u64>,
    pub name: Option<String>,
    pub status: Option<String>,
    pub template: bool,
    pub maxcpu: Option<f64>,
    pub maxmem: Option<u64>,
    pub maxdisk: Option<u64>,
    pub tags: Option<String>,
    pub pool: Option<String>,
    pub storage: Option<String>,
    pub uptime: Option<u64>,
}

impl ClusterResource {
    pub fn guest_kind(&self) -> Option<GuestKind> {
        GuestKind::parse(&self.kind)
    }
}

impl FromFields for ClusterResource {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(ClusterResource {
            id: f.required_string("id")?,
            kind: f.required_string("type")?,
            node: f.string("node"),
            vmid: f.u64("vmid"),
            name: f.string("name"),
            status: f.string("status"),
            template: f.bool("template").unwrap_or(false),
            maxcpu: f.f64("maxcpu"),
            maxmem: f.u64("maxmem"),
            maxdisk: f.u64("maxdisk"),
            tags: f.string("tags"),
            pool: f.string("pool"),
            storage: f.string("storage"),
            uptime: f.u64("uptime"),
        })
    }
}

/// One entry of `GET /nodes/{node}/network`.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInterface {
    pub iface: String,
    pub kind: String,
    pub active: Option<bool>,
    pub autostart: Option<bool>,
    pub method: Option<String>,
    pub address: Option<String>,
    pub netmask: Option<String>,
    pub cidr: Option<String>,
    pub gateway: Option<String>,
    pub address6: Option<String>,
    /// IPv6 prefix length.
    pub netmask6: Option<u64>,
    pub cidr6: Option<String>,
    pub gateway6: Option<String>,
    pub bridge_ports: Option<String>,
    pub slaves: Option<String>,
    pub bond_mode: Option<String>,
    pub vlan_id: Option<u64>,
    pub vlan_raw_device: Option<String>,
    pub mtu: Option<u64>,
    pub comments: Option<String>,
    /// Open vSwitch: the bridge of an `OVSPort`, `OVSBond` or `OVSIntPort`.
    pub ovs_bridge: Option<String>,
    /// Open vSwitch: an `OVSBridge`'s ports.
    pub ovs_ports: Option<String>,
    /// Open vSwitch: an `OVSBond`'s members.
    pub ovs_bonds: Option<String>,
    /// Open vSwitch: the VLAN of an `OVSIntPort` (or a tagged port).
    pub ovs_tag: Option<u64>,
    pub ovs_options: Option<String>,
}

impl FromFields for NodeInterface {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(NodeInterface {
            iface: f.required_string("iface")?,
            kind: f.string("type").unwrap_or_else(|| "unknown".into()),
            active: f.bool("active"),
            autostart: f.bool("autostart"),
            method: f.string("method"),
            address: f.string("address"),
            netmask: f.string("netmask"),
            cidr: f.string("cidr"),
            gateway: f.string("gateway"),
            address6: f.string("address6"),
            netmask6: f.u64("netmask6"),
            cidr6: f.string("cidr6"),
            gateway6: f.string("gateway6"),
            bridge_ports: f.string("bridge_ports"),
            slaves: f.string("slaves"),
            bond_mode: f.string("bond_mode"),
            vlan_id: f.u64("vlan-id"),
            vlan_raw_device: f.string("vlan-raw-device"),
            mtu: f.u64("mtu"),
            comments: f.string("comments"),
            ovs_bridge: f.string("ovs_bridge"),
            ovs_ports: f.string("ovs_ports"),
            ovs_bonds: f.string("ovs_bonds"),
            ovs_tag: f.u64("ovs_tag"),
            ovs_options: f.string("ovs_options"),
        })
    }
}

/// One entry of `GET /storage`.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageName {
    pub storage: String,
}

impl FromFields for StorageName {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(StorageName {
            storage: f.required_string("storage")?,
        })
    }
}

/// One entry of `GET /nodes/{node}/storage` (storages available on that node).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeStorage {
    pub storage: String,
    pub kind: String,
    pub content: Vec<String>,
    pub shared: Option<bool>,
    pub active: Option<bool>,
    pub enabled: Option<bool>,
    pub total: Option<u64>,
    pub used: Option<u64>,
    pub avail: Option<u64>,
}

impl FromFields for NodeStorage {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(NodeStorage {
            storage: f.required_string("storage")?,
            kind: f.string("type").unwrap_or_default(),
            content: f
                .string("content")
                .map(|c| split_list(&c))
                .unwrap_or_default(),
            shared: f.bool("shared"),
            active: f.bool("active"),
            enabled: f.bool("enabled"),
            total: f.u64("total"),
            used: f.u64("used"),
            avail: f.u64("avail"),
        })
    }
}

/// One entry of `GET /nodes/{node}/storage/{storage}/content` (e.g. a backup, `content=backup`).
#[derive(Debug, Clone, PartialEq)]
pub struct StorageContent {
    pub volid: String,
    pub content: Option<String>,
    pub format: Option<String>,
    pub size: Option<u64>,
    pub ctime: Option<i64>,
    pub vmid: Option<u64>,
    pub notes: Option<String>,
    pub protected: Option<bool>,
    /// The key fingerprint of an encrypted Proxmox Backup Server backup.
    pub encrypted: Option<String>,
    /// `verification.state` for Proxmox Backup Server backups (`ok` / `failed`).
    pub verification: Option<String>,
}

impl FromFields for StorageContent {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let verification = f
            .raw("verification")
            .and_then(|v| v.get("state"))
            .and_then(crate::lenient::as_string);
        Some(StorageContent {
            volid: f.required_string("volid")?,
            content: f.string("content"),
            format: f.string("format"),
            size: f.u64("size"),
            ctime: f.i64("ctime"),
            vmid: f.u64("vmid"),
            notes: f.string("notes"),
            protected: f.bool("protected"),
            encrypted: f.string("encrypted"),
            verification,
        })
    }
}

/// One entry of `GET /nodes/{node}/{qemu|lxc}/{vmid}/snapshot`. The list always holds a
/// pseudo-snapshot `current` ("You are here!"), which [`crate::PveClient::snapshots`] drops.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub name: String,
    pub description: String,
    pub parent: Option<String>,
    pub snaptime: Option<i64>,
    pub vmstate: Option<bool>,
}

impl FromFields for Snapshot {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(Snapshot {
            name: f.required_string("name")?,
            description: f.string("description").unwrap_or_default(),
            parent: f.string("parent"),
            snaptime: f.i64("snaptime"),
            vmstate: f.bool("vmstate"),
        })
    }
}

/// Which tasks [`crate::PveClient::node_tasks`] asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// Only this guest's tasks.
    pub vmid: Option<u64>,
    /// Only tasks started at or after this time (Unix seconds).
    pub since: Option<i64>,
    /// Only tasks started at or before this time (Unix seconds).
    pub until: Option<i64>,
}

/// One entry of `GET /nodes/{node}/tasks`.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub upid: String,
    pub node: String,
    pub kind: String,
    /// The object the task worked on; for guest tasks the VMID.
    pub id: String,
    pub user: String,
    pub starttime: Option<i64>,
    pub endtime: Option<i64>,
    /// `OK`, an error message, or `None` while running.
    pub status: Option<String>,
}

impl FromFields for Task {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(Task {
            upid: f.required_string("upid")?,
            node: f.string("node").unwrap_or_default(),
            kind: f.string("type").unwrap_or_default(),
            id: f.string("id").unwrap_or_default(),
            user: f.string("user").unwrap_or_default(),
            starttime: f.i64("starttime"),
            endtime: f.i64("endtime"),
            status: f.string("status"),
        })
    }
}

/// One entry of `GET /cluster/replication`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicationJob {
    pub id: String,
    pub kind: String,
    pub guest: Option<u64>,
    pub target: String,
    pub source: Option<String>,
    pub schedule: Option<String>,
    pub rate: Option<f64>,
    pub disable: Option<bool>,
    pub comment: Option<String>,
}

impl FromFields for ReplicationJob {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        Some(ReplicationJob {
            id: f.required_string("id")?,
            kind: f.string("type").unwrap_or_default(),
            guest: f.u64("guest"),
            target: f.string("target").unwrap_or_default(),
            source: f.string("source"),
            schedule: f.string("schedule"),
            rate: f.f64("rate"),
            disable: f.bool("disable"),
            comment: f.string("comment"),
        })
    }
}

/// One entry of `GET /cluster/backup` (a scheduled backup job). Which guests it backs up:
/// every guest (`all`, less `exclude`), those of a `pool`, or the `vmid` list.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupJob {
    pub id: String,
    pub schedule: Option<String>,
    pub storage: Option<String>,
    /// Limits the job to the guests of one node.
    pub node: Option<String>,
    pub vmid: Vec<u64>,
    pub all: Option<bool>,
    pub pool: Option<String>,
    pub exclude: Vec<u64>,
    pub enabled: Option<bool>,
    pub mode: Option<String>,
    pub compress: Option<String>,
    /// `prune-backups` as Proxmox writes it: `keep-daily=7,keep-weekly=4`.
    pub prune_backups: Option<String>,
    pub notes_template: Option<String>,
    pub comment: Option<String>,
    pub next_run: Option<i64>,
}

/// `100,101, 102` (how `vmid` and `exclude` list guests); what is not a vmid is dropped.
fn vmid_list(raw: Option<String>) -> Vec<u64> {
    raw.map(|list| {
        split_list(&list)
            .iter()
            .filter_map(|v| v.parse().ok())
            .collect()
    })
    .unwrap_or_default()
}

impl FromFields for BackupJob {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        // An object in the API's JSON, a property string in its configuration files.
        let prune_backups = match f.raw("prune-backups") {
            Some(serde_json::Value::Object(keep)) => {
                let mut parts: Vec<String> = keep
                    .iter()
                    .filter_map(|(k, v)| crate::lenient::as_string(v).map(|v| format!("{k}={v}")))
                    .collect();
                parts.sort();
                Some(parts.join(","))
            }
            _ => f.string("prune-backups"),
        };
        Some(BackupJob {
            id: f.required_string("id")?,
            schedule: f.string("schedule"),
            storage: f.string("storage"),
            node: f.string("node"),
            vmid: vmid_list(f.string("vmid")),
            all: f.bool("all"),
            pool: f.string("pool"),
            exclude: vmid_list(f.string("exclude")),
            enabled: f.bool("enabled"),
            mode: f.string("mode"),
            compress: f.string("compress"),
            prune_backups,
            notes_template: f.string("notes-template"),
            comment: f.string("comment"),
            next_run: f.i64("next-run"),
        })
    }
}

/// An address the QEMU guest agent reports (`network-get-interfaces`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentAddress {
    pub address: String,
    /// `ipv4` or `ipv6`.
    pub family: String,
    pub prefix: Option<u8>,
}

/// One interface of `GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces`
/// (`{"result": [{name, hardware-address, ip-addresses: [...]}]}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentInterface {
    pub name: String,
    pub mac: Option<String>,
    pub addresses: Vec<AgentAddress>,
}

impl FromFields for AgentInterface {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let name = f.required_string("name")?;
        let mac = f.string("hardware-address");
        let mut addresses = Vec::new();
        if let Some(list) = f.raw("ip-addresses") {
            match list.as_array() {
                Some(items) => {
                    for item in items {
                        let address = item.get("ip-address").and_then(crate::lenient::as_string);
                        let family = item
                            .get("ip-address-type")
                            .and_then(crate::lenient::as_string);
                        let prefix = item
                            .get("prefix")
                            .and_then(crate::lenient::as_u64)
                            .and_then(|p| u8::try_from(p).ok());
                        match (address, family) {
                            (Some(address), Some(family)) => addresses.push(AgentAddress {
                                address,
                                family,
                                prefix,
                            }),
                            _ => f.warn(
                                "ip-addresses",
                                format!("entry without ip-address or type: {item}"),
                            ),
                        }
                    }
                }
                None => f.warn("ip-addresses", "expected a list"),
            }
        }
        Some(AgentInterface {
            name,
            mac,
            addresses,
        })
    }
}

/// Splits Proxmox's comma- or space-separated lists (`content`, `bridge_ports`, `tags`).
pub fn split_list(raw: &str) -> Vec<String> {
    raw.split([',', ' ', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Everything read about one guest's configuration, with the warnings of the lenient parse.
pub type Warnings = Vec<FieldWarning>;

/// The guest agent's `get-osinfo` result (QGA's `GuestOSInfo`: `pretty-name`, `name`,
/// `version`, `id`, `kernel-release`…; every member optional).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentOsInfo {
    /// "Ubuntu 22.04.4 LTS", "Microsoft Windows Server 2022 Datacenter".
    pub pretty_name: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
}

impl AgentOsInfo {
    pub fn from_result(result: &Value) -> Option<AgentOsInfo> {
        let text = |key: &str| {
            result
                .get(key)
                .and_then(crate::lenient::as_string)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        };
        let info = AgentOsInfo {
            pretty_name: text("pretty-name"),
            name: text("name"),
            version: text("version"),
        };
        (info.pretty_name.is_some() || info.name.is_some()).then_some(info)
    }

    /// The OS as a person names it: the pretty name, else name and version.
    pub fn label(&self) -> String {
        match (&self.pretty_name, &self.name, &self.version) {
            (Some(pretty), ..) => pretty.clone(),
            (None, Some(name), Some(version)) => format!("{name} {version}"),
            (None, Some(name), None) => name.clone(),
            (None, None, _) => String::new(),
        }
    }
}
