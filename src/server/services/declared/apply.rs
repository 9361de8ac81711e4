//! Applying a declared file: read what the database holds, plan, make the changes (not
//! with `dry_run`), and return them for the caller to print or log.

use super::plan::{plan, Change, Current};
use super::Declared;
use crate::server::infra::crypto::SecretBox;
use crate::server::infra::db::endpoints::SaveError;
use crate::server::infra::db::Db;
use crate::server::services::schedules::{self, ScheduleInput};
use crate::server::services::settings::{effective, store, JobSettings, Proposal};

/// Who the changes are recorded as (setting and schedule history).
const BY: &str = "configuration file";

/// How often applying starts again from a fresh read when another instance applied the
/// same file at the same moment (it added an endpoint this one was about to add).
const ATTEMPTS: usize = 3;

/// Why one attempt stopped.
enum Stopped {
    /// Another instance may have made a change of this plan first (an endpoint's name or a
    /// schedule's endpoint and stages taken): read again and plan again. The message is the
    /// failure's, should it persist.
    Raced(String),
    Failed(String),
}

/// What applying did (or, with `dry_run`, would do); an error stops at the first failed
/// change and says which. Instances that apply one file at once (several starting on one
/// PostgreSQL) all succeed: the one that comes second finds the changes made.
pub async fn apply(
    db: &Db,
    secrets: &SecretBox,
    base: &JobSettings,
    declared: &Declared,
    dry_run: bool,
) -> Result<Vec<Change>, String> {
    let mut attempt = 1;
    loop {
        match apply_once(db, secrets, base, declared, dry_run).await {
            Ok(changes) => return Ok(changes),
            Err(Stopped::Raced(_)) if attempt < ATTEMPTS => attempt += 1,
            Err(Stopped::Raced(message) | Stopped::Failed(message)) => return Err(message),
        }
    }
}

async fn apply_once(
    db: &Db,
    secrets: &SecretBox,
    base: &JobSettings,
    declared: &Declared,
    dry_run: bool,
) -> Result<Vec<Change>, Stopped> {
    let current = read_current(db, secrets, base)
        .await
        .map_err(Stopped::Failed)?;
    let changes =
        plan(declared, &current).map_err(|refused| Stopped::Failed(refused.to_string()))?;
    if dry_run {
        return Ok(changes);
    }
    let source = declared.source.as_str();
    let failed = |change: &Change, e: &dyn std::fmt::Display| {
        Stopped::Failed(format!("{}: {e}", change.describe()))
    };
    let mut settings = Vec::new();
    // The endpoints by name, with those added below: the schedules (planned after them)
    // name theirs.
    let mut endpoint_ids: std::collections::HashMap<String, i64> = current
        .proxmox
        .iter()
        .map(|(row, _)| (row.name.clone(), row.id))
        .collect();
    for change in &changes {
        match change {
            Change::SaveNetbox { input, .. } => {
                db.save_netbox_endpoint(input, secrets)
                    .await
                    .map_err(|e| failed(change, &e))?;
                db.set_managed_by(None, Some(source))
                    .await
                    .map_err(|e| failed(change, &e))?;
            }
            Change::RemoveNetbox => {
                db.delete_netbox_endpoint()
                    .await
                    .map_err(|e| failed(change, &e))?;
            }
            Change::AddProxmox(input) => {
                let id = match db.insert_proxmox_endpoint(input, secrets).await {
                    Ok(id) => id,
                    Err(e @ SaveError::DuplicateName) => {
                        return Err(Stopped::Raced(format!("{}: {e}", change.describe())))
                    }
                    Err(e) => return Err(failed(change, &e)),
                };
                endpoint_ids.insert(input.name.clone(), id);
                db.set_managed_by(Some(id), Some(source))
                    .await
                    .map_err(|e| failed(change, &e))?;
            }
            Change::UpdateProxmox { id, input, .. } => {
                db.update_proxmox_endpoint(*id, input, secrets)
                    .await
                    .map_err(|e| failed(change, &e))?;
                db.set_managed_by(Some(*id), Some(source))
                    .await
                    .map_err(|e| failed(change, &e))?;
            }
            Change::RemoveProxmox { id, .. } => {
                db.delete_proxmox_endpoint(*id)
                    .await
                    .map_err(|e| failed(change, &e))?;
            }
            Change::PutSchedule { schedule, .. } => {
                let endpoint_id = *endpoint_ids
                    .get(&schedule.endpoint)
                    .ok_or_else(|| failed(change, &"its endpoint is not there"))?;
                let input = ScheduleInput {
                    endpoint_id,
                    stages: schedule.stages.split(',').collect(),
                    when: &schedule.when,
                    enabled: schedule.enabled,
                };
                schedules::put(db, &input, BY).await.map_err(|e| {
                    Stopped::Raced(format!("{}: {}", change.describe(), e.as_lines()))
                })?;
            }
            Change::Setting {
                setting,
                before,
                after,
            } => settings.push((*setting, before.clone(), after.clone())),
        }
    }
    if !settings.is_empty() {
        let proposal = Proposal {
            settings: current.settings.clone(),
            changes: settings,
        };
        store(db, &proposal, BY)
            .await
            .map_err(|e| Stopped::Failed(format!("saving the settings: {e}")))?;
    }
    Ok(changes)
}

async fn read_current(db: &Db, secrets: &SecretBox, base: &JobSettings) -> Result<Current, String> {
    let text = |e: crate::server::infra::db::DbError| format!("reading the database: {e}");
    let proxmox = db
        .proxmox_endpoints()
        .await
        .map_err(text)?
        .into_iter()
        .map(|row| {
            let secret = row.secret(secrets);
            (row, secret)
        })
        .collect();
    let netbox = db.netbox_endpoint().await.map_err(text)?.map(|row| {
        let token = row.token(secrets).ok();
        (row, token)
    });
    let schedules = db.schedules().await.map_err(text)?;
    let stored = db.stored_settings().await.map_err(text)?;
    Ok(Current {
        proxmox,
        netbox,
        schedules,
        settings: effective(base, &stored),
    })
}
