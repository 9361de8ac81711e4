//! The access rule of every route: one table, read by the auth middleware for each request
//! by its method and matched route. A route without a rule is refused to everyone (and a
//! test that walks every registered route fails), so a new route cannot slip past.

use axum::http::Method;

use crate::error::AppError;
use crate::models::{Permission, Role, Scope};
use crate::server::web::auth::RequestAuth;

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone, logged in or not.
    Public,
    /// Any logged-in person or key, whatever its role or scopes (logging out, say).
    SignedIn,
    Permission(Permission),
    /// The permission, but a caller without credentials may connect and authenticate
    /// inside the connection (the WebSocket's first message `{"api_key": …}`); the
    /// handler checks it then.
    InBand(Permission),
}

use Need::{InBand, Permission as P, Public, SignedIn};
use Permission::{Administer, Read, ReadJobs, RunSyncs};

/// Method, matched route (axum's syntax) and what it needs.
pub const RULES: &[(&str, &str, Need)] = &[
    // Without a login.
    ("GET", "/login", Public),
    ("POST", "/api/login", Public),
    ("GET", "/api/session", Public),
    ("GET", "/health", Public),
    // Monitoring: a key with the read scope (or --metrics-listen, without a login).
    ("GET", "/metrics", P(Read)),
    ("POST", "/api/logout", SignedIn),
    ("GET", PASSWORD_PAGE, SignedIn),
    ("POST", "/api/change_password", SignedIn),
    // Pages and the data behind them.
    ("GET", "/", P(Read)),
    ("GET", "/api/dashboard", P(Read)),
    ("GET", "/api/read_cluster_cards", P(Read)),
    ("GET", "/api/check_peers", P(Read)),
    ("GET", "/endpoints", P(Read)),
    ("GET", "/api/endpoints", P(Read)),
    ("GET", "/endpoints/proxmox/{id}", P(Read)),
    ("GET", "/api/endpoint_detail", P(Read)),
    ("GET", "/endpoints/proxmox/{id}/changes", P(Read)),
    ("GET", "/api/watch_history", P(Read)),
    ("GET", "/endpoints/proxmox/{id}/nodes/{node}", P(Read)),
    ("GET", "/api/node_detail", P(Read)),
    ("GET", "/virtual-machines", P(Read)),
    ("GET", "/api/guests", P(Read)),
    ("GET", "/virtual-machines/{id}", P(Read)),
    ("GET", "/api/guest_panel", P(Read)),
    ("GET", "/storage", P(Read)),
    ("GET", "/api/storage", P(Read)),
    ("GET", "/networks", P(Read)),
    ("GET", "/api/networks", P(Read)),
    ("GET", "/backups", P(Read)),
    ("GET", "/api/backups", P(Read)),
    ("GET", "/backups/coverage.csv", P(Read)),
    // Jobs, which a sync key follows too.
    ("GET", "/jobs", P(ReadJobs)),
    ("GET", "/api/jobs", P(ReadJobs)),
    ("GET", "/api/job_kinds", P(ReadJobs)),
    ("GET", "/jobs/{id}", P(ReadJobs)),
    ("GET", "/api/job", P(ReadJobs)),
    ("GET", "/jobs/{id}/stream", P(ReadJobs)),
    ("GET", "/ws", InBand(ReadJobs)),
    ("GET", "/version", P(ReadJobs)),
    // Running syncs.
    ("POST", "/sync/{stage}", P(RunSyncs)),
    ("GET", "/sync/{stage}/stream", P(RunSyncs)),
    ("POST", "/api/start_sync", P(RunSyncs)),
    ("GET", "/api/sync_form_choices", P(RunSyncs)),
    ("POST", "/virtual-machines/{id}/sync", P(RunSyncs)),
    (
        "POST",
        "/endpoints/proxmox/{id}/nodes/{node}/sync",
        P(RunSyncs),
    ),
    ("POST", "/jobs/{id}/cancel", P(RunSyncs)),
    ("POST", "/jobs/{id}/rerun", P(RunSyncs)),
    ("GET", "/full-update", P(RunSyncs)),
    ("GET", "/full-update/stream", P(RunSyncs)),
    ("GET", "/dcim/devices/create", P(RunSyncs)),
    ("GET", "/dcim/devices/create/stream", P(RunSyncs)),
    (
        "GET",
        "/virtualization/virtual-machines/create",
        P(RunSyncs),
    ),
    (
        "GET",
        "/virtualization/virtual-machines/create/stream",
        P(RunSyncs),
    ),
    // The configuration, and connection tests (which reach any address they are given).
    ("GET", "/endpoints/proxmox/new", P(Administer)),
    ("POST", "/endpoints/proxmox/new", P(Administer)),
    ("GET", "/endpoints/proxmox/{id}/edit", P(Administer)),
    ("POST", "/endpoints/proxmox/{id}/edit", P(Administer)),
    ("GET", "/api/proxmox_endpoint", P(Administer)),
    ("POST", "/api/save_proxmox_endpoint", P(Administer)),
    ("POST", "/api/delete_proxmox_endpoint", P(Administer)),
    ("POST", "/api/test_proxmox_endpoint", P(Administer)),
    ("GET", "/endpoints/proxmox/{id}/permissions", P(Administer)),
    ("GET", "/api/endpoint_permissions", P(Administer)),
    ("GET", "/endpoints/netbox", P(Administer)),
    ("GET", "/api/netbox_endpoint", P(Administer)),
    ("POST", "/api/save_netbox_endpoint", P(Administer)),
    ("POST", "/api/delete_netbox_endpoint", P(Administer)),
    ("POST", "/api/test_netbox_endpoint", P(Administer)),
    // People and keys.
    ("GET", "/users", P(Administer)),
    ("GET", "/api/users_overview", P(Administer)),
    ("POST", "/users", P(Administer)),
    ("POST", "/users/{name}/role", P(Administer)),
    ("POST", "/users/{name}/reset-password", P(Administer)),
    ("POST", "/users/{name}/remove", P(Administer)),
    ("GET", "/api-keys", P(Administer)),
    ("GET", "/api/api_keys_overview", P(Administer)),
    ("POST", "/api-keys", P(Administer)),
    ("POST", "/api-keys/{name}/revoke", P(Administer)),
    // Settings and schedules.
    ("GET", "/settings", P(Administer)),
    ("GET", "/api/settings_overview", P(Administer)),
    // The server's log (no secrets in it, but what is running where).
    ("GET", "/logs", P(Administer)),
    ("GET", "/api/logs", P(Administer)),
    ("GET", "/logs/stream", P(Administer)),
    // Whether a proxy in front passes the live views (anyone who sees them may check).
    ("GET", "/streams/check", P(Read)),
    ("GET", "/streams/check/stream", P(Read)),
    ("POST", "/settings", P(Administer)),
    ("POST", "/settings/schedules", P(Administer)),
    ("POST", "/settings/schedules/{id}", P(Administer)),
    ("POST", "/settings/schedules/{id}/run", P(Administer)),
    ("POST", "/settings/schedules/{id}/delete", P(Administer)),
];

/// Where a user with a one-time password is sent, and all they may do until they changed it.
pub const PASSWORD_PAGE: &str = "/account/password";

/// Whether a request serves someone who must change their one-time password first: the
/// password page and what it calls, logging out, and whatever needs no login.
pub fn serves_one_time_password(route: Option<&str>, need: Option<Need>) -> bool {
    matches!(need, Some(Public))
        || matches!(
            route,
            Some(PASSWORD_PAGE | "/api/change_password" | "/api/logout")
        )
}

/// What a request outside every route needs: the static files are public, and the rest
/// (a page that does not exist) is answered to logged-in callers only.
fn unrouted_need(path: &str) -> Need {
    let is_static = path.starts_with("/pkg/") || matches!(path, "/favicon.ico" | "/robots.txt");
    if is_static {
        Public
    } else {
        SignedIn
    }
}

/// The rule of `method` on `route` (`None`: the request matched no route).
pub fn need(method: &Method, route: Option<&str>, path: &str) -> Option<Need> {
    let Some(route) = route else {
        return Some(unrouted_need(path));
    };
    // HEAD is answered as GET is.
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    RULES
        .iter()
        .find(|(m, r, _)| *m == method && *r == route)
        .map(|(_, _, need)| *need)
}

/// Whether the caller may make a request needing `need`; the refusal says what is missing
/// and who can give it.
pub fn check(auth: &RequestAuth, need: Option<Need>) -> Result<(), AppError> {
    let Some(need) = need else {
        tracing::error!("a route without an access rule was called; refused");
        return Err(AppError::Forbidden(
            "This route has no access rule, so Proxbox refuses it to everyone. This is a Proxbox bug; please report it.".into(),
        ));
    };
    let permission = match need {
        Public => return Ok(()),
        SignedIn if auth.is_authenticated() => return Ok(()),
        SignedIn => return Err(AppError::Unauthorized),
        InBand(_) if !auth.is_authenticated() => return Ok(()),
        P(permission) | InBand(permission) => permission,
    };
    if let Some(user) = &auth.user {
        if user.role.allows(permission) {
            return Ok(());
        }
        return Err(AppError::Forbidden(format!(
            "Your role ({}) cannot {}; an administrator can give you the {} role.",
            user.role.as_str(),
            permission.describe(),
            Role::least_with(permission).as_str()
        )));
    }
    if let Some(key) = &auth.api_key {
        if key.scopes.iter().any(|scope| scope.allows(permission)) {
            return Ok(());
        }
        let needed = Scope::ALL
            .into_iter()
            .find(|scope| scope.allows(permission))
            .unwrap_or(Scope::Admin);
        return Err(AppError::Forbidden(format!(
            "This API key (scopes: {}) cannot {}; use a key with the {} scope.",
            Scope::join(&key.scopes),
            permission.describe(),
            needed.as_str()
        )));
    }
    Err(AppError::Unauthorized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_route_has_one_rule() {
        let mut seen = std::collections::HashSet::new();
        for (method, route, _) in RULES {
            assert!(
                seen.insert((method, route)),
                "{method} {route} has two rules"
            );
        }
    }

    #[test]
    fn unrouted_paths_need_a_login_except_static_files() {
        assert_eq!(need(&Method::GET, None, "/pkg/proxbox.wasm"), Some(Public));
        assert_eq!(need(&Method::GET, None, "/no-such-page"), Some(SignedIn));
        assert_eq!(
            need(&Method::HEAD, Some("/jobs"), "/jobs"),
            Some(P(ReadJobs))
        );
        assert_eq!(need(&Method::DELETE, Some("/jobs"), "/jobs"), None);
    }
}
