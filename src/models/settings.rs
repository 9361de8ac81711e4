//! What the settings page shows: each setting with its value, default and source, the
//! overwrite rules, the mapping rules, the schedules and the record of changes.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsPage {
    pub groups: Vec<SettingGroup>,
    pub overwrite: Vec<OverwriteRow>,
    /// The variable or flag that fixes the overwrite rules, if one does.
    pub overwrite_locked_by: Option<String>,
    pub mapping: MappingField,
    pub schedules: Vec<ScheduleView>,
    /// Proxmox endpoints a schedule can name: (id, name).
    pub endpoints: Vec<(i64, String)>,
    /// Stage names a schedule can run (`full-update` first).
    pub stages: Vec<String>,
    pub changes: Vec<SettingChangeView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingGroup {
    pub title: String,
    pub fields: Vec<SettingField>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingField {
    /// The form field and the stored name (`job_timeout_secs`).
    pub name: String,
    pub label: String,
    pub help: String,
    pub value: String,
    pub default: String,
    /// The environment variable (or flag) that sets it; the page cannot change it then.
    pub locked_by: Option<String>,
    pub input: SettingInput,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SettingInput {
    Number { min: u64, max: u64, unit: String },
    Switch,
    Choice(Vec<String>),
    Text,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverwriteRow {
    pub field: String,
    pub rule: String,
    pub default_rule: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingField {
    /// One rule per line.
    pub text: String,
    pub rules: usize,
    pub locked_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleView {
    pub id: i64,
    pub endpoint: String,
    pub stages: String,
    /// `every 30 minutes` or `cron 30 2 * * * (UTC)`.
    pub when: String,
    /// The same as the form field takes it: `30` or `30 2 * * *`.
    pub when_text: String,
    pub enabled: bool,
    pub next_run_at: Option<i64>,
    pub last_job_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingChangeView {
    pub at: i64,
    pub by: String,
    pub name: String,
    /// `None`: the default (or nothing, for a schedule that did not exist).
    pub old: Option<String>,
    pub new: Option<String>,
}
