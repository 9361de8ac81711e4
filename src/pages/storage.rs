//! `/storage`: each endpoint's storages per node, with usage bars (used of total), content
//! types and whether they are shared, as the storage stage last read them.

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use leptos_meta::Title;

use crate::components::layout::PageErrors;
use crate::components::units::format_bytes;
use crate::error::AppError;
use crate::models::{format_utc, used_percent, EndpointStorage, StorageRecord};
use crate::wire::JsonText;

#[server(endpoint = "storage", input = GetUrl, output = JsonText)]
pub async fn read_storage() -> Result<Vec<EndpointStorage>, AppError> {
    let (state, _) = crate::server::web::context::require(crate::models::Permission::Read)?;
    crate::server::services::views::inventory::storage(&state.db).await
}

#[component]
pub fn StoragePage() -> impl IntoView {
    let storage = Resource::new(|| (), |_| read_storage());
    view! {
        <Title text="Storage"/>
        <h1>"Storage"</h1>
        <PageErrors>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let endpoints = storage.await?;
                    Ok::<_, AppError>(if endpoints.is_empty() {
                        view! { <p class="muted" data-testid="no-storage">"No storage read yet: it appears here after the first full update."</p> }.into_any()
                    } else {
                        endpoints.into_iter().map(|e| view! { <EndpointStorages endpoint=e/> }).collect_view().into_any()
                    })
                })}
            </Transition>
        </PageErrors>
    }
}

#[component]
fn EndpointStorages(endpoint: EndpointStorage) -> impl IntoView {
    let mut nodes: Vec<(String, Vec<StorageRecord>)> = Vec::new();
    for storage in endpoint.storages {
        match nodes.last_mut() {
            Some((node, list)) if *node == storage.node => list.push(storage),
            _ => nodes.push((storage.node.clone(), vec![storage])),
        }
    }
    view! {
        <section class="card" data-testid="endpoint-storage" data-endpoint=endpoint.endpoint_id>
            <h2>{endpoint.endpoint.clone()}</h2>
            <p class="muted small">{endpoint.read_at.map(|at| format!("as read {}", format_utc(at))).unwrap_or_default()}</p>
            {nodes.into_iter().map(|(node, storages)| view! {
                <h3 class="node-head">{node.clone()}</h3>
                <div class="table-wrap">
                    <table class="table storage" data-testid="storage-table" data-node=node>
                        <thead><tr><th>"Storage"</th><th>"Usage"</th><th>"Type"</th><th>"Content"</th><th>"Shared"</th></tr></thead>
                        <tbody>{storages.into_iter().map(|s| view! { <StorageLine storage=s/> }).collect_view()}</tbody>
                    </table>
                </div>
            }).collect_view()}
        </section>
    }
}

#[component]
fn StorageLine(storage: StorageRecord) -> impl IntoView {
    let percent = used_percent(&storage);
    let level = match percent {
        Some(p) if p >= 90.0 => "usage usage-critical",
        Some(p) if p >= 75.0 => "usage usage-high",
        _ => "usage",
    };
    let words = match (storage.used, storage.total, percent) {
        (Some(used), Some(total), Some(p)) => format!(
            "{} of {} ({p:.0} %)",
            format_bytes(used),
            format_bytes(total)
        ),
        _ if !storage.enabled => "disabled".to_string(),
        _ => "not available".to_string(),
    };
    view! {
        <tr data-testid="storage-row" data-storage=storage.storage.clone()>
            <td>
                <span class="mono">{storage.storage.clone()}</span>
                {(!storage.enabled).then(|| view! { " "<span class="badge">"disabled"</span> })}
                {(storage.enabled && !storage.active).then(|| view! { " "<span class="badge badge-warn">"inactive"</span> })}
            </td>
            <td class="usage-cell">
                {percent.map(|p| view! {
                    <div class=level role="meter" aria-valuemin="0" aria-valuemax="100" aria-valuenow=format!("{p:.0}")
                        aria-label=format!("{} used", storage.storage) data-testid="usage-bar">
                        <div class="usage-fill" style=format!("width: {:.1}%", p.clamp(0.0, 100.0))></div>
                    </div>
                })}
                <span class="muted small">{words}</span>
            </td>
            <td>{storage.kind.clone()}</td>
            <td>{storage.content.join(", ")}</td>
            <td>{if storage.shared { "shared" } else { "local" }}</td>
        </tr>
    }
}
