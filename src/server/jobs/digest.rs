//! A job's log folded into where the job stands, and pages of the log, without holding
//! the log: it is read in chunks, and each job's fold is remembered, so that the next
//! view of a running job (a dashboard, the job page refreshing itself) folds only the
//! events logged since.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use super::lock;
use crate::events::SyncEvent;
use crate::models::{JobProgress, LogFilter, LogPage, TakeoverReport, LOG_PAGE_SIZE};
use crate::server::infra::db::jobs::StoredEvent;
use crate::server::infra::db::{Db, DbError};

/// Events read from the database at a time.
const CHUNK: i64 = 2_000;
/// Jobs whose fold is remembered; the oldest job is forgotten first.
const REMEMBERED: usize = 64;

/// A job's log up to `last_seq`, folded.
#[derive(Debug, Clone, Default)]
pub struct LogDigest {
    pub progress: JobProgress,
    pub last_seq: i64,
    /// Events folded.
    pub total: u64,
    /// The stages the log mentions.
    pub stages: BTreeSet<String>,
    /// The seqs of its failures, so that the log filtered to failures (what an operator
    /// looks at first) is read without a pass over the whole log.
    pub failures: Vec<i64>,
    /// What the job took over from another tool, or would in a dry run (the preview).
    pub takeover: TakeoverReport,
}

impl LogDigest {
    fn apply(&mut self, seq: i64, event: &SyncEvent) {
        self.progress.apply(event);
        if let Some(stage) = crate::models::stage_of(event) {
            if !self.stages.contains(stage) {
                self.stages.insert(stage.to_string());
            }
        }
        if crate::models::is_failure(event) {
            self.failures.push(seq);
        }
        if let SyncEvent::ItemProgress(item) = event {
            self.takeover.tally(item);
        }
        self.last_seq = seq;
        self.total += 1;
    }
}

/// The folds of recently viewed jobs.
#[derive(Debug, Default)]
pub struct Digests(Mutex<HashMap<i64, LogDigest>>);

impl Digests {
    /// Job `job_id`'s log folded up to its latest event.
    pub async fn digest(&self, db: &Db, job_id: i64) -> Result<LogDigest, DbError> {
        let mut digest = lock(&self.0).get(&job_id).cloned().unwrap_or_default();
        for_each_event(db, job_id, digest.last_seq, i64::MAX, |seq, event| {
            digest.apply(seq, &event);
        })
        .await?;
        let mut remembered = lock(&self.0);
        let newer_known = remembered
            .get(&job_id)
            .is_some_and(|known| known.last_seq >= digest.last_seq);
        if !newer_known {
            remembered.insert(job_id, digest.clone());
            if remembered.len() > REMEMBERED {
                if let Some(oldest) = remembered.keys().min().copied() {
                    remembered.remove(&oldest);
                }
            }
        }
        Ok(digest)
    }

    /// Forgets every fold (after jobs were pruned: SQLite may hand a pruned job's id to
    /// a new one).
    pub fn forget_all(&self) {
        lock(&self.0).clear();
    }
}

/// The page of job `job_id`'s log (up to `digest.last_seq`) that `filter` asks for.
pub async fn log_page(
    db: &Db,
    job_id: i64,
    digest: &LogDigest,
    filter: &LogFilter,
) -> Result<LogPage, DbError> {
    let stages = digest.stages.iter().cloned().collect();
    // Every event passes (a window of the log), or only failures (whose seqs the fold
    // keeps): the page is read as such, not found by a pass over the whole log.
    let known = if filter.is_empty() {
        Some(digest.total)
    } else if filter.failures && filter.stage.is_empty() && filter.status.is_empty() {
        Some(digest.failures.len() as u64)
    } else {
        None
    };
    if let Some(matching) = known {
        let pages = LogPage::page_count(matching);
        let page = LogPage::clamp_page(filter.page, pages);
        let offset = (page - 1) * LOG_PAGE_SIZE;
        let stored = if filter.is_empty() {
            db.job_events_window(job_id, digest.last_seq, offset, LOG_PAGE_SIZE)
                .await?
        } else {
            let start = offset as usize;
            let end = (start + LOG_PAGE_SIZE as usize).min(digest.failures.len());
            db.job_events_by_seq(job_id, &digest.failures[start..end])
                .await?
        };
        return Ok(LogPage {
            rows: stored.into_iter().filter_map(decode).collect(),
            stages,
            matching,
            total: digest.total,
            page,
            pages,
        });
    }
    // A filtered page: the whole log passes by in chunks, and only the page asked for (or,
    // not knowing yet which is the last, the latest page so far) is kept.
    let wanted = filter.page;
    let mut matching = 0u64;
    let mut kept: Vec<(i64, SyncEvent)> = Vec::new();
    for_each_event(db, job_id, 0, digest.last_seq, |seq, event| {
        if !filter.matches(&event) {
            return;
        }
        let page_of_this = matching / LOG_PAGE_SIZE + 1;
        matching += 1;
        match wanted {
            Some(page) if page_of_this != page => {}
            Some(_) => kept.push((seq, event)),
            None => {
                if matching % LOG_PAGE_SIZE == 1 {
                    kept.clear();
                }
                kept.push((seq, event));
            }
        }
    })
    .await?;
    let pages = LogPage::page_count(matching);
    let page = LogPage::clamp_page(wanted, pages);
    if wanted.is_some_and(|asked| asked != page) {
        // Asked past either end: show the nearest page, read again.
        let filter = LogFilter {
            page: Some(page),
            ..filter.clone()
        };
        return Box::pin(log_page(db, job_id, digest, &filter)).await;
    }
    Ok(LogPage {
        rows: kept,
        stages,
        matching,
        total: digest.total,
        page,
        pages,
    })
}

/// Calls `visit` with each event of the log after `after_seq` up to `up_to_seq`, in
/// order, reading `CHUNK` events at a time.
async fn for_each_event(
    db: &Db,
    job_id: i64,
    after_seq: i64,
    up_to_seq: i64,
    mut visit: impl FnMut(i64, SyncEvent),
) -> Result<(), DbError> {
    let mut last = after_seq;
    loop {
        let chunk = db.job_events_after(job_id, last, CHUNK).await?;
        let full = chunk.len() as i64 == CHUNK;
        for stored in chunk {
            if stored.seq > up_to_seq {
                return Ok(());
            }
            last = stored.seq;
            if let Some((seq, event)) = decode(stored) {
                visit(seq, event);
            }
        }
        if !full {
            return Ok(());
        }
    }
}

/// An event as stored; one this version cannot read is left out of views.
fn decode(stored: StoredEvent) -> Option<(i64, SyncEvent)> {
    SyncEvent::from_frame(&stored.name, &stored.data)
        .ok()
        .map(|event| (stored.seq, event))
}
