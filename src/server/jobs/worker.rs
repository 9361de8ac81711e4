//! A worker takes one job at a time and runs it: the sync engine emits into the job's log
//! writer, a heartbeat keeps the claim alive and carries cancel requests from any
//! instance, and the wall clock turns into a `timeout` stop at the next chunk.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::log::{write_log, JobSink};
use super::{announce_end, lock, Inner};
use crate::events::{Complete, ErrorCategory};
use crate::models::{Broadcast, JobStatus};
use crate::server::infra::db::jobs::{Heartbeat, JobRow};
use crate::server::sync::context::{changelog_message, StopSignal, SyncContext};
use crate::server::sync::failure::failure_ending;
use crate::server::sync::peers::sync_peers;
use crate::server::sync::run::{run_sync, RunOutcome};
use crate::server::sync::stage::parse_stages;

/// Runs as many workers as the `workers` setting asks for: more start at once when it
/// grows; when it shrinks, the workers above it stop after their current job.
pub(crate) async fn supervise(inner: Arc<Inner>) {
    let mut wanted = inner.workers_wanted.subscribe();
    let mut shutdown = inner.shutdown.subscribe();
    let mut workers = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, usize> = HashMap::new();
    loop {
        if *shutdown.borrow() {
            while workers.join_next().await.is_some() {}
            return;
        }
        let want = *wanted.borrow_and_update();
        for index in 0..want {
            if !running.values().any(|i| *i == index) {
                let handle = workers.spawn(work(inner.clone(), index));
                running.insert(handle.id(), index);
            }
        }
        tokio::select! {
            Some(done) = workers.join_next_with_id() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => {
                        tracing::error!(error = %e, "a job worker stopped unexpectedly; starting another");
                        e.id()
                    }
                };
                running.remove(&id);
            }
            changed = wanted.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            _ = shutdown.changed() => {}
        }
    }
}

/// Worker number `index` (from 0): takes jobs while the setting wants that many workers.
async fn work(inner: Arc<Inner>, index: usize) {
    struct Running<'a>(&'a AtomicUsize);
    impl Drop for Running<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    inner.workers_running.fetch_add(1, Ordering::SeqCst);
    let _running = Running(&inner.workers_running);
    let mut shutdown = inner.shutdown.subscribe();
    while !*shutdown.borrow() && index < *inner.workers_wanted.borrow() {
        match inner.db.claim_job(&inner.instance).await {
            Ok(Some(job)) => {
                run_job(&inner, job).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not look for jobs"),
        }
        tokio::select! {
            _ = inner.wake.notified() => {}
            _ = tokio::time::sleep(inner.base.poll) => {}
            _ = shutdown.changed() => {}
        }
    }
}

async fn run_job(inner: &Arc<Inner>, job: JobRow) {
    let job_id = job.id;
    let scope = job.scope();
    let started = std::time::Instant::now();
    tracing::info!(job = job_id, stages = %job.stages, "job started");
    inner.hub.announce(Broadcast::SyncStarted {
        job_id,
        stages: scope.stage_label(),
    });
    let _ = inner
        .db
        .notify_instances(&format!("s:{}:{job_id}", inner.instance))
        .await;

    let stop = StopSignal::default();
    lock(&inner.running).insert(job_id, stop.clone());
    // Ends with this function even if the run panics: no heartbeat for a run that is gone.
    let heartbeat_task = AbortOnDrop(tokio::spawn(heartbeat(inner.clone(), job_id, stop.clone())));
    let (sender, receiver) = mpsc::unbounded_channel();
    let first_seq = inner.db.job_last_seq(job_id).await.unwrap_or(0);
    let writer = tokio::spawn(write_log(
        inner.db.clone(),
        inner.hub.clone(),
        job_id,
        first_seq,
        receiver,
        inner.instance.clone(),
    ));
    let sink = JobSink::new(sender, inner.metrics.clone());

    let outcome = run(inner, &job, &sink, stop).await;
    drop(heartbeat_task);
    lock(&inner.running).remove(&job_id);

    let status = match &outcome.error {
        None => JobStatus::Completed,
        Some(e) if e.category == ErrorCategory::Cancelled => JobStatus::Cancelled,
        Some(_) => JobStatus::Failed,
    };
    let complete = sink.take_complete().unwrap_or_else(|| Complete {
        ok: outcome.ok,
        message: "The sync ended without its summary.".into(),
        result: Some(json!({ "status": status.as_str() })),
        errors: None,
    });
    sink.finish(status, complete.clone());
    match writer.await {
        Ok(true) => {}
        _ => tracing::warn!(job = job_id, "could not record how the job ended"),
    }
    inner.metrics.job_ended(status, started.elapsed());
    announce_end(inner, job_id, status, complete).await;
    tracing::info!(job = job_id, status = status.as_str(), "job ended");
}

/// Runs the sync of a job, or reports why it cannot start, into the job's sink.
async fn run(inner: &Arc<Inner>, job: &JobRow, sink: &JobSink, stop: StopSignal) -> RunOutcome {
    let scope = job.scope();
    let names: Vec<&str> = scope.stages.iter().map(String::as_str).collect();
    let peers = match parse_stages(&names) {
        Ok(stages) => sync_peers(&inner.db, &inner.secrets, |row| {
            scope.endpoint_ids.contains(&row.id)
        })
        .await
        .map(|peers| (stages, peers)),
        Err(message) => Err(crate::server::sync::failure::StageError {
            category: ErrorCategory::Validation,
            message,
            detail: "The job names a stage this version of Proxbox does not have.".into(),
            suggestion: "Start a new sync from the dashboard.".into(),
        }),
    };
    let (stages, (netbox, sources)) = match peers {
        Ok(found) => found,
        Err(error) => {
            for event in failure_ending("job", &error) {
                crate::server::sync::sink::EventSink::emit(sink, event);
            }
            return RunOutcome {
                ok: false,
                stages: Vec::new(),
                error: Some(error),
            };
        }
    };
    // Each job reads the settings afresh: a change saved on any instance applies to it.
    let settings = inner.reload_settings().await.unwrap_or_else(|e| {
        tracing::warn!(job = job.id, error = %e, "could not read the settings; the job runs with the last ones read");
        inner.settings()
    });
    let mut message =
        changelog_message(&format!("Proxbox job {}", job.id), &scope.title(), &sources);
    // A watched change's job says which change in Proxmox (and whose task) it follows.
    if let Some(change) = job
        .requested_by
        .strip_prefix(super::watcher::REQUESTED_BY_PREFIX)
    {
        message = format!("{message}: {change}");
    }
    let netbox = netbox.with_changelog_message(&message);
    let mut ctx = SyncContext::new(&inner.db, &netbox, sources, sink);
    ctx.options = settings.rules.run_options(scope.dry_run);
    ctx.options.target = scope.target.clone();
    if let Some(delete) = scope.delete_orphans {
        ctx.options.delete_orphans = delete;
    }
    ctx.policy = settings.rules.overwrite.clone();
    ctx.stop = stop.clone();
    let operation = format!("job-{}", job.id);
    let run = run_sync(&ctx, &stages, &operation);
    tokio::pin!(run);
    let limit = settings.job_timeout;
    tokio::select! {
        outcome = &mut run => outcome,
        _ = tokio::time::sleep(limit) => {
            tracing::warn!(job = job.id, limit_secs = limit.as_secs(), "job hit its wall clock; stopping at the next chunk");
            stop.time_out(limit.as_secs());
            run.await
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keeps the claim alive, turns a cancel request stored by any instance into a stop, and
/// stops the run at once when the job is no longer its own.
async fn heartbeat(inner: Arc<Inner>, job_id: i64, stop: StopSignal) {
    loop {
        match inner.db.job_heartbeat(job_id, &inner.instance).await {
            Ok(Heartbeat::Alive {
                cancel_requested: true,
            }) => stop.cancel(),
            Ok(Heartbeat::Alive { .. }) => {}
            Ok(Heartbeat::Lost) => {
                tracing::error!(job = job_id, "job claim lost: it was ended elsewhere while it ran; stopping before writing more");
                stop.lose_claim();
                return;
            }
            Err(e) => tracing::warn!(job = job_id, error = %e, "job heartbeat failed"),
        }
        tokio::time::sleep(inner.base.heartbeat).await;
    }
}
