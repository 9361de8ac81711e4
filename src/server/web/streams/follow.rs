//! Following one job: its log from a point on, then its live events, until `complete`.
//! The event stream (`sse`) and the WebSocket's sync commands (`ws_commands`) both read a
//! job this way; each puts what it reads on its own wire.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use crate::error::AppError;
use crate::server::infra::db::Db;
use crate::server::jobs::hub::{JobHub, LoggedEvent};
use crate::server::jobs::Jobs;
use crate::server::sync::failure::StageError;

/// Events read from the log per query while catching up (each follower holds its own page).
const REPLAY_PAGE: i64 = 200;

/// What a follower reads next.
#[derive(Debug)]
pub enum Followed {
    /// The next event of the job's log (`complete` is the last).
    Event(Arc<LoggedEvent>),
    /// Nothing happened for the keepalive interval.
    Idle,
    /// The process is going down: the follower ends, for the client to resume later.
    ShuttingDown,
    /// The job cannot be followed (unknown, or its log cannot be read): the last item.
    Failed(StageError),
}

pub struct JobFollower {
    db: Db,
    hub: JobHub,
    job_id: i64,
    receiver: tokio::sync::broadcast::Receiver<Arc<LoggedEvent>>,
    last_sent: i64,
    backlog: VecDeque<Arc<LoggedEvent>>,
    /// Read the log before listening (at the start, and after falling behind).
    read_log: bool,
    checked_job: bool,
    /// How often the log was read to its end without `complete` although the job ended.
    ended_checks: u8,
    done: bool,
    keepalive: Duration,
    shutdown: watch::Receiver<bool>,
}

impl JobFollower {
    /// Follows job `job_id` from after event `after_seq` (0: from its start), with the
    /// keepalive setting and until the process goes down.
    pub fn new(jobs: &Jobs, job_id: i64, after_seq: i64) -> JobFollower {
        let hub = jobs.hub().clone();
        // Subscribed before the log is read, so that nothing falls between the two.
        let receiver = hub.subscribe(job_id);
        JobFollower {
            db: jobs.db().clone(),
            hub,
            job_id,
            receiver,
            last_sent: after_seq,
            backlog: VecDeque::new(),
            read_log: true,
            checked_job: false,
            ended_checks: 0,
            done: false,
            keepalive: jobs.settings().keepalive,
            shutdown: jobs.shutting_down(),
        }
    }

    /// The next thing to tell the client; `None` after the job's `complete`, a failure or
    /// the shutdown.
    pub async fn next(&mut self) -> Option<Followed> {
        loop {
            if self.done {
                return None;
            }
            if let Some(event) = self.backlog.pop_front() {
                if event.seq <= self.last_sent {
                    continue;
                }
                self.last_sent = event.seq;
                self.done = event.is_terminal();
                return Some(Followed::Event(event));
            }
            if self.read_log {
                match self
                    .db
                    .job_events_after(self.job_id, self.last_sent, REPLAY_PAGE)
                    .await
                {
                    Ok(events) if !events.is_empty() => {
                        self.backlog
                            .extend(events.into_iter().map(|e| Arc::new(e.into())));
                        continue;
                    }
                    Ok(_) => self.read_log = false,
                    Err(e) => {
                        tracing::warn!(job = self.job_id, error = %e, "job follower cannot read the log");
                        return Some(self.fail(AppError::Internal(
                            "Proxbox cannot read the job log from its database.".into(),
                        )));
                    }
                }
                if !self.checked_job {
                    self.checked_job = true;
                    if let Some(ending) = self.check_job().await {
                        return Some(ending);
                    }
                }
                continue;
            }
            tokio::select! {
                received = self.receiver.recv() => match received {
                    Ok(event) => self.backlog.push_back(event),
                    // Fell behind the live channel: the log has everything.
                    Err(RecvError::Lagged(_)) => self.read_log = true,
                    Err(RecvError::Closed) => {
                        self.receiver = self.hub.subscribe(self.job_id);
                        self.read_log = true;
                    }
                },
                _ = tokio::time::sleep(self.keepalive) => return Some(Followed::Idle),
                () = crate::server::jobs::going_down(&mut self.shutdown) => {
                    self.done = true;
                    return Some(Followed::ShuttingDown);
                }
            }
        }
    }

    /// After the replay: a job that does not exist, or that ended without a `complete`
    /// in its log, still ends the follower properly.
    async fn check_job(&mut self) -> Option<Followed> {
        match self.db.job(self.job_id).await {
            Ok(None) => Some(self.fail(AppError::NotFound(format!("Job {}", self.job_id)))),
            // The row and the log's `complete` commit together, so an ended job whose
            // log we read to the end has its `complete` in what we read, unless it was
            // committed between the two reads: read once more before giving up.
            Ok(Some(job)) if !job.status().is_active() => {
                self.ended_checks += 1;
                if self.ended_checks == 1 {
                    self.read_log = true;
                    self.checked_job = false;
                    return None;
                }
                Some(self.fail(AppError::Internal(format!(
                    "Job {} ended ({}) without its final event.",
                    self.job_id,
                    job.status().as_str()
                ))))
            }
            Ok(Some(_)) => None,
            Err(e) => {
                tracing::warn!(job = self.job_id, error = %e, "job follower cannot read the job");
                Some(self.fail(AppError::Internal(
                    "Proxbox cannot read the job from its database.".into(),
                )))
            }
        }
    }

    fn fail(&mut self, error: AppError) -> Followed {
        self.done = true;
        Followed::Failed(error.as_stage_error())
    }
}
