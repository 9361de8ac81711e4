//! `proxbox sync`: one sync run in a terminal, from the endpoints stored in the database,
//! with a progress bar and an exit code for scripts and cron.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Mutex;

use crate::models::TakeoverReport;
use crate::server::cli::args::{GlobalOptions, SyncOptions, SyncOutput};
use crate::server::infra::db::Db;
use crate::server::jobs::JobSettings;
use crate::server::services::settings::{effective, Fixed};
use crate::server::sync::context::{changelog_message, StopSignal, SyncContext};
use crate::server::sync::peers::sync_peers;
use crate::server::sync::run::{run_sync, RunOutcome};
use crate::server::sync::sink::{EventSink, JsonLines, Tallying};
use crate::server::sync::stage::parse_stages;
use crate::server::sync::terminal::{takeover_summary, ProgressBar};

pub async fn sync(
    global: &GlobalOptions,
    db: &Db,
    mut options: SyncOptions,
    fixed: Fixed,
) -> Result<ExitCode, String> {
    let target = options.target()?;
    if let Some((endpoint, _)) = &target {
        options.endpoints = vec![endpoint.clone()];
    }
    let names: Vec<&str> = options.stages.iter().map(String::as_str).collect();
    let stages = parse_stages(&names)?;
    let secrets = global.secrets()?;
    let rows = db.proxmox_endpoints().await.map_err(|e| e.to_string())?;
    for wanted in &options.endpoints {
        if !rows.iter().any(|r| &r.name == wanted) {
            let known: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
            return Err(format!(
                "no Proxmox endpoint named {wanted:?}; the endpoints are: {}",
                known.join(", ")
            ));
        }
    }
    let (netbox, sources) = sync_peers(db, &secrets, |row| {
        if options.endpoints.is_empty() {
            row.enabled != 0
        } else {
            options.endpoints.contains(&row.name)
        }
    })
    .await
    .map_err(|e| format!("{} ({})", e.message, e.suggestion))?;

    let stderr = std::io::stderr();
    let live = stderr.is_terminal();
    let sink: Box<dyn EventSink> = match options.output {
        SyncOutput::Text => Box::new(ProgressBar::new(stderr, live, options.verbose)),
        SyncOutput::Json => Box::new(JsonLines(Mutex::new(std::io::stdout()))),
    };
    // The settings page's values apply here too, except where a flag or variable says.
    let base = JobSettings {
        rules: (&options.rules).into(),
        fixed,
        ..JobSettings::default()
    };
    let stored = db.stored_settings().await.map_err(|e| e.to_string())?;
    let rules = effective(&base, &stored).rules;
    let stage_names = if names.is_empty() {
        "full-update".to_string()
    } else {
        names.join(",")
    };
    let title = match &target {
        Some((_, target)) => format!("{stage_names} · {}", target.describe()),
        None => stage_names,
    };
    let message = changelog_message("proxbox sync (command line)", &title, &sources);
    let netbox = netbox.with_changelog_message(&message);
    let tallying = Tallying::new(sink.as_ref());
    let mut ctx = SyncContext::new(db, &netbox, sources, &tallying);
    ctx.options = rules.run_options(options.dry_run);
    ctx.options.target = target.map(|(_, target)| target);
    ctx.policy = rules.overwrite.clone();
    let stop = StopSignal::default();
    ctx.stop = stop.clone();
    // Ctrl-C stops at the next chunk, so that nothing is left half-written.
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nstopping after the current chunk (Ctrl-C again to kill)…");
            stop.cancel();
            let _ = tokio::signal::ctrl_c().await;
            std::process::exit(130);
        }
    });
    let operation = format!("cli-{}", crate::server::infra::db::now_ms());
    let outcome = run_sync(&ctx, &stages, &operation).await;
    interrupt.abort();
    let code: u8 = match (&outcome.error, outcome.failed_items()) {
        (Some(e), _) if e.category == crate::events::ErrorCategory::Cancelled => 130,
        (Some(_), _) => 1,
        (None, 0) => 0,
        (None, _) => 2,
    };
    drop(ctx);
    let takeover = tallying.report();
    match options.output {
        SyncOutput::Json => println!("{}", result_line(&outcome, code, &takeover)),
        SyncOutput::Text if takeover.took_over_anything() || options.dry_run => {
            eprint!(
                "{}",
                takeover_summary(&takeover, options.dry_run, options.verbose)
            )
        }
        SyncOutput::Text => {}
    }
    Ok(ExitCode::from(code))
}

/// The last line of `--output json`: how the run ended and the exit code it ends with.
fn result_line(
    outcome: &RunOutcome,
    exit_code: u8,
    takeover: &TakeoverReport,
) -> serde_json::Value {
    let stages: serde_json::Map<String, serde_json::Value> = outcome
        .stages
        .iter()
        .map(|(stage, counts)| {
            (
                stage.name().to_string(),
                serde_json::to_value(counts).unwrap_or_default(),
            )
        })
        .collect();
    let error = outcome.error.as_ref().map(|e| {
        serde_json::json!({
            "category": e.category,
            "message": e.message,
            "detail": e.detail,
            "suggestion": e.suggestion,
        })
    });
    serde_json::json!({
        "result": {
            "ok": outcome.ok && exit_code == 0,
            "exit_code": exit_code,
            "failed_items": outcome.failed_items(),
            "stages": stages,
            "error": error,
            "takeover": takeover,
        }
    })
}
