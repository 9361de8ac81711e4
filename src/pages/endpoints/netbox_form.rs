//! `/endpoints/netbox`: the NetBox that Proxbox writes into.

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;

use crate::components::form::{
    field_errors_of, in_form, posted_error, save_then_go, submit_to, ActionError, CheckboxField,
    TextAreaField, TextField,
};
use crate::components::layout::PageErrors;
use crate::components::session::{csrf_token, CsrfField};
use crate::error::AppError;
use crate::models::{NetboxEndpointForm, NetboxEndpointView, NETBOX_DEFAULT_TIMEOUT_SECS};
use crate::wire::JsonText;

#[server(endpoint = "netbox_endpoint", input = GetUrl, output = JsonText)]
pub async fn get_netbox_endpoint() -> Result<Option<NetboxEndpointView>, AppError> {
    let (state, _) = crate::server::web::context::require(crate::models::Permission::Administer)?;
    Ok(state.db.netbox_endpoint().await?.map(|row| row.view()))
}

#[server(endpoint = "save_netbox_endpoint", output = JsonText)]
pub async fn save_netbox_endpoint(
    #[server(default)] csrf: String,
    form: NetboxEndpointForm,
) -> Result<(), AppError> {
    let _ = csrf; // checked by the middleware before any server function runs
    let (state, user) =
        crate::server::web::context::require(crate::models::Permission::Administer)?;
    let stored = state.db.netbox_endpoint().await?;
    crate::models::declared_in(stored.as_ref().and_then(|row| row.managed_by.as_deref()))?;
    let has_token = stored.is_some_and(|row| row.keeps_token_for(&form));
    let input = form.validate(has_token)?;
    state
        .db
        .save_netbox_endpoint(&input, &state.secrets)
        .await
        .map_err(AppError::internal)?;
    tracing::info!(by = %user.name, url = %input.url, "saved the NetBox endpoint");
    leptos_axum::redirect("/endpoints");
    Ok(())
}

#[component]
pub fn NetboxEndpointPage() -> impl IntoView {
    let endpoint = Resource::new(|| (), |_| get_netbox_endpoint());
    view! {
        <Title text="NetBox endpoint"/>
        <div class="page-header">
            <h1>"NetBox endpoint"</h1>
            <a class="btn" href="/endpoints">"Back to endpoints"</a>
        </div>
        <PageErrors>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let existing = endpoint.await?;
                    Ok::<_, AppError>(view! { <NetboxEndpointEditor existing csrf=csrf_token() posted={posted_error::<SaveNetboxEndpoint>()}/> })
                })}
            </Transition>
        </PageErrors>
    }
}

/// An island, so that bad input comes back beside the fields it was typed in.
#[component]
fn NetboxEndpointEditor(
    existing: Option<NetboxEndpointView>,
    csrf: String,
    /// The error of a plain post of this form, if the page comes from one.
    posted: Option<AppError>,
) -> impl IntoView {
    let csrf_field = csrf.clone();
    let save = save_then_go("/endpoints".into(), posted, move |form| {
        save_netbox_endpoint(csrf.clone(), form)
    });
    let errors = field_errors_of(save.value());
    let form = existing
        .as_ref()
        .map(NetboxEndpointView::to_form)
        .unwrap_or_else(|| NetboxEndpointForm {
            verify_tls: Some("on".into()),
            timeout_secs: NETBOX_DEFAULT_TIMEOUT_SECS.to_string(),
            ..Default::default()
        });
    let token_hint = if existing.is_some() {
        "Stored (encrypted). Leave blank to keep it — unless the URL or the TLS settings change."
    } else {
        "A token with write permission: nbt_<key>.<secret> (NetBox 4.5+) or a 40-character v1 token."
    };
    view! {
        <section class="card form-card">
            <ActionError value=save.value()/>
            <form method="post" action=SaveNetboxEndpoint::url()
                on:submit=submit_to(save, |field| NetboxEndpointForm::from_fields(|name| in_form(field, name)))>
                <CsrfField token=csrf_field/>
                <TextField label="URL" name="form[url]" field="url" value=form.url.clone() errors
                    placeholder="https://netbox.example.com"/>
                <TextField label="API token" name="form[token]" field="token" value="" errors
                    input_type="password" autocomplete="new-password" help=token_hint/>
                <CheckboxField label="Verify the TLS certificate" name="form[verify_tls]" checked=form.verify_tls.is_some()/>
                <TextAreaField label="Custom CA (PEM)" name="form[ca_pem]" field="ca_pem" value=form.ca_pem.clone() errors/>
                <TextField label="Request timeout (seconds)" name="form[timeout_secs]" field="timeout_secs"
                    value=form.timeout_secs.clone() errors input_type="number"/>
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" disabled=move || save.pending().get()>"Save"</button>
                </div>
            </form>
        </section>
    }
}
