//! `proxbox import netbox-proxbox`: the Proxmox endpoints of the NetBox plugin Proxbox
//! replaces, made Proxbox endpoints. The plugin never hands out secrets, so each comes from
//! `--secret-env` or, on a terminal, a prompt that does not echo.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};

use clap::{Args, Subcommand};

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
    let row = db
        .netbox_endpoint()
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no NetBox endpoint is configured: add it on the endpoints page (or in the configuration file) first; the plugin's endpoints are read from it")?;
    let netbox = crate::server::sync::peers::netbox_client(&row, secrets)
        .map_err(|e| format!("{} ({})", e.message, e.suggestion))?;
    let endpoints = plugin_endpoints(&netbox).await.map_err(|e| e.to_string())?;
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
