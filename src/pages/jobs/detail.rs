//! `/jobs/{id}`: one job from its log: stage indicators, counts, errors with what to do,
//! the event log with filters, and cancel / run-now buttons. Rendered completely on the
//! server, so it works without JavaScript (while the job runs, such a page refreshes
//! itself); in the browser, the [`LiveJob`] island's stage table, counters and errors
//! follow a running job's event stream live.

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::JobStatusBadge;
use crate::components::job_live::JobLive;
use crate::components::layout::PageErrors;
use crate::components::session::{page_allows, CsrfField};
use crate::error::AppError;
use crate::events::{ItemStatus, SyncEvent};
use crate::models::Permission;
use crate::models::{format_utc, JobDetail, JobSnapshot};
use crate::wire::JsonText;

#[server(endpoint = "job", input = GetUrl, output = JsonText)]
pub async fn get_job(id: i64) -> Result<JobDetail, AppError> {
    let (state, _) = crate::server::context::require_user()?;
    load_job(&state, id).await
}

/// Job `id` with its whole log.
#[cfg(feature = "ssr")]
pub async fn load_job(
    state: &crate::server::state::AppState,
    id: i64,
) -> Result<JobDetail, AppError> {
    let (job, events) = read_job(state, id).await?;
    let endpoint_names = state
        .db
        .proxmox_endpoints()
        .await
        .map_err(crate::server::auth::internal)?
        .into_iter()
        .filter(|e| job.scope.endpoint_ids.contains(&e.id))
        .map(|e| e.name)
        .collect();
    Ok(JobDetail {
        job,
        events,
        endpoint_names,
        as_of: crate::server::db::now_ms(),
    })
}

/// Job `id` as a live view starts from (its log folded, not kept).
#[cfg(feature = "ssr")]
pub async fn load_snapshot(
    state: &crate::server::state::AppState,
    id: i64,
) -> Result<JobSnapshot, AppError> {
    let (job, events) = read_job(state, id).await?;
    Ok(JobSnapshot::from_log(
        job,
        &events,
        crate::server::db::now_ms(),
    ))
}

#[cfg(feature = "ssr")]
async fn read_job(
    state: &crate::server::state::AppState,
    id: i64,
) -> Result<(crate::models::JobSummary, Vec<(i64, SyncEvent)>), AppError> {
    use crate::server::auth::internal;
    let row = state
        .db
        .job(id)
        .await
        .map_err(internal)?
        .ok_or_else(|| AppError::NotFound(format!("Job {id}")))?;
    let events = state
        .db
        .job_events_after(id, 0, 100_000)
        .await
        .map_err(internal)?
        .into_iter()
        .filter_map(|e| {
            SyncEvent::from_frame(&e.name, &e.data)
                .ok()
                .map(|ev| (e.seq, ev))
        })
        .collect();
    Ok((row.summary(), events))
}

#[component]
pub fn JobPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|id| id.parse::<i64>().ok()));
    let detail = Resource::new(id, |id| async move {
        match id {
            Some(id) => get_job(id).await,
            None => Err(AppError::NotFound("This job".into())),
        }
    });
    view! {
        <Title text="Job"/>
        <PageErrors>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let detail = detail.await?;
                    Ok::<_, AppError>(view! { <JobView detail/> })
                })}
            </Suspense>
        </PageErrors>
    }
}

#[component]
fn JobView(detail: JobDetail) -> impl IntoView {
    let start = JobSnapshot::of(&detail);
    let JobDetail {
        job,
        events,
        endpoint_names,
        ..
    } = detail;
    let active = job.status.is_active();
    let may_run = page_allows(Permission::RunSyncs);
    let id = job.id;
    view! {
        <Title text=format!("Job #{id}")/>
        // Without JavaScript the page follows a running job by reloading itself; with
        // JavaScript, <noscript> is inert and the event stream takes over.
        {active.then(|| view! { <noscript inner_html=r#"<meta http-equiv="refresh" content="3">"#></noscript> })}
        <h1>{format!("Job #{id} ")}<JobStatusBadge status=job.status/></h1>
        <dl class="facts">
            <dt>"Stages"</dt><dd class="mono">{job.scope.title()}{job.scope.dry_run.then_some(" (dry run)")}</dd>
            <dt>"Proxmox endpoints"</dt><dd>{endpoint_names.join(", ")}</dd>
            <dt>"Requested by"</dt><dd>{job.requested_by.clone()}</dd>
            <dt>"Created"</dt><dd>{format_utc(job.created_at)}</dd>
            <dt>"Started"</dt><dd>{job.started_at.map(format_utc).unwrap_or_else(|| "waiting for a worker".into())}</dd>
            <dt>"Finished"</dt><dd>{job.finished_at.map(format_utc).unwrap_or_default()}</dd>
            {job.rerun_of.map(|of| view! { <dt>"Re-run of"</dt><dd><a href=format!("/jobs/{of}")>{format!("#{of}")}</a></dd> })}
        </dl>
        <div class="actions" hidden=!may_run>
            {(active && may_run).then(|| view! {
                <form method="post" action=format!("/jobs/{id}/cancel")>
                    <CsrfField/>
                    <button type="submit" class="btn btn-danger" data-testid="cancel-job">"Cancel"</button>
                </form>
            })}
            {may_run.then(|| view! {
                <form method="post" action=format!("/jobs/{id}/rerun")>
                    <CsrfField/>
                    <button type="submit" class="btn" data-testid="rerun-job">"Run now"</button>
                </form>
            })}
        </div>
        <LiveJob start/>
        <EventLog events/>
    }
}

/// The page's live part: a running job's progress follows its event stream, and its end
/// loads the page again, for the final log and status from the server.
#[island]
fn LiveJob(start: JobSnapshot) -> impl IntoView {
    let reload = || {
        #[cfg(feature = "hydrate")]
        let _ = window().location().reload();
    };
    view! { <JobLive start on_end=reload/> }
}

/// What an event is about and how it went, for the log table.
fn describe(event: &SyncEvent) -> (String, String, String) {
    match event {
        SyncEvent::Discovery(d) => (d.phase.clone(), d.status.clone(), d.message.clone()),
        SyncEvent::Step(s) => (
            s.step.clone(),
            format!("{:?}", s.status).to_lowercase(),
            s.message.clone(),
        ),
        SyncEvent::Substep(s) => (
            s.phase.clone(),
            format!("{:?}", s.status).to_lowercase(),
            s.message.clone(),
        ),
        SyncEvent::ItemProgress(p) => (
            p.phase.clone(),
            p.status.as_str().to_string(),
            p.message.clone(),
        ),
        SyncEvent::PhaseSummary(p) => (
            p.phase.clone(),
            format!("{:?}", p.status).to_lowercase(),
            p.message.clone(),
        ),
        SyncEvent::ErrorDetail(d) => (
            d.phase.clone(),
            d.category.as_str().to_string(),
            d.message.clone(),
        ),
        SyncEvent::Error(e) => (e.step.clone(), e.status.clone(), e.error.clone()),
        SyncEvent::Complete(c) => (
            String::new(),
            if c.ok { "ok".into() } else { "failed".into() },
            c.message.clone(),
        ),
    }
}

fn is_failure(event: &SyncEvent) -> bool {
    match event {
        SyncEvent::ItemProgress(p) => p.status == ItemStatus::Failed,
        SyncEvent::ErrorDetail(_) | SyncEvent::Error(_) => true,
        SyncEvent::Complete(c) => !c.ok,
        _ => false,
    }
}

/// The log, filtered by `?stage=`, `?status=` and `?failures=1` (a GET form, so the
/// filters work without JavaScript).
#[component]
fn EventLog(events: Vec<(i64, SyncEvent)>) -> impl IntoView {
    let query = use_query_map();
    let (stage, status, failures) = query.with_untracked(|q| {
        (
            q.get("stage").unwrap_or_default(),
            q.get("status").unwrap_or_default(),
            q.get("failures").is_some_and(|v| v == "1" || v == "on"),
        )
    });
    let mut stages: Vec<String> = events
        .iter()
        .map(|(_, e)| describe(e).0)
        .filter(|s| !s.is_empty())
        .collect();
    stages.dedup();
    stages.sort();
    stages.dedup();
    let total = events.len();
    let rows: Vec<(i64, &'static str, (String, String, String))> = events
        .iter()
        .filter(|(_, e)| !failures || is_failure(e))
        .map(|(seq, e)| (*seq, e.name(), describe(e)))
        .filter(|(_, _, (s, st, _))| {
            (stage.is_empty() || *s == stage) && (status.is_empty() || *st == status)
        })
        .collect();
    let shown = rows.len();
    view! {
        <section class="event-log">
            <h2>"Event log"</h2>
            <form method="get" class="filters">
                <label>"Stage "
                    <select name="stage">
                        <option value="">"all"</option>
                        {stages.into_iter().map(|s| {
                            let selected = s == stage;
                            view! { <option value=s.clone() selected=selected>{s.clone()}</option> }
                        }).collect_view()}
                    </select>
                </label>
                <label>"Status "<input type="text" name="status" value=status.clone() placeholder="e.g. created"/></label>
                <label><input type="checkbox" name="failures" value="1" checked=failures/>" failures only"</label>
                <button type="submit" class="btn">"Filter"</button>
            </form>
            <p class="muted" data-testid="event-count">{format!("{shown} of {total} events")}</p>
            <div class="table-wrap">
                <table class="table log" data-testid="event-log">
                    <thead><tr><th>"#"</th><th>"Event"</th><th>"Stage"</th><th>"Status"</th><th>"Message"</th></tr></thead>
                    <tbody>
                        {rows.into_iter().map(|(seq, name, (stage, status, message))| view! {
                            <tr class=format!("event-{name}")>
                                <td class="muted">{seq}</td><td>{name}</td><td>{stage}</td><td>{status}</td><td>{message}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}
