//! Endpoints, schedules and settings declared in a file (`proxbox.toml`, by `--config` or
//! `PROXBOX_CONFIG`), for people who keep infrastructure in git. Reading the file turns it
//! into checked inputs — the forms' own validation, secrets from environment variables or
//! files and never from the file itself, each refusal naming the file, line and field
//! ([`read`]); planning compares them with the database ([`plan`], pure); applying makes
//! the changes and says what it changed ([`apply`]).

pub mod apply;
pub mod plan;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::models::{
    checkbox, is_token_login, NetboxEndpointForm, NetboxEndpointInput, ProxmoxEndpointForm,
    ProxmoxEndpointInput,
};
use crate::server::infra::db::schedules::ScheduleRule;
use crate::server::infra::secret_source::{read_secret, SecretError};
use crate::server::services::schedules::{parse_when, stage_set};
use crate::validation::FieldErrors;

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileModel {
    #[serde(default)]
    netbox: Option<Spanned<NetboxEntry>>,
    #[serde(default)]
    proxmox: Vec<Spanned<ProxmoxEntry>>,
    #[serde(default)]
    schedule: Vec<Spanned<ScheduleEntry>>,
    #[serde(default)]
    settings: Option<Spanned<toml::Table>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProxmoxEntry {
    name: String,
    url: String,
    #[serde(default)]
    token_id: Option<String>,
    #[serde(default)]
    token_secret_env: Option<String>,
    #[serde(default)]
    token_secret_file: Option<PathBuf>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password_env: Option<String>,
    #[serde(default)]
    password_file: Option<PathBuf>,
    #[serde(default = "yes")]
    verify_tls: bool,
    #[serde(default)]
    ca_file: Option<PathBuf>,
    #[serde(default)]
    timeout_secs: Option<u32>,
    #[serde(default = "yes")]
    enabled: bool,
    /// Whether the watcher follows its changes (when it runs).
    #[serde(default = "yes")]
    watch: bool,
    /// Read only to refuse it: a secret does not belong in the file.
    #[serde(default)]
    token_secret: Option<toml::Value>,
    #[serde(default)]
    password: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetboxEntry {
    url: String,
    #[serde(default)]
    token_env: Option<String>,
    #[serde(default)]
    token_file: Option<PathBuf>,
    #[serde(default = "yes")]
    verify_tls: bool,
    #[serde(default)]
    ca_file: Option<PathBuf>,
    #[serde(default)]
    timeout_secs: Option<u32>,
    /// Read only to refuse it: a secret does not belong in the file.
    #[serde(default)]
    token: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleEntry {
    endpoint: String,
    /// Stage names; without: a full update.
    #[serde(default)]
    stages: Vec<String>,
    #[serde(default)]
    every_minutes: Option<u32>,
    #[serde(default)]
    cron: Option<String>,
    #[serde(default = "yes")]
    enabled: bool,
}

fn yes() -> bool {
    true
}

/// What the file declares, checked.
#[derive(Clone, PartialEq)]
pub struct Declared {
    /// The file's path as given: what declared endpoints are marked with.
    pub source: String,
    pub netbox: Option<NetboxEndpointInput>,
    pub proxmox: Vec<ProxmoxEndpointInput>,
    pub schedules: Vec<DeclaredSchedule>,
    /// Setting name → value, as the settings page takes them.
    pub settings: BTreeMap<String, String>,
    /// The line of each setting, for refusals that only the current settings reveal.
    pub setting_lines: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredSchedule {
    pub endpoint: String,
    /// The canonical stage set (`schedules::stage_set`).
    pub stages: String,
    pub when: String,
    pub rule: ScheduleRule,
    pub enabled: bool,
}

/// One refusal: where, which field, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub line: usize,
    pub field: String,
    pub message: String,
}

/// Everything wrong with a file, each with its line (nothing is applied then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub path: String,
    pub refusals: Vec<Refusal>,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, r) in self.refusals.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:{}: {}: {}", self.path, r.line, r.field, r.message)?;
        }
        Ok(())
    }
}

/// Reads and checks the file at `path`.
pub fn read_file(path: &Path) -> Result<Declared, Refused> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Refused {
        path: source.clone(),
        refusals: vec![Refusal {
            line: 0,
            field: "file".into(),
            message: format!("cannot read it: {e}"),
        }],
    })?;
    read(
        &source,
        &text,
        path.parent().unwrap_or(Path::new(".")),
        &|var| std::env::var(var).ok(),
    )
}

/// Checks `text` (the file at `source`); relative `*_file` paths are taken from `base`,
/// `env` reads environment variables.
pub fn read(
    source: &str,
    text: &str,
    base: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Declared, Refused> {
    let refused = |refusals| Refused {
        path: source.to_string(),
        refusals,
    };
    let file: FileModel = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(0, |span| line_at(text, span.start));
        refused(vec![Refusal {
            line,
            field: "syntax".into(),
            message: e.message().to_string(),
        }])
    })?;
    let mut reader = Reader {
        text,
        base,
        env,
        refusals: Vec::new(),
    };
    let netbox = file.netbox.as_ref().and_then(|entry| reader.netbox(entry));
    let proxmox: Vec<ProxmoxEndpointInput> = file
        .proxmox
        .iter()
        .filter_map(|entry| reader.proxmox(entry))
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for entry in &file.proxmox {
        if !seen.insert(entry.get_ref().name.trim().to_string()) {
            reader.refuse(
                entry.span(),
                "name",
                format!("a second [[proxmox]] named {:?}", entry.get_ref().name),
            );
        }
    }
    let schedules = file
        .schedule
        .iter()
        .filter_map(|entry| reader.schedule(entry, &file.proxmox))
        .collect();
    let settings = file
        .settings
        .as_ref()
        .map(|table| reader.settings(table))
        .unwrap_or_default();
    let setting_lines = match &file.settings {
        Some(table) => settings
            .keys()
            .map(|name| (name.clone(), line_of_key(text, table.span(), name)))
            .collect(),
        None => BTreeMap::new(),
    };
    if !reader.refusals.is_empty() {
        reader.refusals.sort_by_key(|r| r.line);
        return Err(refused(reader.refusals));
    }
    Ok(Declared {
        source: source.to_string(),
        netbox,
        proxmox,
        schedules,
        settings,
        setting_lines,
    })
}

struct Reader<'a> {
    text: &'a str,
    base: &'a Path,
    env: &'a dyn Fn(&str) -> Option<String>,
    refusals: Vec<Refusal>,
}

impl Reader<'_> {
    fn refuse(&mut self, entry: Range<usize>, field: &str, message: String) {
        let line = line_of_key(self.text, entry, field);
        self.refusals.push(Refusal {
            line,
            field: field.to_string(),
            message,
        });
    }

    /// A form's outcome: its input when it passed and its secret was found (a missing
    /// secret was refused already), else each refusal at the key of the file its form
    /// field came from.
    fn accepted<T>(
        &mut self,
        entry: Range<usize>,
        validated: Result<T, FieldErrors>,
        has_secret: bool,
        key_of: impl Fn(&str) -> String,
    ) -> Option<T> {
        match validated {
            Ok(input) => has_secret.then_some(input),
            Err(errors) => {
                for (field, message) in errors.0 {
                    self.refuse(entry.clone(), &key_of(&field), message);
                }
                None
            }
        }
    }

    /// A secret from `<key>_env` or `<key>_file`; a secret written in the file is refused.
    fn secret(
        &mut self,
        entry: Range<usize>,
        key: &str,
        inline: Option<&toml::Value>,
        from_env: Option<&str>,
        from_file: Option<&Path>,
    ) -> Option<String> {
        if inline.is_some() {
            self.refuse(
                entry,
                key,
                format!("a secret does not belong in the file (it ends up in git and backups): set {key}_env = \"VARIABLE\" or {key}_file = \"/path/to/file\" instead"),
            );
            return None;
        }
        let file = from_file.map(|path| self.base.join(path));
        match read_secret(from_env, file.as_deref(), self.env) {
            Ok(secret) => Some(secret),
            Err(SecretError::Unset(var)) => {
                self.refuse(
                    entry,
                    &format!("{key}_env"),
                    format!("the environment variable {var} is not set"),
                );
                None
            }
            Err(SecretError::Unreadable(path, e)) => {
                self.refuse(
                    entry,
                    &format!("{key}_file"),
                    format!("cannot read {}: {e}", path.display()),
                );
                None
            }
            Err(SecretError::NotGiven) => {
                self.refuse(
                    entry,
                    key,
                    format!("give {key}_env = \"VARIABLE\" or {key}_file = \"/path\""),
                );
                None
            }
        }
    }

    fn ca(&mut self, entry: Range<usize>, ca_file: Option<&Path>) -> Option<String> {
        let path = self.base.join(ca_file?);
        match std::fs::read_to_string(&path) {
            Ok(pem) => Some(pem),
            Err(e) => {
                self.refuse(
                    entry,
                    "ca_file",
                    format!("cannot read {}: {e}", path.display()),
                );
                None
            }
        }
    }

    fn proxmox(&mut self, spanned: &Spanned<ProxmoxEntry>) -> Option<ProxmoxEndpointInput> {
        let (entry, span) = (spanned.get_ref(), spanned.span());
        let by_token = is_token_login(entry.token_id.as_deref(), entry.username.as_deref());
        let secret = if by_token {
            self.secret(
                span.clone(),
                "token_secret",
                entry.token_secret.as_ref(),
                entry.token_secret_env.as_deref(),
                entry.token_secret_file.as_deref(),
            )
        } else {
            self.secret(
                span.clone(),
                "password",
                entry.password.as_ref(),
                entry.password_env.as_deref(),
                entry.password_file.as_deref(),
            )
        };
        let ca_pem = self.ca(span.clone(), entry.ca_file.as_deref());
        let form = ProxmoxEndpointForm {
            name: entry.name.clone(),
            url: entry.url.clone(),
            verify_tls: checkbox(entry.verify_tls),
            ca_pem: ca_pem.unwrap_or_default(),
            timeout_secs: entry.timeout_secs.unwrap_or(30).to_string(),
            enabled: checkbox(entry.enabled),
            watch: checkbox(entry.watch),
            ..ProxmoxEndpointForm::default()
        }
        .with_login(
            entry.token_id.clone(),
            entry.username.clone(),
            secret.clone().unwrap_or_default(),
        );
        let secret_key = if by_token { "token_secret" } else { "password" };
        self.accepted(
            span,
            form.validate(secret.is_none()),
            secret.is_some(),
            |field| match field {
                "ca_pem" => "ca_file".into(),
                "token_secret" | "password" => secret_key.into(),
                "auth_kind" => "token_id".into(),
                other => other.into(),
            },
        )
    }

    fn netbox(&mut self, spanned: &Spanned<NetboxEntry>) -> Option<NetboxEndpointInput> {
        let (entry, span) = (spanned.get_ref(), spanned.span());
        let token = self.secret(
            span.clone(),
            "token",
            entry.token.as_ref(),
            entry.token_env.as_deref(),
            entry.token_file.as_deref(),
        );
        let ca_pem = self.ca(span.clone(), entry.ca_file.as_deref());
        let form = NetboxEndpointForm {
            url: entry.url.clone(),
            token: token.clone().unwrap_or_default(),
            verify_tls: checkbox(entry.verify_tls),
            ca_pem: ca_pem.unwrap_or_default(),
            timeout_secs: entry.timeout_secs.unwrap_or(30).to_string(),
        };
        self.accepted(
            span,
            form.validate(token.is_none()),
            token.is_some(),
            |field| match field {
                "ca_pem" => "ca_file".into(),
                other => other.into(),
            },
        )
    }

    fn schedule(
        &mut self,
        spanned: &Spanned<ScheduleEntry>,
        endpoints: &[Spanned<ProxmoxEntry>],
    ) -> Option<DeclaredSchedule> {
        let (entry, span) = (spanned.get_ref(), spanned.span());
        if !endpoints
            .iter()
            .any(|e| e.get_ref().name.trim() == entry.endpoint.trim())
        {
            self.refuse(
                span.clone(),
                "endpoint",
                format!("no [[proxmox]] in this file is named {:?}", entry.endpoint),
            );
        }
        let names: Vec<&str> = entry.stages.iter().map(String::as_str).collect();
        let stages = match stage_set(&names) {
            Ok(stages) => Some(stages),
            Err(e) => {
                self.refuse(span.clone(), "stages", e);
                None
            }
        };
        let when = match (entry.every_minutes, &entry.cron) {
            (Some(minutes), None) => minutes.to_string(),
            (None, Some(cron)) => cron.clone(),
            (Some(_), Some(_)) => {
                self.refuse(span, "cron", "give every_minutes or cron, not both".into());
                return None;
            }
            (None, None) => {
                self.refuse(
                    span,
                    "every_minutes",
                    "give every_minutes = N or cron = \"M H * * *\"".into(),
                );
                return None;
            }
        };
        let key = if entry.cron.is_some() {
            "cron"
        } else {
            "every_minutes"
        };
        let rule = match parse_when(&when) {
            Ok(rule) => rule,
            Err(e) => {
                self.refuse(span, key, e);
                return None;
            }
        };
        Some(DeclaredSchedule {
            endpoint: entry.endpoint.trim().to_string(),
            stages: stages?,
            when,
            rule,
            enabled: entry.enabled,
        })
    }

    /// Values as the settings page takes them (text); a table or list is refused.
    fn settings(&mut self, spanned: &Spanned<toml::Table>) -> BTreeMap<String, String> {
        let span = spanned.span();
        let mut settings = BTreeMap::new();
        for (name, value) in spanned.get_ref() {
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(n) => n.to_string(),
                toml::Value::Boolean(b) => if *b { "on" } else { "off" }.to_string(),
                _ => {
                    self.refuse(
                        span.clone(),
                        name,
                        "a setting is a string, number or true/false".into(),
                    );
                    continue;
                }
            };
            settings.insert(name.clone(), text);
        }
        settings
    }
}

/// The 1-based line of byte `at`.
fn line_at(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// The line of `key = …` in the table that starts at `entry` (up to the next table
/// header); the table's first line when the key is not written there (a missing field).
fn line_of_key(text: &str, entry: Range<usize>, key: &str) -> usize {
    let start = entry.start.min(text.len());
    // A span may start at the table's header or at its first key: back up to the line's start.
    let start = text[..start].rfind('\n').map_or(0, |at| at + 1);
    let mut offset = start;
    for (i, line) in text[start..].split_inclusive('\n').enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') && i > 0 {
            break;
        }
        if let Some(rest) = trimmed.strip_prefix(key) {
            if rest.trim_start().starts_with('=') {
                return line_at(text, offset);
            }
        }
        offset += line.len();
    }
    line_at(text, start)
}

#[cfg(test)]
mod tests;
