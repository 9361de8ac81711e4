//! Sync and stream routes compatible with proxbox-api (the backend of the system Proxbox
//! replaces), for scripts and the consumers of its event streams; they authenticate with
//! `X-Proxbox-API-Key` (checked by the auth middleware against the hashed keys). The
//! netbox-proxbox plugin needs more than these (its key bootstrap, endpoint registration
//! and `/proxmox/...` reads), which Proxbox does not serve. Every sync here is a job like any other:
//! the stream variants stream it, the plain ones wait for its `complete` and answer it.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::{enqueue, start_and_stream, SyncParams};
use crate::error::AppError;
use crate::models::Broadcast;
use crate::server::sync::stage::FULL_UPDATE;
use crate::server::web::auth::cross_site_refusal;
use crate::server::web::auth::Caller;
use crate::server::web::respond::Wants;
use crate::server::web::route_book::RouteBook;
use crate::server::web::state::AppState;

pub fn routes() -> RouteBook {
    let stages = [
        ("/full-update", FULL_UPDATE),
        ("/dcim/devices/create", "devices"),
        (
            "/virtualization/virtual-machines/create",
            "virtual-machines",
        ),
    ];
    let mut book = RouteBook::default().get("/version", version);
    for (path, stage) in stages {
        book = book
            .get(path, move |state, query, caller, headers| {
                run_and_wait(state, query, caller, headers, stage)
            })
            .get(
                &format!("{path}/stream"),
                move |state, query, caller, headers| {
                    run_and_stream(state, query, caller, headers, stage)
                },
            );
    }
    book
}

async fn version() -> Json<serde_json::Value> {
    Json(json!({
        "name": "proxbox",
        "version": env!("CARGO_PKG_VERSION"),
        "api": "proxbox-api compatible",
    }))
}

async fn run_and_stream(
    State(state): State<AppState>,
    Query(params): Query<SyncParams>,
    Caller(auth): Caller,
    headers: HeaderMap,
    stage: &'static str,
) -> Response {
    start_and_stream(&state, &params, &headers, auth.as_ref(), stage).await
}

/// Starts (or attaches to) the job and answers when it ends: 200 with its `complete`
/// payload, or 500 with it when the sync failed.
async fn run_and_wait(
    State(state): State<AppState>,
    Query(params): Query<SyncParams>,
    Caller(auth): Caller,
    headers: HeaderMap,
    stage: &'static str,
) -> Response {
    let auth = auth.as_ref();
    if let Some(error) = cross_site_refusal(&headers, auth) {
        return error.render(Wants::Json);
    }
    // Listen before enqueueing, so that the end of a quick job cannot be missed.
    let mut news = state.jobs.hub().news();
    let job_id = match enqueue(&state, params.request(stage), auth).await {
        Ok(enqueued) => enqueued.job_id,
        Err(e) => return e.render(Wants::Json),
    };
    loop {
        // The job may have ended before we listened (an attached job, a lagging channel).
        if let Ok(Some(job)) = state.jobs.db().job(job_id).await {
            let summary = job.summary();
            if let (false, Some(complete)) = (summary.status.is_active(), summary.result) {
                let status = if complete.ok {
                    StatusCode::OK
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                };
                let mut body = serde_json::to_value(&complete).unwrap_or_default();
                body["job_id"] = json!(job_id);
                body["status"] = json!(summary.status);
                return (status, Json(body)).into_response();
            }
        }
        loop {
            match news.recv().await {
                Ok(Broadcast::SyncEnd { job_id: ended, .. }) if ended == job_id => break,
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => break,
                Err(RecvError::Closed) => {
                    return AppError::Internal("Proxbox is shutting down.".into())
                        .render(Wants::Json)
                }
            }
        }
    }
}
