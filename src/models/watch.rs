//! What the watcher saw change in Proxmox, as the dashboard's live feed and an endpoint's
//! watch history show it. The server words the feed's lines (the browser only places the
//! text), which keeps the bundle from carrying the formatting.

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
    /// change log records it.
    pub provenance: String,
    /// The job that carries it.
    pub job_id: Option<i64>,
    /// `in NetBox 3.1 s later`, `waiting for job 42`, `job 42 failed`, or why no job runs.
    pub outcome: String,
    /// Whether it is in NetBox.
    pub reached: bool,
}

/// One line of the dashboard's live feed: the change in words and where it is, worded by
/// the server (`2026-12-07 21:04:05 UTC · lab · web-1 moved pve1 → pve2 by alice@pve — in
/// NetBox 3.1 s later`), so that the browser only places it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedLine {
    pub text: String,
    /// The job that carries it (the line links to its page).
    pub job_id: Option<i64>,
    /// Whether it is in NetBox.
    pub reached: bool,
}

/// The watcher at a glance: what it saw last, and what fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LiveFeed {
    /// Whether the watcher runs (the `watch_secs` setting is not 0).
    pub on: bool,
    /// The newest changes, newest first.
    pub lines: Vec<FeedLine>,
    /// Each endpoint the watcher cannot read, what fails and when it tries again.
    pub problem: Option<String>,
}
