//! "Sync with options…" below the dashboard's one-click buttons: which endpoints and
//! stages, a dry run, and orphan deletion for this run only. A plain form (no island): it
//! posts to `/sync/full-update` and lands on the job's page, which follows the job live.

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use serde::{Deserialize, Serialize};

use crate::components::session::CsrfField;
use crate::error::AppError;
use crate::wire::JsonText;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunChoices {
    /// Enabled Proxmox endpoints: (id, name).
    pub endpoints: Vec<(i64, String)>,
    /// Stage names in the order a full update runs them.
    pub stages: Vec<String>,
    /// Whether the setting deletes orphans, for the choice that follows it.
    pub deletes_orphans: bool,
}

#[server(endpoint = "sync_form_choices", input = GetUrl, output = JsonText)]
pub async fn sync_form_choices() -> Result<RunChoices, AppError> {
    let (state, _) = crate::server::web::context::require(crate::models::Permission::RunSyncs)?;
    let endpoints = state
        .db
        .proxmox_endpoints()
        .await?
        .into_iter()
        .filter(|e| e.enabled != 0)
        .map(|e| (e.id, e.name))
        .collect();
    Ok(RunChoices {
        endpoints,
        stages: crate::server::sync::stage::Stage::ALL
            .iter()
            .map(|s| s.name().to_string())
            .collect(),
        deletes_orphans: state.jobs.settings().rules.delete_orphans,
    })
}

#[component]
pub fn SyncOptionsForm() -> impl IntoView {
    let choices = Resource::new(|| (), |_| sync_form_choices());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                choices.await.ok().filter(|c| !c.endpoints.is_empty()).map(|c| view! { <Choices choices=c/> })
            })}
        </Transition>
    }
}

#[component]
fn Choices(choices: RunChoices) -> impl IntoView {
    let setting = if choices.deletes_orphans {
        "as the setting says (delete)"
    } else {
        "as the setting says (keep)"
    };
    view! {
        <details class="card sync-options" data-testid="sync-options">
            <summary>"Sync with options…"</summary>
            <form method="post" action="/sync/full-update">
                <CsrfField/>
                <fieldset class="field">
                    <legend>"Endpoints (none checked: every enabled one)"</legend>
                    <div class="check-grid">
                        {choices.endpoints.into_iter().map(|(id, name)| view! {
                            <label class="field-check"><input type="checkbox" name="endpoint" value=id.to_string()/>" "{name}</label>
                        }).collect_view()}
                    </div>
                </fieldset>
                <fieldset class="field">
                    <legend>"Stages (none checked: full update; each brings what it needs)"</legend>
                    <div class="check-grid">
                        {choices.stages.into_iter().map(|stage| view! {
                            <label class="field-check"><input type="checkbox" name="stage" value=stage.clone()/>" "{stage.clone()}</label>
                        }).collect_view()}
                    </div>
                </fieldset>
                <label class="field-check"><input type="checkbox" name="dry_run" value="on" data-testid="option-dry-run"/>" Dry run: show what would change (and what it would take over from another tool), write nothing"</label>
                <div class="field">
                    <label for="option-orphans">"Orphaned VMs"</label>
                    <select id="option-orphans" name="delete_orphans">
                        <option value="" selected>{setting}</option>
                        <option value="on">"delete in this run (after the grace period)"</option>
                        <option value="off">"keep in this run"</option>
                    </select>
                </div>
                <button type="submit" class="btn btn-primary" data-testid="sync-with-options">"Start"</button>
            </form>
        </details>
    }
}
