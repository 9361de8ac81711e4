//! `/endpoints/proxmox/new` and `/endpoints/proxmox/{id}/edit`: add or edit a Proxmox endpoint.

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::components::form::{CheckboxField, TextAreaField, TextField};
use crate::components::layout::PageErrors;
use crate::components::session::CsrfField;
use crate::error::AppError;
use crate::models::{
    ProxmoxDraft, ProxmoxEndpointForm, ProxmoxEndpointView, PROXMOX_DEFAULT_TIMEOUT_SECS,
};
use crate::validation::FieldErrors;
use crate::wire::JsonText;

#[server(endpoint = "proxmox_endpoint", input = GetUrl, output = JsonText)]
pub async fn get_proxmox_endpoint(id: i64) -> Result<ProxmoxEndpointView, AppError> {
    let (state, _) = crate::server::web::context::require(crate::models::Permission::Administer)?;
    let row = state.db.proxmox_endpoint(id).await?;
    row.map(|r| r.view())
        .ok_or_else(|| AppError::NotFound(format!("Proxmox endpoint {id}")))
}

/// Creates (`id` absent) or updates an endpoint. Bad input saves nothing and returns a
/// message per field; a blank secret keeps the stored one. (The page's form posts to the
/// page itself, see `server::endpoint_forms`; this is the same for API clients.)
#[server(endpoint = "save_proxmox_endpoint", output = JsonText)]
pub async fn save_proxmox_endpoint(
    #[server(default)] csrf: String,
    id: Option<i64>,
    form: ProxmoxEndpointForm,
) -> Result<i64, AppError> {
    let _ = csrf; // checked by the middleware before any server function runs
    let (state, user) =
        crate::server::web::context::require(crate::models::Permission::Administer)?;
    let saved_id = crate::server::services::endpoints::save_proxmox(
        &state.db,
        &state.secrets,
        &user.name,
        id,
        form,
    )
    .await?;
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
                        <ProxmoxEndpointEditor existing/>
                    })
                })}
            </Transition>
        </PageErrors>
    }
}

/// A plain form posting to the page itself (`server::endpoint_forms`): a refused post
/// comes back as this page with what was typed and a message beside each field, with or
/// without JavaScript. The chosen login kind's fields alone show (CSS `:has`), so the form
/// needs no island: it was most of the browser bundle's weight.
#[component]
fn ProxmoxEndpointEditor(existing: Option<ProxmoxEndpointView>) -> impl IntoView {
    let id = existing.as_ref().map(|e| e.id);
    let draft = use_context::<ProxmoxDraft>();
    let errors = Signal::stored(match &draft {
        Some(ProxmoxDraft {
            error: AppError::Validation(errors),
            ..
        }) => errors.clone(),
        _ => FieldErrors::default(),
    });
    let refusal = draft.as_ref().map(|d| d.error.to_string());
    let form = match draft {
        Some(draft) => draft.form,
        None => existing
            .as_ref()
            .map(ProxmoxEndpointView::to_form)
            .unwrap_or_else(|| ProxmoxEndpointForm {
                auth_kind: "token".into(),
                verify_tls: Some("on".into()),
                enabled: Some("on".into()),
                watch: Some("on".into()),
                timeout_secs: PROXMOX_DEFAULT_TIMEOUT_SECS.to_string(),
                ..Default::default()
            }),
    };
    let has_secret = existing.as_ref().is_some_and(|e| e.has_secret);
    let action = match id {
        Some(id) => format!("/endpoints/proxmox/{id}/edit"),
        None => "/endpoints/proxmox/new".to_string(),
    };
    let secret_hint = if has_secret {
        "Stored (encrypted). Leave blank to keep it — unless the URL, the login or the TLS settings change."
    } else {
        ""
    };

    view! {
        <section class="card form-card">
            {refusal.map(|message| view! {
                <div class="alert alert-error" role="alert" data-testid="form-error">{message}</div>
            })}
            <form method="post" action=action class="endpoint-form">
                <CsrfField/>
                <TextField label="Name" name="form[name]" field="name" value=form.name.clone() errors
                    placeholder="pve-cluster-1" help="How this cluster is called in Proxbox."/>
                <TextField label="URL" name="form[url]" field="url" value=form.url.clone() errors
                    placeholder="https://pve1.example.com:8006" help="Any node of the cluster, with the API port (8006)."/>
                <div class="field">
                    <label for="field-auth_kind">"Log in with"</label>
                    <select id="field-auth_kind" name="form[auth_kind]">
                        <option value="token" selected=form.auth_kind == "token">"API token (recommended)"</option>
                        <option value="password" selected=form.auth_kind == "password">"User and password"</option>
                    </select>
                </div>
                <fieldset class="auth-group" data-testid="token-fields">
                    <legend>"API token"</legend>
                    <TextField label="Token ID" name="form[token_id]" field="token_id" value=form.token_id.clone() errors
                        placeholder="root@pam!proxbox" help="user@realm!tokenname; pasting the whole token (…=secret) also works."/>
                    <TextField label="Token secret" name="form[token_secret]" field="token_secret" value="" errors
                        input_type="password" autocomplete="new-password" help=secret_hint/>
                </fieldset>
                <fieldset class="auth-group" data-testid="password-fields">
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
                <CheckboxField label="Follow its changes live (when the watcher runs)" name="form[watch]" checked=form.watch.is_some()/>
                <div class="form-actions">
                    <button type="submit" class="btn btn-primary">"Save"</button>
                </div>
            </form>
        </section>
    }
}
