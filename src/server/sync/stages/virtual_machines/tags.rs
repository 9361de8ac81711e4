//! Proxmox tags on NetBox VMs. They are added beside the operator's own tags, and a tag is
//! taken off a VM only when Proxbox put it there: the system Proxbox replaces overwrote the
//! tag list on every sync, and an operator's tags vanished with it.

use std::collections::BTreeSet;

use crate::server::sync::managed::slugify;

/// The tag that marks a VM made from a Proxmox template (`template: 1`).
pub const TEMPLATE_TAG: &str = "proxmox-template";

/// The slug a new NetBox tag gets for a Proxmox tag (whose name it keeps); `None` for a
/// tag with nothing slug-safe in it.
pub fn new_slug(name: &str) -> Option<String> {
    Some(slugify(name)).filter(|slug| !slug.is_empty())
}

/// A VM's tag list after a sync, and which of its tags Proxbox has added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub tags: BTreeSet<String>,
    pub added: BTreeSet<String>,
}

/// `current`: the VM's tags in NetBox; `wanted`: the guest's Proxmox tags (as NetBox slugs);
/// `added_before`: the tags Proxbox added on earlier syncs. A wanted tag the VM already
/// carried stays the operator's: a later removal in Proxmox leaves it.
pub fn merge(
    current: &BTreeSet<String>,
    wanted: &BTreeSet<String>,
    added_before: &BTreeSet<String>,
) -> Merged {
    let dropped: BTreeSet<&String> = added_before.difference(wanted).collect();
    let tags = current
        .iter()
        .filter(|tag| !dropped.contains(tag))
        .chain(wanted)
        .cloned()
        .collect();
    let added = added_before
        .intersection(wanted)
        .chain(wanted.difference(current))
        .cloned()
        .collect();
    Merged { tags, added }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(tags: &[&str]) -> BTreeSet<String> {
        tags.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn proxmox_tags_are_added_beside_the_operators() {
        let merged = merge(&set(&["proxbox", "owner-ops"]), &set(&["web"]), &set(&[]));
        assert_eq!(merged.tags, set(&["owner-ops", "proxbox", "web"]));
        assert_eq!(merged.added, set(&["web"]));
    }

    #[test]
    fn a_tag_removed_in_proxmox_goes_only_if_proxbox_added_it() {
        let current = set(&["proxbox", "web", "db"]);
        // Proxbox added web; db was on the VM before Proxmox had it.
        let merged = merge(&current, &set(&[]), &set(&["web"]));
        assert_eq!(merged.tags, set(&["db", "proxbox"]));
        assert!(merged.added.is_empty());
    }

    #[test]
    fn a_tag_the_operator_already_had_is_never_recorded_as_proxboxs() {
        let merged = merge(&set(&["db"]), &set(&["db"]), &set(&[]));
        assert_eq!(merged.tags, set(&["db"]));
        assert!(merged.added.is_empty(), "db stays the operator's");
        let later = merge(&merged.tags, &set(&[]), &merged.added);
        assert_eq!(later.tags, set(&["db"]));
    }

    #[test]
    fn merging_again_changes_nothing() {
        let first = merge(
            &set(&["proxbox", "x"]),
            &set(&["web", "db"]),
            &set(&["old"]),
        );
        let again = merge(&first.tags, &set(&["web", "db"]), &first.added);
        assert_eq!(again, first);
    }

    #[test]
    fn slugs_are_netbox_safe_and_empty_ones_refused() {
        assert_eq!(new_slug("Prod.EU+1").as_deref(), Some("prod-eu-1"));
        assert_eq!(new_slug("+."), None);
    }
}
