//! The settings an administrator changes on the settings page: what each one is, how it
//! is checked, and how the stored values, the defaults and the operator's flags and
//! environment variables make the settings a job runs with. A flag or variable always
//! wins and locks the setting in the page: the deployment says so, the page cannot undo it.

use std::collections::BTreeMap;

use crate::server::infra::db::settings::SettingChange;
use crate::server::infra::db::{Db, DbError};
pub use crate::server::jobs::settings::{
    all_mapping, effective, Fixed, JobSettings, Setting, SyncRules,
};
use crate::validation::FieldErrors;

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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::server::sync::mapping::MappingRules;

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
