//! Jobs over HTTP: start a sync (form, JSON or stream), stream a job, cancel or re-run it,
//! the WebSocket, and the routes of proxbox-api that the existing NetBox plugin calls.

pub mod compat;
pub mod sse;
pub mod ws;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::auth::RequestAuth;
use super::db::jobs::Enqueued;
use super::jobs::SyncRequest;
use super::state::AppState;
use crate::error::AppError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sync/{stage}", post(start_sync))
        .route("/sync/{stage}/stream", get(start_sync_stream))
        .route("/jobs/{id}/stream", get(stream_job))
        .route("/jobs/{id}/cancel", post(cancel_job))
        .route("/jobs/{id}/rerun", post(rerun_job))
        .route("/ws", get(ws::websocket))
        .merge(compat::routes())
}

/// Who asked, for the job's `requested_by`.
pub(crate) fn requester(auth: Option<&RequestAuth>) -> String {
    match auth {
        Some(RequestAuth {
            user: Some(user), ..
        }) => user.username.clone(),
        Some(RequestAuth {
            api_key: Some(key), ..
        }) => format!("api-key:{}", key.name),
        _ => "anonymous".into(),
    }
}

/// Options of a sync request, from a query string or a form.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SyncParams {
    /// Proxmox endpoint ids, comma-separated (default: every enabled one).
    #[serde(default)]
    endpoints: Option<String>,
    #[serde(default)]
    dry_run: Option<String>,
    #[serde(default)]
    last_event_id: Option<i64>,
}

impl SyncParams {
    pub(crate) fn request(&self, stage: &str) -> Result<SyncRequest, AppError> {
        let endpoint_ids = self
            .endpoints
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                part.parse::<i64>().map_err(|_| {
                    AppError::BadRequest(format!(
                        "endpoints must be endpoint ids separated by commas, not {part:?}"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let dry_run = matches!(
            self.dry_run
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("1" | "true" | "on" | "yes")
        );
        Ok(SyncRequest {
            stages: vec![stage.to_string()],
            endpoint_ids,
            dry_run,
        })
    }
}

/// A client that wants JSON rather than a page.
fn wants_json(headers: &HeaderMap) -> bool {
    let accepts = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"))
    };
    accepts(header::ACCEPT) || accepts(header::CONTENT_TYPE)
}

/// A form answers with 303 to the job page, a JSON client with 202 and the job's id.
fn job_accepted(headers: &HeaderMap, enqueued: Enqueued) -> Response {
    let id = enqueued.job_id;
    if wants_json(headers) {
        let body = json!({
            "job_id": id,
            "attached": enqueued.attached,
            "job_url": format!("/jobs/{id}"),
            "stream_url": format!("/jobs/{id}/stream"),
        });
        (StatusCode::ACCEPTED, Json(body)).into_response()
    } else {
        Redirect::to(&format!("/jobs/{id}")).into_response()
    }
}

fn refused(headers: &HeaderMap, error: AppError) -> Response {
    let status =
        StatusCode::from_u16(error.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if wants_json(headers) {
        (status, Json(error)).into_response()
    } else {
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            error.to_string(),
        )
            .into_response()
    }
}

async fn start_sync(
    State(state): State<AppState>,
    Path(stage): Path<String>,
    request: Request,
) -> Response {
    let headers = request.headers().clone();
    let auth = request.extensions().get::<RequestAuth>().cloned();
    let params = match read_params(request).await {
        Ok(params) => params,
        Err(e) => return refused(&headers, e),
    };
    let result = match params.request(&stage) {
        Ok(sync) => {
            state
                .jobs
                .request_sync(&sync, &requester(auth.as_ref()))
                .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(enqueued) => job_accepted(&headers, enqueued),
        Err(e) => refused(&headers, e),
    }
}

/// The options of a POST: a JSON body, or a form (whose CSRF field the middleware checked).
async fn read_params(request: Request) -> Result<SyncParams, AppError> {
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let query = request.uri().query().unwrap_or("").to_string();
    let bytes = axum::body::to_bytes(request.into_body(), 1 << 16)
        .await
        .map_err(|_| AppError::BadRequest("the request body is too large".into()))?;
    if is_json {
        #[derive(Deserialize)]
        struct JsonSync {
            #[serde(default)]
            endpoint_ids: Vec<i64>,
            #[serde(default)]
            dry_run: bool,
        }
        if bytes.is_empty() {
            return Ok(SyncParams::default());
        }
        let body: JsonSync = serde_json::from_slice(&bytes)
            .map_err(|e| AppError::BadRequest(format!("the JSON body is not readable: {e}")))?;
        let ids: Vec<String> = body.endpoint_ids.iter().map(i64::to_string).collect();
        return Ok(SyncParams {
            endpoints: Some(ids.join(",")),
            dry_run: Some(body.dry_run.to_string()),
            last_event_id: None,
        });
    }
    let text = if bytes.is_empty() {
        query
    } else {
        String::from_utf8_lossy(&bytes).into_owned()
    };
    form_params(&text)
}

fn form_params(text: &str) -> Result<SyncParams, AppError> {
    let mut params = SyncParams::default();
    for (key, value) in url::form_urlencoded::parse(text.as_bytes()) {
        match &*key {
            "endpoints" | "endpoint" => {
                let joined = match params.endpoints.take() {
                    Some(before) if !before.is_empty() => format!("{before},{value}"),
                    _ => value.into_owned(),
                };
                params.endpoints = Some(joined);
            }
            "dry_run" => params.dry_run = Some(value.into_owned()),
            "last_event_id" => {
                params.last_event_id = value.parse().ok();
            }
            _ => {}
        }
    }
    Ok(params)
}

/// A GET that starts a job must not be something another site can make a logged-in
/// browser do: with a session cookie, only this site's own pages (or a typed address)
/// may call it. API-key clients send no cookies and are not at risk.
pub(crate) fn cross_site_refusal(
    headers: &HeaderMap,
    auth: Option<&RequestAuth>,
) -> Option<AppError> {
    let with_key_only = auth.is_some_and(|a| a.api_key.is_some() && a.user.is_none());
    if with_key_only {
        return None;
    }
    let site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    (!matches!(site, "same-origin" | "none")).then_some(AppError::Csrf)
}

async fn start_sync_stream(
    State(state): State<AppState>,
    Path(stage): Path<String>,
    Query(params): Query<SyncParams>,
    request: Request,
) -> Response {
    let auth = request.extensions().get::<RequestAuth>().cloned();
    if let Some(error) = cross_site_refusal(request.headers(), auth.as_ref()) {
        return sse::error_stream(&error);
    }
    let enqueued = match params.request(&stage) {
        Ok(sync) => {
            state
                .jobs
                .request_sync(&sync, &requester(auth.as_ref()))
                .await
        }
        Err(e) => Err(e),
    };
    match enqueued {
        Ok(enqueued) => {
            let after = sse::resume_point(request.headers(), params.last_event_id);
            stream_of(&state, enqueued.job_id, after)
        }
        Err(e) => sse::error_stream(&e),
    }
}

pub(crate) fn stream_of(state: &AppState, job_id: i64, after_seq: i64) -> Response {
    let jobs = &state.jobs;
    sse::job_stream(
        jobs.db().clone(),
        jobs.hub().clone(),
        job_id,
        after_seq,
        jobs.settings().keepalive,
    )
}

#[derive(Debug, Deserialize)]
struct StreamQuery {
    last_event_id: Option<i64>,
}

async fn stream_job(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<StreamQuery>,
    headers: HeaderMap,
) -> Response {
    let Ok(job_id) = id.parse::<i64>() else {
        return sse::error_stream(&AppError::NotFound(format!("Job {id:?}")));
    };
    stream_of(
        &state,
        job_id,
        sse::resume_point(&headers, query.last_event_id),
    )
}

async fn cancel_job(
    State(state): State<AppState>,
    Path(job_id): Path<i64>,
    headers: HeaderMap,
) -> Response {
    match state.jobs.cancel(job_id).await {
        Ok(before) if wants_json(&headers) => (
            StatusCode::ACCEPTED,
            Json(json!({ "job_id": job_id, "status_before": before })),
        )
            .into_response(),
        Ok(_) => Redirect::to(&format!("/jobs/{job_id}")).into_response(),
        Err(e) => refused(&headers, e),
    }
}

async fn rerun_job(
    State(state): State<AppState>,
    Path(job_id): Path<i64>,
    request: Request,
) -> Response {
    let headers = request.headers().clone();
    let by = requester(request.extensions().get::<RequestAuth>());
    match state.jobs.rerun(job_id, &by).await {
        Ok(enqueued) => job_accepted(&headers, enqueued),
        Err(e) => refused(&headers, e),
    }
}
