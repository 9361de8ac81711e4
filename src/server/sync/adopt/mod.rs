//! Taking over what is already in NetBox: one rule per kind of object a sync writes, here
//! and nowhere else, so that a first sync against a NetBox another tool (or an operator)
//! filled adopts its objects instead of writing a second of each. Every object taken over
//! gets the `proxbox` tag (and, on devices and VMs, Proxbox's identity field); the fields
//! the overwrite rules give to the operator, and the other tool's tags and custom fields,
//! stay as they are. What the others write is in `docs/takeover.md`.
//!
//! | kind | taken over, in this order |
//! |---|---|
//! | cluster | by name, whatever its type and site (`devices`) |
//! | node device | identity (below); then the only device of its name in the cluster, else of its name in no cluster at all |
//! | guest VM | identity (below); then the only VM whose VMID custom field ([`foreign`]) holds its VMID in the cluster; then the only VM of its name in the cluster |
//! | VM interface | on the guest's VM: Proxbox's own of the NIC's name, then the one whose MAC address is the NIC's, then the one of its name; one taken over under another name keeps its NIC through a MAC change ([`interfaces`]) |
//! | MAC address | on its interface, by address (`vm_interfaces`) |
//! | IP address | by address and VRF: on the interface, else on another interface of the same VM or device, which it moves from (`sync::addresses`) |
//! | virtual disk | on the guest's VM, by name (`virtual_disks`) |
//! | platform, tag | by slug, else by name (`sync::platforms`, the VM stage's tags) |
//! | node interface | on the node's device, by name (`node_interfaces`) |
//!
//! Two candidates for one object are a conflict: nothing is taken or created, and the item
//! names both, so that the operator decides.
//!
//! Identity, for node devices and guest VMs:
//! 1. the object the identity map (Proxbox's database) names — if, as read now, it is
//!    still that object: it records this identity, or records none and carries the
//!    `proxbox` tag in the claim's cluster (after NetBox was restored from a backup, the id
//!    may name another tool's object, which is never taken);
//! 2. the object whose recorded identity (custom field `proxbox_identity`) is this one,
//!    after a lost database.
//!
//! An object is claimed once: no two Proxmox identities ever map to one NetBox object. Every
//! claim by identity is settled before any by another tool's marks or by name, so the
//! outcome does not depend on the order of the guests; and an object the identity map names
//! for any identity (a guest gone for less than the grace period, too) is never taken by
//! name.

pub mod foreign;
pub mod interfaces;

use std::collections::{HashMap, HashSet};

use proxbox_netbox::models::{CustomFields, Device, Ref, VirtualMachine};

use super::managed::{is_managed, recorded_identity, IDENTITY_FIELD};
use crate::server::infra::db::sync_objects::Mapped;

/// Every NetBox id the identity maps (per endpoint) hold: the adopter's reserved ids.
pub fn mapped_ids(maps: &HashMap<i64, HashMap<String, Mapped>>) -> Vec<u64> {
    maps.values()
        .flat_map(|map| map.values().map(|m| m.netbox_id as u64))
        .collect()
}

/// A NetBox object that can stand for a Proxmox object.
pub trait Adoptable {
    fn netbox_id(&self) -> u64;
    fn adoptable_name(&self) -> Option<&str>;
    fn cluster_id(&self) -> Option<u64>;
    fn custom_fields(&self) -> &CustomFields;
    fn tags(&self) -> &[Ref];
    /// The VMID another tool recorded on it (see [`foreign`]).
    fn recorded_vmid(&self) -> Option<u64> {
        None
    }
    /// Whether an object of the claim's name that is in no cluster may be taken: a node
    /// entered by hand is often a device of its site only.
    const UNCLUSTERED_BY_NAME: bool = false;
}

/// Whether `object`, as read now, is the one Proxbox made or adopted for `identity` (in
/// NetBox cluster `cluster`, when known): it records that identity, or records none and
/// carries the `proxbox` tag (in that cluster). The proof a write or delete by a
/// remembered id needs.
pub fn still_ours<T: Adoptable>(object: &T, identity: &str, cluster: Option<u64>) -> bool {
    match recorded_identity(object.custom_fields()) {
        Some(recorded) => recorded == identity,
        None => {
            is_managed(object.tags())
                && cluster.is_none_or(|cluster| object.cluster_id() == Some(cluster))
        }
    }
}

/// The accessors NetBox's devices and VMs share: `id`, `cluster`, `custom_fields`, `tags`.
macro_rules! shared_accessors {
    () => {
        fn netbox_id(&self) -> u64 {
            self.id
        }
        fn cluster_id(&self) -> Option<u64> {
            self.cluster.as_ref().map(|c| c.id)
        }
        fn custom_fields(&self) -> &CustomFields {
            &self.custom_fields
        }
        fn tags(&self) -> &[Ref] {
            &self.tags
        }
    };
}

impl Adoptable for Device {
    const UNCLUSTERED_BY_NAME: bool = true;

    shared_accessors!();

    fn adoptable_name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl Adoptable for VirtualMachine {
    shared_accessors!();

    fn adoptable_name(&self) -> Option<&str> {
        Some(&self.name)
    }
    fn recorded_vmid(&self) -> Option<u64> {
        foreign::recorded_vmid(&self.custom_fields)
    }
}

/// How an object was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdoptedBy {
    IdentityMap,
    RecordedIdentity,
    /// The VMID another tool recorded in a custom field.
    ForeignVmid,
    Name,
    /// The name, on an object in no cluster.
    UnclusteredName,
    /// A VM interface by the MAC address it carries.
    Mac,
    /// An object of a VM or device (interface, disk) by its name there.
    NameOnParent,
    /// A virtual disk named by its Proxmox volume (`local-lvm:vm-100-disk-0`).
    Volume,
    /// An address on the interface that reports it, or a MAC on its interface.
    AddressOnInterface,
    /// An address on another interface of the same VM or device.
    AddressOnParent,
}

impl AdoptedBy {
    /// Whether the object was found as Proxbox's own (its identity), not taken over.
    pub fn is_identity(self) -> bool {
        matches!(self, AdoptedBy::IdentityMap | AdoptedBy::RecordedIdentity)
    }

    /// The rule in words, for the takeover preview and the item that reports it.
    pub fn words(self) -> &'static str {
        match self {
            AdoptedBy::IdentityMap => "by Proxbox's identity map",
            AdoptedBy::RecordedIdentity => "by the identity recorded in NetBox",
            AdoptedBy::ForeignVmid => "by the VMID another tool recorded",
            AdoptedBy::Name => "by name in its cluster",
            AdoptedBy::UnclusteredName => "by name, in no cluster",
            AdoptedBy::Mac => "by MAC address on its VM",
            AdoptedBy::NameOnParent => "by name on its VM or device",
            AdoptedBy::Volume => "by its Proxmox volume",
            AdoptedBy::AddressOnInterface => "by address on its interface",
            AdoptedBy::AddressOnParent => "by address on another interface of its VM or device",
        }
    }
}

/// What a claim found.
#[derive(Debug, Clone)]
pub enum Found<'a, T> {
    Adopted(&'a T, AdoptedBy),
    /// Nothing to take: a new object is to be made.
    New,
    /// More than one candidate by the same rule (their ids): nothing is taken or made.
    Conflict(AdoptedBy, Vec<u64>),
}

/// Two findings are the same when they found the same object the same way.
impl<T: Adoptable> PartialEq for Found<'_, T> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Found::Adopted(a, how), Found::Adopted(b, other_how)) => {
                a.netbox_id() == b.netbox_id() && how == other_how
            }
            (Found::New, Found::New) => true,
            (Found::Conflict(how, ids), Found::Conflict(other_how, other_ids)) => {
                how == other_how && ids == other_ids
            }
            _ => false,
        }
    }
}

impl<'a, T> Found<'a, T> {
    pub fn adopted(&self) -> Option<(&'a T, AdoptedBy)> {
        match self {
            Found::Adopted(object, how) => Some((object, *how)),
            _ => None,
        }
    }
}

/// A Proxmox object looking for its NetBox object: `identity`, named `name` in NetBox
/// cluster `cluster`, with the NetBox id the identity map holds for it, and a guest's VMID.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'s> {
    pub mapped: Option<u64>,
    pub identity: &'s str,
    pub name: &'s str,
    pub cluster: u64,
    pub vmid: Option<u64>,
}

/// The NetBox objects a stage may adopt, indexed, with those already claimed.
pub struct Adopter<'a, T> {
    existing: &'a [T],
    by_id: HashMap<u64, usize>,
    by_recorded: HashMap<&'a str, Vec<usize>>,
    /// Objects that record no identity, by (name, cluster); cluster 0: in none.
    by_name: HashMap<(&'a str, u64), Vec<usize>>,
    /// Objects that record no identity, by (VMID another tool recorded, cluster).
    by_vmid: HashMap<(u64, u64), Vec<usize>>,
    claimed: HashSet<u64>,
    /// Ids the identity map names for some identity: never adopted by name.
    reserved: HashSet<u64>,
}

/// The `by_name` cluster key of objects in no cluster.
const NO_CLUSTER: u64 = 0;

impl<'a, T: Adoptable> Adopter<'a, T> {
    /// `reserved`: every NetBox id the identity map holds, for present and absent
    /// identities alike.
    pub fn new(existing: &'a [T], reserved: impl IntoIterator<Item = u64>) -> Adopter<'a, T> {
        let mut by_id = HashMap::new();
        let mut by_recorded: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut by_name: HashMap<(&str, u64), Vec<usize>> = HashMap::new();
        let mut by_vmid: HashMap<(u64, u64), Vec<usize>> = HashMap::new();
        for (index, object) in existing.iter().enumerate() {
            by_id.insert(object.netbox_id(), index);
            if let Some(identity) = recorded_identity(object.custom_fields()) {
                by_recorded.entry(identity).or_default().push(index);
                continue;
            }
            let cluster = object.cluster_id();
            if let (Some(vmid), Some(cluster)) = (object.recorded_vmid(), cluster) {
                by_vmid.entry((vmid, cluster)).or_default().push(index);
            }
            if let Some(name) = object.adoptable_name() {
                let cluster = cluster.unwrap_or(NO_CLUSTER);
                if cluster != NO_CLUSTER || T::UNCLUSTERED_BY_NAME {
                    by_name.entry((name, cluster)).or_default().push(index);
                }
            }
        }
        Adopter {
            existing,
            by_id,
            by_recorded,
            by_name,
            by_vmid,
            claimed: HashSet::new(),
            reserved: reserved.into_iter().collect(),
        }
    }

    /// What each claim found, in the claims' order. Claims by map or recorded identity go
    /// first, then those by another tool's VMID, then those by name.
    pub fn adopt_all(&mut self, claims: &[Claim<'_>]) -> Vec<Found<'a, T>> {
        let mut found: Vec<Found<'a, T>> = claims
            .iter()
            .map(|c| {
                self.by_identity(c)
                    .map_or(Found::New, |(o, how)| Found::Adopted(o, how))
            })
            .collect();
        for rule in [
            AdoptedBy::ForeignVmid,
            AdoptedBy::Name,
            AdoptedBy::UnclusteredName,
        ] {
            for (claim, slot) in claims.iter().zip(found.iter_mut()) {
                if matches!(slot, Found::New) {
                    let candidates = self.candidates(rule, claim);
                    *slot = self.only_free(&candidates, rule);
                }
            }
        }
        found
    }

    /// The objects `rule` names for `claim`, claimed or not.
    fn candidates(&self, rule: AdoptedBy, claim: &Claim<'_>) -> Vec<usize> {
        let listed = match rule {
            AdoptedBy::ForeignVmid => claim
                .vmid
                .and_then(|vmid| self.by_vmid.get(&(vmid, claim.cluster))),
            AdoptedBy::Name => self.by_name.get(&(claim.name, claim.cluster)),
            _ => self.by_name.get(&(claim.name, NO_CLUSTER)),
        };
        let candidates = listed.cloned().unwrap_or_default();
        if rule != AdoptedBy::ForeignVmid || candidates.len() < 2 {
            return candidates;
        }
        // Two VMs recording one VMID (the other tool's QEMU and LXC guests of one VMID, or
        // a copy): the one of the guest's name is its.
        let named: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|i| self.existing[*i].adoptable_name() == Some(claim.name))
            .collect();
        if named.len() == 1 {
            named
        } else {
            candidates
        }
    }

    fn claim(&mut self, index: usize, how: AdoptedBy) -> (&'a T, AdoptedBy) {
        let object = &self.existing[index];
        self.claimed.insert(object.netbox_id());
        (object, how)
    }

    fn is_free(&self, index: usize) -> bool {
        !self.claimed.contains(&self.existing[index].netbox_id())
    }

    /// By the identity map, else by the identity recorded in NetBox.
    fn by_identity(&mut self, claim: &Claim<'_>) -> Option<(&'a T, AdoptedBy)> {
        if let Some(&index) = claim.mapped.and_then(|id| self.by_id.get(&id)) {
            let object = &self.existing[index];
            if self.is_free(index) && still_ours(object, claim.identity, Some(claim.cluster)) {
                return Some(self.claim(index, AdoptedBy::IdentityMap));
            }
        }
        let index = *self
            .by_recorded
            .get(claim.identity)?
            .iter()
            .find(|i| self.is_free(**i))?;
        Some(self.claim(index, AdoptedBy::RecordedIdentity))
    }

    /// The only free, unreserved candidate, claimed; several are a conflict.
    fn only_free(&mut self, candidates: &[usize], rule: AdoptedBy) -> Found<'a, T> {
        let free: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|i| self.is_free(*i) && !self.reserved.contains(&self.existing[*i].netbox_id()))
            .collect();
        match free.as_slice() {
            [] => Found::New,
            [only] => {
                let (object, how) = self.claim(*only, rule);
                Found::Adopted(object, how)
            }
            several => Found::Conflict(
                rule,
                several
                    .iter()
                    .map(|i| self.existing[*i].netbox_id())
                    .collect(),
            ),
        }
    }

    /// Whether an object was claimed by some identity.
    pub fn is_claimed(&self, netbox_id: u64) -> bool {
        self.claimed.contains(&netbox_id)
    }
}

/// A conflict in words, with what to do: `2 VMs named web in its cluster (NetBox ids 12,
/// 14): set the custom field proxbox_identity of the right one to lab/qemu/100`.
pub fn conflict_words(what: &str, claim: &Claim<'_>, how: AdoptedBy, ids: &[u64]) -> String {
    let by = match how {
        AdoptedBy::ForeignVmid => "recording its VMID in its cluster".to_string(),
        AdoptedBy::UnclusteredName => format!("named {}, in no cluster", claim.name),
        _ => format!("named {} in its cluster", claim.name),
    };
    let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
    format!(
        "{} {what}s {by} (NetBox ids {}): set the custom field {IDENTITY_FIELD} of the right \
         one to {}",
        ids.len(),
        ids.join(", "),
        claim.identity
    )
}

#[cfg(test)]
mod tests;
