//! Clients for the configured endpoints, built from their database rows (secrets decrypted
//! here and nowhere else), and the peers of a sync: what the engine needs of the stored
//! endpoints.

use std::time::Duration;

use proxbox_netbox::{NetboxClient, NetboxOptions};
use proxbox_pve::{Credentials, PveClient, PveOptions};

use crate::events::ErrorCategory;
use crate::models::ProxmoxAuthKind;
use crate::server::infra::crypto::{KeyError, Sealed, SecretBox};
use crate::server::infra::db::endpoints::{
    NetboxEndpointRow, ProxmoxEndpointRow, PROXMOX_PASSWORD, PROXMOX_TOKEN_SECRET,
};
use crate::server::infra::db::Db;
use crate::server::sync::context::ClusterSource;
use crate::server::sync::failure::StageError;

/// Why a client could not be built (a connection test reports it as it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSetupError {
    pub category: &'static str,
    pub message: String,
    pub suggestion: String,
}

impl From<KeyError> for PeerSetupError {
    fn from(e: KeyError) -> Self {
        PeerSetupError {
            category: "validation",
            message: e.to_string(),
            suggestion: "Enter the credential again in the endpoint's form.".into(),
        }
    }
}

fn open(
    secrets: &SecretBox,
    purpose: &str,
    stored: Option<&str>,
) -> Result<String, PeerSetupError> {
    let stored = stored.ok_or_else(|| PeerSetupError {
        category: "validation",
        message: "no secret is stored for this endpoint".into(),
        suggestion: "Edit the endpoint and enter its token secret or password.".into(),
    })?;
    Ok(secrets.open(purpose, &Sealed::from_stored(stored.to_string()))?)
}

pub fn proxmox_client(
    row: &ProxmoxEndpointRow,
    secrets: &SecretBox,
) -> Result<PveClient, PeerSetupError> {
    let credentials = match row.auth_kind() {
        ProxmoxAuthKind::Token => Credentials::token(
            &row.token_id,
            Some(&open(
                secrets,
                PROXMOX_TOKEN_SECRET,
                row.token_secret_enc.as_deref(),
            )?),
        ),
        ProxmoxAuthKind::Password => Credentials::Password {
            username: row.username.clone(),
            password: open(secrets, PROXMOX_PASSWORD, row.password_enc.as_deref())?,
        },
    };
    let mut options = PveOptions::new(row.url.clone(), credentials);
    options.verify_tls = row.verify_tls != 0;
    options.ca_pem = Some(row.ca_pem.clone()).filter(|pem| !pem.is_empty());
    options.timeout = Duration::from_secs(row.timeout_secs.max(1) as u64);
    PveClient::new(options).map_err(|e| PeerSetupError {
        category: e.kind.as_str(),
        message: e.message,
        suggestion: e.suggestion,
    })
}

pub fn netbox_client(
    row: &NetboxEndpointRow,
    secrets: &SecretBox,
) -> Result<NetboxClient, PeerSetupError> {
    let mut options = NetboxOptions::new(row.url.clone(), row.token(secrets)?);
    options.verify_tls = row.verify_tls != 0;
    options.ca_pem = Some(row.ca_pem.clone()).filter(|pem| !pem.is_empty());
    options.timeout = Duration::from_secs(row.timeout_secs.max(1) as u64);
    NetboxClient::new(options).map_err(|e| PeerSetupError {
        category: e.kind.as_str(),
        message: e.message,
        suggestion: e.suggestion,
    })
}

/// The NetBox client and the Proxmox sources of a sync, from the stored endpoints that
/// `wanted` picks. Fails with what to fix when NetBox or every Proxmox endpoint is missing.
pub async fn sync_peers(
    db: &Db,
    secrets: &SecretBox,
    wanted: impl Fn(&ProxmoxEndpointRow) -> bool,
) -> Result<(NetboxClient, Vec<ClusterSource>), StageError> {
    let setup = |what: String, e: PeerSetupError| StageError {
        category: ErrorCategory::Validation,
        message: format!("{what}: {}", e.message),
        detail: format!("{what} cannot be used as stored ({}).", e.category),
        suggestion: e.suggestion,
    };
    let netbox_row = db.netbox_endpoint().await?.ok_or_else(|| StageError {
        category: ErrorCategory::Validation,
        message: "No NetBox endpoint is configured".into(),
        detail: "A sync writes into the NetBox endpoint, and none is stored.".into(),
        suggestion: "Add the NetBox endpoint on the Endpoints page, then run the sync again."
            .into(),
    })?;
    let netbox =
        netbox_client(&netbox_row, secrets).map_err(|e| setup("NetBox endpoint".into(), e))?;
    let mut sources = Vec::new();
    for row in db.proxmox_endpoints().await?.iter().filter(|r| wanted(r)) {
        let pve = proxmox_client(row, secrets)
            .map_err(|e| setup(format!("Proxmox endpoint {:?}", row.name), e))?;
        sources.push(ClusterSource {
            endpoint_id: row.id,
            endpoint_name: row.name.clone(),
            pve,
        });
    }
    if sources.is_empty() {
        return Err(StageError {
            category: ErrorCategory::Validation,
            message: "No enabled Proxmox endpoint to sync".into(),
            detail:
                "The sync was asked for endpoints that are disabled, deleted or not configured."
                    .into(),
            suggestion:
                "Add or enable a Proxmox endpoint on the Endpoints page, then run the sync again."
                    .into(),
        });
    }
    Ok((netbox, sources))
}
