//! `/endpoints/proxmox/{id}/nodes/{node}`: one node — its state and load, the guests on it,
//! its network interfaces and storages — with "Sync this node" (its device and interfaces
//! in NetBox, nothing else).

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::detail::{cpu_text, endpoint_id, memory_text, PeerProblem};
use crate::components::layout::PageErrors;
use crate::components::session::{csrf_token, page_allows};
use crate::components::sync_overlay::SyncOneButton;
use crate::components::units::format_bytes;
use crate::error::AppError;
use crate::models::{format_uptime, used_percent, NodeDetail, Permission};
use crate::wire::JsonText;

#[server(endpoint = "node_detail", input = GetUrl, output = JsonText)]
pub async fn read_node_detail(id: i64, node: String) -> Result<NodeDetail, AppError> {
    let (state, _) = crate::server::web::context::require(crate::models::Permission::Read)?;
    crate::server::services::views::clusters::node_detail(&state, id, &node).await
}

#[component]
pub fn NodePage() -> impl IntoView {
    let params = use_params_map();
    let detail = Resource::new(
        move || params.with(|p| (p.get("id"), p.get("node").unwrap_or_default())),
        |(raw, node)| async move { read_node_detail(endpoint_id(raw)?, node).await },
    );
    view! {
        <PageErrors>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let detail = detail.await?;
                    Ok::<_, AppError>(view! { <Node detail/> })
                })}
            </Transition>
        </PageErrors>
    }
}

#[component]
fn Node(detail: NodeDetail) -> impl IntoView {
    let node = detail.node.clone();
    let (id, name) = (detail.endpoint_id, node.name.clone());
    let page = format!("/endpoints/proxmox/{id}/nodes/{name}");
    view! {
        <Title text=name.clone()/>
        <p class="muted"><a href=format!("/endpoints/proxmox/{id}")>{detail.endpoint.clone()}</a>" / node"</p>
        <div class="page-head">
            <h1>{name.clone()}" "{if node.online {
                view! { <span class="badge badge-ok">"online"</span> }.into_any()
            } else {
                view! { <span class="badge badge-error">"offline"</span> }.into_any()
            }}</h1>
            <div class="actions">
                {page_allows(Permission::RunSyncs).then(|| view! {
                    <SyncOneButton action=format!("{page}/sync") label="Sync this node".to_string()
                        testid="sync-node".to_string() endpoint=id node=name.clone()
                        back=page.clone() csrf=csrf_token()/>
                })}
            </div>
        </div>
        <dl class="facts">
            <dt>"Address"</dt><dd class="mono">{node.ip.clone().unwrap_or_else(|| "–".into())}</dd>
            <dt>"CPU"</dt><dd>{cpu_text(&node)}</dd>
            <dt>"Memory"</dt><dd>{memory_text(&node)}</dd>
            <dt>"Uptime"</dt><dd>{node.uptime.map(format_uptime).unwrap_or_else(|| "–".into())}</dd>
        </dl>
        {detail.error.clone().map(|problem| view! { <PeerProblem problem/> })}
        <section class="card" data-testid="node-guests">
            <h2>{format!("Guests ({})", detail.guests.len())}</h2>
            {if detail.guests.is_empty() {
                view! { <p class="muted">"No guest of this node synced yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="guest-list">
                        {detail.guests.iter().map(|row| {
                            let g = &row.guest;
                            view! {
                                <li data-testid="node-guest" data-vmid=g.vmid>
                                    <a href=format!("/virtual-machines/{}", g.netbox_id)>{g.name.clone()}</a>
                                    <span class="muted">{format!(" {} · {} · {}", g.vmid, g.kind, g.status)}</span>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
        <section class="card" data-testid="node-interfaces">
            <h2>{format!("Interfaces ({})", detail.interfaces.len())}</h2>
            <div class="table-wrap">
                <table class="table">
                    <thead><tr><th>"Name"</th><th>"Type"</th><th>"Addresses"</th><th>"Ports / members"</th></tr></thead>
                    <tbody>
                        {detail.interfaces.iter().map(|i| view! {
                            <tr data-testid="interface-row">
                                <td class="mono">{i.name.clone()}{(!i.active).then(|| view! { " "<span class="badge">"down"</span> })}</td>
                                <td>{i.kind.clone()}</td>
                                <td class="mono">{i.addresses.join(", ")}</td>
                                <td class="mono">{i.members.clone().unwrap_or_default()}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
        <section class="card" data-testid="node-storage">
            <h2>{format!("Storage ({})", detail.storages.len())}</h2>
            <ul class="guest-list">
                {detail.storages.iter().map(|s| view! {
                    <li>
                        <span class="mono">{s.storage.clone()}</span>
                        <span class="muted">{format!(" {} · {}", s.kind, s.content.join(", "))}</span>
                        {used_percent(s).map(|p| view! {
                            <span class="muted">{format!(" · {} of {} ({p:.0} %)",
                                s.used.map(format_bytes).unwrap_or_default(),
                                s.total.map(format_bytes).unwrap_or_default())}</span>
                        })}
                    </li>
                }).collect_view()}
            </ul>
            <p><a href="/storage">"All storage"</a></p>
        </section>
    }
}
