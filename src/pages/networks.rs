//! `/networks`: each endpoint's Proxmox SDN — zones, VNets, subnets — as Proxmox has it
//! now, each subnet with its NetBox prefix and how full NetBox counts it.

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use leptos_meta::Title;

use crate::components::layout::PageErrors;
use crate::error::AppError;
use crate::models::{EndpointNetworks, SubnetRow};
use crate::wire::JsonText;

#[server(endpoint = "networks", input = GetUrl, output = JsonText)]
pub async fn read_networks() -> Result<Vec<EndpointNetworks>, AppError> {
    let (state, _) = crate::server::web::context::require(crate::models::Permission::Read)?;
    crate::server::services::views::networks::networks(&state.services).await
}

#[component]
pub fn NetworksPage() -> impl IntoView {
    let networks = Resource::new(|| (), |_| read_networks());
    view! {
        <Title text="Networks"/>
        <h1>"Networks"</h1>
        <p class="muted">"Proxmox SDN as each cluster has it now; the networks sync writes it into NetBox's IPAM."</p>
        <PageErrors>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let endpoints = networks.await?;
                    Ok::<_, AppError>(endpoints.into_iter().map(|e| view! { <EndpointSdn endpoint=e/> }).collect_view())
                })}
            </Transition>
        </PageErrors>
    }
}

#[component]
fn EndpointSdn(endpoint: EndpointNetworks) -> impl IntoView {
    let empty = endpoint.zones.is_empty() && endpoint.problem.is_none();
    view! {
        <section class="card" data-testid="endpoint-networks" data-endpoint=endpoint.endpoint_id>
            <h2>{endpoint.endpoint.clone()}</h2>
            {endpoint.problem.clone().map(|p| view! { <p class="error" role="alert">{p}</p> })}
            {empty.then(|| view! { <p class="muted">"No SDN zone in this cluster."</p> })}
            {(!endpoint.zones.is_empty()).then(|| view! {
                <h3>"Zones"</h3>
                <div class="table-wrap">
                    <table class="table" data-testid="sdn-zones">
                        <thead><tr><th>"Zone"</th><th>"Type"</th><th>"In NetBox"</th></tr></thead>
                        <tbody>{endpoint.zones.iter().map(|z| view! {
                            <tr data-zone=z.zone.clone()><td class="mono">{z.zone.clone()}</td><td>{z.kind.clone()}</td>
                                <td>{z.netbox.clone().unwrap_or_else(|| "–".into())}</td></tr>
                        }).collect_view()}</tbody>
                    </table>
                </div>
                <h3>"VNets"</h3>
                <div class="table-wrap">
                    <table class="table" data-testid="sdn-vnets">
                        <thead><tr><th>"VNet"</th><th>"Zone"</th><th>"Tag"</th><th>"Alias"</th></tr></thead>
                        <tbody>{endpoint.vnets.iter().map(|v| view! {
                            <tr data-vnet=v.vnet.clone()><td class="mono">{v.vnet.clone()}</td><td>{v.zone.clone()}</td>
                                <td>{v.tag.map(|t| t.to_string()).unwrap_or_else(|| "–".into())}</td>
                                <td>{v.alias.clone().unwrap_or_default()}</td></tr>
                        }).collect_view()}</tbody>
                    </table>
                </div>
                <h3>"Subnets"</h3>
                <div class="table-wrap">
                    <table class="table" data-testid="sdn-subnets">
                        <thead><tr><th>"Subnet"</th><th>"VNet"</th><th>"Gateway"</th><th>"DHCP"</th><th>"NetBox prefix"</th></tr></thead>
                        <tbody>{endpoint.subnets.iter().cloned().map(|s| view! { <SubnetLine subnet=s/> }).collect_view()}</tbody>
                    </table>
                </div>
            })}
        </section>
    }
}

#[component]
fn SubnetLine(subnet: SubnetRow) -> impl IntoView {
    let prefix = match subnet.prefix {
        Some(p) => {
            let level = match p.utilisation {
                u if u >= 90.0 => "usage usage-critical",
                u if u >= 75.0 => "usage usage-high",
                _ => "usage",
            };
            view! {
                <a href=p.url data-testid="prefix-link">{format!("prefix {}", p.id)}</a>
                <div class=level role="meter" aria-valuemin="0" aria-valuemax="100" aria-valuenow=format!("{:.0}", p.utilisation)
                    aria-label=format!("{} used", subnet.cidr)>
                    <div class="usage-fill" style=format!("width: {:.1}%", p.utilisation.clamp(0.0, 100.0))></div>
                </div>
                <span class="muted small" data-testid="utilisation">{format!("{:.1} % used, as NetBox counts it", p.utilisation)}</span>
            }
            .into_any()
        }
        None => view! { <span class="muted">"not in NetBox yet"</span> }.into_any(),
    };
    view! {
        <tr data-subnet=subnet.cidr.clone()>
            <td class="mono">{subnet.cidr.clone()}</td>
            <td>{subnet.vnet.clone()}</td>
            <td class="mono">{subnet.gateway.clone().unwrap_or_else(|| "–".into())}</td>
            <td class="mono">{subnet.dhcp.join(", ")}</td>
            <td class="usage-cell">{prefix}</td>
        </tr>
    }
}
