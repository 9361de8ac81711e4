//! `/endpoints/proxmox/{id}`: a Proxmox endpoint's cluster — its name, version and quorum,
//! and each node with its state, load, uptime, guests, storages and interfaces — read live
//! from Proxmox beside what Proxbox keeps; editing is at `…/edit`.

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::components::layout::PageErrors;
use crate::components::session::page_allows;
use crate::components::units::format_bytes;
use crate::error::AppError;
use crate::models::{format_uptime, EndpointDetail, NodeSummary, Permission};
use crate::wire::JsonText;

#[server(endpoint = "endpoint_detail", input = GetUrl, output = JsonText)]
pub async fn read_endpoint_detail(id: i64) -> Result<EndpointDetail, AppError> {
    let (state, _) = crate::server::web::context::require(crate::models::Permission::Read)?;
    crate::server::services::views::clusters::endpoint_detail(&state, id).await
}

/// The `id` route parameter, or a not-found error naming it.
pub fn endpoint_id(raw: Option<String>) -> Result<i64, AppError> {
    let raw = raw.unwrap_or_default();
    raw.parse()
        .map_err(|_| AppError::NotFound(format!("Proxmox endpoint {raw:?}")))
}

#[component]
pub fn EndpointDetailPage() -> impl IntoView {
    let params = use_params_map();
    let detail = Resource::new(
        move || params.with(|p| p.get("id")),
        |raw| async move { read_endpoint_detail(endpoint_id(raw)?).await },
    );
    view! {
        <PageErrors>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let detail = detail.await?;
                    Ok::<_, AppError>(view! { <Detail detail/> })
                })}
            </Transition>
        </PageErrors>
    }
}

/// "A problem, and what to do", for a peer that did not answer.
#[component]
pub fn PeerProblem(problem: (String, String)) -> impl IntoView {
    view! {
        <div class="alert alert-error" role="alert" data-testid="peer-problem">
            <strong>{problem.0}</strong>
            <p>{problem.1}</p>
        </div>
    }
}

#[component]
fn Detail(detail: EndpointDetail) -> impl IntoView {
    let endpoint = detail.endpoint;
    let id = endpoint.id;
    view! {
        <Title text=endpoint.name.clone()/>
        <div class="page-head">
            <h1>{endpoint.name.clone()}</h1>
            <div class="actions">
                <a class="btn" href=format!("/virtual-machines?endpoint={id}")>"Guests"</a>
                <a class="btn" href=format!("/endpoints/proxmox/{id}/changes") data-testid="watch-history-link">"Changes seen"</a>
                {page_allows(Permission::Administer).then(|| view! {
                    <a class="btn" href=format!("/endpoints/proxmox/{id}/permissions") data-testid="check-permissions">"Check permissions"</a>
                    <a class="btn" href=format!("/endpoints/proxmox/{id}/edit") data-testid="edit-endpoint">"Edit"</a>
                })}
            </div>
        </div>
        <dl class="facts" data-testid="cluster-facts">
            <dt>"Address"</dt><dd class="mono">{endpoint.url.clone()}</dd>
            <dt>"Cluster"</dt><dd data-testid="cluster-name">{detail.cluster.clone().unwrap_or_else(|| "single node".into())}</dd>
            <dt>"Proxmox VE"</dt><dd>{detail.version.clone().unwrap_or_else(|| "–".into())}</dd>
            <dt>"Quorum"</dt>
            <dd data-testid="quorum">{match detail.quorate {
                Some(true) => view! { <span class="badge badge-ok">"quorate"</span> }.into_any(),
                Some(false) => view! { <span class="badge badge-error">"no quorum: guests cannot be changed"</span> }.into_any(),
                None => view! { <span class="muted">"–"</span> }.into_any(),
            }}</dd>
        </dl>
        {detail.error.map(|problem| view! { <PeerProblem problem/> })}
        {(!detail.nodes.is_empty()).then(|| view! {
            <div class="table-wrap">
                <table class="table nodes" data-testid="nodes-table">
                    <thead><tr><th>"Node"</th><th>"Status"</th><th>"CPU"</th><th>"Memory"</th><th>"Uptime"</th><th>"Guests"</th><th>"Storages"</th><th>"Interfaces"</th></tr></thead>
                    <tbody>
                        {detail.nodes.into_iter().map(|node| view! { <NodeLine endpoint_id=id node/> }).collect_view()}
                    </tbody>
                </table>
            </div>
        })}
    }
}

/// `12 % of 8`, `3.1 GiB of 16.0 GiB`.
pub fn cpu_text(node: &NodeSummary) -> String {
    match (node.cpu, node.cpus) {
        (Some(share), Some(cpus)) => format!("{:.0} % of {cpus}", share * 100.0),
        _ => "–".into(),
    }
}

pub fn memory_text(node: &NodeSummary) -> String {
    match (node.memory_used, node.memory_total) {
        (Some(used), Some(total)) => format!("{} of {}", format_bytes(used), format_bytes(total)),
        _ => "–".into(),
    }
}

#[component]
fn NodeLine(endpoint_id: i64, node: NodeSummary) -> impl IntoView {
    view! {
        <tr data-testid="node-row" data-node=node.name.clone()>
            <td><a href=format!("/endpoints/proxmox/{endpoint_id}/nodes/{}", node.name)>{node.name.clone()}</a>
                <div class="mono muted small">{node.ip.clone().unwrap_or_default()}</div></td>
            <td>{if node.online {
                view! { <span class="badge badge-ok">"online"</span> }.into_any()
            } else {
                view! { <span class="badge badge-error">"offline"</span> }.into_any()
            }}</td>
            <td>{cpu_text(&node)}</td>
            <td>{memory_text(&node)}</td>
            <td>{node.uptime.map(format_uptime).unwrap_or_else(|| "–".into())}</td>
            <td data-testid="node-guests">{format!("{} ({} running)", node.guests, node.running)}</td>
            <td>{node.storages}</td>
            <td>{node.interfaces.map(|n| n.to_string()).unwrap_or_else(|| "–".into())}</td>
        </tr>
    }
}
