//! The settings jobs run with: how many at once, how long, and the rules of every sync; each
//! setting of the settings page, how it is checked and shown, and how the stored values
//! combine with the defaults and what the deployment fixed. Plain data: the command line
//! (`server::config`) and the settings page fill it, the engine reads it.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::models::SettingInput;
use crate::server::sync::context::{RunOptions, SeenPrefixes, Templates, TASK_READ_CAP};
use crate::server::sync::mapping::MappingRules;
use crate::server::sync::overwrite::OverwritePolicy;

/// How often the watcher looks at each Proxmox endpoint unless told otherwise.
pub const DEFAULT_WATCH_SECS: u64 = 5;

/// How jobs run (the command line's `JobOptions` give them; see `server::config`).
#[derive(Debug, Clone)]
pub struct JobSettings {
    pub workers: usize,
    pub job_timeout: Duration,
    pub keepalive: Duration,
    /// How long finished jobs and their logs are kept.
    pub job_retention: Duration,
    /// How often a running job tells the database it is alive and looks for a cancel.
    pub heartbeat: Duration,
    /// A running job without a heartbeat for this long belongs to a dead instance.
    pub stale_after: Duration,
    /// How often idle workers look for jobs enqueued elsewhere, and schedules are checked.
    pub poll: Duration,
    /// How often the watcher looks at each Proxmox endpoint for changes; `None`: it does
    /// not run.
    pub watch: Option<Duration>,
    /// Orphan deletion and overwrite rules of every job.
    pub rules: SyncRules,
    /// The settings a flag or environment variable gave: stored values do not override
    /// them, and the settings page shows them locked.
    pub fixed: Fixed,
}

impl Default for JobSettings {
    fn default() -> Self {
        JobSettings {
            workers: 2,
            job_timeout: Duration::from_secs(7200),
            keepalive: Duration::from_secs(15),
            job_retention: Duration::from_secs(90 * 86_400),
            heartbeat: Duration::from_secs(5),
            stale_after: Duration::from_secs(30),
            poll: Duration::from_secs(1),
            watch: Some(Duration::from_secs(DEFAULT_WATCH_SECS)),
            rules: SyncRules::default(),
            fixed: Fixed::new(),
        }
    }
}

/// One setting of the settings page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Setting {
    JobTimeoutSecs,
    Workers,
    KeepaliveSecs,
    JobRetentionDays,
    WatchSecs,
    DeleteOrphans,
    OrphanGraceHours,
    NetboxMirrorHours,
    TaskRetentionDays,
    Templates,
    NetworkPrefixes,
    Overwrite,
    Mapping,
}

/// How a number setting is bounded and what it counts.
struct Bounds {
    min: u64,
    max: u64,
    unit: &'static str,
}

impl Setting {
    pub const ALL: [Setting; 13] = [
        Setting::JobTimeoutSecs,
        Setting::Workers,
        Setting::KeepaliveSecs,
        Setting::JobRetentionDays,
        Setting::WatchSecs,
        Setting::DeleteOrphans,
        Setting::OrphanGraceHours,
        Setting::NetboxMirrorHours,
        Setting::TaskRetentionDays,
        Setting::Templates,
        Setting::NetworkPrefixes,
        Setting::Overwrite,
        Setting::Mapping,
    ];

    /// The page's groups of plain fields (overwrite and mapping rules have their own).
    pub const GROUPS: [(&'static str, &'static [Setting]); 2] = [
        (
            "Jobs",
            &[
                Setting::JobTimeoutSecs,
                Setting::Workers,
                Setting::KeepaliveSecs,
                Setting::JobRetentionDays,
                Setting::WatchSecs,
            ],
        ),
        (
            "What a sync may change",
            &[
                Setting::DeleteOrphans,
                Setting::OrphanGraceHours,
                Setting::NetboxMirrorHours,
                Setting::TaskRetentionDays,
                Setting::Templates,
                Setting::NetworkPrefixes,
            ],
        ),
    ];

    /// The stored name and the form field; also the command line argument's id.
    pub fn name(self) -> &'static str {
        match self {
            Setting::JobTimeoutSecs => "job_timeout_secs",
            Setting::Workers => "workers",
            Setting::KeepaliveSecs => "keepalive_secs",
            Setting::JobRetentionDays => "job_retention_days",
            Setting::WatchSecs => "watch_secs",
            Setting::DeleteOrphans => "delete_orphans",
            Setting::OrphanGraceHours => "orphan_grace_hours",
            Setting::NetboxMirrorHours => "netbox_mirror_hours",
            Setting::TaskRetentionDays => "task_retention_days",
            Setting::Templates => "templates",
            Setting::NetworkPrefixes => "network_prefixes",
            Setting::Overwrite => "overwrite",
            Setting::Mapping => "mapping",
        }
    }

    pub fn parse(name: &str) -> Option<Setting> {
        Setting::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The command line arguments (clap ids) that set it.
    pub fn args(self) -> &'static [&'static str] {
        match self {
            Setting::Mapping => &["mapping", "mapping_file"],
            Setting::JobTimeoutSecs => &["job_timeout_secs"],
            Setting::Workers => &["workers"],
            Setting::KeepaliveSecs => &["keepalive_secs"],
            Setting::JobRetentionDays => &["job_retention_days"],
            Setting::WatchSecs => &["watch_secs"],
            Setting::DeleteOrphans => &["delete_orphans"],
            Setting::OrphanGraceHours => &["orphan_grace_hours"],
            Setting::NetboxMirrorHours => &["netbox_mirror_hours"],
            Setting::TaskRetentionDays => &["task_retention_days"],
            Setting::Templates => &["templates"],
            Setting::NetworkPrefixes => &["network_prefixes"],
            Setting::Overwrite => &["overwrite"],
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Setting::JobTimeoutSecs => "Job wall clock",
            Setting::Workers => "Workers",
            Setting::KeepaliveSecs => "Event stream keepalive",
            Setting::JobRetentionDays => "Jobs kept for",
            Setting::WatchSecs => "Follow Proxmox live every",
            Setting::DeleteOrphans => "Delete orphaned VMs",
            Setting::OrphanGraceHours => "Orphan grace period",
            Setting::NetboxMirrorHours => "NetBox copy rebuilt after",
            Setting::TaskRetentionDays => "Task history kept for",
            Setting::Templates => "Proxmox templates",
            Setting::NetworkPrefixes => "Prefixes for networks seen, except",
            Setting::Overwrite => "Overwrite rules",
            Setting::Mapping => "Mapping rules",
        }
    }

    pub fn help(self) -> &'static str {
        match self {
            Setting::JobTimeoutSecs => "A longer job stops at its next chunk and ends failed.",
            Setting::Workers => "Sync jobs this instance runs at the same time; 0 only serves (another instance's workers run the jobs).",
            Setting::KeepaliveSecs => "Seconds between keepalive comments on event streams, for proxies that close quiet connections.",
            Setting::JobRetentionDays => "Finished jobs and their event logs older than this are removed, hourly.",
            Setting::WatchSecs => "Seconds between two looks at each Proxmox endpoint's guests and tasks; a change there queues the smallest sync that covers it. 0 turns the watcher off (syncs then run on schedules and buttons only).",
            Setting::DeleteOrphans => "Delete NetBox VMs whose guest has been gone from Proxmox for the grace period.",
            Setting::OrphanGraceHours => "How long a guest must be gone before its VM is deleted.",
            Setting::NetboxMirrorHours => "Proxbox's copy of NetBox follows NetBox's change log for this long, then is rebuilt from full reads; 0 reads NetBox in full every sync.",
            Setting::TaskRetentionDays => "Older Proxmox tasks are neither read nor kept.",
            Setting::Templates => "mark: synced as offline VMs tagged proxmox-template; skip: left out, each listed with the reason.",
            Setting::NetworkPrefixes => "The network of each address Proxbox writes becomes a prefix when NetBox has none that contains it (in the address's VRF). Networks inside those listed here (comma-separated) are left out; off: no such prefixes.",
            Setting::Overwrite => "Which fields a sync corrects on objects that already exist in NetBox.",
            Setting::Mapping => "The tenant, role, platform and VRF of matching guests and the site of matching clusters, checked against NetBox when saved.",
        }
    }

    fn bounds(self) -> Option<Bounds> {
        let (min, max, unit) = match self {
            Setting::JobTimeoutSecs => (1, 604_800, "seconds"),
            Setting::Workers => (0, 32, "jobs"),
            Setting::KeepaliveSecs => (1, 300, "seconds"),
            Setting::JobRetentionDays => (1, 3_650, "days"),
            Setting::WatchSecs => (0, 3_600, "seconds"),
            Setting::OrphanGraceHours => (0, 8_760, "hours"),
            Setting::NetboxMirrorHours => (0, 8_760, "hours"),
            Setting::TaskRetentionDays => (1, 3_650, "days"),
            _ => return None,
        };
        Some(Bounds { min, max, unit })
    }

    pub fn input(self) -> SettingInput {
        if let Some(b) = self.bounds() {
            return SettingInput::Number {
                min: b.min,
                max: b.max,
                unit: b.unit.into(),
            };
        }
        match self {
            Setting::DeleteOrphans => SettingInput::Switch,
            Setting::Templates => SettingInput::Choice(vec!["mark".into(), "skip".into()]),
            Setting::NetworkPrefixes => SettingInput::Text,
            _ => SettingInput::Choice(Vec::new()),
        }
    }

    /// The setting's value in `settings`, as stored and shown.
    pub fn text(self, settings: &JobSettings) -> String {
        let rules = &settings.rules;
        match self {
            Setting::JobTimeoutSecs => settings.job_timeout.as_secs().to_string(),
            Setting::Workers => settings.workers.to_string(),
            Setting::KeepaliveSecs => settings.keepalive.as_secs().to_string(),
            Setting::JobRetentionDays => (settings.job_retention.as_secs() / 86_400).to_string(),
            Setting::WatchSecs => settings.watch.map_or(0, |w| w.as_secs()).to_string(),
            Setting::DeleteOrphans => switch_text(rules.delete_orphans).into(),
            Setting::OrphanGraceHours => rules.orphan_grace_hours.to_string(),
            Setting::NetboxMirrorHours => rules.netbox_mirror_hours.to_string(),
            Setting::TaskRetentionDays => rules.task_retention_days.to_string(),
            Setting::Templates => templates_text(rules.templates),
            Setting::NetworkPrefixes => rules.seen_prefixes.to_text(),
            Setting::Overwrite => rules.overwrite.to_text(),
            Setting::Mapping => all_mapping(settings).to_json(),
        }
    }

    /// Checks `text` and sets it in `settings`; the error says what to write instead.
    pub fn apply(self, settings: &mut JobSettings, text: &str) -> Result<(), String> {
        let text = text.trim();
        if let Some(b) = self.bounds() {
            let number = text
                .parse::<u64>()
                .ok()
                .filter(|n| (b.min..=b.max).contains(n))
                .ok_or_else(|| {
                    format!(
                        "{} must be a whole number from {} to {} ({}); {text:?} is not",
                        self.label(),
                        b.min,
                        b.max,
                        b.unit
                    )
                })?;
            let rules = &mut settings.rules;
            match self {
                Setting::JobTimeoutSecs => settings.job_timeout = Duration::from_secs(number),
                Setting::Workers => settings.workers = number as usize,
                Setting::KeepaliveSecs => settings.keepalive = Duration::from_secs(number),
                Setting::JobRetentionDays => {
                    settings.job_retention = Duration::from_secs(number * 86_400)
                }
                Setting::WatchSecs => {
                    settings.watch = (number > 0).then(|| Duration::from_secs(number))
                }
                Setting::OrphanGraceHours => rules.orphan_grace_hours = number,
                Setting::NetboxMirrorHours => rules.netbox_mirror_hours = number,
                Setting::TaskRetentionDays => rules.task_retention_days = number,
                _ => unreachable!("only number settings have bounds"),
            }
            return Ok(());
        }
        let rules = &mut settings.rules;
        match self {
            Setting::DeleteOrphans => {
                rules.delete_orphans = crate::validation::parse_switch(text)
                    .ok_or_else(|| format!("{} is on or off; {text:?} is neither", self.label()))?
            }
            Setting::Templates => {
                rules.templates = Templates::parse(text)
                    .map_err(|_| format!("{} is mark or skip; {text:?} is neither", self.label()))?
            }
            Setting::NetworkPrefixes => {
                rules.seen_prefixes =
                    SeenPrefixes::parse(text).map_err(|e| format!("{}: {e}", self.label()))?
            }
            Setting::Overwrite => rules.overwrite = OverwritePolicy::parse(text)?,
            Setting::Mapping => {
                rules.mapping = MappingRules::parse_lines(text)?;
                rules.mapping_file = None;
            }
            _ => unreachable!("number settings are handled above"),
        }
        Ok(())
    }
}

fn switch_text(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

fn templates_text(templates: Templates) -> String {
    templates.name().to_string()
}

/// The rules of `--mapping`, then those of `--mapping-file`: what a job applies.
pub fn all_mapping(settings: &JobSettings) -> MappingRules {
    let rules = &settings.rules;
    rules
        .mapping
        .clone()
        .then(rules.mapping_file.clone().unwrap_or_default())
}

/// The settings a job runs with: `base` (defaults, flags and environment) with the stored
/// values of the settings no flag or variable fixes. A stored value this version cannot
/// read (written by a later one) is left out and logged.
pub fn effective(base: &JobSettings, stored: &[(String, String)]) -> JobSettings {
    let mut settings = base.clone();
    for (name, value) in stored {
        match Setting::parse(name) {
            Some(setting) if base.fixed.contains_key(&setting) => {}
            Some(setting) => {
                if let Err(e) = setting.apply(&mut settings, value) {
                    tracing::warn!(setting = name, error = %e, "stored setting ignored; save it again on the settings page");
                }
            }
            None => tracing::warn!(setting = name, "unknown stored setting ignored"),
        }
    }
    settings
}

/// Settings a flag or environment variable fixes, with what fixed them.
pub type Fixed = BTreeMap<Setting, String>;

/// What a sync may change in NetBox (`serve`, `worker` and `sync` alike).
#[derive(Debug, Clone)]
pub struct SyncRules {
    /// Delete NetBox VMs whose guest has been gone from Proxmox for the grace period.
    pub delete_orphans: bool,
    /// How long a guest must be gone before its VM is deleted, in hours.
    pub orphan_grace_hours: u64,
    /// Per-field overwrite rules on top of the defaults, e.g.
    /// `description=always,status=on_create` (fields: name, status, vcpus, memory, disk,
    /// interfaces, addresses, role, site, tenant, description, platform, device, vm_type,
    /// start_on_boot, serial, comments, tags, dns_name).
    pub overwrite: OverwritePolicy,
    /// Hours Proxbox's copy of NetBox's VMs, disks, interfaces and addresses is followed
    /// through NetBox's change log before it is rebuilt from full reads; 0 reads NetBox in
    /// full every sync (needed when something changes NetBox without a change log entry).
    pub netbox_mirror_hours: u64,
    /// Proxmox templates (`template: 1`): `mark` syncs them as offline VMs tagged
    /// `proxmox-template`; `skip` leaves them out (each listed with the reason).
    pub templates: Templates,
    /// Mapping rules as JSON: the tenant, role and platform of matching guests and the site of
    /// matching clusters, e.g. `[{"match": {"tag": "prod"}, "role": "web"}]` (see docs/configuration.md).
    pub mapping: MappingRules,
    /// Days of Proxmox task history kept in Proxbox's database (older tasks are neither
    /// read nor kept).
    pub task_retention_days: u64,
    /// A file of mapping rules (the same JSON), applied after those of `--mapping`.
    pub mapping_file: Option<MappingRules>,
    /// Where operators reach Proxbox, e.g. `https://proxbox.example.com`: a sync keeps a
    /// "Proxbox" custom link on NetBox's virtual machines that opens the guest's VM panel.
    pub public_url: Option<String>,
    /// Which networks of the addresses Proxbox writes get a prefix.
    pub seen_prefixes: SeenPrefixes,
}

impl Default for SyncRules {
    fn default() -> Self {
        SyncRules {
            delete_orphans: false,
            orphan_grace_hours: 24,
            overwrite: OverwritePolicy::default(),
            netbox_mirror_hours: 24,
            templates: Templates::Mark,
            mapping: MappingRules::default(),
            task_retention_days: 30,
            mapping_file: None,
            public_url: None,
            seen_prefixes: SeenPrefixes::default(),
        }
    }
}

impl SyncRules {
    /// The run options of a sync under these rules.
    pub fn run_options(&self, dry_run: bool) -> RunOptions {
        RunOptions {
            dry_run,
            delete_orphans: self.delete_orphans,
            orphan_grace: std::time::Duration::from_secs(self.orphan_grace_hours * 3600),
            mirror_max_age: (self.netbox_mirror_hours > 0)
                .then(|| std::time::Duration::from_secs(self.netbox_mirror_hours * 3600)),
            templates: self.templates,
            task_retention: std::time::Duration::from_secs(self.task_retention_days * 86_400),
            task_read_cap: TASK_READ_CAP,
            mapping: self
                .mapping
                .clone()
                .then(self.mapping_file.clone().unwrap_or_default()),
            target: None,
            public_url: self.public_url.clone(),
            seen_prefixes: self.seen_prefixes.clone(),
        }
    }
}
