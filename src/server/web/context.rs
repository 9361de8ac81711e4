//! What a server function may take from the request it runs in.

use leptos::prelude::use_context;

use crate::error::AppError;
use crate::models::Permission;
use crate::server::web::auth::policy::{self, Need};
use crate::server::web::auth::RequestAuth;
use crate::server::web::state::AppState;

pub fn app_state() -> Result<AppState, AppError> {
    use_context::<AppState>()
        .ok_or_else(|| AppError::Internal("application state is missing".into()))
}

pub fn request_auth() -> Result<RequestAuth, AppError> {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<RequestAuth>().cloned())
        .ok_or_else(|| AppError::Internal("request identity is missing".into()))
}

/// Who made a request: a logged-in person or a machine with an API key.
#[derive(Debug, Clone)]
pub struct Principal {
    /// For logs: the user name, or `api-key:<name>`.
    pub name: String,
}

/// The state and the caller, if the caller may `permission`: `Unauthorized` for anonymous
/// requests, `Forbidden` (saying what is missing) for a role or key scope without it.
///
/// Every server function asks for its own permission although the middleware already
/// checked the route's rule: a page renders its data in-process under the page's request,
/// so a request that reached a page by a path the rule table does not name (a trailing
/// slash, say) must still be refused here.
pub fn require(permission: Permission) -> Result<(AppState, Principal), AppError> {
    let auth = request_auth()?;
    policy::check(&auth, Some(Need::Permission(permission)))?;
    let name = auth.name().ok_or(AppError::Unauthorized)?;
    Ok((app_state()?, Principal { name }))
}
