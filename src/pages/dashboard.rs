//! `/`: the clusters Proxbox knows, or an invitation to add the first one.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::layout::PageErrors;
use crate::components::session::CsrfField;
use crate::error::AppError;
use crate::models::EndpointsOverview;
use crate::pages::endpoints::list_endpoints;
use crate::pages::jobs::{list_jobs, JobTable};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let overview = Resource::new(|| (), |_| list_endpoints());
    let recent = Resource::new(|| (), |_| list_jobs(String::new(), String::new(), 5));
    view! {
        <Title text="Dashboard"/>
        <h1>"Dashboard"</h1>
        <PageErrors>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let overview = overview.await?;
                    let ready = overview.netbox.is_some() && overview.proxmox.iter().any(|e| e.enabled);
                    // One element around the parts that come and go, so that the markers
                    // hydration looks for sit where the server put them.
                    Ok::<_, AppError>(view! {
                        <div class="overview">
                            <Overview overview/>
                            {ready.then(|| view! { <SyncButtons/> })}
                        </div>
                    })
                })}
            </Transition>
        </PageErrors>
        <section class="recent-jobs">
            <h2>"Recent jobs"</h2>
            <PageErrors>
                <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        let jobs = recent.await?;
                        Ok::<_, AppError>(view! { <JobTable jobs/> })
                    })}
                </Transition>
            </PageErrors>
            <p><a href="/jobs">"All jobs"</a></p>
        </section>
    }
}

/// Plain HTML forms: each enqueues a sync job and lands on its page (303), JavaScript or not.
#[component]
fn SyncButtons() -> impl IntoView {
    let buttons = [
        ("full-update", "Full update"),
        ("devices", "Sync nodes"),
        ("virtual-machines", "Sync virtual machines"),
    ];
    view! {
        <section class="sync-actions" data-testid="sync-actions">
            {buttons.into_iter().map(|(stage, label)| view! {
                <form method="post" action=format!("/sync/{stage}")>
                    <CsrfField/>
                    <button type="submit" class="btn btn-primary" data-testid=format!("sync-{stage}")>{label}</button>
                </form>
            }).collect_view()}
        </section>
    }
}

#[component]
fn Overview(overview: EndpointsOverview) -> impl IntoView {
    let EndpointsOverview { proxmox, netbox } = overview;
    if proxmox.is_empty() && netbox.is_none() {
        return view! {
            <section class="card welcome" data-testid="welcome">
                <h2>"Welcome to Proxbox"</h2>
                <p>"Proxbox keeps NetBox in step with your Proxmox VE clusters. Two steps to the first sync:"</p>
                <ol>
                    <li><a href="/endpoints/proxmox/new">"Add a Proxmox endpoint"</a>" (an API token with the PVEAuditor role is enough)."</li>
                    <li><a href="/endpoints/netbox">"Connect NetBox"</a>" with an API token that may write."</li>
                </ol>
            </section>
        }
        .into_any();
    }
    view! {
        <div class="cards">
            {proxmox.into_iter().map(|e| view! {
                <article class="card endpoint-card" data-testid="endpoint-card">
                    <h2>{e.name.clone()}</h2>
                    <p class="mono muted">{e.url.clone()}</p>
                    {if e.enabled {
                        view! { <span class="badge badge-ok">"enabled"</span> }
                    } else {
                        view! { <span class="badge">"disabled"</span> }
                    }}
                    <p><a href=format!("/endpoints/proxmox/{}", e.id)>"Settings"</a></p>
                </article>
            }).collect_view()}
            <article class="card endpoint-card" data-testid="netbox-card">
                <h2>"NetBox"</h2>
                {match netbox {
                    Some(nb) => view! { <p class="mono muted">{nb.url}</p> }.into_any(),
                    None => view! { <p><a href="/endpoints/netbox">"Connect NetBox"</a>" to start syncing."</p> }.into_any(),
                }}
            </article>
        </div>
    }
    .into_any()
}
