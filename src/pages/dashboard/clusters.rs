//! A card per Proxmox endpoint and one for NetBox. The server renders each Proxmox card
//! as a skeleton (name, address); the browser fills in the cluster's inventory from
//! [`read_cluster_cards`] once hydrated and again whenever a sync starts or ends.

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

use super::health::HealthState;
use crate::components::sync_news::SyncNews;
use crate::error::AppError;
use crate::models::{ClusterCard, ClusterInventory, NetboxEndpointView, ProxmoxEndpointView};
use crate::wire::JsonText;

#[server(endpoint = "read_cluster_cards", input = GetUrl, output = JsonText)]
pub async fn read_cluster_cards() -> Result<Vec<ClusterCard>, AppError> {
    let (state, _) = crate::server::web::context::require(crate::models::Permission::Read)?;
    crate::server::services::views::dashboard::cluster_cards(&state)
        .await
        .map_err(crate::error::AppError::internal)
}

/// The latest answer of [`read_cluster_cards`], `None` until the first one.
#[derive(Debug, Clone, Copy)]
pub struct ClusterCardsState(RwSignal<Option<Result<Vec<ClusterCard>, AppError>>>);

impl ClusterCardsState {
    /// Reads the cards after hydration and whenever `news` says a sync started or ended.
    pub fn follow(news: SyncNews) -> ClusterCardsState {
        let cards = RwSignal::new(None);
        Effect::new(move |_| {
            let revision = news.revision();
            leptos::task::spawn_local(async move {
                let answer = read_cluster_cards().await;
                if news.is_latest(revision) {
                    let _ = cards.try_set(Some(answer));
                }
            });
        });
        ClusterCardsState(cards)
    }

    fn card(&self, endpoint_id: i64) -> Option<Result<ClusterCard, AppError>> {
        self.0.with(|cards| match cards.as_ref()? {
            Ok(cards) => cards
                .iter()
                .find(|c| c.endpoint_id == endpoint_id)
                .cloned()
                .map(Ok),
            Err(e) => Some(Err(e.clone())),
        })
    }
}

#[component]
pub fn ClusterCards(
    endpoints: Vec<ProxmoxEndpointView>,
    cards: ClusterCardsState,
    /// Whether the viewer may open the endpoints' settings (admins only).
    can_configure: bool,
) -> impl IntoView {
    endpoints
        .into_iter()
        .map(|endpoint| {
            let id = endpoint.id;
            view! {
                <article class="card endpoint-card" data-testid="endpoint-card" data-endpoint=id
                    data-state=move || match cards.card(id) {
                        None => "loading",
                        Some(Ok(ClusterCard { inventory: Some(_), .. })) => "ready",
                        Some(Ok(ClusterCard { enabled: false, .. })) => "disabled",
                        Some(_) => "failed",
                    }>
                    <h2>{endpoint.name.clone()}</h2>
                    <p class="mono muted">{endpoint.url.clone()}</p>
                    {move || match cards.card(id) {
                        None if endpoint.enabled => view! { <p class="muted skeleton">"Reading the cluster…"</p> }.into_any(),
                        None | Some(Ok(ClusterCard { enabled: false, .. })) => view! {
                            <p><span class="badge">"disabled"</span>" not synced"</p>
                        }.into_any(),
                        Some(Ok(ClusterCard { inventory: Some(inventory), .. })) => view! { <Inventory inventory/> }.into_any(),
                        Some(Ok(ClusterCard { error, .. })) => {
                            let (message, suggestion) = error.unwrap_or_default();
                            view! { <CardProblem message suggestion/> }.into_any()
                        }
                        Some(Err(e)) => view! { <CardProblem message=e.to_string() suggestion=String::new()/> }.into_any(),
                    }}
                    <p class="card-links" data-testid="card-links">
                        <a href=format!("/virtual-machines?endpoint={id}")>"Guests"</a>
                        <a href="/backups">"Backups"</a>
                        <a href="/storage">"Storage"</a>
                        <a href=format!("/endpoints/proxmox/{id}")>"Nodes"</a>
                        {can_configure.then(|| view! { <a href=format!("/endpoints/proxmox/{id}/edit")>"Settings"</a> })}
                    </p>
                </article>
            }
        })
        .collect_view()
}

#[component]
fn Inventory(inventory: ClusterInventory) -> impl IntoView {
    let ClusterInventory {
        cluster,
        version,
        nodes,
        nodes_online,
        vms,
        containers,
        running,
        warnings,
    } = inventory;
    let count = |label: &'static str, key: &'static str, value: String| {
        view! { <div><dt>{label}</dt><dd data-testid=format!("card-{key}")>{value}</dd></div> }
    };
    view! {
        <p class="muted">
            <span data-testid="card-cluster">{cluster.unwrap_or_else(|| "single node".into())}</span>
            " · Proxmox VE "<span data-testid="card-version">{version}</span>
        </p>
        <dl class="counts">
            {count("Nodes", "nodes", if nodes_online == nodes { nodes.to_string() } else { format!("{nodes_online}/{nodes}") })}
            {count("VMs", "vms", vms.to_string())}
            {count("Containers", "containers", containers.to_string())}
            {count("Running", "running", running.to_string())}
        </dl>
        {(!warnings.is_empty()).then(|| view! {
            <ul class="warnings" data-testid="card-warnings">
                {warnings.into_iter().map(|w| view! { <li>{w}</li> }).collect_view()}
            </ul>
        })}
    }
}

#[component]
fn CardProblem(message: String, suggestion: String) -> impl IntoView {
    view! {
        <div class="alert alert-error" data-testid="card-error">
            <strong>{message}</strong>
            {(!suggestion.is_empty()).then(|| view! { <br/><span class="muted">{suggestion}</span> })}
        </div>
    }
}

/// NetBox: its address, and its version and latency from the keepalive check.
#[component]
pub fn NetboxCard(
    netbox: Option<NetboxEndpointView>,
    health: HealthState,
    can_configure: bool,
) -> impl IntoView {
    view! {
        <article class="card endpoint-card" data-testid="netbox-card">
            <h2>"NetBox"</h2>
            {match netbox {
                Some(nb) => view! {
                    <p class="mono muted">{nb.url}</p>
                    <p data-testid="netbox-state">
                        {move || match health.peer("netbox") {
                            None => view! { <span class="muted">"checking…"</span> }.into_any(),
                            Some(p) if p.ok => view! { <span class="badge badge-ok">{p.detail}</span> }.into_any(),
                            Some(p) => view! {
                                <span class="badge badge-error">"unreachable"</span>" "{p.detail}
                                <br/><span class="muted">{p.suggestion.unwrap_or_default()}</span>
                            }.into_any(),
                        }}
                    </p>
                    {can_configure.then(|| view! { <p><a href="/endpoints/netbox">"Settings"</a></p> })}
                }.into_any(),
                None if can_configure => view! { <p><a href="/endpoints/netbox">"Connect NetBox"</a>" to start syncing."</p> }.into_any(),
                None => view! { <p class="muted">"Not connected yet; an administrator connects NetBox."</p> }.into_any(),
            }}
        </article>
    }
}
