//! What the stages of one run hand to later stages: the clusters and devices the devices
//! stage settled, the guests the virtual-machines stage settled, their interfaces. A stage
//! reads what earlier stages left here instead of reading NetBox again.

use std::collections::{BTreeMap, HashMap};

use proxbox_pve::{ClusterResource, GuestKind, NetDevice, NodeStorage, SdnVnet};

use super::mapping::Resolved;
use super::plan::is_planned;

/// What the stages of one run hand each other.
#[derive(Debug, Default)]
pub struct RunState {
    /// Whether NetBox has the `proxbox_identity` custom field (see `managed`).
    pub identity_field: bool,
    pub clusters: Vec<SyncedCluster>,
    pub guests: Vec<SyncedGuest>,
    pub interfaces: Vec<SyncedInterface>,
    /// `/cluster/resources` of each endpoint as discovery read it (nodes and guests).
    pub resources: BTreeMap<i64, Vec<ClusterResource>>,
    /// Endpoints whose `/cluster/resources` had entries that could not be identified.
    pub incomplete_lists: std::collections::HashSet<i64>,
    /// `/nodes/{node}/storage` of each (endpoint, node) read so far.
    pub node_storages: BTreeMap<(i64, String), Vec<NodeStorage>>,
    /// The mapping rules' NetBox objects, in rule order (looked up before any write).
    pub mapping: Vec<Resolved>,
    /// The one node or guest the run is limited to, resolved against Proxmox.
    pub scope: Scope,
    /// Endpoints whose token may ask no guest agent: none is asked.
    pub no_guest_agent: std::collections::HashSet<i64>,
    /// The VLANs this run settled, by VID (planned ids in a dry run): a later stage uses
    /// them rather than planning them again, so that a preview counts each once.
    pub vlans: std::collections::HashMap<u16, u64>,
    /// `/cluster/sdn/vnets` of each endpoint read so far.
    pub sdn_vnets: BTreeMap<i64, Vec<SdnVnet>>,
    /// The addresses this run left on guests' and nodes' interfaces (planned ones in a dry
    /// run): the networks stage gives their networks prefixes.
    pub addresses: Vec<WrittenAddress>,
}

/// An address on an interface of one of an endpoint's guests or nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenAddress {
    pub endpoint_id: i64,
    /// `None`: the global table.
    pub vrf: Option<u64>,
    /// CIDR form.
    pub address: String,
}

/// What a run syncs of its endpoints: everything (the default), one node, or one guest
/// (with the node it is on). Each stage reads and writes only what lies inside; what lies
/// outside is neither read nor treated as gone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub node: Option<String>,
    pub vmid: Option<u64>,
}

impl Scope {
    pub fn is_whole(&self) -> bool {
        self.node.is_none() && self.vmid.is_none()
    }

    pub fn has_node(&self, node: &str) -> bool {
        self.node.as_deref().is_none_or(|n| n == node)
    }

    /// Whether a guest (or a record of it; `None`: a record of no guest) lies inside.
    pub fn has_guest(&self, vmid: Option<u64>) -> bool {
        self.vmid.is_none_or(|wanted| vmid == Some(wanted))
    }

    /// Whether a record of a guest on a node (`None`: of no one node) lies inside.
    pub fn covers(&self, node: Option<&str>, vmid: Option<u64>) -> bool {
        self.has_guest(vmid) && node.is_none_or(|n| self.has_node(n))
    }
}

/// The ids that exist in NetBox, without those a dry run only planned (NetBox cannot be
/// asked about them).
fn stored(ids: impl Iterator<Item = u64>) -> Vec<u64> {
    ids.filter(|id| !is_planned(*id)).collect()
}

impl RunState {
    /// NetBox ids of the run's clusters.
    pub fn cluster_ids(&self) -> Vec<u64> {
        stored(self.clusters.iter().map(|c| c.netbox_cluster))
    }

    /// NetBox ids of the synced guests' VMs.
    pub fn vm_ids(&self) -> Vec<u64> {
        stored(self.guests.iter().map(|g| g.vm_id))
    }

    /// NetBox ids of the synced guests' interfaces.
    pub fn interface_ids(&self) -> Vec<u64> {
        stored(self.interfaces.iter().map(|i| i.netbox_id))
    }
}

/// A Proxmox cluster as NetBox has it after the devices stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedCluster {
    pub endpoint_id: i64,
    pub name: String,
    pub netbox_cluster: u64,
    pub site: u64,
    /// Node name → NetBox device id.
    pub devices: HashMap<String, u64>,
}

/// A guest as NetBox has it after the virtual-machines stage, for the stages that hang
/// objects on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedGuest {
    pub name: String,
    pub kind: GuestKind,
    pub vm_id: u64,
    pub disks: Vec<GuestDisk>,
    /// The `netN` devices of the config, for the vm-interfaces stage.
    pub nets: Vec<NetDevice>,
    /// Where to ask the guest agent (vm-ip-addresses stage).
    pub endpoint_id: i64,
    pub node: String,
    pub vmid: u64,
    pub running: bool,
    /// QEMU: the guest agent is enabled in the config.
    pub agent: bool,
    /// The VM's primary IPv4 and IPv6 in NetBox as the stage read them (the
    /// vm-ip-addresses stage compares against them instead of reading every VM again).
    pub primary_ips: (Option<u64>, Option<u64>),
    /// The VRF of its addresses (a mapping rule's); `None`: the global table.
    pub vrf: Option<u64>,
}

/// A disk of a guest, as its config has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestDisk {
    /// `scsi0`, `rootfs`…: the virtual disk's name.
    pub key: String,
    /// `local-lvm:vm-100-disk-0`: how netbox-ssot names the disk.
    pub volume: String,
    pub size_mb: u64,
}

impl GuestDisk {
    pub fn new(key: impl Into<String>, volume: impl Into<String>, size_mb: u64) -> GuestDisk {
        GuestDisk {
            key: key.into(),
            volume: volume.into(),
            size_mb,
        }
    }
}

/// A guest interface as NetBox has it after the vm-interfaces stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncedInterface {
    /// Index of the guest in `RunState::guests`.
    pub guest: usize,
    /// `net0`…
    pub key: String,
    pub netbox_id: u64,
    /// Upper-case, as the guest config has it.
    pub mac: Option<String>,
}
