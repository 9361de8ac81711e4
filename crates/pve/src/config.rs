//! Guest configuration: `GET /nodes/{node}/qemu/{vmid}/config` and
//! `GET /nodes/{node}/lxc/{vmid}/config`, and the property strings inside it
//! (`net0: virtio=BC:24:11:00:00:01,bridge=vmbr0,tag=10`, `scsi0: local-lvm:vm-100-disk-0,size=32G`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::lenient::{as_string, FieldWarning, Fields};
use crate::types::GuestKind;

/// A network device of a guest (`netN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDevice {
    /// The key, e.g. `net0`.
    pub key: String,
    pub index: u32,
    /// QEMU: the NIC model (`virtio`, `e1000`…); LXC: `veth`.
    pub model: Option<String>,
    /// Upper-case MAC address.
    pub mac: Option<String>,
    pub bridge: Option<String>,
    pub vlan: Option<u16>,
    pub firewall: bool,
    pub link_down: bool,
    pub mtu: Option<u32>,
    /// LXC: the interface name inside the container (`eth0`).
    pub name: Option<String>,
    /// LXC: static `ip=` in CIDR form (`dhcp` / `manual` are not addresses and stay `None`).
    pub ip: Option<String>,
    pub ip6: Option<String>,
    pub gw: Option<String>,
    pub gw6: Option<String>,
}

/// A disk of a guest (`scsi0`, `virtio1`, `rootfs`, `mp0`…); CD-ROMs are not disks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    pub key: String,
    /// `local-lvm`, or `None` for a passed-through device path.
    pub storage: Option<String>,
    /// The volume as written, e.g. `local-lvm:vm-100-disk-0`.
    pub volume: String,
    pub size_bytes: Option<u64>,
}

/// The guest agent setting (`agent: 1,fstrim_cloned_disks=1`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentConfig {
    pub enabled: bool,
    pub fstrim_cloned_disks: bool,
    pub kind: Option<String>,
}

/// A guest's configuration, read leniently.
#[derive(Debug, Clone, PartialEq)]
pub struct GuestConfig {
    pub kind: GuestKind,
    /// QEMU `name`, LXC `hostname`.
    pub name: Option<String>,
    pub cores: Option<u64>,
    pub sockets: Option<u64>,
    /// QEMU `vcpus` (hot-plugged count) when set.
    pub vcpus: Option<u64>,
    pub memory_mib: Option<u64>,
    pub ostype: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub onboot: Option<bool>,
    pub template: bool,
    pub agent: Option<AgentConfig>,
    pub nets: Vec<NetDevice>,
    pub disks: Vec<Disk>,
    /// Every key as text, for stages that need more than the fields above.
    pub raw: BTreeMap<String, String>,
}

impl GuestConfig {
    /// vCPUs as NetBox counts them: `vcpus` when set, else cores × sockets.
    pub fn vcpu_count(&self) -> Option<u64> {
        self.vcpus
            .or_else(|| self.cores.map(|c| c * self.sockets.unwrap_or(1)))
    }

    pub fn total_disk_bytes(&self) -> u64 {
        self.disks.iter().filter_map(|d| d.size_bytes).sum()
    }

    /// The SMBIOS UUID of a QEMU VM (`smbios1: uuid=…,manufacturer=…`), when it has one.
    pub fn smbios_uuid(&self) -> Option<&str> {
        self.raw
            .get("smbios1")?
            .split(',')
            .find_map(|part| part.trim().strip_prefix("uuid="))
            .filter(|uuid| !uuid.is_empty())
    }

    pub fn agent_enabled(&self) -> bool {
        self.agent.as_ref().is_some_and(|a| a.enabled)
    }

    pub fn parse(
        kind: GuestKind,
        object: &Map<String, Value>,
        context: &str,
        warnings: &mut Vec<FieldWarning>,
    ) -> GuestConfig {
        let mut f = Fields::new(object, context, warnings);
        let name = f.string(if kind == GuestKind::Qemu {
            "name"
        } else {
            "hostname"
        });
        let cores = f.u64("cores");
        let sockets = f.u64("sockets");
        let vcpus = f.u64("vcpus");
        let memory_mib = memory(&mut f);
        let ostype = f.string("ostype");
        let description = f.string("description");
        let tags = f
            .string("tags")
            .map(|t| crate::types::split_list(&t))
            .unwrap_or_default();
        let onboot = f.bool("onboot");
        let template = f.bool("template").unwrap_or(false);
        let agent = f.string("agent").and_then(|raw| match parse_agent(&raw) {
            Ok(agent) => Some(agent),
            Err(message) => {
                f.warn("agent", message);
                None
            }
        });
        let mut raw = BTreeMap::new();
        let mut nets = Vec::new();
        let mut disks = Vec::new();
        let keys: Vec<String> = f.keys().cloned().collect();
        for key in keys {
            let Some(text) = f.raw(&key).and_then(as_string) else {
                continue;
            };
            if let Some(index) = indexed(&key, "net") {
                match parse_net(&key, index, &text, kind) {
                    Ok(net) => nets.push(net),
                    Err(message) => f.warn(&key, message),
                }
            } else if is_disk_key(kind, &key) {
                match parse_disk(&key, &text) {
                    Ok(Some(disk)) => disks.push(disk),
                    Ok(None) => {}
                    Err(message) => f.warn(&key, message),
                }
            }
            raw.insert(key, text);
        }
        nets.sort_by_key(|n| n.index);
        disks.sort_by_key(|d| disk_order(&d.key));
        GuestConfig {
            kind,
            name,
            cores,
            sockets,
            vcpus,
            memory_mib,
            ostype,
            description,
            tags,
            onboot,
            template,
            agent,
            nets,
            disks,
            raw,
        }
    }
}

/// QEMU `memory` is `[current=]<MiB>` (a string since PVE 8.1, an integer before); LXC's is an integer.
fn memory(f: &mut Fields<'_>) -> Option<u64> {
    let raw = f.raw("memory")?;
    let text = as_string(raw)?;
    let props = parse_property_string(&text, Some("current"));
    match props.get("current").and_then(|v| v.parse::<u64>().ok()) {
        Some(mib) => Some(mib),
        None => {
            f.warn("memory", format!("expected MiB, got {text:?}"));
            None
        }
    }
}

/// Parses `a=1,b=2` property strings; an item without `=` belongs to `default_key`.
pub fn parse_property_string(text: &str, default_key: Option<&str>) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match item.split_once('=') {
            Some((key, value)) => {
                map.insert(key.trim().to_string(), value.trim().to_string());
            }
            None => {
                if let Some(key) = default_key {
                    map.entry(key.to_string())
                        .or_insert_with(|| item.to_string());
                }
            }
        }
    }
    map
}

fn indexed(key: &str, prefix: &str) -> Option<u32> {
    key.strip_prefix(prefix)
        .filter(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))?
        .parse()
        .ok()
}

fn is_disk_key(kind: GuestKind, key: &str) -> bool {
    match kind {
        GuestKind::Qemu => {
            ["scsi", "virtio", "sata", "ide"]
                .iter()
                .any(|p| indexed(key, p).is_some())
                || key == "efidisk0"
                || key == "tpmstate0"
        }
        GuestKind::Lxc => key == "rootfs" || indexed(key, "mp").is_some(),
    }
}

/// Boot-ish order: rootfs / scsi / virtio / sata / ide, then efi/tpm, by index.
fn disk_order(key: &str) -> (u8, u32) {
    for (rank, prefix) in [
        "rootfs", "scsi", "virtio", "sata", "ide", "mp", "efidisk", "tpmstate",
    ]
    .iter()
    .enumerate()
    {
        if let Some(rest) = key.strip_prefix(prefix) {
            return (rank as u8, rest.parse().unwrap_or(0));
        }
    }
    (u8::MAX, 0)
}

const QEMU_NIC_MODELS: [&str; 11] = [
    "virtio", "e1000", "e1000e", "rtl8139", "vmxnet3", "i82551", "i82557b", "i82559er", "ne2k_isa",
    "ne2k_pci", "pcnet",
];

/// Parses a `netN` value of a QEMU VM or an LXC container.
pub fn parse_net(key: &str, index: u32, text: &str, kind: GuestKind) -> Result<NetDevice, String> {
    let props = parse_property_string(text, None);
    let (model, mac) = match kind {
        GuestKind::Qemu => {
            // `virtio=BC:24:…` (model with its MAC) or `model=virtio,macaddr=BC:24:…`.
            let from_model_key = props
                .iter()
                .find(|(k, _)| QEMU_NIC_MODELS.contains(&k.as_str()) || k.starts_with("e1000-"))
                .map(|(k, v)| (Some(k.clone()), Some(v.clone())));
            match from_model_key {
                Some(found) => found,
                None => (props.get("model").cloned(), props.get("macaddr").cloned()),
            }
        }
        GuestKind::Lxc => (
            props.get("type").cloned().or(Some("veth".into())),
            props.get("hwaddr").cloned(),
        ),
    };
    if model.is_none() && mac.is_none() && props.is_empty() {
        return Err(format!("cannot read network device {text:?}"));
    }
    let mac = match mac.filter(|m| !m.is_empty()) {
        Some(m) if is_mac(&m) => Some(m.to_ascii_uppercase()),
        Some(m) => return Err(format!("{m:?} is not a MAC address")),
        None => None,
    };
    let vlan = match props.get("tag") {
        Some(tag) => Some(
            tag.parse::<u16>()
                .ok()
                .filter(|t| (1..=4094).contains(t))
                .ok_or(format!("VLAN tag {tag:?} is not 1-4094"))?,
        ),
        None => None,
    };
    let is_address = |v: &String| v != "dhcp" && v != "manual" && v != "auto" && v.contains('/');
    Ok(NetDevice {
        key: key.to_string(),
        index,
        model,
        mac,
        bridge: props.get("bridge").cloned(),
        vlan,
        firewall: props.get("firewall").is_some_and(|v| v == "1"),
        link_down: props.get("link_down").is_some_and(|v| v == "1"),
        mtu: props.get("mtu").and_then(|v| v.parse().ok()),
        name: props.get("name").cloned(),
        ip: props.get("ip").filter(|v| is_address(v)).cloned(),
        ip6: props.get("ip6").filter(|v| is_address(v)).cloned(),
        gw: props.get("gw").cloned(),
        gw6: props.get("gw6").cloned(),
    })
}

fn is_mac(text: &str) -> bool {
    let parts: Vec<&str> = text.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Parses a disk value; `Ok(None)` for things that are not disks (CD-ROM, `none`).
pub fn parse_disk(key: &str, text: &str) -> Result<Option<Disk>, String> {
    let props = parse_property_string(text, Some("volume"));
    if props.get("media").is_some_and(|m| m == "cdrom") {
        return Ok(None);
    }
    let volume = props
        .get("volume")
        .or_else(|| props.get("file"))
        .cloned()
        .unwrap_or_default();
    if volume.is_empty() || volume == "none" || volume == "cdrom" {
        return Ok(None);
    }
    let size_bytes = match props.get("size") {
        Some(size) => Some(
            parse_size(size).ok_or_else(|| format!("disk size {size:?} is not a size like 32G"))?,
        ),
        None => None,
    };
    let storage = volume
        .split_once(':')
        .map(|(s, _)| s.to_string())
        .filter(|s| !s.starts_with('/'));
    Ok(Some(Disk {
        key: key.to_string(),
        storage,
        volume,
        size_bytes,
    }))
}

/// `32G`, `512M`, `1T`, `4096K` or plain bytes → bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&text[..i], &text[i..]),
        None => (text, ""),
    };
    let multiplier: u64 = match unit.to_ascii_uppercase().trim_end_matches('B') {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        "P" => 1 << 50,
        _ => return None,
    };
    let value: f64 = number.parse().ok()?;
    (value.is_finite() && value >= 0.0).then(|| (value * multiplier as f64).round() as u64)
}

/// `1`, `0`, `enabled=1,fstrim_cloned_disks=1`, `1,type=virtio`.
pub fn parse_agent(text: &str) -> Result<AgentConfig, String> {
    let props = parse_property_string(text, Some("enabled"));
    let flag = |key: &str| -> Result<bool, String> {
        match props.get(key).map(String::as_str) {
            None | Some("0") => Ok(false),
            Some("1") => Ok(true),
            Some(other) => Err(format!("{key}={other:?} is not 0 or 1")),
        }
    };
    Ok(AgentConfig {
        enabled: flag("enabled")?,
        fstrim_cloned_disks: flag("fstrim_cloned_disks")?,
        kind: props.get("type").cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn qemu_net_with_model_mac_bridge_vlan_and_firewall() {
        let net = parse_net(
            "net0",
            0,
            "virtio=BC:24:11:00:00:01,bridge=vmbr0,tag=10,firewall=1",
            GuestKind::Qemu,
        )
        .unwrap();
        assert_eq!(net.model.as_deref(), Some("virtio"));
        assert_eq!(net.mac.as_deref(), Some("BC:24:11:00:00:01"));
        assert_eq!(net.bridge.as_deref(), Some("vmbr0"));
        assert_eq!(net.vlan, Some(10));
        assert!(net.firewall && !net.link_down);
        let alt = parse_net(
            "net1",
            1,
            "model=e1000,macaddr=bc:24:11:aa:bb:cc,bridge=vmbr1,link_down=1",
            GuestKind::Qemu,
        )
        .unwrap();
        assert_eq!(alt.mac.as_deref(), Some("BC:24:11:AA:BB:CC"));
        assert!(alt.link_down);
        assert!(parse_net("net2", 2, "virtio=not-a-mac,bridge=vmbr0", GuestKind::Qemu).is_err());
        assert!(parse_net(
            "net3",
            3,
            "virtio=BC:24:11:00:00:01,tag=5000",
            GuestKind::Qemu
        )
        .is_err());
    }

    #[test]
    fn lxc_net_with_static_addresses() {
        let net = parse_net(
            "net0",
            0,
            "name=eth0,bridge=vmbr0,firewall=1,gw=10.0.0.1,hwaddr=BC:24:11:12:34:56,ip=10.0.0.5/24,ip6=fd00::5/64,type=veth",
            GuestKind::Lxc,
        )
        .unwrap();
        assert_eq!(net.name.as_deref(), Some("eth0"));
        assert_eq!(net.ip.as_deref(), Some("10.0.0.5/24"));
        assert_eq!(net.ip6.as_deref(), Some("fd00::5/64"));
        assert_eq!(net.gw.as_deref(), Some("10.0.0.1"));
        assert_eq!(net.mac.as_deref(), Some("BC:24:11:12:34:56"));
        let dhcp = parse_net(
            "net1",
            1,
            "name=eth1,bridge=vmbr0,ip=dhcp,ip6=auto",
            GuestKind::Lxc,
        )
        .unwrap();
        assert_eq!((dhcp.ip, dhcp.ip6), (None, None));
    }

    #[test]
    fn disks_sizes_and_cdroms() {
        let disk = parse_disk("scsi0", "local-lvm:vm-100-disk-0,size=32G")
            .unwrap()
            .unwrap();
        assert_eq!(disk.storage.as_deref(), Some("local-lvm"));
        assert_eq!(disk.volume, "local-lvm:vm-100-disk-0");
        assert_eq!(disk.size_bytes, Some(32 << 30));
        assert_eq!(
            parse_disk("ide2", "local:iso/debian.iso,media=cdrom").unwrap(),
            None
        );
        assert_eq!(parse_disk("ide2", "none,media=cdrom").unwrap(), None);
        let rootfs = parse_disk("rootfs", "local-zfs:subvol-101-disk-0,size=8G")
            .unwrap()
            .unwrap();
        assert_eq!(rootfs.size_bytes, Some(8 << 30));
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("1.5T"), Some(3 << 39));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("12Q"), None);
        assert!(parse_disk("scsi1", "local-lvm:vm-100-disk-1,size=big").is_err());
    }

    #[test]
    fn agent_forms() {
        assert!(parse_agent("1").unwrap().enabled);
        assert!(!parse_agent("0").unwrap().enabled);
        let a = parse_agent("1,fstrim_cloned_disks=1").unwrap();
        assert!(a.enabled && a.fstrim_cloned_disks);
        let b = parse_agent("enabled=1,type=virtio").unwrap();
        assert_eq!(b.kind.as_deref(), Some("virtio"));
        assert!(parse_agent("yes").is_err());
    }

    #[test]
    fn a_bad_field_skips_that_field_not_the_guest() {
        let config = json!({
            "name": "web01", "cores": "2", "sockets": 2, "memory": "4096", "ostype": "l26",
            "agent": "1,fstrim_cloned_disks=1",
            "net0": "virtio=BC:24:11:00:00:01,bridge=vmbr0",
            "net1": "virtio=garbage",
            "scsi0": "local-lvm:vm-100-disk-0,size=32G",
            "scsi1": "local-lvm:vm-100-disk-1,size=8G",
            "ide2": "none,media=cdrom",
            "balloon": {"unexpected": "object"},
            "x-future-key": "whatever",
            "digest": "abc"
        });
        let mut warnings = Vec::new();
        let c = GuestConfig::parse(
            GuestKind::Qemu,
            config.as_object().unwrap(),
            "qemu/100",
            &mut warnings,
        );
        assert_eq!(c.name.as_deref(), Some("web01"));
        assert_eq!(c.vcpu_count(), Some(4));
        assert_eq!(c.memory_mib, Some(4096));
        assert!(c.agent_enabled());
        assert_eq!(c.nets.len(), 1);
        assert_eq!(
            c.disks.iter().map(|d| d.key.as_str()).collect::<Vec<_>>(),
            ["scsi0", "scsi1"]
        );
        assert_eq!(c.total_disk_bytes(), 40 << 30);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].field, "net1");
        assert!(c.raw.contains_key("x-future-key"));
    }

    #[test]
    fn the_smbios_uuid_is_read_from_its_property_string() {
        let parse = |smbios1: &str| {
            let config = json!({ "smbios1": smbios1 });
            GuestConfig::parse(
                GuestKind::Qemu,
                config.as_object().unwrap(),
                "qemu/100",
                &mut Vec::new(),
            )
        };
        let c = parse("manufacturer=UHJveG1veA==,uuid=6d1b7a2e-0f0c-4a57-9a0e-1f2b3c4d5e6f");
        assert_eq!(
            c.smbios_uuid(),
            Some("6d1b7a2e-0f0c-4a57-9a0e-1f2b3c4d5e6f")
        );
        assert_eq!(parse("manufacturer=UHJveG1veA==").smbios_uuid(), None);
    }

    #[test]
    fn qemu_memory_in_current_form_and_lxc_config() {
        let mut warnings = Vec::new();
        let q = json!({"memory": "current=2048"});
        assert_eq!(
            GuestConfig::parse(GuestKind::Qemu, q.as_object().unwrap(), "q", &mut warnings)
                .memory_mib,
            Some(2048)
        );
        let l = json!({"hostname": "ct1", "memory": 512, "cores": 1, "rootfs": "local-lvm:vm-200-disk-0,size=4G",
                        "mp0": "local-lvm:vm-200-disk-1,mp=/data,size=10G", "net0": "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:02:00,ip=dhcp"});
        let c = GuestConfig::parse(GuestKind::Lxc, l.as_object().unwrap(), "l", &mut warnings);
        assert_eq!(c.name.as_deref(), Some("ct1"));
        assert_eq!(c.memory_mib, Some(512));
        assert_eq!(c.disks.len(), 2);
        assert_eq!(c.nets[0].model.as_deref(), Some("veth"));
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}
