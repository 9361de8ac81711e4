//! `proxbox import netbox-proxbox`: the Proxmox endpoints the NetBox plugin of the system
//! Proxbox replaces holds, made Proxbox endpoints. The plugin serves them at
//! `/api/plugins/proxbox/endpoints/proxmox/` (netbox-proxbox 0.0.15.post2,
//! `netbox_proxbox/api/serializers/endpoints.py:33-116`): the host as `domain` or a nested
//! `ip_address`, `port`, `username`, `token_name`, `verify_ssl`, `timeout`; its `password`
//! and `token_value` are write-only, so every secret comes from the operator.

use serde::Deserialize;

use crate::error::AppError;
use crate::models::{checkbox, ProxmoxEndpointForm};
use crate::server::infra::crypto::SecretBox;
use crate::server::infra::db::Db;
use proxbox_netbox::{ErrorKind, NetboxClient};

pub const PLUGIN_ENDPOINTS: &str = "plugins/proxbox/endpoints/proxmox";

/// A Proxmox endpoint as the plugin's API lists it (the fields an import needs).
#[derive(Debug, Clone, Deserialize)]
pub struct PluginEndpoint {
    pub id: u64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub ip_address: Option<NestedAddress>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub token_name: Option<String>,
    #[serde(default)]
    pub verify_ssl: Option<bool>,
    #[serde(default)]
    pub timeout: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NestedAddress {
    /// CIDR form, `10.0.0.10/24`.
    pub address: String,
}

/// How Proxbox logs in to an imported endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    Token(String),
    Password(String),
}

/// An endpoint of the plugin, as Proxbox will store it (its secret aside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub name: String,
    pub url: String,
    pub login: Login,
    pub verify_tls: bool,
    pub timeout_secs: u32,
}

impl PluginEndpoint {
    /// What Proxbox makes of it, or why it cannot.
    pub fn planned(&self) -> Result<Planned, String> {
        let name = self
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| format!("netbox-proxbox-{}", self.id));
        let host = self
            .domain
            .clone()
            .filter(|d| !d.trim().is_empty())
            .or_else(|| {
                let address = &self.ip_address.as_ref()?.address;
                let host = address.split('/').next()?.to_string();
                // An IPv6 host goes in brackets in a URL.
                Some(if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host
                })
            })
            .ok_or_else(|| {
                format!("plugin endpoint {name:?} has neither a domain nor an IP address")
            })?;
        let username = self
            .username
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "root@pam".into());
        let login = match self.token_name.as_deref().filter(|t| !t.is_empty()) {
            Some(token) => Login::Token(format!("{username}!{token}")),
            None => Login::Password(username),
        };
        Ok(Planned {
            name,
            url: format!("https://{host}:{}", self.port.unwrap_or(8006)),
            login,
            verify_tls: self.verify_ssl.unwrap_or(false),
            timeout_secs: self.timeout.filter(|t| *t > 0).unwrap_or(30),
        })
    }
}

impl Planned {
    /// The endpoint form, as the endpoints page would post it, with its secret.
    pub fn form(&self, secret: String) -> ProxmoxEndpointForm {
        let (token_id, username) = match &self.login {
            Login::Token(id) => (Some(id.clone()), None),
            Login::Password(user) => (None, Some(user.clone())),
        };
        ProxmoxEndpointForm {
            name: self.name.clone(),
            url: self.url.clone(),
            verify_tls: checkbox(self.verify_tls),
            timeout_secs: self.timeout_secs.to_string(),
            enabled: checkbox(true),
            watch: checkbox(true),
            ..ProxmoxEndpointForm::default()
        }
        .with_login(token_id, username, secret)
    }

    /// `API token root@pam!proxbox` / `password of root@pam`.
    pub fn login_words(&self) -> String {
        match &self.login {
            Login::Token(id) => format!("API token {id}"),
            Login::Password(user) => format!("password of {user}"),
        }
    }
}

/// The plugin's Proxmox endpoints, from the NetBox Proxbox is set up with.
pub async fn plugin_endpoints(netbox: &NetboxClient) -> Result<Vec<PluginEndpoint>, AppError> {
    let rows = match netbox.list_raw(PLUGIN_ENDPOINTS, &[], None).await {
        Ok(rows) => rows,
        Err(e) if e.kind == ErrorKind::NotFound => {
            return Err(AppError::Precondition(format!(
                "NetBox at {} has no netbox-proxbox plugin (GET /api/{PLUGIN_ENDPOINTS}/ \
                 answered 404): there is nothing to import. Add the Proxmox endpoints with \
                 `proxbox endpoint add` instead.",
                netbox.base_url()
            )))
        }
        Err(e) => {
            return Err(AppError::Transport(format!(
                "{} ({})",
                e.message, e.suggestion
            )))
        }
    };
    rows.into_iter()
        .map(|row| {
            serde_json::from_value(row).map_err(|e| {
                AppError::Transport(format!(
                    "the plugin's endpoint list is not as netbox-proxbox writes it: {e}"
                ))
            })
        })
        .collect()
}

/// What the import did with one plugin endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    Created {
        planned: Planned,
        id: i64,
    },
    /// A dry run: what would be created.
    WouldCreate {
        planned: Planned,
    },
    /// Proxbox has an endpoint of that name: left as it is.
    Exists {
        name: String,
    },
    /// Not imported, and why (no secret given, no host).
    Skipped {
        name: String,
        why: String,
    },
}

/// Creates a Proxbox endpoint for each of `endpoints` Proxbox has none of that name for
/// (a dry run only says which); `secret_of` gives an endpoint's secret, or why there is
/// none (then it is skipped).
pub async fn import(
    db: &Db,
    secrets: &SecretBox,
    endpoints: &[PluginEndpoint],
    dry_run: bool,
    mut secret_of: impl FnMut(&Planned) -> Result<String, String>,
) -> Result<Vec<Imported>, AppError> {
    let existing = db.proxmox_endpoints().await?;
    let mut done = Vec::new();
    for endpoint in endpoints {
        let planned = match endpoint.planned() {
            Ok(planned) => planned,
            Err(why) => {
                let name = endpoint.name.clone().unwrap_or_default();
                done.push(Imported::Skipped { name, why });
                continue;
            }
        };
        if existing.iter().any(|row| row.name == planned.name) {
            done.push(Imported::Exists { name: planned.name });
            continue;
        }
        if dry_run {
            done.push(Imported::WouldCreate { planned });
            continue;
        }
        let secret = match secret_of(&planned) {
            Ok(secret) => secret,
            Err(why) => {
                done.push(Imported::Skipped {
                    name: planned.name,
                    why,
                });
                continue;
            }
        };
        let form = planned.form(secret);
        let id = crate::server::services::endpoints::save_proxmox(
            db,
            secrets,
            "import netbox-proxbox",
            None,
            form,
        )
        .await?;
        done.push(Imported::Created { planned, id });
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn endpoint(value: serde_json::Value) -> PluginEndpoint {
        serde_json::from_value(value).unwrap()
    }

    /// The rows as the plugin's serializer renders them (netbox-proxbox 0.0.15.post2,
    /// `netbox_proxbox/api/serializers/endpoints.py:33-116`).
    #[test]
    fn a_plugin_endpoint_becomes_a_proxbox_endpoint() {
        let by_domain = endpoint(json!({
            "id": 1, "name": "pve-lab", "domain": "pve.example.com",
            "ip_address": {"id": 42, "address": "10.0.0.10/24", "family": 4},
            "port": 8006, "mode": {"value": "cluster", "label": "Cluster"},
            "username": "root@pam", "token_name": "proxbox", "verify_ssl": false,
            "timeout": null, "site": null, "tags": []
        }));
        assert_eq!(
            by_domain.planned().unwrap(),
            Planned {
                name: "pve-lab".into(),
                url: "https://pve.example.com:8006".into(),
                login: Login::Token("root@pam!proxbox".into()),
                verify_tls: false,
                timeout_secs: 30,
            }
        );
        let by_address = endpoint(json!({
            "id": 2, "name": null, "domain": null,
            "ip_address": {"id": 43, "address": "2001:db8::10/64"},
            "port": 8443, "username": "sync@pve", "token_name": "", "verify_ssl": true,
            "timeout": 60
        }));
        assert_eq!(
            by_address.planned().unwrap(),
            Planned {
                name: "netbox-proxbox-2".into(),
                url: "https://[2001:db8::10]:8443".into(),
                login: Login::Password("sync@pve".into()),
                verify_tls: true,
                timeout_secs: 60,
            }
        );
        let nowhere = endpoint(json!({"id": 3, "name": "x", "domain": "", "ip_address": null}));
        assert!(nowhere
            .planned()
            .unwrap_err()
            .contains("neither a domain nor an IP"));
    }
}
