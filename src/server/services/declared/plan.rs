//! What applying a declared file changes, compared with the database as read: a pure
//! function of the two, so that `--dry-run` and the real run print the same plan, and a
//! second run of an unchanged file plans nothing.

use super::{Declared, DeclaredSchedule, Refusal, Refused};
use crate::models::{NetboxEndpointInput, ProxmoxCredentials, ProxmoxEndpointInput};
use crate::server::infra::db::endpoints::{NetboxEndpointRow, ProxmoxEndpointRow};
use crate::server::infra::db::schedules::ScheduleRow;
use crate::server::services::settings::{propose, JobSettings, Setting};

/// The database as it stands, with the stored secrets readable.
pub struct Current {
    pub proxmox: Vec<(ProxmoxEndpointRow, Option<String>)>,
    pub netbox: Option<(NetboxEndpointRow, Option<String>)>,
    pub schedules: Vec<ScheduleRow>,
    pub settings: JobSettings,
}

#[derive(Clone, PartialEq)]
pub enum Change {
    AddProxmox(ProxmoxEndpointInput),
    UpdateProxmox {
        id: i64,
        input: ProxmoxEndpointInput,
        fields: Vec<&'static str>,
    },
    /// Declared by the file before, not any more.
    RemoveProxmox {
        id: i64,
        name: String,
        /// The endpoint the file now declares at the same address: a rename, which is a
        /// removal and an add (what Proxbox keeps of the old one goes with it).
        renamed_to: Option<String>,
    },
    SaveNetbox {
        input: NetboxEndpointInput,
        /// Empty when there was no NetBox endpoint.
        fields: Vec<&'static str>,
    },
    RemoveNetbox,
    PutSchedule {
        schedule: DeclaredSchedule,
        before: Option<String>,
    },
    Setting {
        setting: Setting,
        before: String,
        after: String,
    },
}

impl Change {
    /// One line for the terminal and the log.
    pub fn describe(&self) -> String {
        match self {
            Change::AddProxmox(input) => format!("add Proxmox endpoint {:?}", input.name),
            Change::UpdateProxmox { input, fields, .. } => {
                format!(
                    "update Proxmox endpoint {:?}: {}",
                    input.name,
                    fields.join(", ")
                )
            }
            Change::RemoveProxmox {
                name,
                renamed_to: None,
                ..
            } => format!("remove Proxmox endpoint {name:?} (no longer in the file)"),
            Change::RemoveProxmox {
                name,
                renamed_to: Some(new_name),
                ..
            } => format!(
                "remove Proxmox endpoint {name:?}: the file names its address {new_name:?} now, \
                 and a rename is a removal and an add — {name:?}'s identity map, inventory and \
                 schedules are removed with it, and {new_name:?} starts anew (its first sync \
                 adopts the NetBox objects by their recorded identity)"
            ),
            Change::SaveNetbox { input, fields } if fields.is_empty() => {
                format!("add the NetBox endpoint {}", input.url)
            }
            Change::SaveNetbox { fields, .. } => {
                format!("update the NetBox endpoint: {}", fields.join(", "))
            }
            Change::RemoveNetbox => "remove the NetBox endpoint (no longer in the file)".into(),
            Change::PutSchedule { schedule, before } => {
                let now = format!(
                    "{}{}",
                    schedule.rule.describe(),
                    if schedule.enabled { "" } else { ", disabled" }
                );
                match before {
                    Some(before) => format!(
                        "change the schedule of {} ({}): {before} → {now}",
                        schedule.endpoint, schedule.stages
                    ),
                    None => format!(
                        "add a schedule for {} ({}): {now}",
                        schedule.endpoint, schedule.stages
                    ),
                }
            }
            Change::Setting {
                setting,
                before,
                after,
            } => format!("set {}: {before} → {after}", setting.name()),
        }
    }
}

/// The changes that make the database what `declared` says, in the order to apply them
/// (NetBox, endpoints, schedules, settings). Settings the current ones refuse (one fixed
/// by the environment, say) are refused with their line.
pub fn plan(declared: &Declared, current: &Current) -> Result<Vec<Change>, Refused> {
    let mut changes = Vec::new();
    match (&declared.netbox, &current.netbox) {
        (Some(input), None) => changes.push(Change::SaveNetbox {
            input: input.clone(),
            fields: Vec::new(),
        }),
        (Some(input), Some((row, token))) => {
            let fields = netbox_differences(input, row, token.as_deref(), &declared.source);
            if !fields.is_empty() {
                changes.push(Change::SaveNetbox {
                    input: input.clone(),
                    fields,
                });
            }
        }
        (None, Some((row, _))) if row.managed_by.as_deref() == Some(declared.source.as_str()) => {
            changes.push(Change::RemoveNetbox)
        }
        (None, _) => {}
    }
    for input in &declared.proxmox {
        match current
            .proxmox
            .iter()
            .find(|(row, _)| row.name == input.name)
        {
            None => changes.push(Change::AddProxmox(input.clone())),
            Some((row, secret)) => {
                let fields = proxmox_differences(input, row, secret.as_deref(), &declared.source);
                if !fields.is_empty() {
                    changes.push(Change::UpdateProxmox {
                        id: row.id,
                        input: input.clone(),
                        fields,
                    });
                }
            }
        }
    }
    // Only what this file declared goes: another file's endpoints, and those made on the
    // pages, are not this file's to remove.
    for (row, _) in &current.proxmox {
        let declared_here = declared.proxmox.iter().any(|input| input.name == row.name);
        if row.managed_by.as_deref() == Some(declared.source.as_str()) && !declared_here {
            let renamed_to = declared
                .proxmox
                .iter()
                .find(|input| {
                    input.url == row.url
                        && !current.proxmox.iter().any(|(r, _)| r.name == input.name)
                })
                .map(|input| input.name.clone());
            changes.push(Change::RemoveProxmox {
                id: row.id,
                name: row.name.clone(),
                renamed_to,
            });
        }
    }
    for schedule in &declared.schedules {
        let endpoint_id = current
            .proxmox
            .iter()
            .find(|(row, _)| row.name == schedule.endpoint)
            .map(|(row, _)| row.id);
        let existing = current
            .schedules
            .iter()
            .find(|s| Some(s.endpoint_id) == endpoint_id && s.stages == schedule.stages);
        let unchanged = existing.is_some_and(|row| {
            row.rule().as_ref() == Some(&schedule.rule) && (row.enabled != 0) == schedule.enabled
        });
        if !unchanged {
            changes.push(Change::PutSchedule {
                schedule: schedule.clone(),
                before: existing.map(ScheduleRow::summary),
            });
        }
    }
    let proposal = propose(&current.settings, &declared.settings).map_err(|errors| Refused {
        path: declared.source.clone(),
        refusals: errors
            .0
            .into_iter()
            .map(|(field, message)| Refusal {
                line: declared.setting_lines.get(&field).copied().unwrap_or(0),
                field,
                message,
            })
            .collect(),
    })?;
    changes.extend(
        proposal
            .changes
            .into_iter()
            .map(|(setting, before, after)| Change::Setting {
                setting,
                before,
                after,
            }),
    );
    Ok(changes)
}

fn proxmox_differences(
    input: &ProxmoxEndpointInput,
    row: &ProxmoxEndpointRow,
    stored_secret: Option<&str>,
    source: &str,
) -> Vec<&'static str> {
    let (kind, login, secret) = match &input.credentials {
        ProxmoxCredentials::Token { token_id, secret } => ("token", token_id, secret),
        ProxmoxCredentials::Password { username, password } => ("password", username, password),
    };
    let stored_login = if kind == "token" {
        &row.token_id
    } else {
        &row.username
    };
    let other_kind = kind != row.auth_kind;
    differing([
        ("url", input.url != row.url),
        ("login", other_kind || login != stored_login),
        ("secret", other_kind || secret.as_deref() != stored_secret),
        ("verify_tls", input.verify_tls != (row.verify_tls != 0)),
        ("ca_file", !same_ca(input.ca_pem.as_deref(), &row.ca_pem)),
        (
            "timeout_secs",
            i64::from(input.timeout_secs) != row.timeout_secs,
        ),
        ("enabled", input.enabled != (row.enabled != 0)),
        ("watch", input.watch != (row.watch != 0)),
        (
            "managed by the file",
            row.managed_by.as_deref() != Some(source),
        ),
    ])
}

fn netbox_differences(
    input: &NetboxEndpointInput,
    row: &NetboxEndpointRow,
    stored_token: Option<&str>,
    source: &str,
) -> Vec<&'static str> {
    differing([
        ("url", input.url != row.url),
        ("token", input.token.as_deref() != stored_token),
        ("verify_tls", input.verify_tls != (row.verify_tls != 0)),
        ("ca_file", !same_ca(input.ca_pem.as_deref(), &row.ca_pem)),
        (
            "timeout_secs",
            i64::from(input.timeout_secs) != row.timeout_secs,
        ),
        (
            "managed by the file",
            row.managed_by.as_deref() != Some(source),
        ),
    ])
}

/// The names of the fields that differ, in order.
fn differing<const N: usize>(fields: [(&'static str, bool); N]) -> Vec<&'static str> {
    fields
        .into_iter()
        .filter_map(|(name, differs)| differs.then_some(name))
        .collect()
}

/// A declared CA (none: `None`) against the stored one (none: empty), as the forms store it.
fn same_ca(declared: Option<&str>, stored: &str) -> bool {
    declared.unwrap_or_default().trim() == stored.trim()
}
