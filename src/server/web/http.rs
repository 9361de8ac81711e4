//! The HTTP surface: pages, server functions, JSON routes, static files.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{middleware, Json, Router};

use crate::server::web::route_book::RouteBook;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::trace::TraceLayer;

use crate::app::{not_found_shell, shell, App};
use crate::error::AppError;
use crate::server::web::auth::middleware::authenticate;
use crate::server::web::csp::BASE_POLICY;
use crate::server::web::respond::Wants;
use crate::server::web::state::AppState;

pub fn router(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let context = {
        let state = state.clone();
        move || provide_context(state.clone())
    };
    let render_shell = {
        let options = state.leptos_options.clone();
        move || shell(options.clone())
    };
    // The site bundle the binary carries, else a redirect from a spelling of a path to the
    // path itself (`/users/` → `/users`, where the route's own access rule applies), else
    // files under the site root, else the not-found page — never another page.
    let files_or_not_found = leptos_axum::file_and_error_handler_with_context::<AppState, _>(
        context.clone(),
        not_found_shell,
    );
    let fallback = move |uri: Uri, state: State<AppState>, request: Request| {
        let files_or_not_found = files_or_not_found.clone();
        async move {
            if let Some(file) = crate::server::web::site::bundled_file(&request) {
                return file;
            }
            if let Some(path) = canonical_path(uri.path()) {
                let target = match uri.query() {
                    Some(query) => format!("{path}?{query}"),
                    None => path,
                };
                return Redirect::permanent(&target).into_response();
            }
            files_or_not_found(uri, state, request).await
        }
    };
    axum_routes()
        .into_router()
        .leptos_routes_with_context(&state, routes, context, render_shell)
        .fallback(fallback)
        .layer(middleware::from_fn(server_fn_error_status))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn(add_security_headers))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Headers every answer carries (unless it set its own): no content sniffing, no address
/// leaked to other sites, the base policy. Pages set a stricter policy of their own
/// ([`super::csp::declare_page_policy`]).
const SECURITY_HEADERS: [(header::HeaderName, &str); 4] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "same-origin"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::CONTENT_SECURITY_POLICY, BASE_POLICY),
];

/// The routes Proxbox answers itself (beside the pages and server functions).
fn axum_routes() -> RouteBook {
    RouteBook::default()
        .get("/health", health)
        .get("/metrics", metrics)
        .get("/logs/stream", crate::server::web::streams::logs::stream)
        .merge(crate::server::web::streams::routes())
        .merge(crate::server::web::exports::routes())
        .merge(crate::server::web::access_forms::routes())
        .merge(crate::server::web::settings_forms::routes())
        .merge(crate::server::web::endpoint_forms::routes())
}

/// Every route the router serves, by method and path as axum matches it: the pages, the
/// server functions and the rest. The access policy must have a rule for each.
pub fn route_inventory() -> Vec<(Method, String)> {
    let mut routes: Vec<(Method, String)> = axum_routes().routes().to_vec();
    for listing in generate_route_list(App) {
        for method in listing.methods() {
            let method = match method {
                leptos_router::Method::Get => Method::GET,
                leptos_router::Method::Post => Method::POST,
                leptos_router::Method::Put => Method::PUT,
                leptos_router::Method::Delete => Method::DELETE,
                leptos_router::Method::Patch => Method::PATCH,
            };
            routes.push((method, listing.path().to_string()));
        }
    }
    for (path, method) in leptos::server_fn::axum::server_fn_paths() {
        routes.push((method, path.to_string()));
    }
    routes
}

/// The path a differently spelled `path` stands for, when it differs: empty and `.`
/// segments dropped, `..` resolved, no trailing slash. Only the spelling changes, so the
/// redirect lands on a path whose own access rule then applies (or on the not-found page).
fn canonical_path(path: &str) -> Option<String> {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            segment => segments.push(segment),
        }
    }
    let canonical = format!("/{}", segments.join("/"));
    (canonical != path).then_some(canonical)
}

/// Liveness and database reachability, for load balancers and the NetBox plugin.
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let database = state.db.ping().await;
    let status = if database.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "status": if database.is_ok() { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "database": if database.is_ok() { "ok" } else { "unreachable" },
    });
    (status, Json(body))
}

/// The Prometheus page (`server::metrics`).
pub async fn metrics(State(state): State<AppState>) -> Response {
    match state.jobs.metrics().render(&state.db).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                crate::server::infra::metrics::CONTENT_TYPE,
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the database for /metrics");
            AppError::Internal("Proxbox cannot read its database for the metrics.".into())
                .render(Wants::Json)
        }
    }
}

/// Server functions answer every error with 500; give each [`AppError`] its own status
/// (401, 403, 404, 422, 429…) so that HTTP clients and logs see what happened.
async fn server_fn_error_status(request: Request, next: Next) -> Response {
    let is_server_fn = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    if !is_server_fn || response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, 1 << 20).await else {
        return AppError::Internal("A server function's error was too large to pass on.".into())
            .render(Wants::Json);
    };
    if let Ok(error) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status = error.http_status();
        parts.headers.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
    }
    Response::from_parts(parts, Body::from(bytes))
}

async fn add_security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        if !headers.contains_key(&name) {
            headers.insert(name, header::HeaderValue::from_static(value));
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::canonical_path;

    #[test]
    fn spellings_of_a_path_lead_to_the_path() {
        let table = [
            ("/users/", Some("/users")),
            ("//users", Some("/users")),
            ("/users/.", Some("/users")),
            ("/./users", Some("/users")),
            ("/jobs//5/", Some("/jobs/5")),
            ("/x/../settings", Some("/settings")),
            ("/../../settings", Some("/settings")),
            ("//evil.example/x", Some("/evil.example/x")),
            ("/users", None),
            ("/", None),
            ("/%75sers", None),
            ("/USERS", None),
        ];
        for (path, expected) in table {
            assert_eq!(canonical_path(path).as_deref(), expected, "{path}");
        }
    }
}
