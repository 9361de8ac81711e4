//! `/`: the clusters Proxbox knows, or an invitation to add the first one.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::layout::PageErrors;
use crate::error::AppError;
use crate::models::EndpointsOverview;
use crate::pages::endpoints::list_endpoints;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let overview = Resource::new(|| (), |_| list_endpoints());
    view! {
        <Title text="Dashboard"/>
        <h1>"Dashboard"</h1>
        <PageErrors>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let overview = overview.await?;
                    Ok::<_, AppError>(view! { <Overview overview/> })
                })}
            </Transition>
        </PageErrors>
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
