//! Command line and environment configuration. Every option has a `PROXBOX_…` variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::server::web::auth::client::TrustedProxies;
use std::time::Duration;

use crate::models::{Role, Scope, SyncTarget};
use crate::server::jobs::settings::{Fixed, JobSettings, Setting, SyncRules};
use crate::server::sync::context::{SeenPrefixes, Templates};
use crate::server::sync::mapping::MappingRules;
use crate::server::sync::overwrite::OverwritePolicy;

#[derive(Debug, Parser)]
#[command(
    name = "proxbox",
    version,
    about = "Keeps NetBox in step with Proxmox VE clusters."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Clone, Args)]
pub struct GlobalOptions {
    /// Directory for the SQLite database and the generated secret key.
    #[arg(long, env = "PROXBOX_DATA_DIR", default_value = "data", global = true)]
    pub data_dir: PathBuf,
    /// Database URL: sqlite://PATH (default: DATA_DIR/proxbox.db) or postgres://USER@HOST/DB.
    #[arg(
        long,
        env = "PROXBOX_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// 32-byte key (base64 or hex) that encrypts stored credentials; generated into DATA_DIR/secret.key when unset.
    #[arg(
        long,
        env = "PROXBOX_SECRET_KEY",
        global = true,
        hide_env_values = true
    )]
    pub secret_key: Option<String>,
    /// A `proxbox.toml` declaring endpoints, schedules and settings, applied at start
    /// (serve, worker) and by `proxbox config apply`.
    #[arg(long, env = "PROXBOX_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Log filter, e.g. `info` or `proxbox=debug,tower_http=info`.
    #[arg(long, env = "PROXBOX_LOG", default_value = "info", global = true)]
    pub log: String,
    /// Log line format.
    #[arg(long, env = "PROXBOX_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// Parses the command line; `proxbox` alone is `proxbox serve`, so that its options are
/// read from the environment as they are for `proxbox serve`.
pub fn parse_command_line() -> (Cli, clap::ArgMatches) {
    use clap::{CommandFactory, FromArgMatches};
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut matches = Cli::command().get_matches_from(&args);
    if matches.subcommand().is_none() {
        args.push("serve".into());
        matches = Cli::command().get_matches_from(&args);
    }
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    (cli, matches)
}

/// The options as logs and panics may show them: the database URL without its password,
/// the secret key and the first admin's password only as set or not.
impl std::fmt::Debug for GlobalOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalOptions")
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self
                    .database_url
                    .as_deref()
                    .map(crate::server::infra::db::redact_url),
            )
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("config", &self.config)
            .field("log", &self.log)
            .field("log_format", &self.log_format)
            .finish()
    }
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("listen", &self.listen)
            .field("leptos_config", &self.leptos_config)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "<redacted>"),
            )
            .field("admin_user", &self.admin_user)
            .field("cookie_secure", &self.cookie_secure)
            .field("session_hours", &self.session_hours)
            .field("health_refresh_secs", &self.health_refresh_secs)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("header_timeout_secs", &self.header_timeout_secs)
            .field("jobs", &self.jobs)
            .finish()
    }
}

impl GlobalOptions {
    /// The key that seals stored credentials: the given one, or the data directory's
    /// (generated there at first use).
    pub fn secrets(&self) -> Result<crate::server::infra::crypto::SecretBox, String> {
        crate::server::infra::crypto::SecretBox::load_or_create(
            self.secret_key.as_deref(),
            &self.data_dir,
        )
        .map_err(|e| e.to_string())
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("proxbox.db").display()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web app, the API and the job workers (the default).
    Serve(ServeOptions),
    /// Set a new one-time password for a user and print it (creates the user, as an
    /// admin, when missing: the way back in when every admin password is lost).
    ResetPassword {
        /// The user whose password to reset.
        #[arg(default_value = "admin")]
        username: String,
    },
    /// Manage the people who log in, and their roles (admin, operator, viewer).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API keys for machine clients (the NetBox plugin's X-Proxbox-API-Key).
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// List, add, remove and test the Proxmox endpoints (and test the NetBox one).
    #[command(subcommand)]
    Endpoint(crate::server::cli::endpoints::EndpointCommand),
    /// Apply the configuration file (`--config` / PROXBOX_CONFIG) to the database.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Sync an endpoint on an interval (run by `serve` or `worker`; never beside another
    /// job of the same endpoint).
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Run job workers only, without the web server: more capacity for several instances
    /// on one PostgreSQL (a `serve` instance streams the jobs these run).
    Worker(JobOptions),
    /// Run one sync in this terminal with a progress bar. Exit code: 0 done, 1 the run
    /// failed, 2 done but some objects failed, 130 cancelled with Ctrl-C.
    Sync(SyncOptions),
    /// Say what each stage can read with each Proxmox token (and which privilege on which
    /// path it lacks) and what the NetBox token may write. Exit code: 0 every stage of a
    /// full update can run, 1 some cannot.
    Doctor(DoctorOptions),
    /// Take over what another tool set up: `netbox-proxbox` imports the Proxmox endpoints of
    /// the NetBox plugin Proxbox replaces.
    #[command(subcommand)]
    Import(crate::server::cli::import::ImportCommand),
}

#[derive(Debug, Clone, Args)]
pub struct DoctorOptions {
    /// Check only these Proxmox endpoints, by name (repeatable; default: every one).
    #[arg(long = "endpoint")]
    pub endpoints: Vec<String>,
    /// `table` for people, `json` for scripts.
    #[arg(long, value_enum, default_value_t = DoctorOutput::Table)]
    pub output: DoctorOutput,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DoctorOutput {
    Table,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct SyncOptions {
    /// Proxmox endpoints to sync, by name (repeatable; default: every enabled one).
    #[arg(long = "endpoint")]
    pub endpoints: Vec<String>,
    /// Stages to run, with what they depend on (repeatable; default: full update):
    /// devices, virtual-machines, virtual-disks, vm-interfaces, vm-ip-addresses (the older
    /// names vm-disks and ip-addresses still work).
    #[arg(long = "stage")]
    pub stages: Vec<String>,
    /// Show the plan (would_create / would_update / would_delete) without writing.
    #[arg(long)]
    pub dry_run: bool,
    /// Sync one guest only, every stage that keeps something of it: ENDPOINT/VMID.
    #[arg(long, value_name = "ENDPOINT/VMID", conflicts_with_all = ["endpoints", "node"])]
    pub guest: Option<String>,
    /// Sync one node only, its device and interfaces: ENDPOINT/NODE.
    #[arg(long, value_name = "ENDPOINT/NODE", conflicts_with = "endpoints")]
    pub node: Option<String>,
    #[command(flatten)]
    pub rules: SyncRulesArgs,
    /// Print every object's outcome, not only the progress and failures.
    #[arg(long, short)]
    pub verbose: bool,
    /// `text`: a progress bar on stderr; `json`: on stdout, one JSON object per event
    /// (`{"event", "data"}`), then `{"result": {"ok", "exit_code", "stages", "error"}}`.
    #[arg(long, value_enum, default_value_t = SyncOutput::Text)]
    pub output: SyncOutput,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Make the database what the file declares; prints each change (nothing when it
    /// already is). Endpoints it declared before and no longer does are removed.
    Apply {
        /// Print what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyncOutput {
    Text,
    Json,
}

impl SyncOptions {
    /// The endpoint and target `--guest` or `--node` name, if one does.
    pub fn target(&self) -> Result<Option<(String, SyncTarget)>, String> {
        let split = |raw: &str, what: &str| {
            raw.rsplit_once('/')
                .filter(|(endpoint, rest)| !endpoint.is_empty() && !rest.is_empty())
                .map(|(endpoint, rest)| (endpoint.to_string(), rest.to_string()))
                .ok_or_else(|| {
                    format!(
                        "{raw:?} is not ENDPOINT/{what}: name the endpoint, a slash, then the {}",
                        what.to_lowercase()
                    )
                })
        };
        if let Some(raw) = &self.guest {
            let (endpoint, vmid) = split(raw, "VMID")?;
            let vmid = vmid
                .parse()
                .map_err(|_| format!("{vmid:?} in --guest is not a vmid (a number such as 105)"))?;
            return Ok(Some((endpoint, SyncTarget::Guest { vmid })));
        }
        if let Some(raw) = &self.node {
            let (endpoint, name) = split(raw, "NODE")?;
            return Ok(Some((endpoint, SyncTarget::Node { name })));
        }
        Ok(None)
    }
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key and print it once.
    Create {
        name: String,
        /// What the key may do (repeatable): read (what a viewer sees), sync (start and
        /// stream syncs, the NetBox plugin's routes, read jobs) or admin (everything).
        #[arg(long = "scope", required = true, value_parser = parse_scope)]
        scopes: Vec<Scope>,
    },
    /// List the keys (their names, prefixes and scopes; never the keys).
    List,
    /// Delete (revoke) a key.
    Delete { name: String },
}

fn parse_scope(text: &str) -> Result<Scope, String> {
    Scope::parse(text)
        .ok_or_else(|| format!("unknown scope {text:?}; the scopes are read, sync and admin"))
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text)
        .ok_or_else(|| format!("unknown role {text:?}; the roles are admin, operator and viewer"))
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user and print their one-time password (changed at first login).
    Add {
        username: String,
        /// admin (everything), operator (run syncs, read everything) or viewer (read only).
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// List the users and their roles.
    List,
    /// Change a user's role (the last admin keeps theirs).
    SetRole {
        username: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// Remove a user and end their sessions (never the last admin).
    Remove { username: String },
    /// Print a new one-time password for a user and end their sessions.
    ResetPassword { username: String },
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Create or change the schedule of a Proxmox endpoint and stage set.
    Set {
        /// The Proxmox endpoint, by name.
        endpoint: String,
        /// Minutes between two runs.
        #[arg(long, required_unless_present = "cron", conflicts_with = "cron")]
        every_minutes: Option<u32>,
        /// A five-field cron expression, evaluated in UTC (e.g. "30 2 * * *").
        #[arg(long)]
        cron: Option<String>,
        /// Stages to run (repeatable; default: full update).
        #[arg(long = "stage")]
        stages: Vec<String>,
        /// Keep the schedule but do not run it.
        #[arg(long)]
        disabled: bool,
    },
    /// Show the schedules.
    List,
    /// Remove the schedules of a Proxmox endpoint (only that of the stages given, if any).
    Delete {
        endpoint: String,
        #[arg(long = "stage")]
        stages: Vec<String>,
    },
}

#[derive(Clone, Args)]
pub struct ServeOptions {
    /// Address to listen on (default: the site settings' site-addr, 127.0.0.1:3000).
    #[arg(long, env = "PROXBOX_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// A `Leptos.toml` whose site settings (site root, output name) replace the built-in
    /// ones; not needed to run the binary from any directory.
    #[arg(long, env = "PROXBOX_LEPTOS_CONFIG")]
    pub leptos_config: Option<PathBuf>,
    /// Password of the first admin, used only when the database has no user yet.
    #[arg(long, env = "PROXBOX_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// User name of the first admin.
    #[arg(long, env = "PROXBOX_ADMIN_USER", default_value = "admin")]
    pub admin_user: String,
    /// Mark cookies Secure (set this when Proxbox is served over HTTPS).
    #[arg(long, env = "PROXBOX_COOKIE_SECURE", default_value_t = false)]
    pub cookie_secure: bool,
    /// Session lifetime without activity, in hours.
    #[arg(long, env = "PROXBOX_SESSION_HOURS", default_value_t = 12)]
    pub session_hours: u32,
    /// Seconds between the dashboard's keepalive checks of Proxmox, NetBox and the database.
    #[arg(long, env = "PROXBOX_HEALTH_REFRESH_SECS", default_value_t = 30)]
    pub health_refresh_secs: u64,
    /// Reverse proxies (addresses or networks, comma-separated: `10.0.0.5,10.1.0.0/16`)
    /// whose `X-Forwarded-For` names the client, for login throttling; other peers' is ignored.
    #[arg(long, env = "PROXBOX_TRUSTED_PROXIES", value_parser = TrustedProxies::parse, default_value = "")]
    pub trusted_proxies: TrustedProxies,
    /// Seconds a client has to send a request's headers; a kept-alive connection idle as
    /// long is closed (event streams and WebSockets are not affected).
    #[arg(long, env = "PROXBOX_HEADER_TIMEOUT_SECS", default_value_t = 30)]
    pub header_timeout_secs: u64,
    #[command(flatten)]
    pub jobs: JobOptions,
}

/// How sync jobs run (`serve` and `worker`).
#[derive(Debug, Clone, Args)]
pub struct JobOptions {
    /// Sync jobs this instance runs at the same time (0: none; the instance only serves).
    #[arg(long, env = "PROXBOX_WORKERS", default_value_t = 2)]
    pub workers: usize,
    /// Job wall clock in seconds: a longer job stops at its next chunk and ends failed.
    #[arg(long, env = "PROXBOX_JOB_TIMEOUT_SECS", default_value_t = 7200)]
    pub job_timeout_secs: u64,
    /// Seconds between keepalive comments on event streams.
    #[arg(long, env = "PROXBOX_SSE_KEEPALIVE_SECS", default_value_t = 15)]
    pub keepalive_secs: u64,
    /// Days finished jobs and their event logs are kept (removed hourly after that).
    #[arg(long, env = "PROXBOX_JOB_RETENTION_DAYS", default_value_t = 90, value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub job_retention_days: u64,
    /// Seconds between two looks of the watcher at each Proxmox endpoint (a change there
    /// queues the smallest sync that covers it); 0: no watcher.
    #[arg(long, env = "PROXBOX_WATCH_SECS", default_value_t = crate::server::jobs::settings::DEFAULT_WATCH_SECS, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub watch_secs: u64,
    #[command(flatten)]
    pub rules: SyncRulesArgs,
}

/// What a sync may change in NetBox (`serve`, `worker` and `sync` alike).
#[derive(Debug, Clone, Args)]
pub struct SyncRulesArgs {
    /// Delete NetBox VMs whose guest has been gone from Proxmox for the grace period.
    #[arg(long, env = "PROXBOX_DELETE_ORPHANS")]
    pub delete_orphans: bool,
    /// How long a guest must be gone before its VM is deleted, in hours.
    #[arg(long, env = "PROXBOX_ORPHAN_GRACE_HOURS", default_value_t = 24)]
    pub orphan_grace_hours: u64,
    /// Per-field overwrite rules on top of the defaults, e.g.
    /// `description=always,status=on_create` (fields: name, status, vcpus, memory, disk,
    /// interfaces, addresses, role, site, tenant, description, platform, device, vm_type,
    /// start_on_boot, serial, comments, tags, dns_name).
    #[arg(long, env = "PROXBOX_OVERWRITE", value_parser = OverwritePolicy::parse, default_value = "")]
    pub overwrite: OverwritePolicy,
    /// Hours Proxbox's copy of NetBox's VMs, disks, interfaces and addresses is followed
    /// through NetBox's change log before it is rebuilt from full reads; 0 reads NetBox in
    /// full every sync (needed when something changes NetBox without a change log entry).
    #[arg(long, env = "PROXBOX_NETBOX_MIRROR_HOURS", default_value_t = 24)]
    pub netbox_mirror_hours: u64,
    /// Proxmox templates (`template: 1`): `mark` syncs them as offline VMs tagged
    /// `proxmox-template`; `skip` leaves them out (each listed with the reason).
    #[arg(long, env = "PROXBOX_TEMPLATES", value_parser = Templates::parse, default_value = "mark")]
    pub templates: Templates,
    /// Mapping rules as JSON: the tenant, role and platform of matching guests and the site of
    /// matching clusters, e.g. `[{"match": {"tag": "prod"}, "role": "web"}]` (see README).
    #[arg(long, env = "PROXBOX_MAPPING", value_parser = MappingRules::parse, default_value = "")]
    pub mapping: MappingRules,
    /// Days of Proxmox task history kept in Proxbox's database (older tasks are neither
    /// read nor kept).
    #[arg(long, env = "PROXBOX_TASK_RETENTION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub task_retention_days: u64,
    /// A file of mapping rules (the same JSON), applied after those of `--mapping`.
    #[arg(long, env = "PROXBOX_MAPPING_FILE", value_parser = MappingRules::from_path)]
    pub mapping_file: Option<MappingRules>,
    /// Where operators reach Proxbox, e.g. `https://proxbox.example.com`: a sync keeps a
    /// "Proxbox" custom link on NetBox's virtual machines that opens the guest's VM panel.
    #[arg(long, env = "PROXBOX_PUBLIC_URL", value_parser = crate::validation::public_url)]
    pub public_url: Option<String>,
    /// The network of each address Proxbox writes becomes a prefix when NetBox has none
    /// that contains it; networks inside these (comma-separated) are left out; `off`: none.
    #[arg(long, env = "PROXBOX_NETWORK_PREFIXES", value_parser = SeenPrefixes::parse, default_value = crate::server::sync::stages::networks::seen::DEFAULT_LEFT_OUT)]
    pub network_prefixes: SeenPrefixes,
}

/// The engine's defaults, as flags that were not given.
impl Default for SyncRulesArgs {
    fn default() -> Self {
        let SyncRules {
            delete_orphans,
            orphan_grace_hours,
            overwrite,
            netbox_mirror_hours,
            templates,
            mapping,
            task_retention_days,
            mapping_file,
            public_url,
            seen_prefixes,
        } = SyncRules::default();
        SyncRulesArgs {
            delete_orphans,
            orphan_grace_hours,
            overwrite,
            netbox_mirror_hours,
            templates,
            mapping,
            task_retention_days,
            mapping_file,
            public_url,
            network_prefixes: seen_prefixes,
        }
    }
}

impl From<&SyncRulesArgs> for SyncRules {
    fn from(args: &SyncRulesArgs) -> Self {
        SyncRules {
            delete_orphans: args.delete_orphans,
            orphan_grace_hours: args.orphan_grace_hours,
            overwrite: args.overwrite.clone(),
            netbox_mirror_hours: args.netbox_mirror_hours,
            templates: args.templates,
            mapping: args.mapping.clone(),
            task_retention_days: args.task_retention_days,
            mapping_file: args.mapping_file.clone(),
            public_url: args.public_url.clone(),
            seen_prefixes: args.network_prefixes.clone(),
        }
    }
}

impl From<&JobOptions> for JobSettings {
    fn from(options: &JobOptions) -> Self {
        JobSettings {
            workers: options.workers,
            job_timeout: Duration::from_secs(options.job_timeout_secs.max(1)),
            keepalive: Duration::from_secs(options.keepalive_secs.max(1)),
            job_retention: Duration::from_secs(options.job_retention_days.max(1) * 86_400),
            watch: (options.watch_secs > 0).then(|| Duration::from_secs(options.watch_secs)),
            rules: SyncRules::from(&options.rules),
            ..JobSettings::default()
        }
    }
}

impl Default for JobOptions {
    fn default() -> Self {
        JobOptions {
            workers: 2,
            job_timeout_secs: 7200,
            keepalive_secs: 15,
            job_retention_days: 90,
            watch_secs: crate::server::jobs::settings::DEFAULT_WATCH_SECS,
            rules: SyncRulesArgs::default(),
        }
    }
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            listen: None,
            leptos_config: None,
            admin_password: None,
            admin_user: "admin".into(),
            cookie_secure: false,
            session_hours: 12,
            health_refresh_secs: 30,
            trusted_proxies: TrustedProxies::default(),
            header_timeout_secs: crate::server::web::connections::HEADER_TIMEOUT.as_secs(),
            jobs: JobOptions::default(),
        }
    }
}

/// The settings the parsed command line (`matches` of [`Cli`]) gives by flag or
/// environment variable, each with the flag or variable that gave it.
pub fn fixed_by(matches: &clap::ArgMatches) -> Fixed {
    use clap::parser::ValueSource;
    use clap::CommandFactory;
    let mut fixed = Fixed::new();
    let Some((name, sub)) = matches.subcommand() else {
        return fixed;
    };
    let command = Cli::command();
    let Some(definition) = command.find_subcommand(name) else {
        return fixed;
    };
    for setting in Setting::ALL {
        for arg in definition
            .get_arguments()
            .filter(|a| setting.args().contains(&a.get_id().as_str()))
        {
            let id = arg.get_id().as_str();
            let source = match sub.value_source(id) {
                Some(ValueSource::EnvVariable) => arg
                    .get_env()
                    .map(|e| e.to_string_lossy().into_owned())
                    .unwrap_or_else(|| id.to_uppercase()),
                Some(ValueSource::CommandLine) => format!("--{}", id.replace('_', "-")),
                _ => continue,
            };
            fixed.entry(setting).or_insert(source);
        }
    }
    fixed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync_args(args: &[&str]) -> Result<SyncOptions, clap::Error> {
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            sync: SyncOptions,
        }
        Wrap::try_parse_from(std::iter::once("proxbox").chain(args.iter().copied())).map(|w| w.sync)
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            global: GlobalOptions,
            #[command(flatten)]
            serve: ServeOptions,
        }
        let parsed = Wrap::try_parse_from([
            "proxbox",
            "--database-url",
            "postgres://proxbox:pg-s3cret@db/proxbox",
            "--secret-key",
            "key-s3cret",
            "--admin-password",
            "admin-s3cret",
        ])
        .unwrap();
        let shown = format!("{:?} {:?}", parsed.global, parsed.serve);
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("db/proxbox") && shown.contains("<redacted>"),
            "{shown}"
        );
    }

    #[test]
    fn guest_and_node_name_their_endpoint() {
        let guest = sync_args(&["--guest", "lab/105"]).unwrap();
        assert_eq!(
            guest.target().unwrap(),
            Some(("lab".into(), SyncTarget::Guest { vmid: 105 }))
        );
        let node = sync_args(&["--node", "dc/one/pve2"]).unwrap();
        assert_eq!(
            node.target().unwrap(),
            Some((
                "dc/one".into(),
                SyncTarget::Node {
                    name: "pve2".into()
                }
            ))
        );
        let bad = sync_args(&["--guest", "lab/web"])
            .unwrap()
            .target()
            .unwrap_err();
        assert!(bad.contains("not a vmid"), "{bad}");
        let bare = sync_args(&["--guest", "105"])
            .unwrap()
            .target()
            .unwrap_err();
        assert!(bare.contains("ENDPOINT/VMID"), "{bare}");
        assert!(sync_args(&["--guest", "lab/1", "--endpoint", "lab"]).is_err());
        assert_eq!(sync_args(&[]).unwrap().target().unwrap(), None);
    }
}
