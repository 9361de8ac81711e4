//! The one planning rule of the networks stage, for every kind of object it writes: an
//! object Proxbox wants is the one its identity map names, else the one NetBox already has
//! under the object's own unique key (an operator's is used as it is and never changed or
//! removed; Proxbox's, from before a lost database, is taken back), else a new one. What
//! the map names that Proxmox no longer has is removed when it still carries the tag.

use std::collections::{HashMap, HashSet};

use crate::server::sync::managed::is_managed;
use crate::server::sync::plan::{Label, Plan};
use proxbox_netbox::models::Ref;

/// One object the stage wants in NetBox.
#[derive(Debug, Clone, PartialEq)]
pub struct Wanted<W> {
    /// Its Proxmox identity (`lab/vnet/vnet10`): the key of the identity map.
    pub identity: String,
    /// The key NetBox itself keeps unique (a slug within its scope, a prefix within its
    /// VRF): how an object Proxbox did not map is found.
    pub natural: String,
    pub label: Label,
    /// The whole object, as a create sends it.
    pub body: W,
}

/// What the stage compares of an object NetBox has.
pub trait Existing {
    type Write;
    fn id(&self) -> u64;
    fn tags(&self) -> &[Ref];
    /// Whether Proxbox may change and remove it: it carries the tag.
    fn is_ours(&self) -> bool {
        is_managed(self.tags())
    }
    /// The same key as [`Wanted::natural`] for the object it would be.
    fn natural(&self) -> String;
    /// The object in words, for the item of its removal.
    fn label(&self) -> Label;
    /// The fields of `wanted` this object does not have yet, with the object's id; a patch
    /// that sets nothing when it has them all.
    fn patch(&self, wanted: &Self::Write) -> Self::Write;
}

/// Whose an object the plan keeps is: Proxbox's (mapped, and removed when Proxmox drops
/// it) or an operator's (used as it is, never mapped).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Held {
    pub identity: String,
    pub ours: bool,
}

/// What Proxbox's database knows of one endpoint's objects of a model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Known {
    pub endpoint_id: i64,
    /// The identity map's name of the objects (`ipam/prefixes`; one model may hold
    /// objects of two maps, as prefixes of subnets and of networks seen).
    pub model: &'static str,
    /// This endpoint's identity map: identity → NetBox id.
    pub mapped: HashMap<String, u64>,
    /// Ids other endpoints mapped: Proxbox's, but another cluster's (two clusters with one
    /// subnet share its prefix; only the one that made it changes or removes it).
    pub elsewhere: HashSet<u64>,
}

impl Known {
    pub fn mapped(mapped: HashMap<String, u64>) -> Known {
        Known {
            mapped,
            ..Known::default()
        }
    }
}

/// Plans `wanted` against what NetBox has (`existing`: the mapped objects and those with
/// a wanted natural key). `in_scope` says which mapped objects the run saw the whole of
/// (a guest's run sees only its interfaces): only those may be removed.
pub fn reconcile<M: Existing>(
    what: &'static str,
    wanted: Vec<Wanted<M::Write>>,
    existing: &[M],
    known: &Known,
    in_scope: impl Fn(&M) -> bool,
) -> Plan<M::Write, Held>
where
    M::Write: serde::Serialize,
{
    let mapped = &known.mapped;
    let ours = |object: &M| object.is_ours() && !known.elsewhere.contains(&object.id());
    let by_id: HashMap<u64, &M> = existing.iter().map(|m| (m.id(), m)).collect();
    let mut by_natural: HashMap<String, &M> = HashMap::new();
    for object in existing {
        // Proxbox's own object first when an operator's has the same key.
        let entry = by_natural.entry(object.natural()).or_insert(object);
        if !ours(entry) && ours(object) {
            *entry = object;
        }
    }
    let mut plan = Plan::new(what);
    let mut taken: HashSet<u64> = HashSet::new();
    // First what the map names (unless its key is now an operator's object's: that one is
    // used, and Proxbox's goes), then what NetBox has under each remaining key.
    let mut found: Vec<Option<&M>> = wanted
        .iter()
        .map(|want| {
            let mapped_object = mapped.get(&want.identity).and_then(|id| by_id.get(id))?;
            let theirs = by_natural
                .get(&want.natural)
                .filter(|o| !ours(o) && o.id() != mapped_object.id());
            let chosen = match theirs {
                Some(theirs) if mapped_object.natural() != want.natural => *theirs,
                _ => *mapped_object,
            };
            taken.insert(chosen.id()).then_some(chosen)
        })
        .collect();
    for (want, found) in wanted.iter().zip(found.iter_mut()) {
        if found.is_none() {
            *found = by_natural
                .get(&want.natural)
                .copied()
                .filter(|o| taken.insert(o.id()));
        }
    }
    let mut deletes: Vec<(Label, u64)> = mapped
        .values()
        .filter(|id| !taken.contains(id))
        .filter_map(|id| by_id.get(id))
        .filter(|object| ours(object) && in_scope(object))
        .map(|object| (object.label(), object.id()))
        .collect();
    deletes.sort_by_key(|(_, id)| *id);
    deletes.dedup_by_key(|(_, id)| *id);
    for (label, id) in deletes {
        plan.delete(label, id);
    }
    for (want, found) in wanted.into_iter().zip(found) {
        match found {
            Some(object) => {
                let held = Held {
                    identity: want.identity,
                    ours: ours(object),
                };
                if held.ours {
                    plan.update(held, want.label, object.id(), object.patch(&want.body));
                } else {
                    let label = want.label.warned(Some(
                        "NetBox already has it, made by someone else: used as it is".into(),
                    ));
                    plan.skip(held, label, object.id());
                }
            }
            None => plan.create(
                Held {
                    identity: want.identity,
                    ours: true,
                },
                want.label,
                want.body,
            ),
        }
    }
    plan
}

/// `Some(wanted)` when it differs from `current`: one field of a patch.
pub fn differs<T: PartialEq + Clone>(current: &T, wanted: &Option<T>) -> Option<T> {
    wanted.as_ref().filter(|w| *w != current).cloned()
}
