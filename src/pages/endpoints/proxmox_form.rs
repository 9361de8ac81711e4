//! `/endpoints/proxmox/new` and `/endpoints/proxmox/{id}/edit`: add or edit a Proxmox endpoint.

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::components::form::{
    field_errors_of, in_form, once_hydrated, posted_error, save_then_go, submit_to, ActionError,
    CheckboxField, TextAreaField, TextField,
};
use crate::components::layout::PageErrors;
use crate::components::session::{csrf_token, CsrfField};
use crate::error::AppError;
use crate::models::{ProxmoxEndpointForm, ProxmoxEndpointView, PROXMOX_DEFAULT_TIMEOUT_SECS};
use crate::wire::JsonText;

#[server(endpoint = "proxmox_endpoint", input = GetUrl, output = JsonText)]
pub async fn get_proxmox_endpoint(id: i64) -> Result<ProxmoxEndpointView, AppError> {
    let (state, _) = crate::server::context::require_user()?;
    let row = state
        .db
        .proxmox_endpoint(id)
        .await
        .map_err(crate::server::auth::internal)?;
    row.map(|r| r.view())
        .ok_or_else(|| AppError::NotFound(format!("Proxmox endpoint {id}")))
}

/// Creates (`id` absent) or updates an endpoint. Bad input saves nothing and returns a
/// message per field; a blank secret keeps the stored one.
#[server(endpoint = "save_proxmox_endpoint", output = JsonText)]
pub async fn save_proxmox_endpoint(
    #[server(default)] csrf: String,
    id: Option<i64>,
    form: ProxmoxEndpointForm,
) -> Result<i64, AppError> {
    use crate::server::auth::internal;
    use crate::server::db::endpoints::SaveError;
    let _ = csrf; // checked by the middleware before any server function runs
    let (state, user) = crate::server::context::require_user()?;
    let existing = match id {
        Some(id) => Some(
            state
                .db
                .proxmox_endpoint(id)
                .await
                .map_err(internal)?
                .ok_or_else(|| AppError::NotFound(format!("Proxmox endpoint {id}")))?,
        ),
        None => None,
    };
    let has_stored_secret = existing
        .as_ref()
        .is_some_and(|row| row.keeps_secret_for(&form));
    let input = form.validate(has_stored_secret)?;
    let result = match id {
        Some(id) => state
            .db
            .update_proxmox_endpoint(id, &input, &state.secrets)
            .await
            .map(|()| id),
        None => {
            state
                .db
                .insert_proxmox_endpoint(&input, &state.secrets)
                .await
        }
    };
    let saved_id = match result {
        Ok(id) => id,
        Err(SaveError::DuplicateName) => {
            let mut errors = crate::validation::FieldErrors::default();
            errors.add(
                "name",
                format!(
                    "An endpoint named {:?} already exists; choose another name.",
                    input.name
                ),
            );
            return Err(errors.into());
        }
        Err(SaveError::NotFound) => return Err(AppError::NotFound("the Proxmox endpoint".into())),
        Err(SaveError::Db(e)) => return Err(internal(e)),
    };
    tracing::info!(by = %user.name, endpoint = saved_id, name = %input.name, "saved Proxmox endpoint");
    leptos_axum::redirect("/endpoints");
    Ok(saved_id)
}

#[component]
pub fn ProxmoxEndpointPage() -> impl IntoView {
    let params = use_params_map();
    // `None`: a new endpoint; `Some(Err)`: an id that is not a number.
    let id = move || params.with(|p| p.get("id").map(|raw| raw.parse::<i64>().map_err(|_| raw)));
    let endpoint = Resource::new(id, |id| async move {
        match id {
            None => Ok(None),
            Some(Ok(id)) => get_proxmox_endpoint(id).await.map(Some),
            Some(Err(raw)) => Err(AppError::NotFound(format!("Proxmox endpoint {raw:?}"))),
        }
    });
    view! {
        <PageErrors>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let existing = endpoint.await?;
                    let title = existing
                        .as_ref()
                        .map_or("Add Proxmox endpoint".to_string(), |e| format!("Edit {}", e.name));
                    Ok::<_, AppError>(view! {
                        <Title text=title.clone()/>
                        <div class="page-header">
                            <h1>{title}</h1>
                            <a class="btn" href="/endpoints">"Back to endpoints"</a>
                        </div>
                        <ProxmoxEndpointEditor existing csrf=csrf_token() posted={posted_error::<SaveProxmoxEndpoint>()}/>
                    })
                })}
            </Transition>
        </PageErrors>
    }
}

/// An island: bad input comes back beside the fields it was typed in, and the login kind
/// shows its own credential fields.
#[island]
fn ProxmoxEndpointEditor(
    existing: Option<ProxmoxEndpointView>,
    csrf: String,
    /// The error of a plain post of this form, if the page comes from one.
    posted: Option<AppError>,
) -> impl IntoView {
    let csrf_field = csrf.clone();
    let id = existing.as_ref().map(|e| e.id);
    let save = save_then_go("/endpoints".into(), posted, move |form| {
        save_proxmox_endpoint(csrf.clone(), id, form)
    });
    let errors = field_errors_of(save.value());
    let form = existing
        .as_ref()
        .map(ProxmoxEndpointView::to_form)
        .unwrap_or_else(|| ProxmoxEndpointForm {
            auth_kind: "token".into(),
            verify_tls: Some("on".into()),
            enabled: Some("on".into()),
            timeout_secs: PROXMOX_DEFAULT_TIMEOUT_SECS.to_string(),
            ..Default::default()
        });
    let has_secret = existing.as_ref().is_some_and(|e| e.has_secret);

    // Without JavaScript both credential groups show and the server uses the chosen one;
    // once hydrated, only the chosen group shows.
    let auth_kind = RwSignal::new(form.auth_kind.clone());
    let hydrated = once_hydrated();
    let hide_group = move |kind: &'static str| move || hydrated.get() && auth_kind.get() != kind;
    let secret_hint = if has_secret {
        "Stored (encrypted). Leave blank to keep it — unless the URL or login changes."
    } else {
        ""
    };

    view! {
        <section class="card form-card">
            <ActionError value=save.value()/>
            <form method="post" action=SaveProxmoxEndpoint::url()
                on:submit=submit_to(save, |field| ProxmoxEndpointForm::from_fields(|name| in_form(field, name)))>
                <CsrfField token=csrf_field/>
                {id.map(|id| view! { <input type="hidden" name="id" value=id/> })}
                <TextField label="Name" name="form[name]" field="name" value=form.name.clone() errors
                    placeholder="pve-cluster-1" help="How this cluster is called in Proxbox."/>
                <TextField label="URL" name="form[url]" field="url" value=form.url.clone() errors
                    placeholder="https://pve1.example.com:8006" help="Any node of the cluster, with the API port (8006)."/>
                <div class="field">
                    <label for="field-auth_kind">"Log in with"</label>
                    <select id="field-auth_kind" name="form[auth_kind]" on:change=move |ev| auth_kind.set(event_target_value(&ev))>
                        <option value="token" selected=form.auth_kind == "token">"API token (recommended)"</option>
                        <option value="password" selected=form.auth_kind == "password">"User and password"</option>
                    </select>
                </div>
                <fieldset class="auth-group" data-testid="token-fields" hidden=hide_group("token")>
                    <legend>"API token"</legend>
                    <TextField label="Token ID" name="form[token_id]" field="token_id" value=form.token_id.clone() errors
                        placeholder="root@pam!proxbox" help="user@realm!tokenname; pasting the whole token (…=secret) also works."/>
                    <TextField label="Token secret" name="form[token_secret]" field="token_secret" value="" errors
                        input_type="password" autocomplete="new-password" help=secret_hint/>
                </fieldset>
                <fieldset class="auth-group" data-testid="password-fields" hidden=hide_group("password")>
                    <legend>"User and password"</legend>
                    <TextField label="User" name="form[username]" field="username" value=form.username.clone() errors
                        placeholder="root@pam"/>
                    <TextField label="Password" name="form[password]" field="password" value="" errors
                        input_type="password" autocomplete="new-password" help=secret_hint/>
                </fieldset>
                <CheckboxField label="Verify the TLS certificate" name="form[verify_tls]" checked=form.verify_tls.is_some()
                    help="Turn off only for a lab with a self-signed certificate; better, paste its CA below."/>
                <TextAreaField label="Custom CA (PEM)" name="form[ca_pem]" field="ca_pem" value=form.ca_pem.clone() errors
                    help="The certificate that signed the cluster's certificate, when it is not publicly trusted."/>
                <TextField label="Request timeout (seconds)" name="form[timeout_secs]" field="timeout_secs"
                    value=form.timeout_secs.clone() errors input_type="number"/>
                <CheckboxField label="Enabled (included in syncs)" name="form[enabled]" checked=form.enabled.is_some()/>
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary" disabled=move || save.pending().get()>
                        {move || if save.pending().get() { "Saving…" } else { "Save" }}
                    </button>
                </div>
            </form>
        </section>
    }
}
