//! `/endpoints/proxmox/{id}/permissions`, behind the endpoint page's "Check permissions":
//! what each stage can read with the endpoint's token and which privilege (on which path) it
//! lacks, and what the NetBox token may write — the table `proxbox doctor` prints.

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::detail::endpoint_id;
use crate::components::layout::PageErrors;
use crate::error::AppError;
use crate::models::{DoctorReport, NetboxCheck, ProxmoxCheck, StageReadiness};
use crate::wire::JsonText;

#[server(endpoint = "endpoint_permissions", input = GetUrl, output = JsonText)]
pub async fn read_endpoint_permissions(id: i64) -> Result<DoctorReport, AppError> {
    let (state, _) = crate::server::web::context::require(crate::models::Permission::Administer)?;
    state
        .db
        .proxmox_endpoint(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("Proxmox endpoint {id}")))?;
    Ok(crate::server::services::doctor::doctor(&state.db, &state.secrets, Some(id)).await?)
}

#[component]
pub fn EndpointPermissionsPage() -> impl IntoView {
    let params = use_params_map();
    let report = Resource::new(
        move || params.with(|p| p.get("id")),
        |raw| async move { read_endpoint_permissions(endpoint_id(raw)?).await },
    );
    view! {
        <PageErrors>
            <Transition fallback=|| view! { <p class="muted">"Checking…"</p> }>
                {move || Suspend::new(async move {
                    let report = report.await?;
                    Ok::<_, AppError>(view! { <Report report/> })
                })}
            </Transition>
        </PageErrors>
    }
}

#[component]
fn Report(report: DoctorReport) -> impl IntoView {
    let blocked = report.blocks_a_full_update();
    let title = report.proxmox.first().map_or_else(
        || "Permissions".to_string(),
        |p| format!("Permissions of {}", p.endpoint),
    );
    view! {
        <Title text=title.clone()/>
        <div class="page-head"><h1>{title}</h1></div>
        {if blocked {
            view! { <div class="alert alert-error" role="alert" data-testid="doctor-verdict">"Some stage of a full update cannot run: grant what the table names, then check again."</div> }.into_any()
        } else {
            view! { <div class="alert alert-ok" data-testid="doctor-verdict">"Every stage of a full update can run."</div> }.into_any()
        }}
        {report.proxmox.into_iter().map(|p| view! { <ProxmoxTable check=p/> }).collect_view()}
        {report.netbox.map(|n| view! { <NetboxTable check=n/> })}
    }
}

#[component]
fn ProxmoxTable(check: ProxmoxCheck) -> impl IntoView {
    view! {
        <h2>{format!("Proxmox {} — {}", check.version.map_or_else(|| "version unknown".into(), |v| format!("PVE {v}")), check.login)}</h2>
        {check.problem.map(|problem| view! { <div class="alert alert-error" role="alert" data-testid="doctor-problem">{problem}</div> })}
        {(!check.stages.is_empty()).then(|| view! {
            <div class="table-wrap">
                <table class="table" data-testid="doctor-stages">
                    <thead><tr><th>"Stage"</th><th>"Can run"</th><th>"Missing"</th></tr></thead>
                    <tbody>
                        {check.stages.into_iter().map(|stage| {
                            let badge = match stage.readiness {
                                StageReadiness::Ready => "badge badge-ok",
                                StageReadiness::Partial => "badge badge-warn",
                                StageReadiness::Blocked => "badge badge-error",
                            };
                            view! {
                                <tr data-testid="doctor-stage" data-stage=stage.stage.clone()>
                                    <td>{stage.stage.clone()}</td>
                                    <td><span class=badge>{stage.readiness.word()}</span></td>
                                    <td>{stage.missing.iter().map(|m| view! { <div class="mono small">{m.line()}</div> }).collect_view()}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        })}
    }
}

#[component]
fn NetboxTable(check: NetboxCheck) -> impl IntoView {
    let refused: Vec<_> = check
        .models
        .iter()
        .filter(|m| !m.add || !m.change)
        .cloned()
        .collect();
    view! {
        <h2>{format!("NetBox {}", check.version.clone().unwrap_or_else(|| "version unknown".into()))}</h2>
        {check.problem.map(|problem| view! { <div class="alert alert-error" role="alert">{problem}</div> })}
        <div class="table-wrap">
            <table class="table" data-testid="doctor-netbox">
                <tbody>
                    {check.features.into_iter().map(|f| view! {
                        <tr><td>{f.name}</td><td>{if f.available { "yes" } else { "no" }}</td><td class="small">{f.note}</td></tr>
                    }).collect_view()}
                    {refused.into_iter().map(|m| {
                        let mut may_not = Vec::new();
                        if !m.add { may_not.push("add"); }
                        if !m.change { may_not.push("change"); }
                        view! {
                            <tr data-testid="doctor-refused"><td class="mono">{m.model}</td><td>{format!("may not {}", may_not.join(" or "))}</td><td class="small">{format!("needed by {}", m.stages.join(", "))}</td></tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
