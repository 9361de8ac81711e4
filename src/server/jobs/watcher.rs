//! The watcher: every few seconds (the `watch_secs` setting), each enabled Proxmox
//! endpoint's `/cluster/resources` and `/cluster/tasks` (two requests), compared with the
//! last look; what changed becomes the smallest sync that covers it (`sync::watch`), queued
//! as a normal job whose "requested by" names the change and the Proxmox task behind it —
//! which the job's NetBox writes then carry into NetBox's change log. Each change is kept
//! in the watch history with its job, and announced to open dashboards.
//!
//! The first look of an endpoint is only remembered (what changed before it is the
//! scheduled full update's). A Proxmox that does not answer is asked again later and later
//! (doubling, up to five minutes), never in a storm, and the dashboard says so. A change
//! whose sync would attach to a run of the same scope that is already running (and may have
//! read the guest before it changed) is carried to the next look instead.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{lock, Inner, Jobs, SyncRequest};
use crate::models::{Broadcast, JobStatus};
use crate::server::infra::db::endpoints::ProxmoxEndpointRow;
use crate::server::infra::db::now_ms;
use crate::server::infra::db::watched::NewWatched;
use crate::server::sync::peers::proxmox_client;
use crate::server::sync::watch::{changes, covering_sync, look, new_tasks, Look, Watched};

/// The longest wait between two tries of an endpoint that does not answer.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// How often a switched-off watcher checks whether it was switched on.
const OFF_RECHECK: Duration = Duration::from_secs(5);

/// The `requested_by` of a watched change's job: what the job page shows, and what the
/// job's NetBox writes add to their change log message.
pub const REQUESTED_BY_PREFIX: &str = "watcher: ";

/// What the watcher knows of one endpoint.
#[derive(Default)]
struct Watching {
    look: Option<Look>,
    /// The UPIDs `/cluster/tasks` listed last time.
    seen: HashSet<String>,
    /// Changes seen (with when, in ms) whose sync is still to be queued.
    carried: Vec<(i64, Watched)>,
    failures: u32,
    next_try: Option<Instant>,
}

/// How the watcher fares with one endpoint, for the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchStatus {
    pub endpoint: String,
    /// Tries in a row that failed (0: it reads the endpoint).
    pub failures: u32,
    /// What the last failed try said.
    pub error: Option<String>,
    /// How long until the next try, as of the failure.
    pub retry_in: Option<Duration>,
}

/// The watcher's state of each endpoint it watches, by endpoint id.
pub type WatchBoard = std::sync::Mutex<BTreeMap<i64, WatchStatus>>;

pub(crate) async fn watch(inner: Arc<Inner>) {
    let mut shutdown = inner.shutdown.subscribe();
    let mut endpoints: HashMap<i64, Watching> = HashMap::new();
    loop {
        let every = inner.settings().watch;
        let pause = every.unwrap_or(OFF_RECHECK);
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.changed() => return,
        }
        let Some(every) = every else {
            // Switched off: what was looked at is stale when it is switched on again.
            endpoints.clear();
            lock(&inner.watch_board).clear();
            continue;
        };
        let rows = match inner.db.proxmox_endpoints().await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "the watcher could not read the endpoints");
                continue;
            }
        };
        let watched: Vec<&ProxmoxEndpointRow> = rows
            .iter()
            .filter(|r| r.enabled != 0 && r.watch != 0)
            .collect();
        endpoints.retain(|id, _| watched.iter().any(|r| r.id == *id));
        lock(&inner.watch_board).retain(|id, _| watched.iter().any(|r| r.id == *id));
        for row in watched {
            let watching = endpoints.entry(row.id).or_default();
            if watching.next_try.is_some_and(|at| Instant::now() < at) {
                continue;
            }
            look_once(&inner, row, watching, every).await;
        }
    }
}

/// One look at one endpoint: read, compare, queue.
async fn look_once(
    inner: &Arc<Inner>,
    row: &ProxmoxEndpointRow,
    watching: &mut Watching,
    every: Duration,
) {
    let pve = match proxmox_client(row, &inner.secrets) {
        Ok(pve) => pve,
        Err(e) => {
            failed(inner, row, watching, every, e.message);
            return;
        }
    };
    let read = tokio::try_join!(pve.cluster_resources(), pve.cluster_tasks());
    let (resources, tasks) = match read {
        Ok(read) => read,
        Err(e) => {
            failed(inner, row, watching, every, e.to_string());
            return;
        }
    };
    watching.failures = 0;
    watching.next_try = None;
    lock(&inner.watch_board).insert(
        row.id,
        WatchStatus {
            endpoint: row.name.clone(),
            failures: 0,
            error: None,
            retry_in: None,
        },
    );
    let now = look(&resources.value);
    let fresh = new_tasks(&tasks.value, &watching.seen);
    watching.seen = tasks.value.iter().map(|t| t.upid.clone()).collect();
    let Some(before) = watching.look.replace(now) else {
        inner.metrics.watch_looked(&row.name, 0, 0);
        return;
    };
    let after = watching.look.as_ref().expect("just set");
    let seen_now = changes(&before, after, &fresh);
    inner.metrics.watch_looked(&row.name, 0, seen_now.len());
    let seen_at = now_ms();
    let mut pending = std::mem::take(&mut watching.carried);
    pending.extend(seen_now.into_iter().map(|w| (seen_at, w)));
    let changes: Vec<Watched> = pending.iter().map(|(_, w)| w.clone()).collect();
    let Some(sync) = covering_sync(&changes) else {
        return;
    };
    let request = SyncRequest {
        stages: sync.stages.iter().map(|s| s.name().to_string()).collect(),
        endpoint_ids: vec![row.id],
        dry_run: false,
        target: sync.target.clone(),
        delete_orphans: None,
    };
    let by = format!("{REQUESTED_BY_PREFIX}{}", sync.provenance);
    let (job_id, problem) = match Jobs(inner.clone()).request_sync(&request, &by).await {
        Ok(enqueued) if enqueued.attached && job_is_running(inner, enqueued.job_id).await => {
            // That run may have read the guest before it changed: ask again next look.
            tracing::info!(endpoint = %row.name, change = %sync.title, job = enqueued.job_id, "a change in Proxmox waits for the running sync of the same scope");
            watching.carried = pending;
            return;
        }
        Ok(enqueued) => {
            tracing::info!(endpoint = %row.name, change = %sync.title, job = enqueued.job_id, "a change in Proxmox queued a sync");
            (Some(enqueued.job_id), None)
        }
        Err(e) => {
            tracing::warn!(endpoint = %row.name, change = %sync.title, error = %e, "a change in Proxmox could not queue a sync");
            (None, Some(e.to_string()))
        }
    };
    let records: Vec<(i64, String, String)> = pending
        .iter()
        .map(|(at, w)| (*at, w.describe(), w.provenance()))
        .collect();
    let new: Vec<NewWatched<'_>> = records
        .iter()
        .map(|(seen_at, change, provenance)| NewWatched {
            seen_at: *seen_at,
            change,
            provenance,
        })
        .collect();
    if let Err(e) = inner
        .db
        .record_watched(row.id, &new, job_id, problem.as_deref())
        .await
    {
        tracing::warn!(endpoint = %row.name, error = %e, "the watcher could not record what it saw");
    }
    // Recorded first, so that a dashboard reading again on the news finds it.
    inner.hub.announce(Broadcast::Watched {
        endpoint: row.name.clone(),
        change: sync.title,
    });
}

async fn job_is_running(inner: &Inner, job_id: i64) -> bool {
    matches!(inner.db.job(job_id).await, Ok(Some(job)) if job.status() == JobStatus::Running)
}

/// A try that failed: the next one comes later, and the dashboard and `/metrics` say so.
fn failed(
    inner: &Inner,
    row: &ProxmoxEndpointRow,
    watching: &mut Watching,
    every: Duration,
    error: String,
) {
    watching.failures += 1;
    inner.metrics.watch_looked(&row.name, watching.failures, 0);
    let wait = (every * 2u32.saturating_pow(watching.failures)).min(MAX_BACKOFF);
    watching.next_try = Some(Instant::now() + wait);
    tracing::warn!(
        endpoint = %row.name,
        error = %error,
        retry_in_secs = wait.as_secs(),
        "the watcher could not read Proxmox; it tries again later"
    );
    lock(&inner.watch_board).insert(
        row.id,
        WatchStatus {
            endpoint: row.name.clone(),
            failures: watching.failures,
            error: Some(error),
            retry_in: Some(wait),
        },
    );
}
