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
use crate::models::{
    describe, format_utc, JobDetail, JobSnapshot, LogFilter, LogPage, Permission, TakeoverReport,
};
use crate::wire::JsonText;

#[server(endpoint = "job", input = GetUrl, output = JsonText)]
pub async fn get_job(id: i64, #[server(default)] filter: LogFilter) -> Result<JobDetail, AppError> {
    let (state, _) = crate::server::web::context::require(crate::models::Permission::ReadJobs)?;
    crate::server::services::views::jobs::load_job(&state, id, &filter).await
}

/// The log filter and page of the job page's query string.
fn log_filter(query: &leptos_router::params::ParamsMap) -> LogFilter {
    LogFilter {
        stage: query.get("stage").unwrap_or_default(),
        status: query.get("status").unwrap_or_default(),
        failures: query.get("failures").is_some_and(|v| v == "1" || v == "on"),
        page: query.get("page").and_then(|p| p.parse().ok()),
    }
}

#[component]
pub fn JobPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.with(|p| p.get("id").and_then(|id| id.parse::<i64>().ok()));
    let asked = move || (id(), query.with(log_filter));
    let detail = Resource::new(asked, |(id, filter)| async move {
        match id {
            Some(id) => get_job(id, filter).await,
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
        log,
        endpoint_names,
        waiting,
        takeover,
        ..
    } = detail;
    let dry_run = job.scope.dry_run;
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
        {waiting.map(|reason| view! { <p class="alert alert-warning" role="status" data-testid="waiting-reason">{reason}</p> })}
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
        {takeover.took_over_anything().then(|| view! { <TakeoverSection report=takeover dry_run/> })}
        <EventLog log/>
    }
}

/// What the job took over from another tool or an operator; for a dry run, the preview of
/// what the real run does.
#[component]
fn TakeoverSection(report: TakeoverReport, dry_run: bool) -> impl IntoView {
    let would = if dry_run { "would be " } else { "" };
    let adopted: u64 = report.kinds.values().map(|c| c.adopted).sum();
    let listed = report.adoptions.len() as u64;
    view! {
        <section class="takeover" data-testid="takeover">
            <h2>{if dry_run { "Takeover preview" } else { "Takeover" }}</h2>
            <p class="muted">{if dry_run {
                "A dry run: nothing was written. The real run adopts, creates and updates exactly this."
            } else {
                "Objects another tool or an operator made, now Proxbox's: tagged proxbox, their own tags and custom fields kept."
            }}</p>
            <div class="table-wrap">
                <table class="table" data-testid="takeover-kinds">
                    <thead><tr>
                        <th>"Kind"</th><th>{format!("{would}adopted")}</th><th>{format!("{would}created")}</th>
                        <th>{format!("{would}updated")}</th><th>{format!("{would}deleted")}</th><th>"conflicts"</th>
                    </tr></thead>
                    <tbody>
                        {report.kinds.iter().map(|(kind, c)| view! {
                            <tr data-kind=kind.clone()>
                                <td>{kind.clone()}</td><td>{c.adopted}</td><td>{c.created}</td>
                                <td>{c.updated}</td><td>{c.deleted}</td><td>{c.conflicts}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            {(!report.conflicts.is_empty()).then(|| view! {
                <h3>"Conflicts: nothing taken"</h3>
                <ul class="conflicts" data-testid="takeover-conflicts">
                    {report.conflicts.iter().map(|c| view! {
                        <li><span class="mono">{format!("{} {}", c.kind, c.name)}</span>" — "{c.why.clone()}</li>
                    }).collect_view()}
                </ul>
            })}
            {(listed > 0).then(|| view! {
                <h3>{format!("Adopted ({adopted})")}</h3>
                <div class="table-wrap">
                    <table class="table" data-testid="takeover-adoptions">
                        <thead><tr><th>"Kind"</th><th>"Name"</th><th>"NetBox id"</th><th>"Rule"</th></tr></thead>
                        <tbody>
                            {report.adoptions.iter().map(|a| view! {
                                <tr><td>{a.kind.clone()}</td><td>{a.name.clone()}</td>
                                <td>{a.netbox_id.map(|id| id.to_string()).unwrap_or_default()}</td><td>{a.rule.clone()}</td></tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
                {(adopted > listed).then(|| view! {
                    <p class="muted">{format!("The first {listed} are listed; `proxbox sync --dry-run --verbose` lists them all.")}</p>
                })}
            })}
        </section>
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

/// One page of the log, filtered by `?stage=`, `?status=` and `?failures=1` (a GET form,
/// so the filters and the pages work without JavaScript).
#[component]
fn EventLog(log: LogPage) -> impl IntoView {
    let filter = use_query_map().with_untracked(log_filter);
    let LogPage {
        rows,
        stages,
        matching,
        total,
        page,
        pages,
    } = log;
    let pager = {
        let filter = filter.clone();
        move || {
            let link = |to: u64, label: &'static str, testid: &'static str| {
                let query = filter.page_query(to);
                (to != page)
                    .then(|| view! { <a class="btn" href=query data-testid=testid>{label}</a> })
            };
            (pages > 1).then(|| {
                view! {
                    <nav class="pager" aria-label="Event log pages">
                        {link(1, "First", "log-first")}
                        {link(page.saturating_sub(1).max(1), "Previous", "log-previous")}
                        <span class="muted" data-testid="log-page">{format!("page {page} of {pages}")}</span>
                        {link((page + 1).min(pages), "Next", "log-next")}
                        {link(pages, "Last", "log-last")}
                    </nav>
                }
            })
        }
    };
    let LogFilter {
        stage,
        status,
        failures,
        ..
    } = filter.clone();
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
            <p class="muted" data-testid="event-count">{format!("{matching} of {total} events")}</p>
            {pager()}
            <div class="table-wrap">
                <table class="table log" data-testid="event-log">
                    <thead><tr><th>"#"</th><th>"Event"</th><th>"Stage"</th><th>"Status"</th><th>"Message"</th></tr></thead>
                    <tbody>
                        {rows.into_iter().map(|(seq, event)| {
                            let name = event.name();
                            let (stage, status, message) = describe(&event);
                            view! {
                                <tr class=format!("event-{name}")>
                                    <td class="muted">{seq}</td><td>{name}</td><td>{stage}</td><td>{status}</td><td>{message}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            {pager()}
        </section>
    }
}
