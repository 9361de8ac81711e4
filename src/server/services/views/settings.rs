//! The settings page's read model: every setting's value, default and source, the
//! overwrite and mapping rules, the schedules and the latest changes.

use crate::error::AppError;
use crate::models::*;
use crate::server::services::settings::{all_mapping, JobSettings, Setting};
use crate::server::services::Services;
use crate::server::sync::overwrite::{Field, OverwritePolicy};
use crate::server::sync::stage::{Stage, FULL_UPDATE};

/// Changes the page shows, newest first.
const CHANGES_SHOWN: i64 = 100;

/// What the settings page shows: every setting's value, default and source, the rules,
/// the schedules and the latest changes.
pub async fn overview(state: &Services) -> Result<SettingsPage, AppError> {
    let current = state.jobs.reload_settings().await?;
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
    let endpoints = state.db.proxmox_endpoints().await?;
    let endpoint_name = |id: i64| {
        endpoints
            .iter()
            .find(|e| e.id == id)
            .map_or_else(|| format!("endpoint {id}"), |e| e.name.clone())
    };
    let schedules = state
        .db
        .schedules()
        .await?
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
        .await?
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
