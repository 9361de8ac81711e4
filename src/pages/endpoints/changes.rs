//! `/endpoints/proxmox/{id}/changes`: the endpoint's watch history — every change the
//! watcher saw in Proxmox (newest first), the Proxmox task behind it as NetBox's change log
//! records it, the job that carried it and when it was in NetBox. Rendered on the server.

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

use super::detail::endpoint_id;
use crate::components::layout::PageErrors;
use crate::error::AppError;
use crate::models::WatchedChange;
use crate::wire::JsonText;

/// An endpoint's watch history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchHistory {
    pub endpoint: String,
    /// Whether the watcher follows this endpoint (the endpoint's flag and the setting).
    pub followed: bool,
    pub changes: Vec<WatchedChange>,
}

#[server(endpoint = "watch_history", input = GetUrl, output = JsonText)]
pub async fn read_watch_history(id: i64) -> Result<WatchHistory, AppError> {
    let (state, _) = crate::server::web::context::require(crate::models::Permission::Read)?;
    let row = state
        .db
        .proxmox_endpoint(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("Proxmox endpoint {id}")))?;
    let followed = row.enabled != 0 && row.watch != 0 && state.jobs.settings().watch.is_some();
    Ok(WatchHistory {
        endpoint: row.name,
        followed,
        changes: crate::server::services::views::watch::history(&state, id).await?,
    })
}

#[component]
pub fn WatchHistoryPage() -> impl IntoView {
    let params = use_params_map();
    let history = Resource::new(
        move || params.with(|p| p.get("id")),
        |raw| async move { read_watch_history(endpoint_id(raw)?).await },
    );
    view! {
        <PageErrors>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let history = history.await?;
                    Ok::<_, AppError>(view! { <History history/> })
                })}
            </Transition>
        </PageErrors>
    }
}

#[component]
fn History(history: WatchHistory) -> impl IntoView {
    let WatchHistory {
        endpoint,
        followed,
        changes,
    } = history;
    let title = format!("Changes of {endpoint}");
    view! {
        <Title text=title.clone()/>
        <div class="page-head"><h1>{title}</h1></div>
        {(!followed).then(|| view! {
            <div class="alert" data-testid="not-followed">"The watcher does not follow this endpoint now (its page's \"Follow its changes live\", or the \"Follow Proxmox live every\" setting): its changes reach NetBox with the next scheduled sync."</div>
        })}
        {if changes.is_empty() {
            view! { <p class="muted" data-testid="no-changes">"No change seen yet."</p> }.into_any()
        } else {
            view! {
                <div class="table-wrap">
                    <table class="table" data-testid="watch-history">
                        <thead><tr><th>"Seen"</th><th>"Change"</th><th>"Proxmox task"</th><th>"NetBox"</th></tr></thead>
                        <tbody>
                            {changes.into_iter().map(|c| view! {
                                <tr data-reached=c.reached.to_string()>
                                    <td class="nowrap">{c.seen}</td>
                                    <td>{c.change}</td>
                                    <td class="mono">{c.provenance}</td>
                                    <td>{match c.job_id {
                                        Some(id) => view! { <a href=format!("/jobs/{id}")>{c.outcome}</a> }.into_any(),
                                        None => view! { <span>{c.outcome}</span> }.into_any(),
                                    }}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }.into_any()
        }}
    }
}
