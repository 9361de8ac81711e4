//! Proxmox endpoints and the NetBox endpoint. Secrets go in and out only as [`Sealed`].

use sqlx::FromRow;

use super::{is_unique_violation, now_ms, Db, DbError};
use crate::models::{
    NetboxEndpointInput, NetboxEndpointView, ProxmoxAuthKind, ProxmoxCredentials,
    ProxmoxEndpointInput, ProxmoxEndpointView,
};
use crate::server::infra::crypto::{Sealed, SecretBox};

pub const PROXMOX_TOKEN_SECRET: &str = "proxmox.token_secret";
pub const PROXMOX_PASSWORD: &str = "proxmox.password";
pub const NETBOX_TOKEN: &str = "netbox.token";

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("an endpoint with this name already exists")]
    DuplicateName,
    #[error("the endpoint does not exist")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for SaveError {
    fn from(e: sqlx::Error) -> Self {
        if is_unique_violation(&e) {
            SaveError::DuplicateName
        } else {
            SaveError::Db(e.into())
        }
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct ProxmoxEndpointRow {
    pub id: i64,
    pub name: String,
    pub url: String,
    pub auth_kind: String,
    pub token_id: String,
    pub token_secret_enc: Option<String>,
    pub username: String,
    pub password_enc: Option<String>,
    /// Flags are 0/1 (see the migration's note).
    pub verify_tls: i64,
    pub ca_pem: String,
    pub timeout_secs: i64,
    pub enabled: i64,
    /// Whether the watcher follows its changes (0/1).
    pub watch: i64,
    /// The configuration file that declares it, if one does.
    pub managed_by: Option<String>,
}

impl ProxmoxEndpointRow {
    pub fn auth_kind(&self) -> ProxmoxAuthKind {
        ProxmoxAuthKind::parse(&self.auth_kind).unwrap_or_default()
    }

    /// Whether a secret is stored for the given way of logging in.
    pub fn has_secret_for(&self, kind: ProxmoxAuthKind) -> bool {
        match kind {
            ProxmoxAuthKind::Token => self.token_secret_enc.is_some(),
            ProxmoxAuthKind::Password => self.password_enc.is_some(),
        }
    }

    /// Whether a form may keep this row's stored secret by leaving it blank: only while it
    /// still sends it to the same place and login. Otherwise anyone able to edit the
    /// endpoint could point it at their own host and receive the stored secret.
    pub fn keeps_secret_for(&self, form: &crate::models::ProxmoxEndpointForm) -> bool {
        let Some(kind) = ProxmoxAuthKind::parse(&form.auth_kind) else {
            return false;
        };
        let same_login = match kind {
            ProxmoxAuthKind::Token => form.token_id.trim() == self.token_id,
            ProxmoxAuthKind::Password => form.username.trim() == self.username,
        };
        self.has_secret_for(kind)
            && same_login
            && crate::validation::proxmox_url(&form.url).is_ok_and(|url| url == self.url)
            && keeps_trust(
                self.verify_tls,
                &self.ca_pem,
                &form.verify_tls,
                &form.ca_pem,
            )
    }

    pub fn view(&self) -> ProxmoxEndpointView {
        let auth_kind = self.auth_kind();
        ProxmoxEndpointView {
            id: self.id,
            name: self.name.clone(),
            url: self.url.clone(),
            auth_kind,
            token_id: self.token_id.clone(),
            username: self.username.clone(),
            has_secret: self.has_secret_for(auth_kind),
            verify_tls: self.verify_tls != 0,
            ca_pem: self.ca_pem.clone(),
            timeout_secs: self.timeout_secs.clamp(1, u32::MAX as i64) as u32,
            enabled: self.enabled != 0,
            watch: self.watch != 0,
            managed_by: self.managed_by.clone(),
        }
    }

    /// The stored secret of its way of logging in, readable (to compare with a declared one).
    pub fn secret(&self, secrets: &SecretBox) -> Option<String> {
        let (purpose, sealed) = match self.auth_kind() {
            ProxmoxAuthKind::Token => (PROXMOX_TOKEN_SECRET, self.token_secret_enc.as_ref()),
            ProxmoxAuthKind::Password => (PROXMOX_PASSWORD, self.password_enc.as_ref()),
        };
        secrets
            .open(purpose, &Sealed::from_stored(sealed?.clone()))
            .ok()
    }
}

const PROXMOX_COLUMNS: &str =
    "id, name, url, auth_kind, token_id, token_secret_enc, username, password_enc, \
                               verify_tls, ca_pem, timeout_secs, enabled, watch, managed_by";

/// Column values of a validated form; `None` secrets mean "keep what is stored".
struct ProxmoxValues {
    auth_kind: &'static str,
    token_id: String,
    token_secret: Option<Sealed>,
    username: String,
    password: Option<Sealed>,
}

fn proxmox_values(input: &ProxmoxEndpointInput, secrets: &SecretBox) -> ProxmoxValues {
    match &input.credentials {
        ProxmoxCredentials::Token { token_id, secret } => ProxmoxValues {
            auth_kind: "token",
            token_id: token_id.clone(),
            token_secret: secret
                .as_deref()
                .map(|s| secrets.seal(PROXMOX_TOKEN_SECRET, s)),
            username: String::new(),
            password: None,
        },
        ProxmoxCredentials::Password { username, password } => ProxmoxValues {
            auth_kind: "password",
            token_id: String::new(),
            token_secret: None,
            username: username.clone(),
            password: password
                .as_deref()
                .map(|s| secrets.seal(PROXMOX_PASSWORD, s)),
        },
    }
}

impl Db {
    pub async fn proxmox_endpoints(&self) -> Result<Vec<ProxmoxEndpointRow>, DbError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {PROXMOX_COLUMNS} FROM proxmox_endpoints ORDER BY name"
        ))
        .fetch_all(self.readers())
        .await?)
    }

    pub async fn proxmox_endpoint(&self, id: i64) -> Result<Option<ProxmoxEndpointRow>, DbError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {PROXMOX_COLUMNS} FROM proxmox_endpoints WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.readers())
        .await?)
    }

    pub async fn insert_proxmox_endpoint(
        &self,
        input: &ProxmoxEndpointInput,
        secrets: &SecretBox,
    ) -> Result<i64, SaveError> {
        let values = proxmox_values(input, secrets);
        let now = now_ms();
        Ok(sqlx::query_scalar(
            "INSERT INTO proxmox_endpoints (name, url, auth_kind, token_id, token_secret_enc, username, password_enc, \
             verify_tls, ca_pem, timeout_secs, enabled, watch, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $13, $12, $12) RETURNING id",
        )
        .bind(&input.name)
        .bind(&input.url)
        .bind(values.auth_kind)
        .bind(values.token_id)
        .bind(values.token_secret.map(|s| s.as_str().to_string()))
        .bind(values.username)
        .bind(values.password.map(|s| s.as_str().to_string()))
        .bind(i64::from(input.verify_tls))
        .bind(input.ca_pem.clone().unwrap_or_default())
        .bind(i64::from(input.timeout_secs))
        .bind(i64::from(input.enabled))
        .bind(now)
        .bind(i64::from(input.watch))
        .fetch_one(self.pool())
        .await?)
    }

    /// Updates an endpoint. A blank secret keeps the stored one; switching between token
    /// and password login drops the secret of the way no longer used.
    pub async fn update_proxmox_endpoint(
        &self,
        id: i64,
        input: &ProxmoxEndpointInput,
        secrets: &SecretBox,
    ) -> Result<(), SaveError> {
        let values = proxmox_values(input, secrets);
        let done = sqlx::query(
            "UPDATE proxmox_endpoints SET name = $1, url = $2, auth_kind = $3, token_id = $4, \
             token_secret_enc = CASE WHEN $3 = 'token' THEN COALESCE($5, token_secret_enc) ELSE NULL END, \
             username = $6, \
             password_enc = CASE WHEN $3 = 'password' THEN COALESCE($7, password_enc) ELSE NULL END, \
             verify_tls = $8, ca_pem = $9, timeout_secs = $10, enabled = $11, updated_at = $12, \
             watch = $14 WHERE id = $13",
        )
        .bind(&input.name)
        .bind(&input.url)
        .bind(values.auth_kind)
        .bind(values.token_id)
        .bind(values.token_secret.map(|s| s.as_str().to_string()))
        .bind(values.username)
        .bind(values.password.map(|s| s.as_str().to_string()))
        .bind(i64::from(input.verify_tls))
        .bind(input.ca_pem.clone().unwrap_or_default())
        .bind(i64::from(input.timeout_secs))
        .bind(i64::from(input.enabled))
        .bind(now_ms())
        .bind(id)
        .bind(i64::from(input.watch))
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(SaveError::NotFound);
        }
        Ok(())
    }

    pub async fn delete_proxmox_endpoint(&self, id: i64) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM proxmox_endpoints WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn netbox_endpoint(&self) -> Result<Option<NetboxEndpointRow>, DbError> {
        Ok(sqlx::query_as("SELECT url, token_enc, verify_tls, ca_pem, timeout_secs, managed_by FROM netbox_endpoints WHERE id = 1")
            .fetch_optional(self.readers())
            .await?)
    }

    /// Creates or replaces the NetBox endpoint. A `None` token keeps the stored one.
    pub async fn save_netbox_endpoint(
        &self,
        input: &NetboxEndpointInput,
        secrets: &SecretBox,
    ) -> Result<(), SaveError> {
        let now = now_ms();
        let token = input
            .token
            .as_deref()
            .map(|t| secrets.seal(NETBOX_TOKEN, t).as_str().to_string());
        let mut tx = self.begin_write().await?;
        let stored: Option<String> =
            sqlx::query_scalar("SELECT token_enc FROM netbox_endpoints WHERE id = 1")
                .fetch_optional(&mut *tx)
                .await?;
        let Some(token) = token.or(stored.clone()) else {
            return Err(SaveError::NotFound);
        };
        if stored.is_some() {
            sqlx::query(
                "UPDATE netbox_endpoints SET url = $1, token_enc = $2, verify_tls = $3, ca_pem = $4, timeout_secs = $5, \
                 updated_at = $6 WHERE id = 1",
            )
        } else {
            sqlx::query(
                "INSERT INTO netbox_endpoints (id, url, token_enc, verify_tls, ca_pem, timeout_secs, created_at, updated_at) \
                 VALUES (1, $1, $2, $3, $4, $5, $6, $6)",
            )
        }
        .bind(&input.url)
        .bind(token)
        .bind(i64::from(input.verify_tls))
        .bind(input.ca_pem.clone().unwrap_or_default())
        .bind(i64::from(input.timeout_secs))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks the endpoints a configuration file declares (`None`: no longer managed).
    pub async fn set_managed_by(
        &self,
        proxmox_id: Option<i64>,
        managed_by: Option<&str>,
    ) -> Result<(), DbError> {
        match proxmox_id {
            Some(id) => sqlx::query("UPDATE proxmox_endpoints SET managed_by = $1 WHERE id = $2")
                .bind(managed_by)
                .bind(id),
            None => sqlx::query("UPDATE netbox_endpoints SET managed_by = $1 WHERE id = 1")
                .bind(managed_by),
        }
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn delete_netbox_endpoint(&self) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM netbox_endpoints WHERE id = 1")
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct NetboxEndpointRow {
    pub url: String,
    pub token_enc: String,
    pub verify_tls: i64,
    pub ca_pem: String,
    pub timeout_secs: i64,
    /// The configuration file that declares it, if one does.
    pub managed_by: Option<String>,
}

impl NetboxEndpointRow {
    pub fn view(&self) -> NetboxEndpointView {
        NetboxEndpointView {
            url: self.url.clone(),
            has_token: !self.token_enc.is_empty(),
            verify_tls: self.verify_tls != 0,
            ca_pem: self.ca_pem.clone(),
            timeout_secs: self.timeout_secs.clamp(1, u32::MAX as i64) as u32,
            managed_by: self.managed_by.clone(),
        }
    }

    /// Whether a form may keep the stored token by leaving it blank (same NetBox URL only).
    pub fn keeps_token_for(&self, form: &crate::models::NetboxEndpointForm) -> bool {
        crate::validation::netbox_url(&form.url).is_ok_and(|url| url == self.url)
            && keeps_trust(
                self.verify_tls,
                &self.ca_pem,
                &form.verify_tls,
                &form.ca_pem,
            )
    }

    pub fn token(
        &self,
        secrets: &SecretBox,
    ) -> Result<String, crate::server::infra::crypto::KeyError> {
        secrets.open(NETBOX_TOKEN, &Sealed::from_stored(self.token_enc.clone()))
    }
}

/// Whether a form leaves the stored TLS trust as it was (or makes it stricter): a stored
/// secret is sent again without being re-entered only then. Switching verification off,
/// or another CA, could hand it to a host that merely claims the name.
fn keeps_trust(
    stored_verify: i64,
    stored_ca: &str,
    form_verify: &Option<String>,
    form_ca: &str,
) -> bool {
    let weakened = stored_verify != 0 && form_verify.is_none();
    !weakened && form_ca.trim() == stored_ca.trim()
}
