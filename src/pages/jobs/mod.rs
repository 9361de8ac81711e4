//! `/jobs`: sync jobs, newest first, filtered by status and stages.

pub mod detail;

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::layout::PageErrors;
use crate::error::AppError;
use crate::models::{format_utc, JobStatus, JobSummary};
use crate::wire::JsonText;

#[server(endpoint = "jobs", input = GetUrl, output = JsonText)]
pub async fn list_jobs(
    #[server(default)] status: String,
    #[server(default)] stages: String,
    #[server(default)] limit: i64,
) -> Result<Vec<JobSummary>, AppError> {
    let (state, _) = crate::server::web::context::require(crate::models::Permission::ReadJobs)?;
    let status = match status.as_str() {
        "" => None,
        other => Some(
            JobStatus::parse(other)
                .ok_or_else(|| AppError::BadRequest(format!("unknown job status {other:?}")))?,
        ),
    };
    let stages = (!stages.is_empty()).then_some(stages.as_str());
    let limit = if limit <= 0 { 50 } else { limit.min(500) };
    Ok(state
        .db
        .jobs(status, stages, limit)
        .await?
        .iter()
        .map(|row| row.summary())
        .collect())
}

/// The stage labels of past jobs, for the kind filter.
#[server(endpoint = "job_kinds", input = GetUrl, output = JsonText)]
pub async fn job_kinds() -> Result<Vec<String>, AppError> {
    let (state, _) = crate::server::web::context::require(crate::models::Permission::ReadJobs)?;
    state
        .db
        .job_kinds()
        .await
        .map_err(crate::error::AppError::internal)
}

/// The status badge of a job.
#[component]
pub fn JobStatusBadge(status: JobStatus) -> impl IntoView {
    view! {
        <span class=format!("badge job-{}", status.as_str()) data-testid="job-status">
            {status.as_str()}
        </span>
    }
}

/// A table of jobs linking to their pages.
#[component]
pub fn JobTable(jobs: Vec<JobSummary>) -> impl IntoView {
    if jobs.is_empty() {
        return view! { <p class="muted" data-testid="no-jobs">"No sync jobs yet."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="table brief" data-testid="jobs-table">
                <thead>
                    <tr><th>"Job"</th><th>"Stages"</th><th>"Status"</th><th>"Requested by"</th><th>"Created"</th><th>"Result"</th></tr>
                </thead>
                <tbody>
                    {jobs.into_iter().map(|job| view! {
                        <tr>
                            <td><a href=format!("/jobs/{}", job.id)>{format!("#{}", job.id)}</a></td>
                            <td class="mono">{job.scope.title()}{job.scope.dry_run.then_some(" (dry run)")}</td>
                            <td><JobStatusBadge status=job.status/></td>
                            <td>{job.requested_by.clone()}</td>
                            <td class="muted">{format_utc(job.created_at)}</td>
                            <td>{job.result.map(|r| r.message).unwrap_or_default()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

/// `/jobs`, filtered by `?status=` and `?kind=` (a GET form, so it works without JavaScript).
#[component]
pub fn JobsPage() -> impl IntoView {
    let query = use_query_map();
    let filter = move || {
        query.with(|q| {
            (
                q.get("status").unwrap_or_default(),
                q.get("kind").unwrap_or_default(),
            )
        })
    };
    let jobs = Resource::new(filter, |(status, kind)| list_jobs(status, kind, 100));
    let kinds = Resource::new(|| (), |_| job_kinds());
    view! {
        <Title text="Jobs"/>
        <h1>"Jobs"</h1>
        <form method="get" action="/jobs" class="filters" data-testid="job-filters">
            <label>"Status "
                <select name="status">
                    <option value="">"any"</option>
                    {JobStatus::ALL.into_iter().map(|s| view! {
                        <option value=s.as_str() selected=move || filter().0 == s.as_str()>{s.as_str()}</option>
                    }).collect_view()}
                </select>
            </label>
            <Transition>
                {move || Suspend::new(async move {
                    let kinds = kinds.await.unwrap_or_default();
                    view! {
                        <label>"Kind "
                            <select name="kind">
                                <option value="">"any"</option>
                                {kinds.into_iter().map(|kind| {
                                    let selected = filter().1 == kind;
                                    view! { <option value=kind.clone() selected=selected>{kind.clone()}</option> }
                                }).collect_view()}
                            </select>
                        </label>
                    }
                })}
            </Transition>
            <button type="submit" class="btn">"Filter"</button>
        </form>
        <PageErrors>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let jobs = jobs.await?;
                    Ok::<_, AppError>(view! { <JobTable jobs/> })
                })}
            </Transition>
        </PageErrors>
    }
}
