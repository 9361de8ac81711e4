//! What marks an object as Proxbox's: the `proxbox` tag on everything it creates, and the
//! Proxmox identity it records on devices and VMs so that a lost database re-adopts them.
//! Every stage uses these; none owns them.

use proxbox_netbox::models::{CustomFields, Ref, TagRef};
use proxbox_pve::GuestKind;
use serde_json::json;

pub const PROXBOX_TAG: &str = "proxbox";
/// The custom field that records each object's Proxmox identity in NetBox itself.
pub const IDENTITY_FIELD: &str = "proxbox_identity";
/// The custom field that shows each VM's Proxmox HA state and group in NetBox.
pub const HA_FIELD: &str = "proxmox_ha";

/// The tag list of every object Proxbox creates.
pub fn tags() -> Option<Vec<TagRef>> {
    Some(vec![proxbox_tag()])
}

/// The `proxbox` tag, for the shared objects (roles, types) whose body holds a plain list.
pub fn proxbox_tag() -> TagRef {
    TagRef {
        slug: PROXBOX_TAG.into(),
    }
}

/// Whether an object carries the proxbox tag (Proxbox made it and may change or remove it).
pub fn is_managed(tags: &[Ref]) -> bool {
    tags.iter().any(|t| t.slug.as_deref() == Some(PROXBOX_TAG))
}

/// The tags of an object Proxbox takes over: its own, and `proxbox`; `None` when it is
/// Proxbox's already.
pub fn adoption_tags(current: &[Ref]) -> Option<Vec<TagRef>> {
    if is_managed(current) {
        return None;
    }
    let theirs = current.iter().filter_map(|t| t.slug.clone());
    Some(
        theirs
            .map(|slug| TagRef { slug })
            .chain([proxbox_tag()])
            .collect(),
    )
}

/// The identity of a node: `(cluster, node name)` within an endpoint.
pub fn node_identity(cluster: &str, node: &str) -> String {
    format!("{cluster}/node/{node}")
}

/// The identity of a guest: QEMU 100 and LXC 100 differ, and so do guests of two clusters.
pub fn guest_identity(cluster: &str, kind: GuestKind, vmid: u64) -> String {
    format!("{cluster}/{}/{vmid}", kind.as_str())
}

/// The custom fields that record `identity`, when NetBox has the identity field.
pub fn identity_fields(identity_field: bool, identity: &str) -> CustomFields {
    let mut fields = CustomFields::new();
    if identity_field {
        fields.insert(IDENTITY_FIELD.into(), json!(identity));
    }
    fields
}

/// The identity field's patch for an existing object, when it does not hold `identity` yet.
pub fn identity_patch(
    identity_field: bool,
    current: &CustomFields,
    identity: &str,
) -> CustomFields {
    match current.get(IDENTITY_FIELD) {
        Some(value) if value == &json!(identity) => CustomFields::new(),
        _ => identity_fields(identity_field, identity),
    }
}

/// The identity recorded on an object, for re-adoption after a lost database.
pub fn recorded_identity(fields: &CustomFields) -> Option<&str> {
    fields.get(IDENTITY_FIELD).and_then(|v| v.as_str())
}

/// `Lab Cluster 1` → `lab-cluster-1`, as NetBox slugs are.
pub fn slugify(text: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-').chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_netbox_shaped() {
        assert_eq!(slugify("Lab Cluster 1"), "lab-cluster-1");
        assert_eq!(slugify("  pve--01_a "), "pve-01-a");
    }

    #[test]
    fn identities_keep_qemu_and_lxc_and_clusters_apart() {
        let ids = [
            guest_identity("a", GuestKind::Qemu, 100),
            guest_identity("a", GuestKind::Lxc, 100),
            guest_identity("b", GuestKind::Qemu, 100),
            node_identity("a", "100"),
        ];
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "{ids:?}");
    }

    #[test]
    fn the_identity_is_patched_only_when_missing_or_different() {
        let mut current = CustomFields::new();
        assert_eq!(
            identity_patch(true, &current, "c/qemu/1")[IDENTITY_FIELD],
            json!("c/qemu/1")
        );
        current.insert(IDENTITY_FIELD.into(), json!("c/qemu/1"));
        assert!(identity_patch(true, &current, "c/qemu/1").is_empty());
        assert!(
            identity_fields(false, "c/qemu/1").is_empty(),
            "without the field, nothing to write"
        );
    }
}
