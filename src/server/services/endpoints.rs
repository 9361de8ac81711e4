//! Saving a Proxmox endpoint: the one way, for the page's form, its server function, the
//! command line and the configuration file alike.

use crate::error::AppError;
use crate::models::ProxmoxEndpointForm;
use crate::server::infra::crypto::SecretBox;
use crate::server::infra::db::endpoints::SaveError;
use crate::server::infra::db::Db;

/// The one way an endpoint is saved, from the page's form or the server function.
pub async fn save_proxmox(
    db: &Db,
    secrets: &SecretBox,
    by: &str,
    id: Option<i64>,
    form: ProxmoxEndpointForm,
) -> Result<i64, AppError> {
    let existing = match id {
        Some(id) => Some(
            db.proxmox_endpoint(id)
                .await?
                .ok_or_else(|| AppError::NotFound(format!("Proxmox endpoint {id}")))?,
        ),
        None => None,
    };
    crate::models::declared_in(existing.as_ref().and_then(|row| row.managed_by.as_deref()))?;
    let has_stored_secret = existing
        .as_ref()
        .is_some_and(|row| row.keeps_secret_for(&form));
    let input = form.validate(has_stored_secret)?;
    let result = match id {
        Some(id) => db
            .update_proxmox_endpoint(id, &input, secrets)
            .await
            .map(|()| id),
        None => db.insert_proxmox_endpoint(&input, secrets).await,
    };
    let saved_id = match result {
        Ok(id) => id,
        Err(SaveError::DuplicateName) => {
            let mut errors = crate::validation::FieldErrors::default();
            errors.add(
                "name",
                format!(
                    "An endpoint named {:?} already exists; choose another name.",
                    input.name
                ),
            );
            return Err(errors.into());
        }
        Err(SaveError::NotFound) => return Err(AppError::NotFound("the Proxmox endpoint".into())),
        Err(SaveError::Db(e)) => return Err(AppError::internal(e)),
    };
    tracing::info!(%by, endpoint = saved_id, name = %input.name, "saved Proxmox endpoint");
    Ok(saved_id)
}
