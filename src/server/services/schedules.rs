//! Creating, changing and removing schedules, for the settings page and `proxbox
//! schedule` alike: the fields checked with a message each, every change recorded.

use crate::error::AppError;
use crate::server::infra::cron::Cron;
use crate::server::infra::db::schedules::{ScheduleRow, ScheduleRule, ScheduleSaveError};
use crate::server::infra::db::settings::SettingChange;
use crate::server::infra::db::Db;
use crate::server::sync::stage::{parse_stages, FULL_UPDATE};
use crate::validation::FieldErrors;

/// The longest interval a schedule takes, in minutes (a year).
const MAX_MINUTES: i64 = 525_600;

/// A schedule's "when": a number of minutes, or a cron expression (UTC).
pub fn parse_when(text: &str) -> Result<ScheduleRule, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(
            "say when it runs: a number of minutes (30) or a cron expression (30 2 * * *)".into(),
        );
    }
    if text.chars().all(|c| c.is_ascii_digit()) {
        return match text.parse::<i64>() {
            Ok(minutes @ 1..=MAX_MINUTES) => Ok(ScheduleRule::Every {
                secs: minutes * 60,
            }),
            _ => Err(format!(
                "every {text} minutes is not a schedule; write 1 to {MAX_MINUTES} minutes, or a cron expression"
            )),
        };
    }
    Cron::parse(text).map(ScheduleRule::Cron)
}

/// The stage set of a schedule, as stored: `full-update`, or the names in stage order.
pub fn stage_set(names: &[&str]) -> Result<String, String> {
    let stages = parse_stages(names)?;
    if stages.is_empty() {
        return Ok(FULL_UPDATE.to_string());
    }
    let mut stages = stages;
    stages.sort();
    stages.dedup();
    Ok(stages
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(","))
}

/// A schedule as the page or the command line asks for it.
#[derive(Debug, Clone)]
pub struct ScheduleInput<'a> {
    pub endpoint_id: i64,
    pub stages: Vec<&'a str>,
    pub when: &'a str,
    pub enabled: bool,
}

struct Checked {
    endpoint_name: String,
    stages: String,
    rule: ScheduleRule,
}

async fn check(db: &Db, input: &ScheduleInput<'_>) -> Result<Checked, AppError> {
    let mut errors = FieldErrors::default();
    let endpoint = db.proxmox_endpoint(input.endpoint_id).await?;
    if endpoint.is_none() {
        errors.add(
            "endpoint",
            "choose a Proxmox endpoint (add one on the Endpoints page first)",
        );
    }
    let stages = errors.check("stages", stage_set(&input.stages));
    let rule = errors.check("when", parse_when(input.when));
    match (endpoint, stages, rule) {
        (Some(endpoint), Some(stages), Some(rule)) if errors.is_empty() => Ok(Checked {
            endpoint_name: endpoint.name,
            stages,
            rule,
        }),
        _ => Err(errors.into()),
    }
}

/// How the record of changes names a schedule: `schedule lab: full-update`.
fn record_name(endpoint: &str, stages: &str) -> String {
    format!("schedule {endpoint}: {stages}")
}

async fn endpoint_name(db: &Db, id: i64) -> Result<String, AppError> {
    Ok(db
        .proxmox_endpoint(id)
        .await?
        .map(|e| e.name)
        .unwrap_or_else(|| format!("endpoint {id}")))
}

async fn record(
    db: &Db,
    name: &str,
    old: Option<String>,
    new: Option<String>,
    by: &str,
) -> Result<(), AppError> {
    db.record_change(
        &SettingChange {
            name,
            old: old.as_deref(),
            new: new.as_deref(),
        },
        by,
    )
    .await
    .map_err(AppError::internal)
}

fn duplicate(e: ScheduleSaveError) -> AppError {
    match e {
        ScheduleSaveError::Duplicate => FieldErrors::one(
            "stages",
            "this endpoint already has a schedule for these stages; change that one, or choose other stages",
        )
        .into(),
        ScheduleSaveError::Db(e) => AppError::internal(e),
    }
}

/// The schedule `id`, or a not-found error naming it.
pub async fn existing(db: &Db, id: i64) -> Result<ScheduleRow, AppError> {
    db.schedule(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("Schedule {id}")))
}

/// A new schedule (the page's "Add").
pub async fn create(db: &Db, input: &ScheduleInput<'_>, by: &str) -> Result<i64, AppError> {
    let checked = check(db, input).await?;
    let id = db
        .create_schedule(
            input.endpoint_id,
            &checked.stages,
            &checked.rule,
            input.enabled,
        )
        .await
        .map_err(duplicate)?;
    let row = db.schedule(id).await?;
    record(
        db,
        &record_name(&checked.endpoint_name, &checked.stages),
        None,
        row.map(|r| r.summary()),
        by,
    )
    .await?;
    Ok(id)
}

/// Creates the endpoint's schedule for the stage set or changes the one it has
/// (`proxbox schedule set`).
pub async fn put(db: &Db, input: &ScheduleInput<'_>, by: &str) -> Result<ScheduleRow, AppError> {
    let checked = check(db, input).await?;
    let before = db
        .schedules()
        .await?
        .into_iter()
        .find(|s| s.endpoint_id == input.endpoint_id && s.stages == checked.stages);
    let id = db
        .save_schedule(
            input.endpoint_id,
            &checked.stages,
            &checked.rule,
            input.enabled,
        )
        .await
        .map_err(duplicate)?;
    let after = db
        .schedule(id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("Schedule {id}")))?;
    record(
        db,
        &record_name(&checked.endpoint_name, &checked.stages),
        before.map(|r| r.summary()),
        Some(after.summary()),
        by,
    )
    .await?;
    Ok(after)
}

/// Changes a schedule's rule and whether it runs (the page's "Save" on a row).
pub async fn update(db: &Db, id: i64, when: &str, enabled: bool, by: &str) -> Result<(), AppError> {
    let before = existing(db, id).await?;
    let rule = parse_when(when).map_err(|e| FieldErrors::one("when", e))?;
    db.update_schedule(id, before.endpoint_id, &before.stages, &rule, enabled)
        .await
        .map_err(duplicate)?;
    let after = db.schedule(id).await?;
    let name = record_name(
        &endpoint_name(db, before.endpoint_id).await?,
        &before.stages,
    );
    record(
        db,
        &name,
        Some(before.summary()),
        after.map(|r| r.summary()),
        by,
    )
    .await
}

/// Removes a schedule.
pub async fn delete(db: &Db, id: i64, by: &str) -> Result<(), AppError> {
    let before = existing(db, id).await?;
    db.delete_schedule(id).await?;
    let name = record_name(
        &endpoint_name(db, before.endpoint_id).await?,
        &before.stages,
    );
    record(db, &name, Some(before.summary()), None, by).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_is_minutes_or_a_cron_expression() {
        assert_eq!(
            parse_when(" 30 ").unwrap(),
            ScheduleRule::Every { secs: 1800 }
        );
        assert!(
            matches!(parse_when("30 2 * * *").unwrap(), ScheduleRule::Cron(c) if c.as_str() == "30 2 * * *")
        );
        assert!(parse_when("0").unwrap_err().contains("is not a schedule"));
        assert!(parse_when("").unwrap_err().contains("say when it runs"));
        assert!(parse_when("30 2 * *").unwrap_err().contains("write five"));
    }

    #[test]
    fn stage_sets_are_stored_in_stage_order() {
        assert_eq!(stage_set(&[]).unwrap(), "full-update");
        assert_eq!(
            stage_set(&["virtual-machines", "devices", "devices"]).unwrap(),
            "devices,virtual-machines"
        );
        assert_eq!(stage_set(&["vm-disks"]).unwrap(), "virtual-disks");
        assert!(stage_set(&["vms"]).unwrap_err().contains("unknown stage"));
    }
}
