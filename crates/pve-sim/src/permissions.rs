//! The API token's privileges, checked as Proxmox checks them: a path the API schema guards
//! with `permissions.check` answers 403 `Permission check failed (<path>, <privs>)` without
//! them; lists Proxmox filters silently (`/cluster/resources`, storage content, task lists)
//! leave out what the token may not see; `GET /access/permissions` answers the token's own
//! effective privileges. The default token holds every privilege (like `root@pam`'s).
//!
//! ACL entries propagate; at a path the deepest entry on it or above it wins, as Proxmox
//! resolves roles from `/` down.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{json, Map, Value};

use crate::api::pve_error;
use crate::SimState;

/// Every privilege of PVE 8 (pve-access-control 8.2).
const PVE8: [&str; 42] = [
    "Datastore.Allocate",
    "Datastore.AllocateSpace",
    "Datastore.AllocateTemplate",
    "Datastore.Audit",
    "Group.Allocate",
    "Realm.Allocate",
    "Realm.AllocateUser",
    "User.Modify",
    "Mapping.Audit",
    "Mapping.Modify",
    "Mapping.Use",
    "Permissions.Modify",
    "Pool.Allocate",
    "Pool.Audit",
    "SDN.Allocate",
    "SDN.Audit",
    "SDN.Use",
    "Sys.AccessNetwork",
    "Sys.Audit",
    "Sys.Console",
    "Sys.Incoming",
    "Sys.Modify",
    "Sys.PowerMgmt",
    "Sys.Syslog",
    "VM.Allocate",
    "VM.Audit",
    "VM.Backup",
    "VM.Clone",
    "VM.Config.CDROM",
    "VM.Config.CPU",
    "VM.Config.Cloudinit",
    "VM.Config.Disk",
    "VM.Config.HWType",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.Options",
    "VM.Console",
    "VM.Migrate",
    "VM.Monitor",
    "VM.PowerMgmt",
    "VM.Snapshot",
    "VM.Snapshot.Rollback",
];

/// What PVE 9 added (and it dropped `VM.Monitor`).
const PVE9_ADDED: [&str; 6] = [
    "VM.GuestAgent.Audit",
    "VM.GuestAgent.FileRead",
    "VM.GuestAgent.FileSystemMgmt",
    "VM.GuestAgent.FileWrite",
    "VM.GuestAgent.Unrestricted",
    "VM.Replicate",
];

/// The paths `/access/permissions` always considers.
const DEFAULT_PATHS: [&str; 8] = [
    "/",
    "/access",
    "/access/groups",
    "/nodes",
    "/pool",
    "/sdn",
    "/storage",
    "/vms",
];

/// Every privilege a Proxmox VE of this major version knows.
pub fn all_privileges(major: u32) -> BTreeSet<String> {
    let mut all: BTreeSet<String> = PVE8.iter().map(|p| p.to_string()).collect();
    if major >= 9 {
        all.remove("VM.Monitor");
        all.extend(PVE9_ADDED.iter().map(|p| p.to_string()));
    }
    all
}

/// The token's ACL: `None` holds everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Privileges {
    acl: Option<BTreeMap<String, BTreeSet<String>>>,
}

impl Privileges {
    /// Only these privileges, each on its path and below.
    pub fn granted(acl: BTreeMap<String, BTreeSet<String>>) -> Privileges {
        Privileges { acl: Some(acl) }
    }

    /// The token's privileges at `path`, for a Proxmox of `major` version.
    pub fn at(&self, path: &str, major: u32) -> BTreeSet<String> {
        let Some(acl) = &self.acl else {
            return all_privileges(major);
        };
        let mut here = Some(path.trim_end_matches('/'));
        while let Some(p) = here {
            let key = if p.is_empty() { "/" } else { p };
            if let Some(privileges) = acl.get(key) {
                return privileges.clone();
            }
            here = if p.is_empty() {
                None
            } else {
                Some(p.rsplit_once('/').map_or("", |(parent, _)| parent))
            };
        }
        BTreeSet::new()
    }

    pub fn holds_any(&self, path: &str, any: &[&str], major: u32) -> bool {
        let held = self.at(path, major);
        any.iter().any(|p| held.contains(*p))
    }

    /// `GET /access/permissions`: the default paths and every ACL path, each with the
    /// privileges held there (propagating: 1); paths with none left out.
    pub fn answer(&self, major: u32) -> Value {
        let mut paths: BTreeSet<String> = DEFAULT_PATHS.iter().map(|p| p.to_string()).collect();
        if let Some(acl) = &self.acl {
            paths.extend(acl.keys().cloned());
        }
        let mut out = Map::new();
        for path in paths {
            let held = self.at(&path, major);
            if !held.is_empty() {
                out.insert(
                    path,
                    Value::Object(held.into_iter().map(|p| (p, json!(1))).collect()),
                );
            }
        }
        Value::Object(out)
    }
}

/// The ACL path and privileges (any of) a request path needs before Proxmox answers it, as
/// the API schema's `permissions.check` says; `None` for paths open to every user.
pub fn required(api_path: &str, major: u32) -> Option<(String, Vec<&'static str>)> {
    let segments: Vec<&str> = api_path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["cluster", "status"] | ["cluster", "backup", ..] | ["cluster", "ha", ..] => {
            Some(("/".into(), vec!["Sys.Audit"]))
        }
        ["nodes", _, "qemu" | "lxc", vmid, "config" | "snapshot"] => {
            Some((format!("/vms/{vmid}"), vec!["VM.Audit"]))
        }
        ["nodes", _, "qemu", vmid, "agent", _] => Some((
            format!("/vms/{vmid}"),
            if major >= 9 {
                vec!["VM.GuestAgent.Audit", "VM.GuestAgent.Unrestricted"]
            } else {
                vec!["VM.Monitor"]
            },
        )),
        ["nodes", _, "storage", storage, "content"] => Some((
            format!("/storage/{storage}"),
            vec!["Datastore.Audit", "Datastore.AllocateSpace"],
        )),
        _ => None,
    }
}

/// The middleware: a request the token may not make gets Proxmox's 403.
pub async fn check(State(sim): State<Arc<SimState>>, request: Request, next: Next) -> Response {
    let path = request
        .uri()
        .path()
        .trim_start_matches("/api2/json")
        .to_string();
    if let Some((acl_path, any)) = required(&path, sim.major_version().await) {
        let privileges = sim.privileges.read().expect("not poisoned").clone();
        if !privileges.holds_any(&acl_path, &any, sim.major_version().await) {
            return pve_error(
                StatusCode::FORBIDDEN,
                &format!("Permission check failed ({acl_path}, {})", any.join("|")),
            );
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(entries: &[(&str, &[&str])]) -> Privileges {
        Privileges::granted(
            entries
                .iter()
                .map(|(path, privs)| {
                    (
                        path.to_string(),
                        privs.iter().map(|p| p.to_string()).collect(),
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn the_deepest_entry_on_or_above_a_path_wins() {
        let token = acl(&[
            ("/", &["Sys.Audit", "VM.Audit"]),
            ("/vms/105", &["VM.Audit", "VM.GuestAgent.Audit"]),
        ]);
        assert!(token.holds_any("/vms/101", &["VM.Audit"], 9));
        assert!(!token.holds_any("/vms/101", &["VM.GuestAgent.Audit"], 9));
        assert!(token.holds_any("/vms/105", &["VM.GuestAgent.Audit"], 9));
        assert!(!token.holds_any("/vms/105", &["Sys.Audit"], 9));
        assert!(!token.holds_any("/storage/local", &["Datastore.Audit"], 9));
        assert!(Privileges::default().holds_any("/vms/1", &["VM.GuestAgent.Audit"], 9));
        assert!(!Privileges::default().holds_any("/vms/1", &["VM.GuestAgent.Audit"], 8));
    }

    #[test]
    fn the_permissions_answer_lists_paths_with_privileges_only() {
        let token = acl(&[("/vms", &["VM.Audit"])]);
        assert_eq!(token.answer(9), json!({"/vms": {"VM.Audit": 1}}));
    }

    #[test]
    fn guarded_paths_name_their_privileges_by_version() {
        assert_eq!(
            required("/nodes/pve1/qemu/101/agent/get-osinfo", 8),
            Some(("/vms/101".into(), vec!["VM.Monitor"]))
        );
        assert_eq!(
            required("/nodes/pve1/storage/local/content", 9),
            Some((
                "/storage/local".into(),
                vec!["Datastore.Audit", "Datastore.AllocateSpace"]
            ))
        );
        assert_eq!(required("/cluster/resources", 9), None);
    }
}
