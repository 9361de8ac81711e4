//! `/endpoints`: the Proxmox endpoints and the NetBox endpoint.

pub mod changes;
pub mod connection;
pub mod detail;
pub mod netbox_form;
pub mod node;
pub mod permissions;
pub mod proxmox_form;

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use leptos_meta::Title;

use crate::components::form::ActionError;
use crate::components::layout::PageErrors;
use crate::components::session::{csrf_token, page_allows, CsrfField};
use crate::error::AppError;
use crate::models::{EndpointsOverview, Permission, ProxmoxAuthKind};
use crate::wire::JsonText;
use connection::{TestNetboxButton, TestProxmoxButton};

#[server(endpoint = "endpoints", input = GetUrl, output = JsonText)]
pub async fn list_endpoints() -> Result<EndpointsOverview, AppError> {
    let (state, _) = crate::server::web::context::require(crate::models::Permission::Read)?;
    load_overview(&state).await
}

/// Every endpoint as the pages show them (no secrets).
#[cfg(feature = "ssr")]
pub async fn load_overview(
    state: &crate::server::web::state::AppState,
) -> Result<EndpointsOverview, AppError> {
    let proxmox = state
        .db
        .proxmox_endpoints()
        .await?
        .iter()
        .map(|row| row.view())
        .collect();
    let netbox = state.db.netbox_endpoint().await?.map(|row| row.view());
    Ok(EndpointsOverview { proxmox, netbox })
}

#[server(endpoint = "delete_proxmox_endpoint", output = JsonText)]
pub async fn delete_proxmox_endpoint(
    #[server(default)] csrf: String,
    id: i64,
) -> Result<(), AppError> {
    let _ = csrf; // checked by the middleware before any server function runs
    let (state, user) =
        crate::server::web::context::require(crate::models::Permission::Administer)?;
    let row = state.db.proxmox_endpoint(id).await?;
    crate::models::declared_in(row.as_ref().and_then(|row| row.managed_by.as_deref()))?;
    if !state.db.delete_proxmox_endpoint(id).await? {
        return Err(AppError::NotFound(format!("Proxmox endpoint {id}")));
    }
    tracing::info!(by = %user.name, endpoint = id, "deleted Proxmox endpoint");
    leptos_axum::redirect("/endpoints");
    Ok(())
}

#[server(endpoint = "delete_netbox_endpoint", output = JsonText)]
pub async fn delete_netbox_endpoint(#[server(default)] csrf: String) -> Result<(), AppError> {
    let _ = csrf; // checked by the middleware before any server function runs
    let (state, user) =
        crate::server::web::context::require(crate::models::Permission::Administer)?;
    let row = state.db.netbox_endpoint().await?;
    crate::models::declared_in(row.as_ref().and_then(|row| row.managed_by.as_deref()))?;
    state.db.delete_netbox_endpoint().await?;
    tracing::info!(by = %user.name, "deleted the NetBox endpoint");
    leptos_axum::redirect("/endpoints");
    Ok(())
}

#[component]
pub fn EndpointsPage() -> impl IntoView {
    let delete_proxmox = ServerAction::<DeleteProxmoxEndpoint>::new();
    let delete_netbox = ServerAction::<DeleteNetboxEndpoint>::new();
    // Plain forms: a delete answers with this page again, or with the error in its address
    // for these actions to show.
    let overview = Resource::new(|| (), |_| list_endpoints());
    view! {
        <Title text="Endpoints"/>
        <div class="page-header">
            <h1>"Endpoints"</h1>
            {page_allows(Permission::Administer).then(|| view! {
                <a class="btn btn-primary" href="/endpoints/proxmox/new">"Add Proxmox endpoint"</a>
            })}
        </div>
        <ActionError value=delete_proxmox.value()/>
        <ActionError value=delete_netbox.value()/>
        <PageErrors>
            <Transition fallback=|| view! { <p class="muted">"Loading endpoints…"</p> }>
                {move || Suspend::new(async move {
                    let overview = overview.await?;
                    Ok::<_, AppError>(view! {
                        <ProxmoxTable endpoints=overview.proxmox delete=delete_proxmox/>
                        <NetboxSection netbox=overview.netbox delete=delete_netbox/>
                    })
                })}
            </Transition>
        </PageErrors>
    }
}

#[component]
fn ProxmoxTable(
    endpoints: Vec<crate::models::ProxmoxEndpointView>,
    delete: ServerAction<DeleteProxmoxEndpoint>,
) -> impl IntoView {
    let may_configure = page_allows(Permission::Administer);
    if endpoints.is_empty() {
        return view! {
            <section class="card empty" data-testid="no-proxmox-endpoints">
                <h2>"Proxmox VE"</h2>
                <p>"No Proxmox endpoint yet. Add one to start syncing its nodes and guests into NetBox."</p>
            </section>
        }
        .into_any();
    }
    view! {
        <section class="card">
            <h2>"Proxmox VE"</h2>
            <div class="table-wrap">
                <table class="table brief" data-testid="proxmox-endpoints">
                    <thead>
                        <tr><th>"Name"</th><th>"URL"</th><th>"Login"</th><th>"TLS"</th><th>"Timeout"</th><th>"Status"</th><th></th></tr>
                    </thead>
                    <tbody>
                        {endpoints.into_iter().map(|e| {
                            let login = match e.auth_kind {
                                ProxmoxAuthKind::Token => format!("token {}", e.token_id),
                                ProxmoxAuthKind::Password => format!("user {}", e.username),
                            };
                            let tls = match (e.verify_tls, e.ca_pem.is_empty()) {
                                (false, _) => "not verified",
                                (true, true) => "verified",
                                (true, false) => "verified (custom CA)",
                            };
                            view! {
                                <tr>
                                    <td><a href=format!("/endpoints/proxmox/{}", e.id)>{e.name.clone()}</a></td>
                                    <td class="mono">{e.url.clone()}</td>
                                    <td class="mono">{login}</td>
                                    <td><span class="badge" class:badge-warn=!e.verify_tls>{tls}</span></td>
                                    <td>{format!("{} s", e.timeout_secs)}</td>
                                    <td>
                                        {if e.enabled {
                                            view! { <span class="badge badge-ok">"enabled"</span> }
                                        } else {
                                            view! { <span class="badge">"disabled"</span> }
                                        }}
                                        " "<ManagedBy file=e.managed_by.clone()/>
                                    </td>
                                    <td class="actions" hidden=!may_configure>
                                        {may_configure.then(|| view! {
                                        <TestProxmoxButton id=e.id name=e.name.clone() csrf=csrf_token()/>
                                        // Declared in a file: changed there, not here.
                                        {e.managed_by.is_none().then(|| view! {
                                        <a class="btn btn-small" href=format!("/endpoints/proxmox/{}/edit", e.id)>"Edit"</a>
                                        <ActionForm action=delete>
                                            <CsrfField/>
                                            <input type="hidden" name="id" value=e.id/>
                                            <button type="submit" class="btn btn-small btn-danger" aria-label=format!("Delete {}", e.name)>
                                                "Delete"
                                            </button>
                                        </ActionForm>
                                        })}
                                        })}
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
    .into_any()
}

/// An endpoint a configuration file declares: its path, and where to change it.
#[component]
fn ManagedBy(file: Option<String>) -> impl IntoView {
    file.map(|file| {
        view! {
            <span class="badge" data-testid="managed-by" title="Change it in the file, then run `proxbox config apply` (or restart)">
                {format!("managed by {file}")}
            </span>
        }
    })
}

#[component]
fn NetboxSection(
    netbox: Option<crate::models::NetboxEndpointView>,
    delete: ServerAction<DeleteNetboxEndpoint>,
) -> impl IntoView {
    view! {
        <section class="card" data-testid="netbox-endpoint">
            <h2>"NetBox"</h2>
            {match netbox {
                None => view! {
                    <p>"NetBox is not configured yet: Proxbox needs its URL and an API token with write access."</p>
                    {page_allows(Permission::Administer).then(|| view! {
                        <a class="btn btn-primary" href="/endpoints/netbox">"Configure NetBox"</a>
                    })}
                }.into_any(),
                Some(nb) => view! {
                    <dl class="facts">
                        <dt>"URL"</dt><dd class="mono">{nb.url}</dd>
                        <dt>"Token"</dt><dd>{if nb.has_token { "stored (encrypted)" } else { "missing" }}</dd>
                        <dt>"TLS"</dt><dd>{if nb.verify_tls { "verified" } else { "not verified" }}</dd>
                        <dt>"Timeout"</dt><dd>{format!("{} s", nb.timeout_secs)}</dd>
                        {nb.managed_by.is_some().then(|| view! { <dt>"Declared in"</dt><dd><ManagedBy file=nb.managed_by.clone()/></dd> })}
                    </dl>
                    <div class="actions" hidden=!page_allows(Permission::Administer)>
                        {page_allows(Permission::Administer).then(|| view! {
                        <TestNetboxButton csrf=csrf_token()/>
                        {nb.managed_by.is_none().then(|| view! {
                        <a class="btn" href="/endpoints/netbox">"Edit"</a>
                        <ActionForm action=delete>
                            <CsrfField/>
                            <button type="submit" class="btn btn-danger">"Remove"</button>
                        </ActionForm>
                        })}
                        })}
                    </div>
                }.into_any(),
            }}
        </section>
    }
}
