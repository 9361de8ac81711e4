//! Applying a declared file: read what the database holds, plan, make the changes (not
//! with `dry_run`), and return them for the caller to print or log.

use super::plan::{plan, Change, Current};
use super::Declared;
use crate::server::crypto::SecretBox;
use crate::server::db::Db;
use crate::server::schedules::{self, ScheduleInput};
use crate::server::settings::{effective, store, JobSettings, Proposal};

/// Who the changes are recorded as (setting and schedule history).
const BY: &str = "configuration file";

/// What applying did (or, with `dry_run`, would do); an error stops at the first failed
/// change and says which.
pub async fn apply(
    db: &Db,
    secrets: &SecretBox,
    base: &JobSettings,
    declared: &Declared,
    dry_run: bool,
) -> Result<Vec<Change>, String> {
    let current = read_current(db, secrets, base).await?;
    let changes = plan(declared, &current).map_err(|refused| refused.to_string())?;
    if dry_run {
        return Ok(changes);
    }
    let source = declared.source.as_str();
    let failed = |change: &Change, e: &dyn std::fmt::Display| format!("{}: {e}", change.describe());
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
                let id = db
                    .insert_proxmox_endpoint(input, secrets)
                    .await
                    .map_err(|e| failed(change, &e))?;
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
                schedules::put(db, &input, BY)
                    .await
                    .map_err(|e| failed(change, &e.as_lines()))?;
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
            .map_err(|e| format!("saving the settings: {e}"))?;
    }
    Ok(changes)
}

async fn read_current(db: &Db, secrets: &SecretBox, base: &JobSettings) -> Result<Current, String> {
    let text = |e: crate::server::db::DbError| format!("reading the database: {e}");
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
