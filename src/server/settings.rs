//! The settings an administrator changes on the settings page: what each one is, how it
//! is checked, and how the stored values, the defaults and the operator's flags and
//! environment variables make the settings a job runs with. A flag or variable always
//! wins and locks the setting in the page: the deployment says so, the page cannot undo it.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::ValueEnum;

use super::config::{Cli, JobOptions, SyncRules};
use super::db::settings::SettingChange;
use super::db::{Db, DbError};
use super::sync::context::Templates;
use super::sync::mapping::MappingRules;
use super::sync::overwrite::OverwritePolicy;
use crate::models::SettingInput;
use crate::validation::FieldErrors;

/// How jobs run; see [`JobOptions`] for the operator's side.
#[derive(Debug, Clone)]
pub struct JobSettings {
    pub workers: usize,
    pub job_timeout: Duration,
    pub keepalive: Duration,
    /// How long finished jobs and their logs are kept.
    pub job_retention: Duration,
    /// How often a running job tells the database it is alive and looks for a cancel.
    pub heartbeat: Duration,
    /// A running job without a heartbeat for this long belongs to a dead instance.
    pub stale_after: Duration,
    /// How often idle workers look for jobs enqueued elsewhere, and schedules are checked.
    pub poll: Duration,
    /// Orphan deletion and overwrite rules of every job.
    pub rules: SyncRules,
    /// The settings a flag or environment variable gave: stored values do not override
    /// them, and the settings page shows them locked.
    pub fixed: Fixed,
}

impl From<&JobOptions> for JobSettings {
    fn from(options: &JobOptions) -> Self {
        JobSettings {
            workers: options.workers,
            job_timeout: Duration::from_secs(options.job_timeout_secs.max(1)),
            keepalive: Duration::from_secs(options.keepalive_secs.max(1)),
            job_retention: Duration::from_secs(options.job_retention_days.max(1) * 86_400),
            heartbeat: Duration::from_secs(5),
            stale_after: Duration::from_secs(30),
            poll: Duration::from_secs(1),
            rules: options.rules.clone(),
            fixed: Fixed::new(),
        }
    }
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings::from(&JobOptions::default())
    }
}

/// One setting of the settings page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Setting {
    JobTimeoutSecs,
    Workers,
    KeepaliveSecs,
    JobRetentionDays,
    DeleteOrphans,
    OrphanGraceHours,
    NetboxMirrorHours,
    TaskRetentionDays,
    Templates,
    Overwrite,
    Mapping,
}

/// How a number setting is bounded and what it counts.
struct Bounds {
    min: u64,
    max: u64,
    unit: &'static str,
}

impl Setting {
    pub const ALL: [Setting; 11] = [
        Setting::JobTimeoutSecs,
        Setting::Workers,
        Setting::KeepaliveSecs,
        Setting::JobRetentionDays,
        Setting::DeleteOrphans,
        Setting::OrphanGraceHours,
        Setting::NetboxMirrorHours,
        Setting::TaskRetentionDays,
        Setting::Templates,
        Setting::Overwrite,
        Setting::Mapping,
    ];

    /// The page's groups of plain fields (overwrite and mapping rules have their own).
    pub const GROUPS: [(&'static str, &'static [Setting]); 2] = [
        (
            "Jobs",
            &[
                Setting::JobTimeoutSecs,
                Setting::Workers,
                Setting::KeepaliveSecs,
                Setting::JobRetentionDays,
            ],
        ),
        (
            "What a sync may change",
            &[
                Setting::DeleteOrphans,
                Setting::OrphanGraceHours,
                Setting::NetboxMirrorHours,
                Setting::TaskRetentionDays,
                Setting::Templates,
            ],
        ),
    ];

    /// The stored name and the form field; also the command line argument's id.
    pub fn name(self) -> &'static str {
        match self {
            Setting::JobTimeoutSecs => "job_timeout_secs",
            Setting::Workers => "workers",
            Setting::KeepaliveSecs => "keepalive_secs",
            Setting::JobRetentionDays => "job_retention_days",
            Setting::DeleteOrphans => "delete_orphans",
            Setting::OrphanGraceHours => "orphan_grace_hours",
            Setting::NetboxMirrorHours => "netbox_mirror_hours",
            Setting::TaskRetentionDays => "task_retention_days",
            Setting::Templates => "templates",
            Setting::Overwrite => "overwrite",
            Setting::Mapping => "mapping",
        }
    }

    pub fn parse(name: &str) -> Option<Setting> {
        Setting::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The command line arguments (clap ids) that set it.
    pub fn args(self) -> &'static [&'static str] {
        match self {
            Setting::Mapping => &["mapping", "mapping_file"],
            Setting::JobTimeoutSecs => &["job_timeout_secs"],
            Setting::Workers => &["workers"],
            Setting::KeepaliveSecs => &["keepalive_secs"],
            Setting::JobRetentionDays => &["job_retention_days"],
            Setting::DeleteOrphans => &["delete_orphans"],
            Setting::OrphanGraceHours => &["orphan_grace_hours"],
            Setting::NetboxMirrorHours => &["netbox_mirror_hours"],
            Setting::TaskRetentionDays => &["task_retention_days"],
            Setting::Templates => &["templates"],
            Setting::Overwrite => &["overwrite"],
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Setting::JobTimeoutSecs => "Job wall clock",
            Setting::Workers => "Workers",
            Setting::KeepaliveSecs => "Event stream keepalive",
            Setting::JobRetentionDays => "Jobs kept for",
            Setting::DeleteOrphans => "Delete orphaned VMs",
            Setting::OrphanGraceHours => "Orphan grace period",
            Setting::NetboxMirrorHours => "NetBox copy rebuilt after",
            Setting::TaskRetentionDays => "Task history kept for",
            Setting::Templates => "Proxmox templates",
            Setting::Overwrite => "Overwrite rules",
            Setting::Mapping => "Mapping rules",
        }
    }

    pub fn help(self) -> &'static str {
        match self {
            Setting::JobTimeoutSecs => "A longer job stops at its next chunk and ends failed.",
            Setting::Workers => "Sync jobs this instance runs at the same time; 0 only serves (another instance's workers run the jobs).",
            Setting::KeepaliveSecs => "Seconds between keepalive comments on event streams, for proxies that close quiet connections.",
            Setting::JobRetentionDays => "Finished jobs and their event logs older than this are removed, hourly.",
            Setting::DeleteOrphans => "Delete NetBox VMs whose guest has been gone from Proxmox for the grace period.",
            Setting::OrphanGraceHours => "How long a guest must be gone before its VM is deleted.",
            Setting::NetboxMirrorHours => "Proxbox's copy of NetBox follows NetBox's change log for this long, then is rebuilt from full reads; 0 reads NetBox in full every sync.",
            Setting::TaskRetentionDays => "Older Proxmox tasks are neither read nor kept.",
            Setting::Templates => "mark: synced as offline VMs tagged proxmox-template; skip: left out, each listed with the reason.",
            Setting::Overwrite => "Which fields a sync corrects on objects that already exist in NetBox.",
            Setting::Mapping => "The tenant, role, platform and VRF of matching guests and the site of matching clusters, checked against NetBox when saved.",
        }
    }

    fn bounds(self) -> Option<Bounds> {
        let (min, max, unit) = match self {
            Setting::JobTimeoutSecs => (1, 604_800, "seconds"),
            Setting::Workers => (0, 32, "jobs"),
            Setting::KeepaliveSecs => (1, 300, "seconds"),
            Setting::JobRetentionDays => (1, 3_650, "days"),
            Setting::OrphanGraceHours => (0, 8_760, "hours"),
            Setting::NetboxMirrorHours => (0, 8_760, "hours"),
            Setting::TaskRetentionDays => (1, 3_650, "days"),
            _ => return None,
        };
        Some(Bounds { min, max, unit })
    }

    pub fn input(self) -> SettingInput {
        if let Some(b) = self.bounds() {
            return SettingInput::Number {
                min: b.min,
                max: b.max,
                unit: b.unit.into(),
            };
        }
        match self {
            Setting::DeleteOrphans => SettingInput::Switch,
            Setting::Templates => SettingInput::Choice(vec!["mark".into(), "skip".into()]),
            _ => SettingInput::Choice(Vec::new()),
        }
    }

    /// The setting's value in `settings`, as stored and shown.
    pub fn text(self, settings: &JobSettings) -> String {
        let rules = &settings.rules;
        match self {
            Setting::JobTimeoutSecs => settings.job_timeout.as_secs().to_string(),
            Setting::Workers => settings.workers.to_string(),
            Setting::KeepaliveSecs => settings.keepalive.as_secs().to_string(),
            Setting::JobRetentionDays => (settings.job_retention.as_secs() / 86_400).to_string(),
            Setting::DeleteOrphans => switch_text(rules.delete_orphans).into(),
            Setting::OrphanGraceHours => rules.orphan_grace_hours.to_string(),
            Setting::NetboxMirrorHours => rules.netbox_mirror_hours.to_string(),
            Setting::TaskRetentionDays => rules.task_retention_days.to_string(),
            Setting::Templates => templates_text(rules.templates),
            Setting::Overwrite => rules.overwrite.to_text(),
            Setting::Mapping => all_mapping(settings).to_json(),
        }
    }

    /// Checks `text` and sets it in `settings`; the error says what to write instead.
    pub fn apply(self, settings: &mut JobSettings, text: &str) -> Result<(), String> {
        let text = text.trim();
        if let Some(b) = self.bounds() {
            let number = text
                .parse::<u64>()
                .ok()
                .filter(|n| (b.min..=b.max).contains(n))
                .ok_or_else(|| {
                    format!(
                        "{} must be a whole number from {} to {} ({}); {text:?} is not",
                        self.label(),
                        b.min,
                        b.max,
                        b.unit
                    )
                })?;
            let rules = &mut settings.rules;
            match self {
                Setting::JobTimeoutSecs => settings.job_timeout = Duration::from_secs(number),
                Setting::Workers => settings.workers = number as usize,
                Setting::KeepaliveSecs => settings.keepalive = Duration::from_secs(number),
                Setting::JobRetentionDays => {
                    settings.job_retention = Duration::from_secs(number * 86_400)
                }
                Setting::OrphanGraceHours => rules.orphan_grace_hours = number,
                Setting::NetboxMirrorHours => rules.netbox_mirror_hours = number,
                Setting::TaskRetentionDays => rules.task_retention_days = number,
                _ => unreachable!("only number settings have bounds"),
            }
            return Ok(());
        }
        let rules = &mut settings.rules;
        match self {
            Setting::DeleteOrphans => {
                rules.delete_orphans = crate::validation::parse_switch(text)
                    .ok_or_else(|| format!("{} is on or off; {text:?} is neither", self.label()))?
            }
            Setting::Templates => {
                rules.templates = Templates::from_str(text, true)
                    .map_err(|_| format!("{} is mark or skip; {text:?} is neither", self.label()))?
            }
            Setting::Overwrite => rules.overwrite = OverwritePolicy::parse(text)?,
            Setting::Mapping => {
                rules.mapping = MappingRules::parse_lines(text)?;
                rules.mapping_file = None;
            }
            _ => unreachable!("number settings are handled above"),
        }
        Ok(())
    }
}

fn switch_text(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

fn templates_text(templates: Templates) -> String {
    templates
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

/// The rules of `--mapping`, then those of `--mapping-file`: what a job applies.
pub fn all_mapping(settings: &JobSettings) -> MappingRules {
    let rules = &settings.rules;
    rules
        .mapping
        .clone()
        .then(rules.mapping_file.clone().unwrap_or_default())
}

/// The settings a job runs with: `base` (defaults, flags and environment) with the stored
/// values of the settings no flag or variable fixes. A stored value this version cannot
/// read (written by a later one) is left out and logged.
pub fn effective(base: &JobSettings, stored: &[(String, String)]) -> JobSettings {
    let mut settings = base.clone();
    for (name, value) in stored {
        match Setting::parse(name) {
            Some(setting) if base.fixed.contains_key(&setting) => {}
            Some(setting) => {
                if let Err(e) = setting.apply(&mut settings, value) {
                    tracing::warn!(setting = name, error = %e, "stored setting ignored; save it again on the settings page");
                }
            }
            None => tracing::warn!(setting = name, "unknown stored setting ignored"),
        }
    }
    settings
}

/// A change the page asks for, checked: the settings it makes and what changes.
#[derive(Debug)]
pub struct Proposal {
    pub settings: JobSettings,
    pub changes: Vec<(Setting, String, String)>,
}

/// Checks every submitted field against `current`; any error refuses the whole change,
/// with a message per field, so that nothing is half saved.
pub fn propose(
    current: &JobSettings,
    form: &BTreeMap<String, String>,
) -> Result<Proposal, FieldErrors> {
    let mut errors = FieldErrors::default();
    let mut settings = current.clone();
    let mut changes = Vec::new();
    for (name, text) in form {
        let Some(setting) = Setting::parse(name) else {
            let known: Vec<&str> = Setting::ALL.iter().map(|s| s.name()).collect();
            errors.add(
                name,
                format!(
                    "there is no setting {name:?}; the settings are {}",
                    known.join(", ")
                ),
            );
            continue;
        };
        let before = setting.text(current);
        if let Some(source) = current.fixed.get(&setting) {
            errors.add(
                name,
                format!(
                    "{} is set by the environment ({source}); change it there and restart Proxbox",
                    setting.label()
                ),
            );
            continue;
        }
        if let Some(()) = errors.check(name, setting.apply(&mut settings, text)) {
            let after = setting.text(&settings);
            if after != before {
                changes.push((setting, before, after));
            }
        }
    }
    if errors.is_empty() {
        Ok(Proposal { settings, changes })
    } else {
        Err(errors)
    }
}

/// Stores a checked proposal and records each change, in one transaction.
pub async fn store(db: &Db, proposal: &Proposal, by: &str) -> Result<(), DbError> {
    let changes: Vec<SettingChange<'_>> = proposal
        .changes
        .iter()
        .map(|(setting, old, new)| SettingChange {
            name: setting.name(),
            old: Some(old.as_str()),
            new: Some(new.as_str()),
        })
        .collect();
    db.save_settings(&changes, by).await
}

/// Settings a flag or environment variable fixes, with what fixed them.
pub type Fixed = BTreeMap<Setting, String>;

/// The settings the parsed command line (`matches` of [`Cli`]) gives by flag or
/// environment variable, each with the flag or variable that gave it.
pub fn fixed_by(matches: &clap::ArgMatches) -> Fixed {
    use clap::parser::ValueSource;
    use clap::CommandFactory;
    let mut fixed = Fixed::new();
    let Some((name, sub)) = matches.subcommand() else {
        return fixed;
    };
    let command = Cli::command();
    let Some(definition) = command.find_subcommand(name) else {
        return fixed;
    };
    for setting in Setting::ALL {
        for arg in definition
            .get_arguments()
            .filter(|a| setting.args().contains(&a.get_id().as_str()))
        {
            let id = arg.get_id().as_str();
            let source = match sub.value_source(id) {
                Some(ValueSource::EnvVariable) => arg
                    .get_env()
                    .map(|e| e.to_string_lossy().into_owned())
                    .unwrap_or_else(|| id.to_uppercase()),
                Some(ValueSource::CommandLine) => format!("--{}", id.replace('_', "-")),
                _ => continue,
            };
            fixed.entry(setting).or_insert(source);
        }
    }
    fixed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_setting_round_trips_through_its_text() {
        let defaults = JobSettings::default();
        for setting in Setting::ALL {
            let text = setting.text(&defaults);
            let mut copy = defaults.clone();
            setting.apply(&mut copy, &text).unwrap();
            assert_eq!(setting.text(&copy), text, "{setting:?}");
            assert_eq!(Setting::parse(setting.name()), Some(setting));
        }
    }

    #[test]
    fn a_valid_change_lists_only_what_changed() {
        let current = JobSettings::default();
        let proposal = propose(
            &current,
            &form(&[
                ("job_timeout_secs", "600"),
                ("workers", "2"),
                ("overwrite", "description=always"),
                ("delete_orphans", "on"),
            ]),
        )
        .unwrap();
        let changed: Vec<(&str, &str, &str)> = proposal
            .changes
            .iter()
            .map(|(s, a, b)| (s.name(), a.as_str(), b.as_str()))
            .collect();
        assert_eq!(
            changed,
            [
                ("delete_orphans", "off", "on"),
                ("job_timeout_secs", "7200", "600"),
                ("overwrite", "", "description=always"),
            ]
        );
        assert_eq!(proposal.settings.job_timeout, Duration::from_secs(600));
        assert!(proposal.settings.rules.delete_orphans);
    }

    #[test]
    fn bad_values_refuse_the_whole_change_with_a_message_per_field() {
        let current = JobSettings::default();
        let errors = propose(
            &current,
            &form(&[
                ("job_timeout_secs", "-5"),
                ("workers", "3"),
                ("overwrite", "colour=always"),
                ("templates", "hide"),
                ("colour", "blue"),
            ]),
        )
        .unwrap_err();
        assert!(
            errors
                .get("job_timeout_secs")
                .unwrap()
                .contains("whole number from 1 to 604800 (seconds); \"-5\" is not"),
            "{errors:?}"
        );
        assert!(errors
            .get("overwrite")
            .unwrap()
            .contains("unknown field \"colour\""));
        assert!(errors.get("templates").unwrap().contains("mark or skip"));
        assert!(errors
            .get("colour")
            .unwrap()
            .contains("there is no setting \"colour\""));
        assert_eq!(
            errors.get("workers"),
            None,
            "the valid field has no message"
        );
    }

    #[test]
    fn flags_and_variables_win_over_stored_values_and_lock_the_page() {
        let mut base = JobSettings {
            keepalive: Duration::from_secs(5),
            ..JobSettings::default()
        };
        base.fixed
            .insert(Setting::KeepaliveSecs, "PROXBOX_SSE_KEEPALIVE_SECS".into());
        let stored = vec![
            ("keepalive_secs".to_string(), "40".to_string()),
            ("workers".to_string(), "4".to_string()),
            ("task_retention_days".to_string(), "0".to_string()),
            ("from_a_later_version".to_string(), "1".to_string()),
        ];
        let settings = effective(&base, &stored);
        assert_eq!(
            settings.keepalive,
            Duration::from_secs(5),
            "the variable wins"
        );
        assert_eq!(settings.workers, 4, "the stored value applies");
        assert_eq!(
            settings.rules.task_retention_days, 30,
            "an unreadable stored value is left out"
        );
        let errors = propose(&settings, &form(&[("keepalive_secs", "20")])).unwrap_err();
        assert!(errors
            .get("keepalive_secs")
            .unwrap()
            .contains("set by the environment (PROXBOX_SSE_KEEPALIVE_SECS)"));
    }

    #[test]
    fn mapping_rules_are_edited_one_per_line() {
        let current = JobSettings::default();
        let text = "{\"match\": {\"tag\": \"prod\"}, \"role\": \"web\"}\n\n{\"match\": {\"cluster\": \"lab\"}, \"site\": \"dc\"}";
        let proposal = propose(&current, &form(&[("mapping", text)])).unwrap();
        assert_eq!(all_mapping(&proposal.settings).rules().count(), 2);
        let stored = &proposal.changes[0].2;
        assert!(
            stored.starts_with('['),
            "stored as one JSON array: {stored}"
        );
        assert_eq!(
            MappingRules::parse(stored).unwrap(),
            all_mapping(&proposal.settings)
        );
        let errors = propose(
            &current,
            &form(&[("mapping", "{\"role\": \"web\"}\n{oops}")]),
        )
        .unwrap_err();
        assert!(
            errors.get("mapping").unwrap().starts_with("line 2:"),
            "{errors:?}"
        );
    }
}
