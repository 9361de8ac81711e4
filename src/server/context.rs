//! What a server function may take from the request it runs in.

use leptos::prelude::use_context;

use super::auth::RequestAuth;
use super::state::AppState;
use crate::error::AppError;

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

/// The state and the caller; `Unauthorized` for anonymous requests.
pub fn require_user() -> Result<(AppState, Principal), AppError> {
    let auth = request_auth()?;
    let name = match (auth.user, auth.api_key) {
        (Some(user), _) => user.username,
        (None, Some(key)) => format!("api-key:{}", key.name),
        (None, None) => return Err(AppError::Unauthorized),
    };
    Ok((app_state()?, Principal { name }))
}
