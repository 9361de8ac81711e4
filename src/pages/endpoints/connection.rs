//! "Test connection": log in to an endpoint with its stored settings and say what was
//! reached, or what failed and how to fix it.

use leptos::prelude::*;

use crate::components::session::CsrfField;
use crate::error::AppError;
use crate::models::ConnectionReport;

#[server(endpoint = "test_proxmox_endpoint")]
pub async fn test_proxmox_endpoint(
    #[server(default)] csrf: String,
    id: i64,
) -> Result<ConnectionReport, AppError> {
    let _ = csrf; // checked by the middleware before any server function runs
    let (state, _) = crate::server::context::require_user()?;
    let row = state
        .db
        .proxmox_endpoint(id)
        .await
        .map_err(crate::server::auth::internal)?
        .ok_or_else(|| AppError::NotFound(format!("Proxmox endpoint {id}")))?;
    Ok(crate::server::peers::test_proxmox(&row, &state.secrets).await)
}

#[server(endpoint = "test_netbox_endpoint")]
pub async fn test_netbox_endpoint(
    #[server(default)] csrf: String,
) -> Result<ConnectionReport, AppError> {
    let _ = csrf; // checked by the middleware before any server function runs
    let (state, _) = crate::server::context::require_user()?;
    let row = state
        .db
        .netbox_endpoint()
        .await
        .map_err(crate::server::auth::internal)?
        .ok_or_else(|| AppError::NotFound("the NetBox endpoint".into()))?;
    Ok(crate::server::peers::test_netbox(&row, &state.secrets).await)
}

/// The outcome of a test: green with what was reached, or red with the fix.
#[component]
fn ReportView(
    report: Signal<Option<Result<ConnectionReport, AppError>>>,
    testid: String,
) -> impl IntoView {
    move || {
        report.get().map(|result| match result {
            Ok(r) if r.ok => view! { <span class="test-result badge badge-ok" data-testid=testid.clone()>{r.summary}</span> }.into_any(),
            Ok(r) => view! {
                <span class="test-result test-failed" data-testid=testid.clone()>
                    <span class="badge badge-error">{r.category.unwrap_or_default()}</span>" "{r.summary}
                    <span class="help">{r.suggestion.unwrap_or_default()}</span>
                </span>
            }
            .into_any(),
            Err(e) => view! { <span class="test-result badge badge-error" data-testid=testid.clone()>{e.to_string()}</span> }.into_any(),
        })
    }
}

#[component]
pub fn TestProxmoxButton(id: i64, name: String) -> impl IntoView {
    let test = ServerAction::<TestProxmoxEndpoint>::new();
    let report = Signal::derive(move || test.value().get());
    view! {
        <ActionForm action=test>
            <CsrfField/>
            <input type="hidden" name="id" value=id/>
            <button type="submit" class="btn btn-small" aria-label=format!("Test {name}") disabled=move || test.pending().get()>
                {move || if test.pending().get() { "Testing…" } else { "Test" }}
            </button>
        </ActionForm>
        <ReportView report testid=format!("test-result-{id}")/>
    }
}

#[component]
pub fn TestNetboxButton() -> impl IntoView {
    let test = ServerAction::<TestNetboxEndpoint>::new();
    let report = Signal::derive(move || test.value().get());
    view! {
        <ActionForm action=test>
            <CsrfField/>
            <button type="submit" class="btn" disabled=move || test.pending().get()>
                {move || if test.pending().get() { "Testing…" } else { "Test connection" }}
            </button>
        </ActionForm>
        <ReportView report testid="test-result-netbox".to_string()/>
    }
}
