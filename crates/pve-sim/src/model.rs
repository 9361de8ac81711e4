//! The simulated cluster: generated from a seed and sizes (same seed, same cluster),
//! changed by the control API while tests run.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

mod history;
mod nodes;
pub mod sdn;
pub use history::*;
use nodes::{generate_node, ovs_interfaces};

/// A small deterministic generator (SplitMix64): no dependency, stable across versions.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.range(1, 100) <= percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() as u64 - 1) as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Qemu,
    Lxc,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Qemu => "qemu",
            Kind::Lxc => "lxc",
        }
    }

    pub fn parse(raw: &str) -> Option<Kind> {
        match raw {
            "qemu" => Some(Kind::Qemu),
            "lxc" => Some(Kind::Lxc),
            _ => None,
        }
    }
}

/// A guest NIC. For LXC, `ip` / `ip6` are static addresses written into `netN`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nic {
    pub mac: String,
    pub bridge: String,
    #[serde(default)]
    pub tag: Option<u16>,
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub ip6: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskSpec {
    pub key: String,
    pub storage: String,
    pub size_gib: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotSpec {
    pub name: String,
    pub description: String,
    pub snaptime: i64,
    /// Taken with the VM's RAM (QEMU only).
    #[serde(default)]
    pub vmstate: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guest {
    pub vmid: u64,
    pub kind: Kind,
    pub name: String,
    pub node: String,
    pub running: bool,
    pub cores: u64,
    pub sockets: u64,
    pub memory_mib: u64,
    pub ostype: String,
    pub nics: Vec<Nic>,
    pub disks: Vec<DiskSpec>,
    /// QEMU: whether the guest agent is configured (and answers while running).
    pub agent: bool,
    /// Addresses the guest agent reports per NIC (CIDR form); loopback is added when asked.
    #[serde(default)]
    pub agent_ips: Vec<Vec<String>>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub description: String,
    /// A template (`template: 1`): never running.
    #[serde(default)]
    pub template: bool,
    /// The resource pool it belongs to.
    #[serde(default)]
    pub pool: Option<String>,
    /// Config keys no Proxmox version documents (the client must ignore them).
    #[serde(default)]
    pub extra_config: BTreeMap<String, String>,
    #[serde(default)]
    pub snapshots: Vec<SnapshotSpec>,
    /// What the guest agent's `get-osinfo` names as `pretty-name`; `None`: as
    /// [`Guest::agent_os`] derives it.
    #[serde(default)]
    pub os_pretty_name: Option<String>,
    /// What the guest agent's `get-host-name` says; `None`: the guest's name.
    #[serde(default)]
    pub host_name: Option<String>,
}

impl Guest {
    /// The guest agent's `get-osinfo` result, `None` for an agent too old for the command
    /// (QEMU guests of ostype `other`). Derived from the ostype and VMID (drawing nothing
    /// from the generator, so that seeds keep their values) unless set.
    pub fn agent_os(&self) -> Option<serde_json::Value> {
        let linux = [
            ("ubuntu", "Ubuntu", "Ubuntu 22.04.4 LTS", "22.04"),
            (
                "debian",
                "Debian GNU/Linux",
                "Debian GNU/Linux 12 (bookworm)",
                "12",
            ),
            ("rocky", "Rocky Linux", "Rocky Linux 9.4 (Blue Onyx)", "9.4"),
        ];
        let (id, name, pretty, version) = match (self.ostype.as_str(), &self.os_pretty_name) {
            (_, Some(pretty)) => ("custom", pretty.as_str(), pretty.as_str(), ""),
            ("l26", None) => linux[(self.vmid % 3) as usize],
            ("win11", None) => (
                "mswindows",
                "Microsoft Windows",
                "Windows Server 2022 Standard",
                "2022",
            ),
            _ => return None,
        };
        Some(serde_json::json!({
            "id": id, "name": name, "pretty-name": pretty, "version-id": version,
            "kernel-release": "6.8.0-45-generic", "machine": "x86_64"
        }))
    }
    pub fn key(&self) -> (Kind, u64) {
        (self.kind, self.vmid)
    }

    pub fn disk_bytes(&self) -> u64 {
        self.disks.iter().map(|d| d.size_gib << 30).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeIface {
    pub iface: String,
    /// `eth`, `bridge`, `bond`, `vlan`; `OVSBridge`, `OVSBond`, `OVSPort`, `OVSIntPort`.
    pub kind: String,
    pub address: Option<String>,
    pub netmask: Option<String>,
    pub gateway: Option<String>,
    /// IPv6 address; its prefix is /64.
    pub address6: Option<String>,
    /// Bridge ports or bond members, space separated (`ovs_ports` / `ovs_bonds` for OVS).
    pub ports: Option<String>,
    pub vlan_id: Option<u16>,
    /// `vlan-raw-device` of a `vlanN` interface.
    #[serde(default)]
    pub raw_device: Option<String>,
    /// Up now (`active`) and brought up at boot (`autostart`).
    #[serde(default = "up")]
    pub active: bool,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub comments: Option<String>,
    /// Open vSwitch: the bridge of a port, bond or internal port.
    #[serde(default)]
    pub ovs_bridge: Option<String>,
    /// Open vSwitch: a port's VLAN tag.
    #[serde(default)]
    pub ovs_tag: Option<u16>,
    #[serde(default)]
    pub ovs_options: Option<String>,
}

fn up() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub ip: String,
    pub online: bool,
    pub cpus: u64,
    pub memory_bytes: u64,
    pub interfaces: Vec<NodeIface>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    pub name: String,
    /// Distinguishes clusters generated side by side (MACs and addresses stay unique).
    pub index: u8,
    pub version: String,
    pub nodes: Vec<Node>,
    pub guests: BTreeMap<(Kind, u64), Guest>,
    pub backups: Vec<Backup>,
    pub tasks: Vec<TaskSpec>,
    pub replications: Vec<Replication>,
    #[serde(default)]
    pub storages: Vec<StorageSpec>,
    #[serde(default)]
    pub backup_jobs: Vec<BackupJobSpec>,
    /// The "now" the history was generated for (Unix seconds).
    #[serde(default)]
    pub now: i64,
    /// Task lists answer every task whatever `since` / `until` ask, as a replay of answers
    /// recorded from real servers does (off unless a test turns it on).
    #[serde(default)]
    pub tasks_ignore_window: bool,
    /// Shapes of real servers' answers this cluster has (none unless turned on, so that a
    /// seed keeps its answers).
    #[serde(default)]
    pub shapes: BTreeSet<Shape>,
    /// Proxmox SDN: zones, VNets, subnets.
    #[serde(default)]
    pub sdn: sdn::Sdn,
    /// Guests under HA.
    #[serde(default)]
    pub ha: Vec<sdn::HaResource>,
    next_mac: u32,
}

/// A shape real Proxmox servers answer in that the generated cluster does not have unless
/// a test turns it on ([`Cluster::turn_on`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// Nodes cabled with Open vSwitch: an `OVSBond` of two NICs on the `OVSBridge` `vmbr1`,
    /// internal ports with VLAN tags, a tagged `OVSPort`.
    Ovs,
    /// Numbers as strings in node lists and guest configs (PVE 8/9).
    StringNumbers,
    /// A template flag as `"1"` in configs, `""` / `1` in guest lists.
    TemplateFlags,
    /// `total` beside a task list.
    TaskTotal,
    /// `changes` beside a node network with pending edits.
    NetworkChanges,
    /// `"boot": " "` in QEMU configs.
    BootSpace,
    /// An EFI disk and a cloud-init drive in QEMU configs.
    CloudInitEfi,
    /// Guests bridged to SDN VNets: the first NIC of every fifth ordinary guest, over the
    /// VNets in turn, without a `tag=` (the VNet's zone tags its traffic).
    VnetGuests,
}

impl Shape {
    pub const ALL: [Shape; 8] = [
        Shape::Ovs,
        Shape::StringNumbers,
        Shape::TemplateFlags,
        Shape::TaskTotal,
        Shape::NetworkChanges,
        Shape::BootSpace,
        Shape::CloudInitEfi,
        Shape::VnetGuests,
    ];

    /// Whether answers in this shape still follow the API schema (string numbers and `""`
    /// flags are what real servers send against it).
    pub fn follows_schema(self) -> bool {
        !matches!(self, Shape::StringNumbers | Shape::TemplateFlags)
    }

    pub fn parse(raw: &str) -> Option<Shape> {
        Shape::ALL.into_iter().find(|s| {
            serde_json::to_value(s)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .as_deref()
                == Some(raw)
        })
    }
}

/// The sizes and seed of a generated cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterSpec {
    pub seed: u64,
    pub name: String,
    pub index: u8,
    pub nodes: usize,
    /// Guests in all, the special cases included.
    pub guests: usize,
    #[serde(default)]
    pub history: HistorySpec,
}

impl ClusterSpec {
    /// A cluster of three nodes with varied history, seed 1.
    pub fn small(name: &str, guests: usize) -> ClusterSpec {
        ClusterSpec {
            seed: 1,
            name: name.into(),
            index: 0,
            nodes: 3,
            guests,
            history: HistorySpec::default(),
        }
    }
}

/// 2026-11-01 00:00 UTC, the simulated "now" of generated timestamps.
const EPOCH: i64 = 1_793_491_200;

const WORDS: [&str; 16] = [
    "web", "db", "cache", "mail", "dns", "proxy", "build", "git", "mon", "log", "auth", "vpn",
    "api", "queue", "file", "backup",
];
const OS_QEMU: [&str; 4] = ["l26", "l26", "win11", "other"];
const OS_LXC: [&str; 3] = ["debian", "ubuntu", "alpine"];

impl Cluster {
    /// Generates a cluster. Besides `spec.guests - 4` ordinary guests it always holds the
    /// cases that broke the system Proxbox replaces: QEMU 100 next to LXC 100, a guest named
    /// `app-shared` (the same name in every generated cluster), a VM with 30 NICs, and a VM
    /// whose config has keys no Proxmox version documents.
    pub fn generate(spec: &ClusterSpec) -> Cluster {
        let mut rng = Rng::new(spec.seed.wrapping_mul(31).wrapping_add(spec.index as u64));
        let mut cluster = Cluster {
            name: spec.name.clone(),
            index: spec.index,
            version: "8.3.2".into(),
            nodes: Vec::new(),
            guests: BTreeMap::new(),
            backups: Vec::new(),
            tasks: Vec::new(),
            replications: Vec::new(),
            storages: Vec::new(),
            backup_jobs: Vec::new(),
            now: 0,
            tasks_ignore_window: false,
            shapes: BTreeSet::new(),
            sdn: sdn::generate_sdn(spec.index),
            ha: Vec::new(),
            next_mac: 1,
        };
        for n in 0..spec.nodes.max(1) {
            cluster.nodes.push(generate_node(&spec.name, spec.index, n));
        }
        let specials = [
            (Kind::Qemu, 100, "special-qemu-100"),
            (Kind::Lxc, 100, "special-lxc-100"),
        ];
        for (kind, vmid, name) in specials {
            let guest = cluster.generate_guest(&mut rng, kind, vmid, name.to_string());
            cluster.guests.insert(guest.key(), guest);
        }
        let mut shared = cluster.generate_guest(&mut rng, Kind::Qemu, 101, "app-shared".into());
        shared.running = true;
        cluster.guests.insert(shared.key(), shared);
        let mut many = cluster.generate_guest(&mut rng, Kind::Qemu, 102, "router-30nics".into());
        many.nics = (0..30)
            .map(|i| cluster.new_nic(&mut rng, Some(100 + i as u16), None))
            .collect();
        many.agent = false;
        many.agent_ips.clear();
        cluster.guests.insert(many.key(), many);
        let mut odd = cluster.generate_guest(&mut rng, Kind::Qemu, 103, "odd-config".into());
        odd.extra_config
            .insert("x-vendor-hint".into(), "opaque".into());
        odd.extra_config
            .insert("future-feature0".into(), "mode=fast,level=3".into());
        cluster.guests.insert(odd.key(), odd);

        let ordinary = spec.guests.saturating_sub(5);
        for i in 0..ordinary {
            let vmid = 1000 + i as u64;
            let kind = if rng.chance(30) {
                Kind::Lxc
            } else {
                Kind::Qemu
            };
            let name = format!("{}-{}-{:04}", rng.pick(&WORDS), spec.name, i);
            let guest = cluster.generate_guest(&mut rng, kind, vmid, name);
            cluster.guests.insert(guest.key(), guest);
        }
        cluster.generate_history(&mut rng, &spec.history);
        cluster.ha = sdn::generate_ha(&cluster.guests);
        cluster
    }

    fn new_nic(&mut self, rng: &mut Rng, tag: Option<u16>, bridge: Option<&str>) -> Nic {
        let counter = self.next_mac;
        self.next_mac += 1;
        Nic {
            mac: format!(
                "BC:24:{:02X}:{:02X}:{:02X}:{:02X}",
                self.index,
                (counter >> 16) & 0xff,
                (counter >> 8) & 0xff,
                counter & 0xff
            ),
            bridge: bridge.map(str::to_string).unwrap_or_else(|| {
                if rng.chance(80) {
                    "vmbr0".into()
                } else {
                    "vmbr1".into()
                }
            }),
            tag,
            ip: None,
            ip6: None,
        }
    }

    fn address(&self, counter: u64) -> (String, String) {
        let c = counter as u32;
        (
            format!(
                "10.{}.{}.{}/24",
                100 + self.index as u32,
                (c / 250) % 250,
                c % 250 + 2
            ),
            format!("fd00:{:x}::{:x}/64", 0x100 + self.index as u32, c + 2),
        )
    }

    /// A guest with 1–4 NICs, 1–3 disks, some with the agent reporting IPv4/IPv6 (and
    /// link-local), some LXC with static `ip=`. Tags, notes and templates follow from the
    /// vmid, so that they draw nothing from `rng` and leave every other value as it was.
    pub fn generate_guest(&mut self, rng: &mut Rng, kind: Kind, vmid: u64, name: String) -> Guest {
        let node = self.nodes[rng.range(0, self.nodes.len() as u64 - 1) as usize]
            .name
            .clone();
        let nic_count = rng.range(1, 4) as usize;
        let mut nics = Vec::with_capacity(nic_count);
        for i in 0..nic_count {
            let tag = rng.chance(40).then(|| rng.range(10, 200) as u16);
            let mut nic = self.new_nic(rng, tag, (i == 0).then_some("vmbr0"));
            if kind == Kind::Lxc && rng.chance(60) {
                let (v4, v6) = self.address(self.next_mac as u64);
                nic.ip = Some(v4);
                nic.ip6 = rng.chance(50).then_some(v6);
            }
            nics.push(nic);
        }
        let disk_count = rng.range(1, 3) as usize;
        let disks = (0..disk_count)
            .map(|i| DiskSpec {
                key: match kind {
                    Kind::Qemu => format!("scsi{i}"),
                    Kind::Lxc if i == 0 => "rootfs".to_string(),
                    Kind::Lxc => format!("mp{}", i - 1),
                },
                storage: "local-lvm".into(),
                size_gib: *rng.pick(&[8, 16, 32, 64, 100]),
            })
            .collect();
        let agent = kind == Kind::Qemu && rng.chance(60);
        let agent_ips = if agent {
            nics.iter()
                .map(|_| {
                    // From the same counter as MACs: no two NICs of a cluster share an
                    // address (NetBox refuses duplicates in its global table).
                    let counter = self.next_mac;
                    self.next_mac += 1;
                    let (v4, v6) = self.address(counter as u64);
                    vec![
                        v4,
                        v6,
                        format!(
                            "fe80::be24:11ff:fe{:02x}:{:04x}/64",
                            self.index,
                            counter & 0xffff
                        ),
                    ]
                })
                .collect()
        } else {
            Vec::new()
        };
        let snapshots = (0..rng.range(0, 2))
            .map(|i| SnapshotSpec {
                name: format!("before-upgrade-{i}"),
                description: "taken by the simulator".into(),
                snaptime: EPOCH - 86_400 * (i as i64 + 1),
                vmstate: false,
            })
            .collect();
        let template = vmid % 50 == 7;
        let mut tags: Vec<String> = if rng.chance(30) {
            vec!["prod".into()]
        } else {
            Vec::new()
        };
        if vmid.is_multiple_of(3) {
            tags.push("web".into());
        }
        if vmid.is_multiple_of(7) {
            tags.push("Team.EU+1".into());
        }
        let description = if vmid % 4 == 1 {
            format!(
                "# {name}\n\nRuns **{}** for the shop.\n\n- owner: ops\n- ticket: OPS-{vmid}\n",
                if kind == Kind::Qemu {
                    "nginx"
                } else {
                    "postgres"
                }
            )
        } else {
            String::new()
        };
        Guest {
            vmid,
            kind,
            name,
            node,
            running: rng.chance(70) && !template,
            cores: *rng.pick(&[1, 2, 4, 8]),
            sockets: 1,
            memory_mib: *rng.pick(&[512, 1024, 2048, 4096, 8192]),
            ostype: match kind {
                Kind::Qemu => rng.pick(&OS_QEMU).to_string(),
                Kind::Lxc => rng.pick(&OS_LXC).to_string(),
            },
            nics,
            disks,
            agent,
            agent_ips,
            tags,
            description,
            template,
            pool: vmid.is_multiple_of(5).then(|| "customers".to_string()),
            extra_config: BTreeMap::new(),
            snapshots,
            os_pretty_name: None,
            host_name: None,
        }
    }

    /// Gives the cluster a shape of real servers' answers; what it already holds otherwise
    /// stays as generated.
    pub fn turn_on(&mut self, shape: Shape) {
        if !self.shapes.insert(shape) {
            return;
        }
        // The other shapes are how answers are written, not what the cluster holds.
        if shape == Shape::Ovs {
            for (n, node) in self.nodes.iter_mut().enumerate() {
                node.interfaces = ovs_interfaces(self.index, n);
            }
        }
        if shape == Shape::VnetGuests {
            self.bridge_to_vnets();
        }
    }

    /// The first NIC of every fifth ordinary guest moves to a VNet, the VNets in turn.
    fn bridge_to_vnets(&mut self) {
        let vnets: Vec<String> = self.sdn.vnets.iter().map(|v| v.vnet.clone()).collect();
        if vnets.is_empty() {
            return;
        }
        let on_vnets = self
            .guests
            .values_mut()
            .filter(|g| g.vmid >= 1000 && g.vmid % 5 == 0 && !g.nics.is_empty());
        for (n, guest) in on_vnets.enumerate() {
            guest.nics[0].bridge = vnets[n % vnets.len()].clone();
            guest.nics[0].tag = None;
        }
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Adds a guest with generated NICs and disks; `vmid` defaults to the next free one.
    pub fn add_guest(
        &mut self,
        kind: Kind,
        name: String,
        vmid: Option<u64>,
        node: Option<String>,
    ) -> Result<Guest, String> {
        let vmid =
            vmid.unwrap_or_else(|| self.guests.keys().map(|(_, v)| *v).max().unwrap_or(99) + 1);
        if self.guests.contains_key(&(kind, vmid)) {
            return Err(format!("{} {vmid} exists", kind.as_str()));
        }
        let mut rng = Rng::new(vmid ^ 0xadd);
        let mut guest = self.generate_guest(&mut rng, kind, vmid, name);
        if let Some(node) = node {
            if self.node(&node).is_none() {
                return Err(format!("no node {node:?}"));
            }
            guest.node = node;
        }
        self.guests.insert(guest.key(), guest.clone());
        Ok(guest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64, index: u8, guests: usize) -> ClusterSpec {
        ClusterSpec {
            seed,
            name: format!("c{index}"),
            index,
            nodes: 3,
            guests,
            history: HistorySpec {
                now: Some(EPOCH),
                ..Default::default()
            },
        }
    }

    #[test]
    fn same_seed_same_cluster() {
        assert_eq!(
            Cluster::generate(&spec(7, 0, 60)),
            Cluster::generate(&spec(7, 0, 60))
        );
        assert_ne!(
            Cluster::generate(&spec(7, 0, 60)).guests,
            Cluster::generate(&spec(8, 0, 60)).guests
        );
    }

    #[test]
    fn the_nasty_cases_are_there() {
        let c = Cluster::generate(&spec(1, 0, 50));
        assert_eq!(c.guests.len(), 50);
        assert!(
            c.guests.contains_key(&(Kind::Qemu, 100)) && c.guests.contains_key(&(Kind::Lxc, 100))
        );
        assert_eq!(c.guests[&(Kind::Qemu, 102)].nics.len(), 30);
        assert!(!c.guests[&(Kind::Qemu, 103)].extra_config.is_empty());
        let other = Cluster::generate(&spec(1, 1, 50));
        assert!(other.guests.values().any(|g| g.name == "app-shared"));
        assert!(c
            .guests
            .values()
            .any(|g| g.kind == Kind::Lxc && g.nics.iter().any(|n| n.ip.is_some())));
        assert!(c.guests.values().any(|g| g.agent && g.running));
        assert!(c.guests.values().any(|g| !g.running));
    }

    #[test]
    fn macs_are_unique_within_and_across_clusters() {
        let mut seen = std::collections::HashSet::new();
        for index in 0..2 {
            for guest in Cluster::generate(&spec(3, index, 200)).guests.values() {
                for nic in &guest.nics {
                    assert!(seen.insert(nic.mac.clone()), "duplicate MAC {}", nic.mac);
                }
            }
        }
    }
}
