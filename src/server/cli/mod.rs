//! `proxbox` command: parse options, open the database, run the chosen command.

pub mod args;
pub mod endpoints;
pub mod import;
pub mod sync;

use std::process::ExitCode;
use std::sync::Arc;

use tracing_subscriber::EnvFilter;

use crate::error::AppError;
use crate::models::{Role, Scope};
use crate::server::cli::args::{
    ApiKeyCommand, Cli, Command, ConfigCommand, DoctorOptions, DoctorOutput, GlobalOptions,
    JobOptions, LogFormat, ScheduleCommand, ServeOptions, UserCommand,
};
use crate::server::infra::crypto::SecretBox;
use crate::server::infra::db::{redact_url, Db};
use crate::server::jobs::{JobSettings, Jobs};
use crate::server::services::accounts;
use crate::server::services::credentials;
use crate::server::services::schedules::{self, ScheduleInput};
use crate::server::services::settings::Fixed;
use crate::server::web::http;
use crate::server::web::state::{AppState, WebSettings};

pub async fn main() -> ExitCode {
    let (cli, matches) = crate::server::cli::args::parse_command_line();
    let fixed = crate::server::cli::args::fixed_by(&matches);
    init_tracing(&cli.global);
    match run(cli, fixed).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("proxbox: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(options: &GlobalOptions) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = EnvFilter::try_new(&options.log).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: a journal or a log file would keep the escape codes.
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // The logs page keeps what stderr gets (the same filter).
    let logged = tracing_subscriber::registry()
        .with(filter)
        .with(crate::server::infra::log_ring::RingLayer);
    match options.log_format {
        LogFormat::Json => logged.with(stderr.json()).init(),
        LogFormat::Text => logged.with(stderr).init(),
    }
}

async fn run(cli: Cli, fixed: Fixed) -> Result<ExitCode, String> {
    let global = cli.global;
    let db = open_database(&global).await?;
    let command = cli
        .command
        .unwrap_or(Command::Serve(ServeOptions::default()));
    let done = |result: Result<(), String>| result.map(|()| ExitCode::SUCCESS);
    if !fixed.is_empty() {
        let names: Vec<&str> = fixed.keys().map(|s| s.name()).collect();
        tracing::info!(settings = %names.join(","), "set by flags or the environment; the settings page shows them locked");
    }
    match command {
        Command::Serve(options) => done(serve(global, db, options, fixed).await),
        Command::Sync(options) => {
            let code = crate::server::cli::sync::sync(&global, &db, options, fixed).await;
            db.close().await;
            code
        }
        Command::Worker(options) => done(worker(global, db, options, fixed).await),
        Command::ResetPassword { username } => done(reset_password(&db, &username).await),
        Command::User(command) => done(user(&db, command).await),
        Command::ApiKey(command) => done(api_key(&db, command).await),
        Command::Schedule(command) => done(schedule(&db, command).await),
        Command::Config(ConfigCommand::Apply { dry_run }) => {
            let path = global
                .config
                .clone()
                .ok_or("give the file with --config PATH or PROXBOX_CONFIG")?;
            let base = JobSettings {
                fixed,
                ..JobSettings::default()
            };
            let changes = apply_config(&db, &global.secrets()?, &path, &base, dry_run).await?;
            if changes.is_empty() {
                println!("{}: nothing to change", path.display());
            }
            for change in changes {
                let prefix = if dry_run { "would " } else { "" };
                println!("{prefix}{}", change.describe());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Endpoint(command) => {
            let secrets = global.secrets()?;
            done(crate::server::cli::endpoints::run(&db, &secrets, command).await)
        }
        Command::Doctor(options) => doctor(&db, &global.secrets()?, options).await,
        Command::Import(command) => {
            let secrets = global.secrets()?;
            done(crate::server::cli::import::run(&db, &secrets, command).await)
        }
    }
}

/// `proxbox doctor`: the report as a table or JSON; exit code 1 when a stage of a full
/// update cannot run.
async fn doctor(db: &Db, secrets: &SecretBox, options: DoctorOptions) -> Result<ExitCode, String> {
    let known = db.proxmox_endpoints().await.map_err(|e| e.to_string())?;
    let mut report = crate::server::services::doctor::doctor(db, secrets, None)
        .await
        .map_err(|e| e.to_string())?;
    if !options.endpoints.is_empty() {
        if let Some(unknown) = options
            .endpoints
            .iter()
            .find(|name| !known.iter().any(|row| &row.name == *name))
        {
            let names: Vec<&str> = known.iter().map(|row| row.name.as_str()).collect();
            return Err(format!(
                "no Proxmox endpoint named {unknown:?}; the endpoints are: {}",
                names.join(", ")
            ));
        }
        report
            .proxmox
            .retain(|p| options.endpoints.contains(&p.endpoint));
    }
    match options.output {
        DoctorOutput::Table => print!("{}", report.table()),
        DoctorOutput::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        ),
    }
    Ok(if report.blocks_a_full_update() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Reads `path` and applies it (or only plans it): the changes, or every refusal with
/// its file, line and field.
async fn apply_config(
    db: &Db,
    secrets: &SecretBox,
    path: &std::path::Path,
    base: &JobSettings,
    dry_run: bool,
) -> Result<Vec<crate::server::services::declared::plan::Change>, String> {
    let declared = crate::server::services::declared::read_file(path)
        .map_err(|refused| refused.to_string())?;
    crate::server::services::declared::apply::apply(db, secrets, base, &declared, dry_run).await
}

/// At start: the configuration file, when one is given, applied before anything runs
/// (a refused file stops the start, with its reasons).
async fn apply_config_at_start(
    global: &GlobalOptions,
    db: &Db,
    secrets: &SecretBox,
    base: &JobSettings,
) -> Result<(), String> {
    let Some(path) = &global.config else {
        return Ok(());
    };
    let changes = apply_config(db, secrets, path, base, false).await?;
    for change in &changes {
        tracing::info!(file = %path.display(), change = %change.describe(), "configuration applied");
    }
    if changes.is_empty() {
        tracing::info!(file = %path.display(), "configuration file: nothing to change");
    }
    Ok(())
}

async fn reset_password(db: &Db, username: &str) -> Result<(), String> {
    let password = match accounts::reset_password(db, username).await {
        Err(AppError::NotFound(_)) => {
            let password = credentials::generate_password();
            let hash = credentials::hash_password(password.clone())
                .await
                .map_err(|e| e.to_string())?;
            db.create_user(username, &hash, Role::Admin, true)
                .await
                .map_err(|e| e.to_string())?;
            password
        }
        other => other.map_err(|e| e.to_string())?,
    };
    println!("New one-time password for {username}: {password}");
    Ok(())
}

async fn user(db: &Db, command: UserCommand) -> Result<(), String> {
    match command {
        UserCommand::Add { username, role } => {
            let password = accounts::add_user(db, &username, role)
                .await
                .map_err(|e| e.as_lines())?;
            println!(
                "Added {} as {}. One-time password (changed at first login): {password}",
                username.trim(),
                role.as_str()
            );
        }
        UserCommand::List => {
            for user in accounts::users(db).await.map_err(|e| e.as_lines())? {
                let one_time = if user.must_change_password != 0 {
                    "  (one-time password not yet changed)"
                } else {
                    ""
                };
                println!("{:<24} {}{one_time}", user.username, user.role().as_str());
            }
        }
        UserCommand::SetRole { username, role } => {
            accounts::set_role(db, &username, role)
                .await
                .map_err(|e| e.as_lines())?;
            println!("{}: now {}", username.trim(), role.as_str());
        }
        UserCommand::Remove { username } => {
            accounts::remove_user(db, &username)
                .await
                .map_err(|e| e.as_lines())?;
            println!("removed {}", username.trim());
        }
        UserCommand::ResetPassword { username } => {
            let password = accounts::reset_password(db, &username)
                .await
                .map_err(|e| e.as_lines())?;
            println!("New one-time password for {}: {password}", username.trim());
        }
    }
    Ok(())
}

async fn api_key(db: &Db, command: ApiKeyCommand) -> Result<(), String> {
    match command {
        ApiKeyCommand::Create { name, scopes } => {
            let key = accounts::create_api_key(db, &name, &scopes)
                .await
                .map_err(|e| e.as_lines())?;
            println!(
                "API key {name:?} with scopes {} (shown once; send it as X-Proxbox-API-Key):\n{key}",
                Scope::join(&scopes)
            );
            Ok(())
        }
        ApiKeyCommand::List => {
            for key in db.api_keys().await.map_err(|e| e.to_string())? {
                println!(
                    "{:<24} {}…  {}",
                    key.info.name,
                    key.info.prefix,
                    Scope::join(&key.info.scopes)
                );
            }
            Ok(())
        }
        ApiKeyCommand::Delete { name } => {
            if db.delete_api_key(&name).await.map_err(|e| e.to_string())? {
                println!("deleted API key {name:?}");
                Ok(())
            } else {
                Err(format!("no API key named {name:?}"))
            }
        }
    }
}

async fn schedule(db: &Db, command: ScheduleCommand) -> Result<(), String> {
    let endpoints = db.proxmox_endpoints().await.map_err(|e| e.to_string())?;
    let by_name = |name: &str| {
        endpoints.iter().find(|e| e.name == name).ok_or_else(|| {
            let known: Vec<&str> = endpoints.iter().map(|e| e.name.as_str()).collect();
            format!(
                "no Proxmox endpoint named {name:?}; the endpoints are: {}",
                known.join(", ")
            )
        })
    };
    match command {
        ScheduleCommand::Set {
            endpoint,
            every_minutes,
            cron,
            stages,
            disabled,
        } => {
            let row = by_name(&endpoint)?;
            let when = match (every_minutes, cron) {
                (Some(minutes), _) => minutes.to_string(),
                (None, Some(cron)) => cron,
                (None, None) => return Err("give --every-minutes or --cron".into()),
            };
            let input = ScheduleInput {
                endpoint_id: row.id,
                stages: stages.iter().map(String::as_str).collect(),
                when: &when,
                enabled: !disabled,
            };
            let saved = schedules::put(db, &input, "cli")
                .await
                .map_err(|e| e.as_lines())?;
            println!("{endpoint}: {} {}", saved.stages, saved.summary());
        }
        ScheduleCommand::List => {
            for schedule in db.schedules().await.map_err(|e| e.to_string())? {
                let name = endpoints
                    .iter()
                    .find(|e| e.id == schedule.endpoint_id)
                    .map_or("?", |e| e.name.as_str());
                println!(
                    "{name}: {} {}, last job {}",
                    schedule.stages,
                    schedule.summary(),
                    schedule
                        .last_job_id
                        .map_or("none".into(), |id| id.to_string())
                );
            }
        }
        ScheduleCommand::Delete { endpoint, stages } => {
            let row = by_name(&endpoint)?;
            let names: Vec<&str> = stages.iter().map(String::as_str).collect();
            let only = match names.is_empty() {
                true => None,
                false => Some(schedules::stage_set(&names)?),
            };
            let doomed: Vec<_> = db
                .schedules()
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .filter(|s| s.endpoint_id == row.id)
                .filter(|s| only.as_ref().is_none_or(|stages| &s.stages == stages))
                .collect();
            if doomed.is_empty() {
                return Err(format!("{endpoint:?} has no such schedule"));
            }
            for schedule in doomed {
                schedules::delete(db, schedule.id, "cli")
                    .await
                    .map_err(|e| e.as_lines())?;
                println!("{endpoint}: schedule of {} removed", schedule.stages);
            }
        }
    }
    Ok(())
}

async fn open_database(global: &GlobalOptions) -> Result<Db, String> {
    let url = global.database_url();
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&global.data_dir).map_err(|e| {
            format!(
                "cannot create the data directory {}: {e}",
                global.data_dir.display()
            )
        })?;
    }
    let db = Db::connect(&url)
        .await
        .map_err(|e| format!("{e} (database {})", redact_url(&url)))?;
    tracing::info!(database = %redact_url(&url), "database ready");
    accounts::migrate_unscoped_api_keys(&db)
        .await
        .map_err(|e| e.to_string())?;
    Ok(db)
}

async fn serve(
    global: GlobalOptions,
    db: Db,
    options: ServeOptions,
    fixed: Fixed,
) -> Result<(), String> {
    let secrets = global.secrets()?;
    let mut leptos_options = crate::server::web::site::settings(options.leptos_config.as_deref())?;
    if !crate::server::web::site::is_bundled()
        && !std::path::Path::new(&*leptos_options.site_root).is_dir()
    {
        tracing::warn!(
            site_root = %leptos_options.site_root,
            "the site bundle is not there: pages render but do not hydrate; build it with `cargo leptos build`, or install a release archive (`make dist`), whose binary carries it"
        );
    }
    if let Some(listen) = options.listen {
        leptos_options.site_addr = listen;
    }
    let addr = leptos_options.site_addr;
    let first_login =
        accounts::ensure_first_admin(&db, &options.admin_user, options.admin_password.as_deref())
            .await?;
    let secrets = Arc::new(secrets);
    let settings = JobSettings {
        fixed,
        ..JobSettings::from(&options.jobs)
    };
    apply_config_at_start(&global, &db, &secrets, &settings).await?;
    let jobs = Jobs::new(db.clone(), secrets.clone(), settings);
    let mut workers = jobs.start().await.map_err(|e| e.to_string())?;

    let state = AppState {
        leptos_options,
        web: Arc::new(WebSettings {
            cookie_secure: options.cookie_secure,
            session_ttl_ms: i64::from(options.session_hours.max(1)) * 3_600_000,
            health_refresh_secs: options.health_refresh_secs.max(1),
            trusted_proxies: options.trusted_proxies.clone(),
        }),
        services: crate::server::services::Services::new(
            db.clone(),
            secrets,
            jobs.clone(),
            std::time::Duration::from_secs(options.health_refresh_secs.max(1)),
        ),
    };
    let housekeeping = tokio::spawn(crate::server::services::housekeeping::run(jobs.clone()));
    let app = http::router(state);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!(%addr, "listening");
    println!("Proxbox is running at http://{addr}/");
    match first_login {
        Some((user, password)) => println!(
            "First start: log in as {user:?} with the one-time password {password}\n\
             (it is not shown again; `proxbox reset-password {user}` sets a new one)"
        ),
        None => println!(
            "Log in with your Proxbox user; `proxbox reset-password admin` prints a new password if it is lost."
        ),
    }
    let signalled = Arc::new(tokio::sync::Notify::new());
    let server = crate::server::web::connections::serve(
        listener,
        app,
        std::time::Duration::from_secs(options.header_timeout_secs.max(1)),
        stop_on_signal(jobs.clone(), signalled.clone()),
    );
    // Jobs, streams and sockets are told at once; a request still open this long after the
    // signal is cut off, so that a restart takes seconds, not a job's wall clock.
    tokio::select! {
        () = server => {}
        () = async {
            signalled.notified().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => tracing::warn!(grace_secs = SHUTDOWN_GRACE.as_secs(), "requests still open after the shutdown grace; closing them"),
    }
    housekeeping.abort();
    stop_workers(&jobs, &mut workers).await;
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// `proxbox worker`: job workers only, until Ctrl-C or SIGTERM.
async fn worker(
    global: GlobalOptions,
    db: Db,
    options: JobOptions,
    fixed: Fixed,
) -> Result<(), String> {
    let secrets = global.secrets()?;
    if options.workers == 0 {
        return Err("PROXBOX_WORKERS is 0: a worker instance needs at least one worker".into());
    }
    let settings = JobSettings {
        fixed,
        ..JobSettings::from(&options)
    };
    apply_config_at_start(&global, &db, &secrets, &settings).await?;
    let jobs = Jobs::new(db.clone(), Arc::new(secrets), settings);
    let mut workers = jobs.start().await.map_err(|e| e.to_string())?;
    tracing::info!(
        workers = jobs.settings().workers,
        "worker running; stop with Ctrl-C"
    );
    shutdown_signal().await;
    stop_workers(&jobs, &mut workers).await;
    db.close().await;
    Ok(())
}

/// Stops taking jobs and lets running ones stop at their next chunk (they end cancelled,
/// with everything written so far recorded); what does not stop in time is ended as
/// interrupted by the next start.
async fn stop_workers(jobs: &Jobs, workers: &mut tokio::task::JoinSet<()>) {
    jobs.shut_down();
    let drained = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while workers.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("jobs still running at shutdown; the next start marks them interrupted");
        workers.abort_all();
    }
}

/// How long open requests may take to finish after SIGTERM or Ctrl-C.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Waits for the signal, then stops the jobs (at their next chunk) and ends the streams and
/// sockets before the server waits for its connections to close.
async fn stop_on_signal(jobs: Jobs, signalled: Arc<tokio::sync::Notify>) {
    shutdown_signal().await;
    jobs.shut_down();
    signalled.notify_one();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested; finishing open requests");
}
