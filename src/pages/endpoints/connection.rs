//! "Test connection": log in to an endpoint with its stored settings and say what was
//! reached, or what failed and how to fix it.

use leptos::prelude::*;

use crate::components::form::once_hydrated;
use crate::error::AppError;
use crate::models::ConnectionReport;
use crate::wire::JsonText;

#[server(endpoint = "test_proxmox_endpoint", output = JsonText)]
pub async fn test_proxmox_endpoint(
    #[server(default)] csrf: String,
    id: i64,
) -> Result<ConnectionReport, AppError> {
    let _ = csrf; // checked by the middleware before any server function runs
    let (state, _) = crate::server::web::context::require(crate::models::Permission::Administer)?;
    let row = state
        .db
        .proxmox_endpoint(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("Proxmox endpoint {id}")))?;
    Ok(crate::server::services::peers::test_proxmox(&row, &state.secrets).await)
}

#[server(endpoint = "test_netbox_endpoint", output = JsonText)]
pub async fn test_netbox_endpoint(
    #[server(default)] csrf: String,
) -> Result<ConnectionReport, AppError> {
    let _ = csrf; // checked by the middleware before any server function runs
    let (state, _) = crate::server::web::context::require(crate::models::Permission::Administer)?;
    let row = state
        .db
        .netbox_endpoint()
        .await?
        .ok_or_else(|| AppError::NotFound("the NetBox endpoint".into()))?;
    Ok(crate::server::services::peers::test_netbox(&row, &state.secrets).await)
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

/// An island: the report is the answer of a call, which a plain form post could not
/// show (the server would send the browser back to the list without it).
#[island]
pub fn TestProxmoxButton(id: i64, name: String, csrf: String) -> impl IntoView {
    let test = Action::new(move |_: &()| test_proxmox_endpoint(csrf.clone(), id));
    view! {
        <TestButton pending=test.pending() class="btn btn-small" label="Test" aria_label=format!("Test {name}") on_click=move || { test.dispatch(()); }/>
        <ReportView report=test.value().into() testid=format!("test-result-{id}")/>
    }
}

#[island]
pub fn TestNetboxButton(csrf: String) -> impl IntoView {
    let test = Action::new(move |_: &()| test_netbox_endpoint(csrf.clone()));
    view! {
        <TestButton pending=test.pending() class="btn" label="Test connection" aria_label="Test connection".to_string() on_click=move || { test.dispatch(()); }/>
        <ReportView report=test.value().into() testid="test-result-netbox".to_string()/>
    }
}

/// Disabled until hydrated: it does nothing without JavaScript.
#[component]
fn TestButton(
    pending: Memo<bool>,
    class: &'static str,
    label: &'static str,
    aria_label: String,
    on_click: impl Fn() + Send + Sync + 'static,
) -> impl IntoView {
    let hydrated = once_hydrated();
    view! {
        <button type="button" class=class aria-label=aria_label
            disabled=move || !hydrated.get() || pending.get() on:click=move |_| on_click()>
            {move || if pending.get() { "Testing…" } else { label }}
        </button>
    }
}
