use std::sync::Arc;

use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

use super::auth::client::TrustedProxies;
use super::crypto::SecretBox;
use super::db::Db;
use super::jobs::Jobs;
use super::recent::PeerViews;

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

/// Everything a request handler or server function may need, cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    pub secrets: Arc<SecretBox>,
    pub web: Arc<WebSettings>,
    pub jobs: Jobs,
    /// What the peers answered for the pages, kept a few seconds.
    pub peer_views: Arc<PeerViews>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
