use serde::{Deserialize, Serialize};

use super::{Permission, Role};

/// What the browser may know about its session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// `None` when nobody is logged in.
    pub username: Option<String>,
    /// The logged-in person's role (`None` when nobody is).
    pub role: Option<Role>,
    /// Token to echo in every state-changing form (field `csrf`) or `X-CSRF-Token` header.
    pub csrf: String,
}

impl SessionInfo {
    /// Whether the logged-in person may do what `permission` covers (pages hide the rest;
    /// the server refuses it either way).
    pub fn can(&self, permission: Permission) -> bool {
        self.role.is_some_and(|role| role.allows(permission))
    }
}
