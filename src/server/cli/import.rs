//! `proxbox import netbox-proxbox`: the Proxmox endpoints of the NetBox plugin Proxbox
//! replaces, made Proxbox endpoints. The plugin never hands out secrets, so each comes from
//! `--secret-env` or, on a terminal, a prompt that does not echo.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};

use clap::{Args, Subcommand};

use crate::models::NetboxEndpointInput;
use crate::server::infra::crypto::SecretBox;
use crate::server::infra::db::Db;
use crate::server::services::import_plugin::{import, plugin_endpoints, Imported, Planned};

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Create a Proxbox endpoint for each Proxmox endpoint the netbox-proxbox plugin holds,
    /// read from the NetBox Proxbox is set up with (an endpoint of a name Proxbox has is
    /// left as it is).
    #[command(name = "netbox-proxbox")]
    NetboxProxbox(ImportOptions),
}

#[derive(Debug, Args)]
pub struct ImportOptions {
    /// Where an endpoint's token secret (or password) is: `NAME=VAR` for the endpoint NAME,
    /// or `VAR` for every endpoint without one of its own (repeatable). Without, a terminal
    /// asks; otherwise the endpoint is skipped.
    #[arg(long, value_name = "[NAME=]VAR")]
    pub secret_env: Vec<String>,
    /// Only say what would be created.
    #[arg(long)]
    pub dry_run: bool,
    /// Read the plugin from this NetBox (`https://netbox.example.com`) instead of the one
    /// Proxbox is set up with; when Proxbox has none yet, it becomes Proxbox's NetBox
    /// endpoint. Needs `--netbox-token-env`.
    #[arg(long, value_name = "URL", requires = "netbox_token_env")]
    pub netbox_url: Option<String>,
    /// Environment variable holding the token for `--netbox-url` (one that may read the
    /// plugin's endpoints; for Proxbox's own use, one that may write).
    #[arg(long, value_name = "VAR", requires = "netbox_url")]
    pub netbox_token_env: Option<String>,
}

/// The NetBox to read the plugin from: the one given, else the stored one; and the given
/// one to store as Proxbox's own once the plugin was read, when Proxbox has none.
async fn plugin_netbox(
    db: &Db,
    secrets: &SecretBox,
    options: &ImportOptions,
) -> Result<(proxbox_netbox::NetboxClient, Option<NetboxEndpointInput>), String> {
    let stored = db.netbox_endpoint().await.map_err(|e| e.to_string())?;
    let (Some(url), Some(var)) = (&options.netbox_url, &options.netbox_token_env) else {
        let row = stored.ok_or(
            "no NetBox endpoint is configured: give the NetBox the plugin runs in with \
             --netbox-url URL --netbox-token-env VAR, or add it on the endpoints page first",
        )?;
        let client = crate::server::sync::peers::netbox_client(&row, secrets)
            .map_err(|e| format!("{} ({})", e.message, e.suggestion))?;
        return Ok((client, None));
    };
    let token = std::env::var(var)
        .map_err(|_| format!("the environment variable {var} (--netbox-token-env) is not set"))?;
    let form = crate::models::NetboxEndpointForm {
        url: url.clone(),
        token,
        verify_tls: crate::models::checkbox(true),
        ca_pem: String::new(),
        timeout_secs: String::new(),
    };
    let input = form
        .validate(false)
        .map_err(|e| crate::error::AppError::Validation(e).as_lines())?;
    let client = proxbox_netbox::NetboxClient::new(proxbox_netbox::NetboxOptions::new(
        input.url.clone(),
        input.token.clone().unwrap_or_default(),
    ))
    .map_err(|e| format!("{} ({})", e.message, e.suggestion))?;
    match stored {
        None => Ok((client, Some(input))),
        Some(row) => {
            if row.url != input.url {
                println!(
                    "Proxbox keeps its NetBox endpoint {}; the plugin is read from {}",
                    row.url, input.url
                );
            }
            Ok((client, None))
        }
    }
}

/// The secret variables of `--secret-env`: per endpoint name, and the one for all.
fn secret_vars(given: &[String]) -> (HashMap<String, String>, Option<String>) {
    let mut named = HashMap::new();
    let mut all = None;
    for entry in given {
        match entry.split_once('=') {
            Some((name, var)) => {
                named.insert(name.to_string(), var.to_string());
            }
            None => all = Some(entry.clone()),
        }
    }
    (named, all)
}

/// Reads one line from the terminal without echoing it (`stty -echo` around the read).
fn ask_secret(prompt: &str) -> Result<String, String> {
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
            .is_ok_and(|s| s.success())
    };
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let hidden = stty("-echo");
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if hidden {
        stty("echo");
    }
    eprintln!();
    read.map_err(|e| format!("cannot read the secret: {e}"))?;
    let secret = line.trim_end_matches(['\r', '\n']).to_string();
    if secret.is_empty() {
        return Err("no secret given".into());
    }
    Ok(secret)
}

pub async fn run(db: &Db, secrets: &SecretBox, command: ImportCommand) -> Result<(), String> {
    let ImportCommand::NetboxProxbox(options) = command;
    let (netbox, to_store) = plugin_netbox(db, secrets, &options).await?;
    let endpoints = plugin_endpoints(&netbox).await.map_err(|e| e.to_string())?;
    // The plugin is there: the NetBox it runs in becomes Proxbox's, when Proxbox has none.
    if let Some(input) = to_store {
        if options.dry_run {
            println!(
                "would save NetBox endpoint {} (Proxbox has none)",
                input.url
            );
        } else {
            db.save_netbox_endpoint(&input, secrets)
                .await
                .map_err(|e| format!("cannot save the NetBox endpoint: {e:?}"))?;
            tracing::info!(by = "import netbox-proxbox", url = %input.url, "saved the NetBox endpoint");
            println!("saved NetBox endpoint {} (Proxbox had none)", input.url);
        }
    }
    if endpoints.is_empty() {
        println!("the netbox-proxbox plugin holds no Proxmox endpoint: nothing to import");
        return Ok(());
    }
    let (named, all) = secret_vars(&options.secret_env);
    let interactive = std::io::stdin().is_terminal();
    let dry_run = options.dry_run;
    let secret_of = |planned: &Planned| -> Result<String, String> {
        if let Some(var) = named.get(&planned.name).or(all.as_ref()) {
            return std::env::var(var)
                .map_err(|_| format!("the environment variable {var} (--secret-env) is not set"));
        }
        if interactive {
            return ask_secret(&format!(
                "Secret for {} ({}): ",
                planned.name,
                planned.login_words()
            ));
        }
        Err(format!(
            "no secret: give it with --secret-env {}=VAR",
            planned.name
        ))
    };
    let done = import(db, secrets, &endpoints, dry_run, secret_of)
        .await
        .map_err(|e| e.as_lines())?;
    let mut skipped = 0;
    for outcome in &done {
        match outcome {
            Imported::Created { planned, id } => println!(
                "created Proxmox endpoint {:?} (id {id}): {}, {}",
                planned.name,
                planned.url,
                planned.login_words()
            ),
            Imported::Exists { name } => {
                println!("Proxmox endpoint {name:?} exists already: left as it is")
            }
            Imported::WouldCreate { planned } => println!(
                "would create Proxmox endpoint {:?}: {}, {}",
                planned.name,
                planned.url,
                planned.login_words()
            ),
            Imported::Skipped { name, why } => {
                skipped += 1;
                println!("skipped {name:?}: {why}");
            }
        }
    }
    if skipped > 0 {
        return Err(format!(
            "{skipped} of the plugin's endpoints were not imported (see above)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_variables_are_per_endpoint_or_for_all() {
        let (named, all) = secret_vars(&["pve-lab=LAB".into(), "REST".into()]);
        assert_eq!(named.get("pve-lab").map(String::as_str), Some("LAB"));
        assert_eq!(all.as_deref(), Some("REST"));
    }
}
