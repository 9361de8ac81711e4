//! `/settings` (admins): schedules, job and sync settings, overwrite and mapping rules, and
//! the record of changes. Plain forms (no island) posting to `server::settings_forms`; a
//! setting a flag or environment variable gives is shown locked, with its source.

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::layout::PageErrors;
use crate::components::session::CsrfField;
use crate::error::AppError;
use crate::models::{
    format_utc, MappingField, OverwriteRow, ScheduleView, SettingChangeView, SettingField,
    SettingInput, SettingsPage as SettingsData,
};
use crate::wire::JsonText;

#[server(endpoint = "settings_overview", input = GetUrl, output = JsonText)]
pub async fn settings_overview() -> Result<SettingsData, AppError> {
    let (state, _) = crate::server::web::context::require(crate::models::Permission::Administer)?;
    crate::server::services::views::settings::overview(&state).await
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| settings_overview());
    let saved = use_query_map().with_untracked(|q| q.get("saved"));
    view! {
        <Title text="Settings"/>
        <h1>"Settings"</h1>
        <p class="help">"Saved settings apply to the next job, on every instance, without a restart. A setting given by a flag or an environment variable is shown locked: the deployment decides it."</p>
        {saved.map(|n| view! {
            <p class="alert alert-ok" role="status" data-testid="settings-saved">
                {match n.as_str() { "0" => "Nothing changed.".to_string(), "1" => "Saved 1 change.".to_string(), n => format!("Saved {n} changes.") }}
            </p>
        })}
        <PageErrors>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let data = data.await?;
                    Ok::<_, AppError>(view! { <SettingsBody data/> })
                })}
            </Transition>
        </PageErrors>
    }
}

#[component]
fn SettingsBody(data: SettingsData) -> impl IntoView {
    let SettingsData {
        groups,
        overwrite,
        overwrite_locked_by,
        mapping,
        schedules,
        endpoints,
        stages,
        changes,
    } = data;
    view! {
        <Schedules schedules endpoints stages/>
        <form method="post" action="/settings" data-testid="settings-form">
            <CsrfField/>
            {groups.into_iter().map(|group| view! {
                <fieldset class="card">
                    <legend>{group.title}</legend>
                    {group.fields.into_iter().map(|field| view! { <SettingInputRow field/> }).collect_view()}
                </fieldset>
            }).collect_view()}
            <OverwriteRules rows=overwrite locked_by=overwrite_locked_by/>
            <button type="submit" class="btn btn-primary" data-testid="settings-save">"Save settings"</button>
        </form>
        <MappingRules mapping/>
        <Changes changes/>
    }
}

#[component]
fn Locked(source: Option<String>, name: String) -> impl IntoView {
    source.map(|source| view! {
        <span class="badge badge-warn" data-testid=format!("locked-{name}")>{format!("set by the environment ({source})")}</span>
    })
}

#[component]
fn SettingInputRow(field: SettingField) -> impl IntoView {
    let SettingField {
        name,
        label,
        help,
        value,
        default,
        locked_by,
        input,
    } = field;
    let id = format!("setting-{name}");
    let locked = locked_by.is_some();
    let control = match input {
        SettingInput::Number { min, max, unit } => view! {
            <input type="number" id=id.clone() name=name.clone() value=value min=min max=max required disabled=locked/>
            " "<span class="muted">{unit}</span>
        }
        .into_any(),
        SettingInput::Switch => view! {
            <select id=id.clone() name=name.clone() disabled=locked>
                <option value="off" selected=value == "off">"off"</option>
                <option value="on" selected=value == "on">"on"</option>
            </select>
        }
        .into_any(),
        SettingInput::Text => view! {
            <input type="text" id=id.clone() name=name.clone() value=value disabled=locked class="wide"/>
        }
        .into_any(),
        SettingInput::Choice(options) => view! {
            <select id=id.clone() name=name.clone() disabled=locked>
                {options.into_iter().map(|option| view! {
                    <option value=option.clone() selected=option == value>{option.clone()}</option>
                }).collect_view()}
            </select>
        }
        .into_any(),
    };
    view! {
        <div class="field" data-setting=name.clone()>
            <label for=id>{label}</label>
            <div>{control}" "<Locked source=locked_by name=name.clone()/></div>
            <p class="help">{help}" "<span class="muted">{format!("Default: {default}.")}</span></p>
        </div>
    }
}

#[component]
fn OverwriteRules(rows: Vec<OverwriteRow>, locked_by: Option<String>) -> impl IntoView {
    let locked = locked_by.is_some();
    view! {
        <fieldset class="card" data-testid="overwrite-rules">
            <legend>"Overwrite rules"</legend>
            <p class="help">"always: Proxmox is the source of truth and a differing NetBox value is corrected on every sync. on_create: written when Proxbox creates the object, then left to NetBox's users."</p>
            <Locked source=locked_by name="overwrite".to_string()/>
            <div class="table-wrap">
                <table class="table">
                    <thead><tr><th>"Field"</th><th>"Rule"</th><th>"Default"</th></tr></thead>
                    <tbody>
                        {rows.into_iter().map(|row| {
                            let name = format!("overwrite.{}", row.field);
                            view! {
                                <tr data-field=row.field.clone()>
                                    <td><label for=name.clone()>{row.field.clone()}</label></td>
                                    <td>
                                        <select id=name.clone() name=name disabled=locked>
                                            {["always", "on_create"].into_iter().map(|rule| view! {
                                                <option value=rule selected=rule == row.rule>{rule}</option>
                                            }).collect_view()}
                                        </select>
                                    </td>
                                    <td class="muted">{row.default_rule}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </fieldset>
    }
}

#[component]
fn MappingRules(mapping: MappingField) -> impl IntoView {
    let locked = mapping.locked_by.is_some();
    view! {
        <form method="post" action="/settings" class="card" data-testid="mapping-form">
            <CsrfField/>
            <h2>"Mapping rules"</h2>
            <p class="help">
                "One rule per line, as JSON: "<code>"{\"match\": {\"tag\": \"prod\"}, \"role\": \"web\"}"</code>
                ". A rule matches on cluster, node, name (a regular expression), tag and pool, and sets the site (clusters only), tenant, role, platform and VRF. The first matching rule wins; every object a rule names is looked up in NetBox when saved."
            </p>
            <Locked source=mapping.locked_by.clone() name="mapping".to_string()/>
            <p class="muted">{format!("{} rule{}", mapping.rules, if mapping.rules == 1 { "" } else { "s" })}</p>
            <textarea name="mapping" rows="6" class="mono" aria-label="Mapping rules, one per line" disabled=locked>{mapping.text}</textarea>
            <p><button type="submit" class="btn" disabled=locked data-testid="mapping-save">"Check and save the rules"</button></p>
        </form>
    }
}

#[component]
fn Schedules(
    schedules: Vec<ScheduleView>,
    endpoints: Vec<(i64, String)>,
    stages: Vec<String>,
) -> impl IntoView {
    let no_endpoint = endpoints.is_empty();
    view! {
        <section class="card" id="schedules" data-testid="schedules">
            <h2>"Schedules"</h2>
            <p class="help">"A schedule syncs one endpoint's stages every N minutes, or at the times of a cron expression (five fields, UTC). A tick that finds a job of the endpoint still running is skipped."</p>
            {if schedules.is_empty() {
                view! { <p class="muted" data-testid="no-schedules">"No schedule yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="table">
                            <thead><tr><th>"Endpoint"</th><th>"Stages"</th><th>"When"</th><th>"Next run"</th><th>"Last job"</th><th></th></tr></thead>
                            <tbody>
                                {schedules.into_iter().map(|s| view! { <ScheduleRow schedule=s/> }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
            <h3>"Add a schedule"</h3>
            {no_endpoint.then(|| view! { <p class="muted">"Add a Proxmox endpoint first."</p> })}
            <form method="post" action="/settings/schedules" data-testid="add-schedule">
                <CsrfField/>
                <div class="field">
                    <label for="schedule-endpoint">"Endpoint"</label>
                    <select id="schedule-endpoint" name="endpoint" required>
                        {endpoints.into_iter().map(|(id, name)| view! { <option value=id.to_string()>{name}</option> }).collect_view()}
                    </select>
                </div>
                <fieldset class="field">
                    <legend>"Stages (none: full update)"</legend>
                    <div class="check-grid">
                        {stages.into_iter().map(|stage| view! {
                            <label class="field-check"><input type="checkbox" name="stage" value=stage.clone()/>" "{stage.clone()}</label>
                        }).collect_view()}
                    </div>
                </fieldset>
                <div class="field">
                    <label for="schedule-when">"When"</label>
                    <input id="schedule-when" name="when" required placeholder="30, or 30 2 * * *" autocomplete="off"/>
                    <p class="help">"Minutes between runs (a number), or a cron expression in UTC."</p>
                </div>
                <label class="field-check"><input type="checkbox" name="enabled" checked/>" Enabled"</label>
                <p><button type="submit" class="btn btn-primary" disabled=no_endpoint data-testid="add-schedule-submit">"Add the schedule"</button></p>
            </form>
        </section>
    }
}

#[component]
fn ScheduleRow(schedule: ScheduleView) -> impl IntoView {
    let ScheduleView {
        id,
        endpoint,
        stages,
        when,
        when_text,
        enabled,
        next_run_at,
        last_job_id,
    } = schedule;
    let form_id = format!("schedule-{id}");
    view! {
        <tr data-schedule=id data-testid="schedule-row">
            <td>{endpoint}</td>
            <td class="mono">{stages}</td>
            <td>
                <form method="post" action=format!("/settings/schedules/{id}") id=form_id.clone() class="inline-form">
                    <CsrfField/>
                    <input name="when" value=when_text required aria-label="When: minutes or a cron expression" size="14"/>
                    <label class="field-check"><input type="checkbox" name="enabled" checked=enabled/>" enabled"</label>
                    <button type="submit" class="btn btn-small">"Save"</button>
                </form>
                <span class="muted">{when}</span>
            </td>
            <td data-testid="schedule-next">{next_run_at.map(format_utc).unwrap_or_else(|| "disabled".into())}</td>
            <td data-testid="schedule-last-job">{match last_job_id {
                Some(job) => view! { <a href=format!("/jobs/{job}")>{format!("#{job}")}</a> }.into_any(),
                None => view! { <span class="muted">"none yet"</span> }.into_any(),
            }}</td>
            <td class="actions">
                <form method="post" action=format!("/settings/schedules/{id}/run")>
                    <CsrfField/>
                    <button type="submit" class="btn btn-small" data-testid="schedule-run-now">"Run now"</button>
                </form>
                <form method="post" action=format!("/settings/schedules/{id}/delete")>
                    <CsrfField/>
                    <button type="submit" class="btn btn-small btn-danger">"Delete"</button>
                </form>
            </td>
        </tr>
    }
}

#[component]
fn Changes(changes: Vec<SettingChangeView>) -> impl IntoView {
    let shown = |value: Option<String>| match value {
        None => "—".to_string(),
        Some(v) if v.is_empty() => "(defaults)".to_string(),
        Some(v) => v,
    };
    view! {
        <section class="card" data-testid="setting-changes">
            <h2>"Changes"</h2>
            {if changes.is_empty() {
                view! { <p class="muted">"No change recorded yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table class="table">
                            <thead><tr><th>"When"</th><th>"Who"</th><th>"What"</th><th>"Before"</th><th>"After"</th></tr></thead>
                            <tbody>
                                {changes.into_iter().map(|c| view! {
                                    <tr data-change=c.name.clone()>
                                        <td>{format_utc(c.at)}</td>
                                        <td>{c.by}</td>
                                        <td>{c.name.clone()}</td>
                                        <td class="mono">{shown(c.old)}</td>
                                        <td class="mono">{shown(c.new)}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}
