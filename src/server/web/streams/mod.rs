//! Jobs over HTTP: start a sync (form, JSON or stream), stream a job, cancel or re-run it,
//! the WebSocket, and the routes of proxbox-api that the existing NetBox plugin calls.

pub mod check;
pub mod compat;
pub mod follow;
pub mod logs;
pub mod sse;
pub mod ws;
pub mod ws_commands;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use crate::error::AppError;
use crate::models::SyncTarget;
use crate::server::infra::db::jobs::Enqueued;
use crate::server::jobs::SyncRequest;
use crate::server::sync::stage::FULL_UPDATE;
use crate::server::web::auth::{cross_site_refusal, Caller, RequestAuth, Requester};
use crate::server::web::forms::FormFields;
use crate::server::web::respond::Wants;
use crate::server::web::route_book::RouteBook;
use crate::server::web::state::AppState;

pub fn routes() -> RouteBook {
    RouteBook::default()
        .post("/sync/{stage}", start_sync)
        .post("/virtual-machines/{id}/sync", sync_guest)
        .post("/endpoints/proxmox/{id}/nodes/{node}/sync", sync_node)
        .get("/sync/{stage}/stream", start_sync_stream)
        .get("/jobs/{id}/stream", stream_job)
        .post("/jobs/{id}/cancel", cancel_job)
        .post("/jobs/{id}/rerun", rerun_job)
        .get("/ws", ws::websocket)
        .get("/streams/check/stream", check::test_stream)
        .merge(compat::routes())
}

/// Options of a sync request, from a query string or a form.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SyncParams {
    /// Proxmox endpoint ids, comma-separated (default: every enabled one); the NetBox
    /// plugin's per-endpoint streams name it `proxmox_endpoint_ids`.
    #[serde(default, alias = "proxmox_endpoint_ids")]
    endpoints: Option<String>,
    #[serde(default)]
    dry_run: Option<String>,
    /// Stage names, comma-separated; without: the route's stage.
    #[serde(default)]
    stages: Option<String>,
    /// `on`, `off`, or empty for the setting.
    #[serde(default)]
    delete_orphans: Option<String>,
    #[serde(default)]
    last_event_id: Option<i64>,
}

/// `on`/`true`/`1`/`yes` and their opposites; empty (or `setting`) leaves it to the setting.
fn switch_param(name: &str, value: Option<&str>) -> Result<Option<bool>, AppError> {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("" | "setting" | "default") => Ok(None),
        Some(other) => crate::validation::parse_switch(other)
            .map(Some)
            .ok_or_else(|| {
                AppError::BadRequest(format!(
                    "{name} is on or off (or empty for the setting), not {other:?}"
                ))
            }),
    }
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
        let dry_run = switch_param("dry_run", self.dry_run.as_deref())?.unwrap_or(false);
        let mut stages: Vec<String> = self
            .stages
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if stages.is_empty() {
            stages.push(stage.to_string());
        }
        Ok(SyncRequest {
            stages,
            endpoint_ids,
            dry_run,
            target: None,
            delete_orphans: switch_param("delete_orphans", self.delete_orphans.as_deref())?,
        })
    }
}

/// A form answers with 303 to the job page, a JSON client with 202 and the job's id.
fn job_accepted(wants: Wants, enqueued: Enqueued) -> Response {
    let id = enqueued.job_id;
    if wants == Wants::Json {
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

async fn start_sync(
    State(state): State<AppState>,
    Path(stage): Path<String>,
    wants: Wants,
    Caller(auth): Caller,
    request: Request,
) -> Response {
    let sync = read_sync_request(request, &stage).await;
    match enqueue(&state, sync, auth.as_ref()).await {
        Ok(enqueued) => job_accepted(wants, enqueued),
        Err(e) => e.render(wants),
    }
}

/// "Sync this guest": every stage that keeps something of the guest Proxbox wrote to NetBox
/// VM `id`, for that guest only (form: 303 to the job page; JSON: 202 with the job).
async fn sync_guest(
    State(state): State<AppState>,
    Path(id): Path<u64>,
    wants: Wants,
    Caller(auth): Caller,
    request: Request,
) -> Response {
    let guest = crate::server::services::views::inventory::guest_of_vm(&state.db, id)
        .await
        .map(|g| (g.endpoint_id, SyncTarget::Guest { vmid: g.vmid }));
    sync_one(&state, wants, auth, request, guest).await
}

/// "Sync this node": the node's device and interfaces only.
async fn sync_node(
    State(state): State<AppState>,
    Path((endpoint_id, name)): Path<(i64, String)>,
    wants: Wants,
    Caller(auth): Caller,
    request: Request,
) -> Response {
    let node = Ok((endpoint_id, SyncTarget::Node { name }));
    sync_one(&state, wants, auth, request, node).await
}

/// Enqueues the full update of one node or guest of one endpoint, answered as a sync POST.
async fn sync_one(
    state: &AppState,
    wants: Wants,
    auth: Option<RequestAuth>,
    request: Request,
    target: Result<(i64, SyncTarget), AppError>,
) -> Response {
    let sync = async {
        let (endpoint_id, target) = target?;
        let mut sync = read_sync_request(request, FULL_UPDATE).await?;
        sync.endpoint_ids = vec![endpoint_id];
        sync.target = Some(target);
        Ok(sync)
    }
    .await;
    match enqueue(state, sync, auth.as_ref()).await {
        Ok(enqueued) => job_accepted(wants, enqueued),
        Err(e) => e.render(wants),
    }
}

/// The sync a POST asks for: a JSON body, or a form (whose CSRF field the middleware
/// checked) or query string.
async fn read_sync_request(request: Request, stage: &str) -> Result<SyncRequest, AppError> {
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
        #[derive(Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct JsonSync {
            #[serde(default)]
            endpoint_ids: Vec<i64>,
            #[serde(default)]
            dry_run: bool,
            /// Without: the route's stage.
            #[serde(default)]
            stages: Vec<String>,
            /// Without (or null): the setting decides.
            #[serde(default)]
            delete_orphans: Option<bool>,
        }
        let body: JsonSync = if bytes.is_empty() {
            JsonSync::default()
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|e| AppError::BadRequest(format!("the JSON body is not readable: {e}")))?
        };
        let stages = if body.stages.is_empty() {
            vec![stage.to_string()]
        } else {
            body.stages
        };
        return Ok(SyncRequest {
            stages,
            endpoint_ids: body.endpoint_ids,
            dry_run: body.dry_run,
            target: None,
            delete_orphans: body.delete_orphans,
        });
    }
    let text = if bytes.is_empty() {
        query
    } else {
        String::from_utf8_lossy(&bytes).into_owned()
    };
    form_params(&text).request(stage)
}

/// A repeated form field's values, comma-separated as in a query string.
fn append(list: &mut Option<String>, value: &str) {
    *list = Some(match list.take() {
        Some(before) if !before.is_empty() => format!("{before},{value}"),
        _ => value.to_string(),
    });
}

/// Form fields; `endpoint` and `stage` may repeat (one checkbox each).
fn form_params(text: &str) -> SyncParams {
    let mut params = SyncParams::default();
    for (key, value) in FormFields::parse(text.as_bytes()).iter() {
        match key {
            "endpoints" | "endpoint" | "proxmox_endpoint_ids" => {
                append(&mut params.endpoints, value)
            }
            "stage" | "stages" => append(&mut params.stages, value),
            "dry_run" => params.dry_run = Some(value.to_string()),
            "delete_orphans" => params.delete_orphans = Some(value.to_string()),
            _ => {}
        }
    }
    params
}

async fn start_sync_stream(
    State(state): State<AppState>,
    Path(stage): Path<String>,
    Query(params): Query<SyncParams>,
    Caller(auth): Caller,
    headers: HeaderMap,
) -> Response {
    start_and_stream(&state, &params, &headers, auth.as_ref(), &stage).await
}

/// Enqueues (or attaches to) a sync of `stage` for the caller.
pub(crate) async fn enqueue(
    state: &AppState,
    sync: Result<SyncRequest, AppError>,
    auth: Option<&RequestAuth>,
) -> Result<Enqueued, AppError> {
    state
        .jobs
        .request_sync(&sync?, &Requester::of(auth).0)
        .await
}

/// A GET that starts (or attaches to) a sync and streams its job, resuming after
/// `Last-Event-ID` when the client sends one.
pub(crate) async fn start_and_stream(
    state: &AppState,
    params: &SyncParams,
    headers: &HeaderMap,
    auth: Option<&RequestAuth>,
    stage: &str,
) -> Response {
    if let Some(error) = cross_site_refusal(headers, auth) {
        return error.render(Wants::Events);
    }
    match enqueue(state, params.request(stage), auth).await {
        Ok(enqueued) => {
            let after = sse::resume_point(headers, params.last_event_id);
            stream_of(state, enqueued.job_id, after)
        }
        Err(e) => e.render(Wants::Events),
    }
}

pub(crate) fn stream_of(state: &AppState, job_id: i64, after_seq: i64) -> Response {
    let jobs = &state.jobs;
    let follower = follow::JobFollower::new(jobs, job_id, after_seq);
    sse::job_stream(follower, jobs.metrics().stream_opened(false))
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
        return AppError::NotFound(format!("Job {id:?}")).render(Wants::Events);
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
    wants: Wants,
) -> Response {
    match state.jobs.cancel(job_id).await {
        Ok(before) if wants == Wants::Json => (
            StatusCode::ACCEPTED,
            Json(json!({ "job_id": job_id, "status_before": before })),
        )
            .into_response(),
        Ok(_) => Redirect::to(&format!("/jobs/{job_id}")).into_response(),
        Err(e) => e.render(wants),
    }
}

async fn rerun_job(
    State(state): State<AppState>,
    Path(job_id): Path<i64>,
    wants: Wants,
    Caller(auth): Caller,
) -> Response {
    match state
        .jobs
        .rerun(job_id, &Requester::of(auth.as_ref()).0)
        .await
    {
        Ok(enqueued) => job_accepted(wants, enqueued),
        Err(e) => e.render(wants),
    }
}
