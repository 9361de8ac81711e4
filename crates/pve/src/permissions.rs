//! A token's privileges as `GET /access/permissions` answers them (`{path: {privilege:
//! propagate}}`), and whether they hold on a path: the path's own entry when Proxmox lists
//! it, else the propagating privileges of the nearest listed path above it. (Proxmox lists
//! every default path — `/`, `/nodes`, `/storage`, `/vms`… — where the token holds anything,
//! every path with an ACL, and every pool member as `/vms/<vmid>`.)

use std::collections::BTreeMap;

use serde_json::Value;

/// Privilege → whether it propagates, per path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    paths: BTreeMap<String, BTreeMap<String, bool>>,
}

impl Permissions {
    /// From the answer's `data`; entries of another shape are left out.
    pub fn from_data(data: &Value) -> Permissions {
        let paths = data
            .as_object()
            .map(|paths| {
                paths
                    .iter()
                    .map(|(path, privileges)| {
                        let held = privileges
                            .as_object()
                            .map(|p| {
                                p.iter()
                                    .map(|(name, propagate)| {
                                        (
                                            name.clone(),
                                            crate::lenient::as_bool(propagate) != Some(false),
                                        )
                                    })
                                    .collect()
                            })
                            .unwrap_or_default();
                        (path.clone(), held)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Permissions { paths }
    }

    /// Whether any of `privileges` is held on `path`.
    pub fn holds_any(&self, path: &str, privileges: &[&str]) -> bool {
        if let Some(own) = self.paths.get(path) {
            return privileges.iter().any(|p| own.contains_key(*p));
        }
        let mut above = path;
        while let Some((parent, _)) = above.rsplit_once('/') {
            let key = if parent.is_empty() { "/" } else { parent };
            if let Some(held) = self.paths.get(key) {
                return privileges
                    .iter()
                    .any(|p| held.get(*p).copied().unwrap_or(false));
            }
            if parent.is_empty() {
                break;
            }
            above = parent;
        }
        false
    }

    /// Listed paths below `path` that hold any of `privileges` (grants on some guests or
    /// storages only).
    pub fn held_below(&self, path: &str, privileges: &[&str]) -> Vec<String> {
        let prefix = format!("{}/", path.trim_end_matches('/'));
        self.paths
            .iter()
            .filter(|(p, held)| {
                p.starts_with(&prefix) && privileges.iter().any(|x| held.contains_key(*x))
            })
            .map(|(p, _)| p.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_path_has_its_own_entry_else_what_propagates_from_above() {
        let token = Permissions::from_data(&json!({
            "/": {"Sys.Audit": 1, "Datastore.Audit": 0},
            "/vms": {"VM.Audit": 1},
            "/vms/105": {"VM.Audit": 0, "VM.GuestAgent.Audit": 0},
            "/storage": "not an object"
        }));
        assert!(token.holds_any("/", &["Sys.Audit"]));
        assert!(
            token.holds_any("/", &["Datastore.Audit"]),
            "held where granted"
        );
        assert!(token.holds_any("/vms/101", &["VM.Audit"]));
        assert!(!token.holds_any("/vms/101", &["VM.GuestAgent.Audit"]));
        assert!(token.holds_any(
            "/vms/105",
            &["VM.GuestAgent.Audit", "VM.GuestAgent.Unrestricted"]
        ));
        assert!(
            !token.holds_any("/storage/local", &["Datastore.Audit"]),
            "listed with nothing"
        );
        assert!(
            !token.holds_any("/nodes/pve1", &["Datastore.Audit"]),
            "does not propagate"
        );
        assert!(token.holds_any("/nodes/pve1", &["Sys.Audit"]));
        assert_eq!(
            token.held_below("/vms", &["VM.GuestAgent.Audit"]),
            ["/vms/105"]
        );
    }
}
