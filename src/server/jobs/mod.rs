//! Sync jobs: a durable queue in the database, workers in the server process, an event
//! log per job and its live fan-out. A sync never runs inside an HTTP response: requests
//! enqueue (or attach to) a job, and streams replay and tail its log.

pub mod digest;
pub mod hub;
pub mod listen;
pub mod log;
pub mod maintenance;
pub mod settings;
pub mod waiting;
pub mod watcher;
pub mod worker;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use self::hub::JobHub;
use crate::error::AppError;
use crate::events::{Complete, ErrorCategory, SyncEvent};
use crate::models::{Broadcast, JobScope, JobStatus, SyncTarget};
use crate::server::infra::crypto::SecretBox;
use crate::server::infra::db::jobs::{Enqueued, FinishGuard, JobEnd, NewJob};
use crate::server::infra::db::{Backend, Db, DbError};
use crate::server::sync::context::StopSignal;
use crate::server::sync::failure::failure_ending;
use crate::server::sync::failure::StageError;
use crate::server::sync::stage::{parse_stages, FULL_UPDATE};
use settings::effective;
pub use settings::JobSettings;

/// The kind of every sync job (the only kind so far).
pub const SYNC_KIND: &str = "sync";

/// What a caller asks to sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncRequest {
    /// Stage names; empty or `full-update` means every stage.
    pub stages: Vec<String>,
    /// Proxmox endpoint ids; empty means every enabled endpoint.
    pub endpoint_ids: Vec<i64>,
    pub dry_run: bool,
    /// One node or guest of the one endpoint named.
    pub target: Option<SyncTarget>,
    /// Delete (or keep) orphans in this run whatever the setting says; `None`: the setting.
    pub delete_orphans: Option<bool>,
}

/// The job service, cheap to clone; one per process.
#[derive(Clone)]
pub struct Jobs(Arc<Inner>);

pub(crate) struct Inner {
    pub db: Db,
    pub secrets: Arc<SecretBox>,
    pub hub: JobHub,
    /// The settings from defaults, flags and environment; see [`Jobs::settings`].
    pub base: JobSettings,
    /// `base` with the stored settings: what the next job runs with.
    live: RwLock<Arc<JobSettings>>,
    /// How many workers this instance should run (the `workers` setting).
    pub workers_wanted: watch::Sender<usize>,
    /// How many run now (fewer than wanted for a moment after the setting shrinks).
    pub workers_running: AtomicUsize,
    /// Names this process in `jobs.claimed_by` and in notifications.
    pub instance: Arc<str>,
    /// Wakes idle workers when a job is enqueued.
    pub wake: Notify,
    /// Stop signals of the jobs this process runs.
    pub running: Mutex<HashMap<i64, StopSignal>>,
    pub shutdown: watch::Sender<bool>,
    /// Folds of recently viewed jobs' logs.
    pub digests: digest::Digests,
    /// The process's metrics (jobs record theirs as they run).
    pub metrics: Arc<crate::server::infra::metrics::Metrics>,
    /// How the watcher fares with each endpoint it watches.
    pub watch_board: watcher::WatchBoard,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs")
            .field("instance", &self.0.instance)
            .finish_non_exhaustive()
    }
}

impl Jobs {
    pub fn new(db: Db, secrets: Arc<SecretBox>, settings: JobSettings) -> Jobs {
        let instance = format!(
            "{}-{}",
            std::process::id(),
            &crate::server::infra::crypto::random_token()[..8]
        );
        Jobs(Arc::new(Inner {
            db,
            secrets,
            hub: JobHub::default(),
            workers_wanted: watch::channel(settings.workers).0,
            workers_running: AtomicUsize::new(0),
            live: RwLock::new(Arc::new(settings.clone())),
            base: settings,
            instance: instance.into(),
            wake: Notify::new(),
            running: Mutex::default(),
            shutdown: watch::channel(false).0,
            digests: digest::Digests::default(),
            metrics: crate::server::infra::metrics::process_metrics(),
            watch_board: Default::default(),
        }))
    }

    pub fn hub(&self) -> &JobHub {
        &self.0.hub
    }

    pub fn db(&self) -> &Db {
        &self.0.db
    }

    /// Job `job_id`'s log folded up to its latest event.
    pub async fn digest(&self, job_id: i64) -> Result<digest::LogDigest, DbError> {
        self.0.digests.digest(&self.0.db, job_id).await
    }

    pub fn metrics(&self) -> &crate::server::infra::metrics::Metrics {
        &self.0.metrics
    }

    pub fn digests(&self) -> &digest::Digests {
        &self.0.digests
    }

    /// The settings the next job runs with, as last read from the database.
    pub fn settings(&self) -> Arc<JobSettings> {
        self.0.settings()
    }

    /// The jobs this instance runs at the moment, by id.
    pub fn running_here(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = lock(&self.0.running).keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// How the watcher fares with each endpoint it watches, by endpoint id.
    pub fn watch_status(&self) -> Vec<(i64, watcher::WatchStatus)> {
        lock(&self.0.watch_board)
            .iter()
            .map(|(id, status)| (*id, status.clone()))
            .collect()
    }

    /// The job workers this instance runs at the moment.
    pub fn workers_running(&self) -> usize {
        self.0.workers_running.load(Ordering::SeqCst)
    }

    /// Reads the stored settings again (after a change here, before each job, and now and
    /// then for changes another instance made) and applies them to what follows.
    pub async fn reload_settings(&self) -> Result<Arc<JobSettings>, DbError> {
        self.0.reload_settings().await
    }

    /// Starts this process's workers, the maintenance loop (recovery of interrupted jobs,
    /// schedules) and, on PostgreSQL, the bridge to the other instances. Jobs left running
    /// by a dead process are ended first.
    pub async fn start(&self) -> Result<JoinSet<()>, DbError> {
        let inner = &self.0;
        // One SQLite file serves one instance: whatever runs in it now is from a process
        // that died. On PostgreSQL, only jobs whose instance went quiet are.
        let quiet_for = match inner.db.backend() {
            Backend::Sqlite => None,
            Backend::Postgres => Some(inner.base.stale_after.as_millis() as i64),
        };
        maintenance::recover_interrupted(inner, quiet_for).await?;
        inner.reload_settings().await?;
        let mut tasks = JoinSet::new();
        tasks.spawn(worker::supervise(self.0.clone()));
        tasks.spawn(maintenance::maintain(self.0.clone()));
        // Runs whatever the setting says now: it follows the setting as it changes.
        tasks.spawn(watcher::watch(self.0.clone()));
        if inner.db.backend() == Backend::Postgres {
            tasks.spawn(listen::bridge(self.0.clone()));
        }
        Ok(tasks)
    }

    /// Turns true when this process starts shutting down: streams end, sockets close.
    pub fn shutting_down(&self) -> watch::Receiver<bool> {
        self.0.shutdown.subscribe()
    }

    /// Asks the running jobs of this process to stop at their next chunk and the workers
    /// to take no new job.
    pub fn shut_down(&self) {
        let _ = self.0.shutdown.send(true);
        for stop in lock(&self.0.running).values() {
            stop.shut_down();
        }
        self.0.wake.notify_waiters();
    }

    /// Enqueues a sync, or attaches to the pending or running job of the same scope.
    pub async fn request_sync(
        &self,
        request: &SyncRequest,
        requested_by: &str,
    ) -> Result<Enqueued, AppError> {
        let scope = self.resolve_scope(request).await?;
        self.enqueue(&scope, requested_by, None, None).await
    }

    /// Enqueues a job with the parameters of a past one ("run now").
    pub async fn rerun(&self, job_id: i64, requested_by: &str) -> Result<Enqueued, AppError> {
        let job = self
            .0
            .db
            .job(job_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("Job {job_id}")))?;
        self.enqueue(&job.scope(), requested_by, Some(job_id), None)
            .await
    }

    pub(crate) async fn enqueue(
        &self,
        scope: &JobScope,
        requested_by: &str,
        rerun_of: Option<i64>,
        schedule_id: Option<i64>,
    ) -> Result<Enqueued, AppError> {
        let enqueued = self
            .0
            .db
            .enqueue_job(&NewJob {
                kind: SYNC_KIND,
                scope,
                requested_by,
                rerun_of,
                schedule_id,
            })
            .await?;
        if !enqueued.attached {
            tracing::info!(job = enqueued.job_id, stages = %scope.stage_label(), by = requested_by, "job enqueued");
            self.0.wake.notify_waiters();
            let notice = format!("n:{}:{}", self.0.instance, enqueued.job_id);
            if let Err(e) = self.0.db.notify_instances(&notice).await {
                tracing::warn!(error = %e, "could not tell the other instances about a new job");
            }
        }
        Ok(enqueued)
    }

    /// Checks a request against the stored endpoints: named stages exist, endpoints exist
    /// (default: the enabled ones), and NetBox is configured.
    async fn resolve_scope(&self, request: &SyncRequest) -> Result<JobScope, AppError> {
        let names: Vec<&str> = request.stages.iter().map(String::as_str).collect();
        let stages = parse_stages(&names).map_err(AppError::BadRequest)?;
        let stages: Vec<String> = if stages.is_empty() {
            vec![FULL_UPDATE.to_string()]
        } else {
            stages.iter().map(|s| s.name().to_string()).collect()
        };
        let db = &self.0.db;
        if db.netbox_endpoint().await?.is_none() {
            return Err(AppError::Precondition(
                "No NetBox endpoint is configured. Add it on the Endpoints page, then sync.".into(),
            ));
        }
        let rows = db.proxmox_endpoints().await?;
        let mut endpoint_ids: Vec<i64> = if request.endpoint_ids.is_empty() {
            rows.iter()
                .filter(|r| r.enabled != 0)
                .map(|r| r.id)
                .collect()
        } else {
            for id in &request.endpoint_ids {
                if !rows.iter().any(|r| r.id == *id) {
                    return Err(AppError::NotFound(format!("Proxmox endpoint {id}")));
                }
            }
            request.endpoint_ids.clone()
        };
        if endpoint_ids.is_empty() {
            return Err(AppError::Precondition(
                "No enabled Proxmox endpoint. Add or enable one on the Endpoints page, then sync."
                    .into(),
            ));
        }
        endpoint_ids.sort_unstable();
        endpoint_ids.dedup();
        if request.target.is_some() && endpoint_ids.len() != 1 {
            return Err(AppError::BadRequest(
                "a sync of one node or guest names exactly one Proxmox endpoint".into(),
            ));
        }
        Ok(JobScope {
            stages,
            endpoint_ids,
            dry_run: request.dry_run,
            target: request.target.clone(),
            delete_orphans: request.delete_orphans,
        })
    }

    /// Cancels a job: a pending one ends at once, a running one at its next chunk (on
    /// whichever instance runs it). Returns the job's status before the request.
    pub async fn cancel(&self, job_id: i64) -> Result<JobStatus, AppError> {
        let inner = &self.0;
        let before = inner
            .db
            .request_cancel(job_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("Job {job_id}")))?;
        match before {
            JobStatus::Pending => {
                let error = StageError {
                    category: ErrorCategory::Cancelled,
                    message: "The sync was cancelled before it started".into(),
                    detail: "Nothing was read or written.".into(),
                    suggestion: "Start the sync again when you are ready.".into(),
                };
                end_job(
                    inner,
                    job_id,
                    FinishGuard::Pending,
                    JobStatus::Cancelled,
                    &error,
                )
                .await?;
            }
            JobStatus::Running => {
                if let Some(stop) = lock(&inner.running).get(&job_id) {
                    stop.cancel();
                }
            }
            _ => {}
        }
        tracing::info!(job = job_id, status = before.as_str(), "cancel requested");
        Ok(before)
    }
}

/// Ends a job that its runner cannot end (it never started, or its process died): the
/// row and the failure ending in its log together, then the news.
pub(crate) async fn end_job(
    inner: &Inner,
    job_id: i64,
    guard: FinishGuard,
    status: JobStatus,
    error: &StageError,
) -> Result<bool, DbError> {
    let events = failure_ending("job", error);
    let SyncEvent::Complete(complete) = &events[2] else {
        unreachable!("failure_ending ends with complete")
    };
    let last = inner.db.job_last_seq(job_id).await?;
    let end = JobEnd {
        guard,
        status,
        complete,
    };
    let (_, recorded) = log::append(
        &inner.db,
        &inner.hub,
        job_id,
        last,
        events.clone().into_iter(),
        &inner.instance,
        Some(&end),
    )
    .await;
    if !recorded {
        return Ok(false);
    }
    announce_end(inner, job_id, status, complete.clone()).await;
    Ok(true)
}

/// Resolves once the process starts shutting down (at once if it already has), for the
/// streams and sockets that end then ([`Jobs::shutting_down`]). The watch's guard is
/// dropped inside, so the waiting future stays `Send`.
pub async fn going_down(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|down| *down).await;
}

/// Tells this instance's dashboards, and the other instances, that a job ended.
pub(crate) async fn announce_end(
    inner: &Inner,
    job_id: i64,
    status: JobStatus,
    complete: Complete,
) {
    inner.hub.announce(Broadcast::SyncEnd {
        job_id,
        status,
        complete,
    });
    let notice = format!("x:{}:{job_id}", inner.instance);
    if let Err(e) = inner.db.notify_instances(&notice).await {
        tracing::warn!(error = %e, "could not tell the other instances that a job ended");
    }
}

impl Inner {
    pub(crate) fn settings(&self) -> Arc<JobSettings> {
        self.live.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) async fn reload_settings(&self) -> Result<Arc<JobSettings>, DbError> {
        let stored = self.db.stored_settings().await?;
        let settings = Arc::new(effective(&self.base, &stored));
        *self.live.write().unwrap_or_else(|p| p.into_inner()) = settings.clone();
        self.workers_wanted.send_if_modified(|wanted| {
            let changed = *wanted != settings.workers;
            *wanted = settings.workers;
            changed
        });
        Ok(settings)
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
