use std::sync::Arc;

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

use crate::server::services::Services;
use crate::server::web::auth::client::TrustedProxies;

/// Settings of the HTTP layer that handlers need.
#[derive(Debug, Clone)]
pub struct WebSettings {
    pub cookie_secure: bool,
    pub session_ttl_ms: i64,
    /// How often the dashboard repeats its keepalive checks.
    pub health_refresh_secs: u64,
    /// Proxies whose `X-Forwarded-For` names the client (login throttling, the log).
    pub trusted_proxies: TrustedProxies,
}

/// Everything a request handler or server function may need, cheap to clone: the services
/// (`state.db`, `state.jobs`, … through `Deref`) and the web's own settings.
#[derive(Clone, Debug)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub web: Arc<WebSettings>,
    pub services: Services,
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
