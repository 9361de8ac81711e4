//! The settings page's forms (plain posts, answered with a redirect back or an error page
//! with a message per field); the page's data is `services::views::settings`.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};

use crate::error::AppError;
use crate::server::services::schedules::{self, ScheduleInput};
use crate::server::services::settings::{self, all_mapping, Setting};
use crate::server::sync::mapping::{self, MappingRules};
use crate::server::web::auth::Requester;
use crate::server::web::forms::{answer, FormFields};
use crate::server::web::respond::Wants;
use crate::server::web::route_book::RouteBook;
use crate::server::web::state::AppState;
use crate::validation::FieldErrors;

/// Form fields of the overwrite rules: `overwrite.<field>` = `always` | `on_create`.
pub const OVERWRITE_PREFIX: &str = "overwrite.";

pub fn routes() -> RouteBook {
    RouteBook::default()
        .post("/settings", save_settings)
        .post("/settings/schedules", add_schedule)
        .post("/settings/schedules/{id}", change_schedule)
        .post("/settings/schedules/{id}/run", run_schedule)
        .post("/settings/schedules/{id}/delete", delete_schedule)
}

/// Settings from the form: one field per setting, the overwrite rules one per field.
fn settings_form(body: &str) -> BTreeMap<String, String> {
    let mut form = BTreeMap::new();
    let mut overwrite = Vec::new();
    for (name, value) in FormFields::parse(body.as_bytes()).iter() {
        match name.strip_prefix(OVERWRITE_PREFIX) {
            Some(field) => overwrite.push(format!("{field}={value}")),
            None => {
                form.insert(name.to_string(), value.to_string());
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
    Requester(by): Requester,
    body: String,
) -> Response {
    answer(
        wants,
        async {
            let current = state.jobs.reload_settings().await?;
            let proposal = settings::propose(&current, &settings_form(&body))?;
            if proposal
                .changes
                .iter()
                .any(|(setting, ..)| *setting == Setting::Mapping)
            {
                check_mapping(&state, &all_mapping(&proposal.settings)).await?;
            }
            settings::store(&state.db, &proposal, &by).await?;
            state.jobs.reload_settings().await?;
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
    let row = state.db.netbox_endpoint().await?.ok_or_else(|| {
        FieldErrors::one(
            field,
            "the rules are checked against NetBox: configure the NetBox endpoint (Endpoints → NetBox) first",
        )
    })?;
    let client =
        crate::server::services::peers::netbox_client(&row, &state.secrets).map_err(|e| {
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
    Requester(by): Requester,
    body: String,
) -> Response {
    answer(
        wants,
        async {
            let fields = FormFields::parse(body.as_bytes());
            let value = |name: &str| fields.first(name);
            let endpoint_id = value("endpoint")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| FieldErrors::one("endpoint", "choose a Proxmox endpoint"))?;
            let input = ScheduleInput {
                endpoint_id,
                stages: fields.all("stage").collect(),
                when: value("when").unwrap_or(""),
                enabled: value("enabled").is_some(),
            };
            schedules::create(&state.db, &input, &by).await?;
            Ok(Redirect::to("/settings#schedules").into_response())
        }
        .await,
    )
}

async fn change_schedule(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    wants: Wants,
    Requester(by): Requester,
    body: String,
) -> Response {
    answer(
        wants,
        async {
            let fields = FormFields::parse(body.as_bytes());
            let when = fields.first("when").unwrap_or("");
            let enabled = fields.first("enabled").is_some();
            schedules::update(&state.db, id, when, enabled, &by).await?;
            Ok(Redirect::to("/settings#schedules").into_response())
        }
        .await,
    )
}

async fn run_schedule(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    wants: Wants,
    Requester(by): Requester,
) -> Response {
    answer(
        wants,
        async {
            let schedule = schedules::existing(&state.db, id).await?;
            let enqueued = state.jobs.start_schedule(&schedule, &by).await?;
            Ok(Redirect::to(&format!("/jobs/{}", enqueued.job_id)).into_response())
        }
        .await,
    )
}

async fn delete_schedule(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    wants: Wants,
    Requester(by): Requester,
) -> Response {
    answer(
        wants,
        async {
            schedules::delete(&state.db, id, &by).await?;
            Ok(Redirect::to("/settings#schedules").into_response())
        }
        .await,
    )
}
