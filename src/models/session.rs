use serde::{Deserialize, Serialize};

/// What the browser may know about its session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// `None` when nobody is logged in.
    pub username: Option<String>,
    /// Token to echo in every state-changing form (field `csrf`) or `X-CSRF-Token` header.
    pub csrf: String,
}
