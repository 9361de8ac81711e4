//! Who may do what: the roles of people, the scopes of API keys, and the permissions a
//! request needs. Shared with the browser so that pages hide what the caller cannot do;
//! the server decides (see `server::auth::policy`).

use serde::{Deserialize, Serialize};

/// What a request needs of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Permission {
    /// Everything a viewer sees: the pages and the data behind them.
    Read,
    /// The job list, a job's page and its live streams.
    ReadJobs,
    /// Start, cancel and re-run syncs, and the NetBox plugin's routes.
    RunSyncs,
    /// Change the configuration (endpoints, settings, users, keys) and test connections.
    Administer,
}

impl Permission {
    /// What the permission lets one do, for refusals ("… cannot start syncs").
    pub fn describe(self) -> &'static str {
        match self {
            Permission::Read => "read Proxbox's pages and data",
            Permission::ReadJobs => "read jobs",
            Permission::RunSyncs => "start, cancel or re-run syncs",
            Permission::Administer => "change the configuration or test connections",
        }
    }
}

/// A person's role. Each includes the one before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub enum Role {
    /// Reads everything, changes nothing.
    #[default]
    Viewer,
    /// A viewer who also starts, cancels and re-runs syncs.
    Operator,
    /// Everything, the configuration and the users included.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Operator, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text.trim().to_ascii_lowercase())
    }

    /// What the role is for, as the users page explains it.
    pub fn describe(self) -> &'static str {
        match self {
            Role::Admin => "everything, the configuration and the users included",
            Role::Operator => "start, cancel and re-run syncs; read everything",
            Role::Viewer => "read only",
        }
    }

    pub fn allows(self, permission: Permission) -> bool {
        match permission {
            Permission::Read | Permission::ReadJobs => true,
            Permission::RunSyncs => self >= Role::Operator,
            Permission::Administer => self == Role::Admin,
        }
    }

    /// The least role that has `permission`, for refusals that say whom to ask.
    pub fn least_with(permission: Permission) -> Role {
        Role::ALL
            .into_iter()
            .rev()
            .find(|role| role.allows(permission))
            .unwrap_or(Role::Admin)
    }
}

/// One scope of an API key; a key holds one or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// Everything a viewer sees.
    Read,
    /// Start and stream syncs (the NetBox plugin's routes included) and read jobs.
    Sync,
    /// Everything.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Sync, Scope::Read, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Sync => "sync",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == text.trim().to_ascii_lowercase())
    }

    pub fn describe(self) -> &'static str {
        match self {
            Scope::Read => "everything a viewer sees",
            Scope::Sync => "start and stream syncs, the NetBox plugin's routes, read jobs",
            Scope::Admin => "everything",
        }
    }

    pub fn allows(self, permission: Permission) -> bool {
        match self {
            Scope::Admin => true,
            Scope::Read => matches!(permission, Permission::Read | Permission::ReadJobs),
            Scope::Sync => matches!(permission, Permission::ReadJobs | Permission::RunSyncs),
        }
    }

    /// Scopes as stored and typed: comma-separated names, each once, in a fixed order.
    pub fn join(scopes: &[Scope]) -> String {
        let mut sorted = scopes.to_vec();
        sorted.sort();
        sorted.dedup();
        sorted
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Reads [`Scope::join`]'s form; the error names the unknown scope and the known ones.
    pub fn split(text: &str) -> Result<Vec<Scope>, String> {
        let mut scopes = Vec::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let scope = Scope::parse(name).ok_or_else(|| {
                format!("Unknown scope {name:?}; the scopes are read, sync and admin.")
            })?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err("Give at least one scope: read, sync or admin.".into());
        }
        scopes.sort();
        Ok(scopes)
    }
}

/// A user as the users page lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub username: String,
    pub role: Role,
    /// The one-time password has not been changed yet.
    pub one_time: bool,
    pub created_at: i64,
}

/// An API key as the keys page lists it: never the key, which only its holder has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyView {
    pub name: String,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERMISSIONS: [Permission; 4] = [
        Permission::Read,
        Permission::ReadJobs,
        Permission::RunSyncs,
        Permission::Administer,
    ];

    #[test]
    fn each_role_includes_the_one_below() {
        for permission in PERMISSIONS {
            assert!(!Role::Viewer.allows(permission) || Role::Operator.allows(permission));
            assert!(!Role::Operator.allows(permission) || Role::Admin.allows(permission));
        }
        assert!(!Role::Viewer.allows(Permission::RunSyncs));
        assert!(Role::Operator.allows(Permission::RunSyncs));
        assert!(!Role::Operator.allows(Permission::Administer));
        assert_eq!(Role::least_with(Permission::RunSyncs), Role::Operator);
        assert_eq!(Role::least_with(Permission::Read), Role::Viewer);
    }

    #[test]
    fn a_sync_key_runs_and_follows_syncs_but_reads_nothing_else() {
        assert!(Scope::Sync.allows(Permission::RunSyncs));
        assert!(Scope::Sync.allows(Permission::ReadJobs));
        assert!(!Scope::Sync.allows(Permission::Read));
        assert!(!Scope::Sync.allows(Permission::Administer));
        assert!(!Scope::Read.allows(Permission::RunSyncs));
        assert!(PERMISSIONS.into_iter().all(|p| Scope::Admin.allows(p)));
    }

    #[test]
    fn scopes_read_back_what_they_write_and_name_unknown_ones() {
        let scopes = Scope::split(" Sync, read,sync ").unwrap();
        assert_eq!(scopes, vec![Scope::Read, Scope::Sync]);
        assert_eq!(Scope::join(&scopes), "read,sync");
        assert!(Scope::split("read,root").unwrap_err().contains("\"root\""));
        assert!(Scope::split(" , ").is_err());
        assert_eq!(Role::parse(" Operator"), Some(Role::Operator));
        assert_eq!(Role::parse("root"), None);
    }
}
