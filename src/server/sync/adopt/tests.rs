//! The adoption rules, each against a NetBox state written by hand.

use super::*;
use serde_json::json;

#[derive(Debug)]
struct Object {
    id: u64,
    name: &'static str,
    cluster: u64,
    fields: CustomFields,
    tags: Vec<Ref>,
    /// A VMID another tool recorded.
    vmid: Option<u64>,
}

impl Adoptable for Object {
    fn netbox_id(&self) -> u64 {
        self.id
    }
    fn adoptable_name(&self) -> Option<&str> {
        Some(self.name)
    }
    fn cluster_id(&self) -> Option<u64> {
        // 0: in no cluster.
        (self.cluster != 0).then_some(self.cluster)
    }
    fn custom_fields(&self) -> &CustomFields {
        &self.fields
    }
    fn tags(&self) -> &[Ref] {
        &self.tags
    }
    fn recorded_vmid(&self) -> Option<u64> {
        self.vmid
    }
    const UNCLUSTERED_BY_NAME: bool = true;
}

fn claim<'s>(mapped: Option<u64>, identity: &'s str, name: &'s str) -> Claim<'s> {
    Claim {
        mapped,
        identity,
        name,
        cluster: 1,
        vmid: None,
    }
}

fn ids(found: &[Found<'_, Object>]) -> Vec<Option<(u64, AdoptedBy)>> {
    found
        .iter()
        .map(|f| f.adopted().map(|(o, how)| (o.id, how)))
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
        vmid: None,
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
    assert_eq!(
        found[0],
        Found::Conflict(AdoptedBy::Name, vec![1, 2]),
        "two candidates are a conflict: nothing is made"
    );
    assert_eq!((&found[1], &found[2]), (&Found::New, &Found::New));
}

fn with_vmid(id: u64, name: &'static str, cluster: u64, vmid: u64) -> Object {
    Object {
        vmid: Some(vmid),
        ..foreign(id, name, cluster)
    }
}

fn guest<'s>(identity: &'s str, name: &'s str, vmid: u64) -> Claim<'s> {
    Claim {
        vmid: Some(vmid),
        ..claim(None, identity, name)
    }
}

/// The VM another tool recorded the VMID on is the guest's, whatever it was renamed to;
/// a VMID recorded in another cluster says nothing.
#[test]
fn another_tools_vmid_comes_before_the_name() {
    let existing = [
        with_vmid(1, "web-renamed", 1, 100),
        foreign(2, "web", 1),
        with_vmid(3, "db", 2, 101),
        foreign(4, "db", 1),
    ];
    let found = Adopter::new(&existing, []).adopt_all(&[
        guest("c/qemu/102", "web", 102),
        guest("c/qemu/100", "web", 100),
        guest("c/qemu/101", "db", 101),
    ]);
    assert_eq!(
        ids(&found),
        [
            Some((2, AdoptedBy::Name)),
            Some((1, AdoptedBy::ForeignVmid)),
            Some((4, AdoptedBy::Name)),
        ]
    );
    let twice = [with_vmid(1, "a", 1, 100), with_vmid(2, "b", 1, 100)];
    let found = Adopter::new(&twice, []).adopt_all(&[guest("c/qemu/100", "c", 100)]);
    assert_eq!(found, [Found::Conflict(AdoptedBy::ForeignVmid, vec![1, 2])]);
    let found = Adopter::new(&twice, []).adopt_all(&[guest("c/lxc/100", "b", 100)]);
    assert_eq!(
        ids(&found),
        [Some((2, AdoptedBy::ForeignVmid))],
        "its name decides"
    );
}

/// A node entered by hand as a device of its site only is taken when no device of its
/// name is in the cluster.
#[test]
fn an_unclustered_object_of_the_name_comes_last() {
    let existing = [
        foreign(1, "pve1", 0),
        foreign(2, "pve2", 0),
        foreign(3, "pve2", 1),
    ];
    let found = Adopter::new(&existing, []).adopt_all(&[
        claim(None, "c/node/pve1", "pve1"),
        claim(None, "c/node/pve2", "pve2"),
    ]);
    assert_eq!(
        ids(&found),
        [
            Some((1, AdoptedBy::UnclusteredName)),
            Some((3, AdoptedBy::Name))
        ]
    );
}

#[test]
fn a_conflict_names_the_candidates_and_what_to_do() {
    let words = conflict_words(
        "VM",
        &claim(None, "c/qemu/100", "web"),
        AdoptedBy::Name,
        &[12, 14],
    );
    assert_eq!(
        words,
        "2 VMs named web in its cluster (NetBox ids 12, 14): set the custom field \
         proxbox_identity of the right one to c/qemu/100"
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
