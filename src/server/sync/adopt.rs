//! The one adoption rule for objects that carry a Proxmox identity (node devices and guest
//! VMs): which NetBox object is a Proxmox object's, in this order —
//! 1. the object the identity map (Proxbox's database) names;
//! 2. the object whose recorded identity (custom field `proxbox_identity`) is this one,
//!    after a lost database;
//! 3. the only object of that name in that cluster that records no identity.
//!
//! An object is claimed once: no two Proxmox identities ever map to one NetBox object, and
//! two same-named candidates adopt neither (a new object is created instead).

use std::collections::{HashMap, HashSet};

use proxbox_netbox::models::{CustomFields, Device, VirtualMachine};

use super::managed::recorded_identity;

/// A NetBox object that can stand for a Proxmox object.
pub trait Adoptable {
    fn netbox_id(&self) -> u64;
    fn adoptable_name(&self) -> Option<&str>;
    fn cluster_id(&self) -> Option<u64>;
    fn custom_fields(&self) -> &CustomFields;
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
}

/// How an object was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdoptedBy {
    IdentityMap,
    RecordedIdentity,
    Name,
}

/// The NetBox objects a stage may adopt, indexed, with those already claimed.
pub struct Adopter<'a, T> {
    existing: &'a [T],
    by_id: HashMap<u64, usize>,
    by_recorded: HashMap<&'a str, Vec<usize>>,
    by_name: HashMap<(&'a str, u64), Vec<usize>>,
    claimed: HashSet<u64>,
}

impl<'a, T: Adoptable> Adopter<'a, T> {
    pub fn new(existing: &'a [T]) -> Adopter<'a, T> {
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
        }
    }

    /// The object that stands for `identity` (named `name` in NetBox cluster `cluster`),
    /// claimed for it; `None` when a new one must be created. `mapped` is the NetBox id
    /// the identity map holds for it.
    pub fn adopt(
        &mut self,
        mapped: Option<u64>,
        identity: &str,
        name: &str,
        cluster: u64,
    ) -> Option<(&'a T, AdoptedBy)> {
        let free = |index: &usize, claimed: &HashSet<u64>| {
            !claimed.contains(&self.existing[*index].netbox_id())
        };
        let found = mapped
            .and_then(|id| self.by_id.get(&id))
            .filter(|i| free(i, &self.claimed))
            .map(|i| (*i, AdoptedBy::IdentityMap))
            .or_else(|| {
                self.by_recorded
                    .get(identity)?
                    .iter()
                    .find(|i| free(i, &self.claimed))
                    .map(|i| (*i, AdoptedBy::RecordedIdentity))
            })
            .or_else(|| {
                let mut candidates = self
                    .by_name
                    .get(&(name, cluster))?
                    .iter()
                    .filter(|i| free(i, &self.claimed));
                match (candidates.next(), candidates.next()) {
                    (Some(only), None) => Some((*only, AdoptedBy::Name)),
                    _ => None,
                }
            });
        let (index, how) = found?;
        let object = &self.existing[index];
        self.claimed.insert(object.netbox_id());
        Some((object, how))
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
    }

    fn object(id: u64, name: &'static str, cluster: u64, identity: Option<&str>) -> Object {
        let mut fields = CustomFields::new();
        if let Some(identity) = identity {
            fields.insert(IDENTITY_FIELD.into(), json!(identity));
        }
        Object {
            id,
            name,
            cluster,
            fields,
        }
    }

    #[test]
    fn the_map_comes_first_then_the_recorded_identity_then_the_only_name() {
        let existing = [
            object(1, "web", 1, None),
            object(2, "db", 1, Some("c/qemu/101")),
            object(3, "cache", 1, None),
        ];
        let mut adopter = Adopter::new(&existing);
        let ids = |found: Option<(&Object, AdoptedBy)>| found.map(|(o, how)| (o.id, how));
        assert_eq!(
            ids(adopter.adopt(Some(1), "c/qemu/100", "renamed", 1)),
            Some((1, AdoptedBy::IdentityMap))
        );
        assert_eq!(
            ids(adopter.adopt(None, "c/qemu/101", "db-renamed", 1)),
            Some((2, AdoptedBy::RecordedIdentity))
        );
        assert_eq!(
            ids(adopter.adopt(None, "c/qemu/102", "cache", 1)),
            Some((3, AdoptedBy::Name))
        );
        assert!(adopter.is_claimed(3));
    }

    #[test]
    fn an_object_is_claimed_once() {
        let existing = [object(1, "web", 1, None)];
        let mut adopter = Adopter::new(&existing);
        assert!(adopter.adopt(Some(1), "c/qemu/100", "web", 1).is_some());
        assert!(
            adopter.adopt(Some(1), "c/lxc/100", "web", 1).is_none(),
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
        let mut adopter = Adopter::new(&existing);
        assert!(
            adopter.adopt(None, "c/qemu/1", "web", 1).is_none(),
            "two candidates"
        );
        assert!(
            adopter.adopt(None, "c/qemu/2", "db", 1).is_none(),
            "another cluster"
        );
        assert!(
            adopter.adopt(None, "c/qemu/3", "app", 1).is_none(),
            "an object that records another identity is that one's"
        );
    }
}
