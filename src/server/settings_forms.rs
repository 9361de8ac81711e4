//! The settings page's forms (plain posts, answered with a redirect back or an error page
//! with a message per field) and the data the page shows.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::auth::Caller;
use super::respond::Wants;
use super::route_book::RouteBook;
use super::schedules::{self, ScheduleInput};
use super::settings::{self, all_mapping, JobSettings, Setting};
use super::state::AppState;
use super::streams::requester;
use super::sync::mapping::{self, MappingRules};
use super::sync::overwrite::{Field, OverwritePolicy};
use super::sync::stage::{Stage, FULL_UPDATE};
use crate::error::AppError;
use crate::models::{
    MappingField, OverwriteRow, ScheduleView, SettingChangeView, SettingField, SettingGroup,
    SettingsPage,
};
use crate::validation::FieldErrors;

/// Form fields of the overwrite rules: `overwrite.<field>` = `always` | `on_create`.
pub const OVERWRITE_PREFIX: &str = "overwrite.";

/// Changes the page shows, newest first.
const CHANGES_SHOWN: i64 = 100;

pub fn routes() -> RouteBook {
    RouteBook::default()
        .post("/settings", save_settings)
        .post("/settings/schedules", add_schedule)
        .post("/settings/schedules/{id}", change_schedule)
        .post("/settings/schedules/{id}/run", run_schedule)
        .post("/settings/schedules/{id}/delete", delete_schedule)
}

fn answer(wants: Wants, result: Result<Response, AppError>) -> Response {
    result.unwrap_or_else(|e| e.render(wants))
}

/// The form's fields by name; repeated fields keep every value, in order.
fn fields(body: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body.as_bytes())
        .filter(|(name, _)| name != "csrf")
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

/// The first value of field `name`.
fn first<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn internal(e: super::db::DbError) -> AppError {
    tracing::error!(error = %e, "settings database error");
    AppError::Internal("The settings could not be read or saved; see the server log.".into())
}

/// Settings from the form: one field per setting, the overwrite rules one per field.
fn settings_form(body: &str) -> BTreeMap<String, String> {
    let mut form = BTreeMap::new();
    let mut overwrite = Vec::new();
    for (name, value) in fields(body) {
        match name.strip_prefix(OVERWRITE_PREFIX) {
            Some(field) => overwrite.push(format!("{field}={value}")),
            None => {
                form.insert(name, value);
            }
        }
    }
    if !overwrite.is_empty() {
        form.insert(Setting::Overwrite.name().into(), overwrite.join(","));
    }
    form
}

async fn save_settings(
    State(state): State<AppState>,
    wants: Wants,
    Caller(auth): Caller,
    body: String,
) -> Response {
    answer(
        wants,
        async {
            let by = requester(auth.as_ref());
            let current = state.jobs.reload_settings().await.map_err(internal)?;
            let proposal = settings::propose(&current, &settings_form(&body))?;
            if proposal
                .changes
                .iter()
                .any(|(setting, ..)| *setting == Setting::Mapping)
            {
                check_mapping(&state, &all_mapping(&proposal.settings)).await?;
            }
            settings::store(&state.db, &proposal, &by)
                .await
                .map_err(internal)?;
            state.jobs.reload_settings().await.map_err(internal)?;
            for (setting, old, new) in &proposal.changes {
                tracing::info!(setting = setting.name(), %old, %new, %by, "setting changed");
            }
            let saved = proposal.changes.len();
            Ok(Redirect::to(&format!("/settings?saved={saved}")).into_response())
        }
        .await,
    )
}

/// Every object the rules name must exist in NetBox before they are saved, so that a typo
/// is found now and not by the next sync.
async fn check_mapping(state: &AppState, rules: &MappingRules) -> Result<(), AppError> {
    if rules.is_empty() {
        return Ok(());
    }
    let field = Setting::Mapping.name();
    let row = state.db.netbox_endpoint().await.map_err(internal)?.ok_or_else(|| {
        FieldErrors::one(
            field,
            "the rules are checked against NetBox: configure the NetBox endpoint (Endpoints → NetBox) first",
        )
    })?;
    let client = super::peers::netbox_client(&row, &state.secrets).map_err(|e| {
        FieldErrors::one(
            field,
            format!("NetBox cannot be used to check the rules: {}", e.message),
        )
    })?;
    mapping::resolve(&client, rules).await.map_err(|e| {
        FieldErrors::one(
            field,
            format!("{}. {} Nothing was saved.", e.message, e.suggestion),
        )
    })?;
    Ok(())
}

async fn add_schedule(
    State(state): State<AppState>,
    wants: Wants,
    Caller(auth): Caller,
    body: String,
) -> Response {
    answer(
        wants,
        async {
            let fields = fields(&body);
            let value = |name: &str| first(&fields, name);
            let endpoint_id = value("endpoint")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| FieldErrors::one("endpoint", "choose a Proxmox endpoint"))?;
            let input = ScheduleInput {
                endpoint_id,
                stages: fields
                    .iter()
                    .filter(|(n, _)| n == "stage")
                    .map(|(_, v)| v.as_str())
                    .collect(),
                when: value("when").unwrap_or(""),
                enabled: value("enabled").is_some(),
            };
            schedules::create(&state.db, &input, &requester(auth.as_ref())).await?;
            Ok(Redirect::to("/settings#schedules").into_response())
        }
        .await,
    )
}

async fn change_schedule(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    wants: Wants,
    Caller(auth): Caller,
    body: String,
) -> Response {
    answer(
        wants,
        async {
            let fields = fields(&body);
            let when = first(&fields, "when").unwrap_or("");
            let enabled = first(&fields, "enabled").is_some();
            schedules::update(&state.db, id, when, enabled, &requester(auth.as_ref())).await?;
            Ok(Redirect::to("/settings#schedules").into_response())
        }
        .await,
    )
}

async fn run_schedule(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    wants: Wants,
    Caller(auth): Caller,
) -> Response {
    answer(
        wants,
        async {
            let schedule = schedules::existing(&state.db, id).await?;
            let enqueued = state
                .jobs
                .start_schedule(&schedule, &requester(auth.as_ref()))
                .await?;
            Ok(Redirect::to(&format!("/jobs/{}", enqueued.job_id)).into_response())
        }
        .await,
    )
}

async fn delete_schedule(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    wants: Wants,
    Caller(auth): Caller,
) -> Response {
    answer(
        wants,
        async {
            schedules::delete(&state.db, id, &requester(auth.as_ref())).await?;
            Ok(Redirect::to("/settings#schedules").into_response())
        }
        .await,
    )
}

/// What the settings page shows: every setting's value, default and source, the rules,
/// the schedules and the latest changes.
pub async fn overview(state: &AppState) -> Result<SettingsPage, AppError> {
    let current = state.jobs.reload_settings().await.map_err(internal)?;
    let defaults = JobSettings::default();
    let locked_by = |setting: Setting| current.fixed.get(&setting).cloned();
    let groups = Setting::GROUPS
        .iter()
        .map(|(title, members)| SettingGroup {
            title: title.to_string(),
            fields: members
                .iter()
                .map(|setting| SettingField {
                    name: setting.name().into(),
                    label: setting.label().into(),
                    help: setting.help().into(),
                    value: setting.text(&current),
                    default: setting.text(&defaults),
                    locked_by: locked_by(*setting),
                    input: setting.input(),
                })
                .collect(),
        })
        .collect();
    let default_policy = OverwritePolicy::default();
    let overwrite = Field::ALL
        .into_iter()
        .map(|field| OverwriteRow {
            field: field.name(),
            rule: current.rules.overwrite.rule(field).name().into(),
            default_rule: default_policy.rule(field).name().into(),
        })
        .collect();
    let rules = all_mapping(&current);
    let endpoints = state.db.proxmox_endpoints().await.map_err(internal)?;
    let endpoint_name = |id: i64| {
        endpoints
            .iter()
            .find(|e| e.id == id)
            .map_or_else(|| format!("endpoint {id}"), |e| e.name.clone())
    };
    let schedules = state
        .db
        .schedules()
        .await
        .map_err(internal)?
        .into_iter()
        .map(|row| {
            let rule = row.rule();
            ScheduleView {
                id: row.id,
                endpoint: endpoint_name(row.endpoint_id),
                stages: row.stages.clone(),
                when: rule
                    .as_ref()
                    .map_or_else(|| "an unreadable rule".into(), |r| r.describe()),
                when_text: match (&row.cron, row.interval_secs) {
                    (Some(cron), _) => cron.clone(),
                    (None, Some(secs)) => (secs / 60).max(1).to_string(),
                    (None, None) => String::new(),
                },
                enabled: row.enabled != 0,
                next_run_at: (row.enabled != 0).then_some(row.next_run_at),
                last_job_id: row.last_job_id,
            }
        })
        .collect();
    let changes = state
        .db
        .setting_changes(CHANGES_SHOWN)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|c| SettingChangeView {
            at: c.changed_at,
            by: c.changed_by,
            name: c.name,
            old: c.old_value,
            new: c.new_value,
        })
        .collect();
    Ok(SettingsPage {
        groups,
        overwrite,
        overwrite_locked_by: locked_by(Setting::Overwrite),
        mapping: MappingField {
            text: rules.to_lines(),
            rules: rules.rules().count(),
            locked_by: locked_by(Setting::Mapping),
        },
        schedules,
        endpoints: endpoints.iter().map(|e| (e.id, e.name.clone())).collect(),
        stages: std::iter::once(FULL_UPDATE)
            .chain(Stage::ALL.iter().map(|s| s.name()))
            .map(str::to_string)
            .collect(),
        changes,
    })
}
