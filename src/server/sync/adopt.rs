//! The one adoption rule for objects that carry a Proxmox identity (node devices and guest
//! VMs): which NetBox object is a Proxmox object's, in this order —
//! 1. the object the identity map (Proxbox's database) names — if, as read now, it is
//!    still that object: it records this identity, or records none and carries the
//!    `proxbox` tag in the claim's cluster (after NetBox was restored from a backup, the id
//!    may name another tool's object, which is never taken);
//! 2. the object whose recorded identity (custom field `proxbox_identity`) is this one,
//!    after a lost database;
//! 3. the only object of that name in that cluster that records no identity.
//!
//! An object is claimed once: no two Proxmox identities ever map to one NetBox object, and
//! two same-named candidates adopt neither (a new object is created instead). Every claim
//! by map or recorded identity is settled before any by name, so the outcome does not depend
//! on the order of the guests; and an object the identity map names for any identity (a
//! guest gone for less than the grace period, too) is never taken by name.

use std::collections::{HashMap, HashSet};

use proxbox_netbox::models::{CustomFields, Device, Ref, VirtualMachine};

use super::managed::{is_managed, recorded_identity};
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

impl Adoptable for Device {
    fn netbox_id(&self) -> u64 {
        self.id
    }
    fn adoptable_name(&self) -> Option<&str> {
        self.name.as_deref()
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
}

impl Adoptable for VirtualMachine {
    fn netbox_id(&self) -> u64 {
        self.id
    }
    fn adoptable_name(&self) -> Option<&str> {
        Some(&self.name)
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
}

/// How an object was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdoptedBy {
    IdentityMap,
    RecordedIdentity,
    Name,
}

/// A Proxmox object looking for its NetBox object: `identity`, named `name` in NetBox
/// cluster `cluster`, with the NetBox id the identity map holds for it.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'s> {
    pub mapped: Option<u64>,
    pub identity: &'s str,
    pub name: &'s str,
    pub cluster: u64,
}

/// The NetBox objects a stage may adopt, indexed, with those already claimed.
pub struct Adopter<'a, T> {
    existing: &'a [T],
    by_id: HashMap<u64, usize>,
    by_recorded: HashMap<&'a str, Vec<usize>>,
    by_name: HashMap<(&'a str, u64), Vec<usize>>,
    claimed: HashSet<u64>,
    /// Ids the identity map names for some identity: never adopted by name.
    reserved: HashSet<u64>,
}

impl<'a, T: Adoptable> Adopter<'a, T> {
    /// `reserved`: every NetBox id the identity map holds, for present and absent
    /// identities alike.
    pub fn new(existing: &'a [T], reserved: impl IntoIterator<Item = u64>) -> Adopter<'a, T> {
        let mut by_id = HashMap::new();
        let mut by_recorded: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut by_name: HashMap<(&str, u64), Vec<usize>> = HashMap::new();
        for (index, object) in existing.iter().enumerate() {
            by_id.insert(object.netbox_id(), index);
            match recorded_identity(object.custom_fields()) {
                Some(identity) => by_recorded.entry(identity).or_default().push(index),
                None => {
                    if let (Some(name), Some(cluster)) =
                        (object.adoptable_name(), object.cluster_id())
                    {
                        by_name.entry((name, cluster)).or_default().push(index);
                    }
                }
            }
        }
        Adopter {
            existing,
            by_id,
            by_recorded,
            by_name,
            claimed: HashSet::new(),
            reserved: reserved.into_iter().collect(),
        }
    }

    /// The object of each claim, in the claims' order; `None` where a new one must be
    /// created. Claims by map or recorded identity go first, then those by name.
    pub fn adopt_all(&mut self, claims: &[Claim<'_>]) -> Vec<Option<(&'a T, AdoptedBy)>> {
        let mut found: Vec<Option<(&'a T, AdoptedBy)>> =
            claims.iter().map(|c| self.by_identity(c)).collect();
        for (claim, slot) in claims.iter().zip(found.iter_mut()) {
            if slot.is_none() {
                *slot = self.by_name(claim);
            }
        }
        found
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

    /// The only free, unreserved object of the claim's name in its cluster.
    fn by_name(&mut self, claim: &Claim<'_>) -> Option<(&'a T, AdoptedBy)> {
        let mut candidates = self
            .by_name
            .get(&(claim.name, claim.cluster))?
            .iter()
            .copied()
            .filter(|i| {
                self.is_free(*i) && !self.reserved.contains(&self.existing[*i].netbox_id())
            });
        match (candidates.next(), candidates.next()) {
            (Some(only), None) => Some(self.claim(only, AdoptedBy::Name)),
            _ => None,
        }
    }

    /// Whether an object was claimed by some identity.
    pub fn is_claimed(&self, netbox_id: u64) -> bool {
        self.claimed.contains(&netbox_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::sync::managed::IDENTITY_FIELD;
    use serde_json::json;

    #[derive(Debug)]
    struct Object {
        id: u64,
        name: &'static str,
        cluster: u64,
        fields: CustomFields,
        tags: Vec<Ref>,
    }

    impl Adoptable for Object {
        fn netbox_id(&self) -> u64 {
            self.id
        }
        fn adoptable_name(&self) -> Option<&str> {
            Some(self.name)
        }
        fn cluster_id(&self) -> Option<u64> {
            Some(self.cluster)
        }
        fn custom_fields(&self) -> &CustomFields {
            &self.fields
        }
        fn tags(&self) -> &[Ref] {
            &self.tags
        }
    }

    fn claim<'s>(mapped: Option<u64>, identity: &'s str, name: &'s str) -> Claim<'s> {
        Claim {
            mapped,
            identity,
            name,
            cluster: 1,
        }
    }

    fn ids(found: &[Option<(&Object, AdoptedBy)>]) -> Vec<Option<(u64, AdoptedBy)>> {
        found
            .iter()
            .map(|f| f.map(|(o, how)| (o.id, how)))
            .collect()
    }

    fn object(id: u64, name: &'static str, cluster: u64, identity: Option<&str>) -> Object {
        let mut fields = CustomFields::new();
        if let Some(identity) = identity {
            fields.insert(IDENTITY_FIELD.into(), json!(identity));
        }
        // Tagged: what Proxbox made; `foreign` makes another tool's object.
        let tags = vec![Ref {
            id: 1,
            name: Some("proxbox".into()),
            slug: Some("proxbox".into()),
        }];
        Object {
            id,
            name,
            cluster,
            fields,
            tags,
        }
    }

    fn foreign(id: u64, name: &'static str, cluster: u64) -> Object {
        Object {
            tags: Vec::new(),
            ..object(id, name, cluster, None)
        }
    }

    /// After NetBox was restored from a backup, the ids the identity map remembers may
    /// name other objects: one of another tool, one recording another identity, one of
    /// Proxbox's in another cluster. None is taken by the map.
    #[test]
    fn a_remembered_id_is_taken_only_while_it_is_still_that_object() {
        let existing = [
            foreign(1, "their-vm", 7),
            object(2, "other", 1, Some("c/qemu/555")),
            object(3, "moved", 9, None),
            object(4, "kept", 1, Some("c/qemu/103")),
            object(5, "web", 1, None),
        ];
        let mut adopter = Adopter::new(&existing, [1, 2, 3, 4]);
        let found = adopter.adopt_all(&[
            claim(Some(1), "c/qemu/100", "their-vm"),
            claim(Some(2), "c/qemu/101", "other"),
            claim(Some(3), "c/qemu/102", "moved"),
            claim(Some(4), "c/qemu/103", "kept"),
            claim(Some(1), "c/qemu/104", "web"),
        ]);
        assert_eq!(
            ids(&found),
            [
                None,
                None,
                None,
                Some((4, AdoptedBy::IdentityMap)),
                Some((5, AdoptedBy::Name))
            ],
            "only what proves to be the claim's is taken; a free object of its name is"
        );
        assert!(!adopter.is_claimed(1) && !adopter.is_claimed(2));
        // The proof itself, as the orphan deletion uses it (cluster unknown there).
        assert!(!still_ours(&existing[0], "c/qemu/100", None));
        assert!(!still_ours(&existing[1], "c/qemu/101", None));
        assert!(still_ours(&existing[2], "c/qemu/102", None));
        assert!(!still_ours(&existing[2], "c/qemu/102", Some(1)));
        assert!(still_ours(&existing[3], "c/qemu/103", Some(1)));
    }

    #[test]
    fn the_map_comes_first_then_the_recorded_identity_then_the_only_name() {
        let existing = [
            object(1, "web", 1, None),
            object(2, "db", 1, Some("c/qemu/101")),
            object(3, "cache", 1, None),
        ];
        let mut adopter = Adopter::new(&existing, [1]);
        let found = adopter.adopt_all(&[
            claim(Some(1), "c/qemu/100", "renamed"),
            claim(None, "c/qemu/101", "db-renamed"),
            claim(None, "c/qemu/102", "cache"),
        ]);
        assert_eq!(
            ids(&found),
            [
                Some((1, AdoptedBy::IdentityMap)),
                Some((2, AdoptedBy::RecordedIdentity)),
                Some((3, AdoptedBy::Name))
            ]
        );
        assert!(adopter.is_claimed(3));
    }

    #[test]
    fn an_object_is_claimed_once() {
        let existing = [object(1, "web", 1, None)];
        let mut adopter = Adopter::new(&existing, [1]);
        let found = adopter.adopt_all(&[
            claim(Some(1), "c/qemu/100", "web"),
            claim(Some(1), "c/lxc/100", "web"),
        ]);
        assert_eq!(
            ids(&found),
            [Some((1, AdoptedBy::IdentityMap)), None],
            "a second identity mapped to the same object gets a new one"
        );
    }

    #[test]
    fn names_adopt_only_one_unrecorded_candidate_in_the_same_cluster() {
        let existing = [
            object(1, "web", 1, None),
            object(2, "web", 1, None),
            object(3, "db", 2, None),
            object(4, "app", 1, Some("other/qemu/7")),
        ];
        let found = Adopter::new(&existing, []).adopt_all(&[
            claim(None, "c/qemu/1", "web"),
            claim(None, "c/qemu/2", "db"),
            claim(None, "c/qemu/3", "app"),
        ]);
        assert_eq!(
            ids(&found),
            [None, None, None],
            "two candidates; another cluster; an object that records another identity"
        );
    }

    #[test]
    fn a_mapped_object_is_never_taken_by_name_whatever_the_order() {
        let existing = [object(1, "web", 1, None)];
        // A new guest named web comes before the renamed guest the map names VM 1 for.
        let found = Adopter::new(&existing, [1]).adopt_all(&[
            claim(None, "c/qemu/200", "web"),
            claim(Some(1), "c/qemu/100", "web-renamed"),
        ]);
        assert_eq!(ids(&found), [None, Some((1, AdoptedBy::IdentityMap))]);
        // A guest gone within its grace period keeps its VM from a newcomer of its name.
        let found = Adopter::new(&existing, [1]).adopt_all(&[claim(None, "c/qemu/200", "web")]);
        assert_eq!(ids(&found), [None]);
    }
}
