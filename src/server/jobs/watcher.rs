//! The watcher: every few seconds, each enabled Proxmox endpoint's `/cluster/resources` and
//! `/cluster/tasks` (two requests), compared with the last look; what changed becomes the
//! smallest sync that covers it (`sync::watch`), queued as a normal job whose "requested
//! by" names the change and the Proxmox task behind it — which the job's NetBox writes then
//! carry into NetBox's change log. The first look of an endpoint is only remembered (what
//! changed before it is the scheduled full update's). A Proxmox that does not answer is
//! asked again later and later (doubling, up to five minutes), never in a storm.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Inner, Jobs, SyncRequest};
use crate::models::SyncTarget;
use crate::server::sync::peers::proxmox_client;
use crate::server::sync::watch::{changes, covering_sync, look, new_tasks, Look};

/// The longest wait between two tries of an endpoint that does not answer.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// What the watcher knows of one endpoint.
#[derive(Default)]
struct Watching {
    look: Option<Look>,
    /// The UPIDs `/cluster/tasks` listed last time.
    seen: HashSet<String>,
    failures: u32,
    next_try: Option<Instant>,
}

/// The `requested_by` of a watched change's job: what the job page shows, and what the
/// job's NetBox writes add to their change log message.
pub const REQUESTED_BY_PREFIX: &str = "watcher: ";

pub(crate) async fn watch(inner: Arc<Inner>, every: Duration) {
    let mut shutdown = inner.shutdown.subscribe();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut endpoints: HashMap<i64, Watching> = HashMap::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let rows = match inner.db.proxmox_endpoints().await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "the watcher could not read the endpoints");
                continue;
            }
        };
        let watched = |r: &&crate::server::infra::db::endpoints::ProxmoxEndpointRow| {
            r.enabled != 0 && r.watch != 0
        };
        endpoints.retain(|id, _| rows.iter().filter(watched).any(|r| r.id == *id));
        for row in rows.iter().filter(watched) {
            let watching = endpoints.entry(row.id).or_default();
            if watching.next_try.is_some_and(|at| Instant::now() < at) {
                continue;
            }
            let pve = match proxmox_client(row, &inner.secrets) {
                Ok(pve) => pve,
                Err(e) => {
                    tracing::warn!(endpoint = %row.name, error = %e.message, "the watcher cannot use this endpoint");
                    continue;
                }
            };
            let read = tokio::try_join!(pve.cluster_resources(), pve.cluster_tasks());
            let (resources, tasks) = match read {
                Ok(read) => read,
                Err(e) => {
                    watching.failures += 1;
                    inner.metrics.watch_looked(&row.name, watching.failures, 0);
                    let wait = (every * 2u32.saturating_pow(watching.failures)).min(MAX_BACKOFF);
                    watching.next_try = Some(Instant::now() + wait);
                    tracing::warn!(
                        endpoint = %row.name,
                        error = %e,
                        retry_in_secs = wait.as_secs(),
                        "the watcher could not read Proxmox; it tries again later"
                    );
                    continue;
                }
            };
            watching.failures = 0;
            watching.next_try = None;
            let now = look(&resources.value);
            let fresh = new_tasks(&tasks.value, &watching.seen);
            watching.seen = tasks.value.iter().map(|t| t.upid.clone()).collect();
            let Some(before) = watching.look.replace(now) else {
                inner.metrics.watch_looked(&row.name, 0, 0);
                continue;
            };
            let after = watching.look.as_ref().expect("just set");
            let changes = changes(&before, after, &fresh);
            inner.metrics.watch_looked(&row.name, 0, changes.len());
            let Some(sync) = covering_sync(&changes) else {
                continue;
            };
            let request = SyncRequest {
                stages: sync.stages.iter().map(|s| s.name().to_string()).collect(),
                endpoint_ids: vec![row.id],
                dry_run: false,
                target: sync.guest.map(|vmid| SyncTarget::Guest { vmid }),
                delete_orphans: None,
            };
            let by = format!("{REQUESTED_BY_PREFIX}{}", sync.provenance);
            match Jobs(inner.clone()).request_sync(&request, &by).await {
                Ok(enqueued) => {
                    tracing::info!(endpoint = %row.name, change = %sync.title, job = enqueued.job_id, "a change in Proxmox queued a sync")
                }
                Err(e) => {
                    tracing::warn!(endpoint = %row.name, change = %sync.title, error = %e, "a change in Proxmox could not queue a sync")
                }
            }
        }
    }
}
