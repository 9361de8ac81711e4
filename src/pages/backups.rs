//! `/backups`: the backup routines and replication jobs of every endpoint (those gone from
//! Proxmox kept, marked stale), and the coverage report — guests in no enabled routine,
//! guests whose newest backup is older than N days, guests with no backup — also as CSV
//! (`/backups/coverage.csv`).

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::layout::PageErrors;
use crate::error::AppError;
use crate::models::{
    days_of, format_utc, BackupRoutineRecord, BackupsView, Kept, ReplicationRecord, UncoveredGuest,
};
use crate::wire::JsonText;

#[server(endpoint = "backups", input = GetUrl, output = JsonText)]
pub async fn read_backups(days: u32) -> Result<BackupsView, AppError> {
    let (state, _) = crate::server::web::context::require(crate::models::Permission::Read)?;
    crate::server::services::views::inventory::backups(&state.db, days).await
}

#[component]
pub fn BackupsPage() -> impl IntoView {
    let query = use_query_map();
    let days = move || query.with(|q| days_of(q.get("days")));
    let view = Resource::new(days, read_backups);
    view! {
        <Title text="Backups"/>
        <h1>"Backups"</h1>
        <PageErrors>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let BackupsView { routines, replications, coverage } = view.await?;
                    let days = coverage.days;
                    Ok::<_, AppError>(view! {
                        <section class="card" data-testid="coverage">
                            <div class="page-head">
                                <h2>"Coverage"</h2>
                                <div class="actions">
                                    <form method="get" action="/backups" class="filters">
                                        <label>"Older than "<input type="number" name="days" min="0" class="narrow-number" value=days.to_string()/>" days"</label>
                                        <button type="submit" class="btn btn-small">"Apply"</button>
                                    </form>
                                    <a class="btn btn-small" href=format!("/backups/coverage.csv?days={days}") data-testid="coverage-csv" download="">"Download CSV"</a>
                                </div>
                            </div>
                            <Finding title="In no enabled backup routine" testid="no-routine" guests=coverage.no_routine/>
                            <Finding title=format!("Newest backup older than {days} days") testid="stale-backup" guests=coverage.stale/>
                            <Finding title="No backup at all" testid="no-backup" guests=coverage.no_backup/>
                        </section>
                        <Routines routines/>
                        <Replications replications/>
                    })
                })}
            </Transition>
        </PageErrors>
    }
}

#[component]
fn Finding(
    #[prop(into)] title: String,
    testid: &'static str,
    guests: Vec<UncoveredGuest>,
) -> impl IntoView {
    let count = guests.len();
    let open = count > 0;
    let badge = if count > 0 {
        "badge badge-warn"
    } else {
        "badge badge-ok"
    };
    view! {
        <details class="finding" open=open data-testid=testid>
            <summary><strong>{title}</strong>" "<span class=badge data-testid="finding-count">{count}</span></summary>
            {(count > 0).then(|| view! {
                <ul class="guest-list">
                    {guests.into_iter().map(|g| view! {
                        <li data-testid="uncovered-guest" data-vmid=g.vmid>
                            <a href=format!("/virtual-machines/{}", g.netbox_id)>{g.name.clone()}</a>
                            <span class="muted">{format!(" {} · {} · {}", g.vmid, g.node, g.endpoint)}</span>
                            {g.newest_backup.map(|at| view! { <span class="muted">{format!(" · newest backup {}", format_utc(at * 1000))}</span> })}
                        </li>
                    }).collect_view()}
                </ul>
            })}
        </details>
    }
}

/// `stale` badge of a job gone from Proxmox, with when it was last seen.
fn stale_badge(stale_since: Option<i64>, last_seen: Option<i64>) -> impl IntoView {
    stale_since.map(|since| {
        let seen = last_seen.unwrap_or(since);
        view! {
            <span class="badge badge-warn" data-testid="stale" title=format!("gone from Proxmox since {}", format_utc(since))>
                {format!("stale · last seen {}", format_utc(seen))}
            </span>
        }
    })
}

#[component]
fn Routines(routines: Vec<Kept<BackupRoutineRecord>>) -> impl IntoView {
    view! {
        <section class="card" data-testid="routines">
            <h2>"Backup routines"</h2>
            {if routines.is_empty() {
                view! { <p class="muted">"No backup job read yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="table">
                            <thead><tr><th>"Job"</th><th>"Guests"</th><th>"Schedule"</th><th>"Storage"</th><th>"Mode"</th><th>"Retention"</th><th>"Next run"</th></tr></thead>
                            <tbody>
                                {routines.into_iter().map(|r| {
                                    let job = r.record;
                                    view! {
                                        <tr data-testid="routine-row" data-job=job.id.clone()>
                                            <td>
                                                <span class="mono">{job.id.clone()}</span>" "
                                                {(!job.enabled).then(|| view! { <span class="badge">"disabled"</span> })}
                                                {stale_badge(r.stale_since, r.last_seen)}
                                                <div class="muted small">{r.endpoint.clone()}{job.comment.clone().map(|c| format!(" · {c}"))}</div>
                                            </td>
                                            <td>{job.selection.describe()}</td>
                                            <td class="mono">{job.schedule.clone().unwrap_or_default()}</td>
                                            <td>{job.storage.clone().unwrap_or_default()}</td>
                                            <td>{job.mode.clone().unwrap_or_default()}{job.compress.clone().map(|c| format!(", {c}"))}</td>
                                            <td class="mono">{job.prune_backups.clone().unwrap_or_default()}</td>
                                            <td>{job.next_run.map(|at| format_utc(at * 1000)).unwrap_or_default()}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}

#[component]
fn Replications(replications: Vec<Kept<ReplicationRecord>>) -> impl IntoView {
    view! {
        <section class="card" data-testid="replications">
            <h2>"Replication jobs"</h2>
            {if replications.is_empty() {
                view! { <p class="muted">"No replication job read."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="table">
                            <thead><tr><th>"Job"</th><th>"Guest"</th><th>"Source → target"</th><th>"Schedule"</th><th>"Rate"</th></tr></thead>
                            <tbody>
                                {replications.into_iter().map(|r| {
                                    let job = r.record;
                                    view! {
                                        <tr data-testid="replication-row">
                                            <td>
                                                <span class="mono">{job.id.clone()}</span>" "
                                                {job.disabled.then(|| view! { <span class="badge">"disabled"</span> })}
                                                {stale_badge(r.stale_since, r.last_seen)}
                                                <div class="muted small">{r.endpoint.clone()}</div>
                                            </td>
                                            <td class="mono">{job.guest.map(|g| g.to_string()).unwrap_or_default()}</td>
                                            <td>{format!("{} → {}", job.source.clone().unwrap_or_else(|| "?".into()), job.target)}</td>
                                            <td class="mono">{job.schedule.clone().unwrap_or_else(|| "*/15".into())}</td>
                                            <td>{job.rate.map(|r| format!("{r} MB/s")).unwrap_or_else(|| "unlimited".into())}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}
