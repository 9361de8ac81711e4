//! `proxbox endpoint list|add|remove|test`: the Proxmox endpoints (and the NetBox one) from
//! a terminal, for one-off work and scripts. Secrets come from an environment variable or
//! a file, never from the command line (which other users see in `ps`); validation is the
//! endpoint form's, with its messages.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::models::{checkbox, ProxmoxEndpointForm};
use crate::server::infra::crypto::SecretBox;
use crate::server::infra::db::Db;

#[derive(Debug, Subcommand)]
pub enum EndpointCommand {
    /// The Proxmox endpoints and the NetBox endpoint (never their secrets).
    List {
        /// One JSON object per endpoint instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Add a Proxmox endpoint.
    Add(AddEndpoint),
    /// Remove a Proxmox endpoint (what it synced stays in NetBox).
    Remove {
        /// The endpoint's name.
        name: String,
    },
    /// Log in to an endpoint with its stored settings and say what was reached.
    Test {
        /// A Proxmox endpoint's name, or `--netbox`.
        #[arg(required_unless_present = "netbox")]
        name: Option<String>,
        /// Test the NetBox endpoint.
        #[arg(long, conflicts_with = "name")]
        netbox: bool,
    },
}

#[derive(Debug, Args)]
pub struct AddEndpoint {
    /// A name of your choice, unique among the endpoints.
    #[arg(long)]
    pub name: String,
    /// `https://HOST:8006` (the API path is added).
    #[arg(long)]
    pub url: String,
    /// API token id, `USER@REALM!TOKENNAME` (with its secret); without: user and password.
    #[arg(long, conflicts_with = "username")]
    pub token_id: Option<String>,
    /// User for a password login, `USER@REALM`.
    #[arg(long)]
    pub username: Option<String>,
    /// Environment variable holding the token secret or the password.
    #[arg(long, value_name = "VAR", conflicts_with = "secret_file")]
    pub secret_env: Option<String>,
    /// File holding the token secret or the password (its first line).
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,
    /// Accept any certificate (self-signed Proxmox certificates without a CA).
    #[arg(long)]
    pub no_verify_tls: bool,
    /// PEM file of the CA that signed the Proxmox certificate.
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
    /// Seconds per Proxmox request.
    #[arg(long, default_value_t = 30)]
    pub timeout_secs: u32,
    /// Do not let the watcher follow its changes (syncs still include it).
    #[arg(long)]
    pub no_watch: bool,
    /// Add it disabled (syncs skip it until it is enabled on the endpoints page).
    #[arg(long)]
    pub disabled: bool,
}

/// The secret `--secret-env` or `--secret-file` names; the error says which is missing.
fn read_secret(env: Option<&str>, file: Option<&std::path::Path>) -> Result<String, String> {
    use crate::server::infra::secret_source::SecretError;
    crate::server::infra::secret_source::read_secret(env, file, &|var| std::env::var(var).ok()).map_err(|e| match e {
        SecretError::Unset(var) => format!("the environment variable {var} (--secret-env) is not set"),
        SecretError::Unreadable(path, e) => {
            format!("cannot read the secret from {} (--secret-file): {e}", path.display())
        }
        SecretError::NotGiven => {
            "give the secret with --secret-env VAR or --secret-file PATH (never on the command line)".into()
        }
    })
}

impl AddEndpoint {
    /// The form as the endpoints page would post it.
    fn form(&self) -> Result<ProxmoxEndpointForm, String> {
        let secret = read_secret(self.secret_env.as_deref(), self.secret_file.as_deref())?;
        let ca_pem = match &self.ca_file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read --ca-file {}: {e}", path.display()))?,
            None => String::new(),
        };
        Ok(ProxmoxEndpointForm {
            name: self.name.clone(),
            url: self.url.clone(),
            verify_tls: checkbox(!self.no_verify_tls),
            ca_pem,
            timeout_secs: self.timeout_secs.to_string(),
            enabled: checkbox(!self.disabled),
            watch: checkbox(!self.no_watch),
            ..ProxmoxEndpointForm::default()
        }
        .with_login(self.token_id.clone(), self.username.clone(), secret))
    }
}

pub async fn run(db: &Db, secrets: &SecretBox, command: EndpointCommand) -> Result<(), String> {
    match command {
        EndpointCommand::List { json } => list(db, json).await,
        EndpointCommand::Add(add) => {
            let form = add.form()?;
            let id =
                crate::server::services::endpoints::save_proxmox(db, secrets, "cli", None, form)
                    .await
                    .map_err(|e| e.as_lines())?;
            println!("added Proxmox endpoint {:?} (id {id})", add.name.trim());
            Ok(())
        }
        EndpointCommand::Remove { name } => {
            let row = by_name(db, &name).await?;
            crate::models::declared_in(row.managed_by.as_deref()).map_err(|e| e.to_string())?;
            db.delete_proxmox_endpoint(row.id)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(by = "cli", endpoint = row.id, "deleted Proxmox endpoint");
            println!("removed Proxmox endpoint {name:?}");
            Ok(())
        }
        EndpointCommand::Test { name, netbox } => {
            let report = match (name, netbox) {
                (_, true) => {
                    let row = db
                        .netbox_endpoint()
                        .await
                        .map_err(|e| e.to_string())?
                        .ok_or("no NetBox endpoint is configured: add it on the endpoints page")?;
                    crate::server::services::peers::test_netbox(&row, secrets).await
                }
                (Some(name), false) => {
                    let row = by_name(db, &name).await?;
                    crate::server::services::peers::test_proxmox(&row, secrets).await
                }
                (None, false) => return Err("name a Proxmox endpoint, or --netbox".into()),
            };
            if report.ok {
                println!("ok: {}", report.summary);
                Ok(())
            } else {
                Err(format!(
                    "{} ({}); what to do: {}",
                    report.summary,
                    report.category.unwrap_or_default(),
                    report.suggestion.unwrap_or_default()
                ))
            }
        }
    }
}

async fn by_name(
    db: &Db,
    name: &str,
) -> Result<crate::server::infra::db::endpoints::ProxmoxEndpointRow, String> {
    let rows = db.proxmox_endpoints().await.map_err(|e| e.to_string())?;
    let known: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
    rows.into_iter().find(|r| r.name == name).ok_or_else(|| {
        format!(
            "no Proxmox endpoint named {name:?}; the endpoints are: {}",
            known.join(", ")
        )
    })
}

async fn list(db: &Db, json: bool) -> Result<(), String> {
    let proxmox: Vec<_> = db
        .proxmox_endpoints()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|row| row.view())
        .collect();
    let netbox = db
        .netbox_endpoint()
        .await
        .map_err(|e| e.to_string())?
        .map(|row| row.view());
    if json {
        for endpoint in &proxmox {
            let mut line = serde_json::to_value(endpoint).map_err(|e| e.to_string())?;
            line["kind"] = "proxmox".into();
            println!("{line}");
        }
        if let Some(netbox) = &netbox {
            let mut line = serde_json::to_value(netbox).map_err(|e| e.to_string())?;
            line["kind"] = "netbox".into();
            println!("{line}");
        }
        return Ok(());
    }
    for e in &proxmox {
        let login = match e.auth_kind {
            crate::models::ProxmoxAuthKind::Token => format!("token {}", e.token_id),
            crate::models::ProxmoxAuthKind::Password => format!("user {}", e.username),
        };
        println!(
            "proxmox  {:<20} {:<36} {login}{}{}",
            e.name,
            e.url,
            if e.verify_tls {
                ""
            } else {
                ", TLS not verified"
            },
            if e.enabled { "" } else { ", disabled" },
        );
    }
    match &netbox {
        Some(n) => println!("netbox   {:<20} {}", "", n.url),
        None => println!("netbox   (none: add it on the endpoints page)"),
    }
    Ok(())
}
