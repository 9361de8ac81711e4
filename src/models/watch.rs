//! What the watcher saw change in Proxmox, as the dashboard's live feed and an endpoint's
//! watch history show it. The server words every line (the browser only places the text),
//! which keeps the bundle from carrying the formatting.

use serde::{Deserialize, Serialize};

/// One change the watcher saw, and whether it reached NetBox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchedChange {
    pub endpoint: String,
    /// When the watcher saw it (UTC, as `format_utc` writes it).
    pub seen: String,
    /// `web-1 moved pve1 → pve2 by alice@pve`.
    pub change: String,
    /// The Proxmox task behind it (`qmigrate of 105 by alice@pve, UPID:…`), as NetBox's
    /// change log records it. Only the server-rendered history shows it: the browser
    /// build does not read it.
    #[cfg_attr(feature = "hydrate", serde(skip_deserializing))]
    pub provenance: String,
    /// The job that carries it.
    pub job_id: Option<i64>,
    /// `in NetBox 3.1 s later`, `waiting for job 42`, `job 42 failed`, or why no job runs.
    pub outcome: String,
    /// Whether it is in NetBox.
    pub reached: bool,
}

/// The watcher at a glance: what it saw last, and what fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LiveFeed {
    /// Whether the watcher runs (the `watch_secs` setting is not 0).
    pub on: bool,
    /// The newest changes, newest first.
    pub changes: Vec<WatchedChange>,
    /// One line per endpoint the watcher cannot read, saying what fails and when it tries
    /// again.
    pub problems: Vec<String>,
}
