//! The watcher as pages show it: the dashboard's live feed (the newest changes seen in
//! Proxmox, each with when it reached NetBox) and the watch history of one endpoint.

use crate::error::AppError;
use crate::models::{format_utc, FeedLine, JobStatus, LiveFeed, WatchedChange};
use crate::server::infra::db::watched::WatchedRow;
use crate::server::services::Services;

/// How many changes the dashboard's feed lists.
pub const FEED_LENGTH: i64 = 8;

/// How many changes an endpoint's watch history lists.
pub const HISTORY_LENGTH: i64 = 200;

/// The dashboard's feed: the newest changes of every endpoint, and every endpoint the
/// watcher cannot read.
pub async fn live_feed(services: &Services) -> Result<LiveFeed, AppError> {
    let changes = services.db.watched_changes(None, FEED_LENGTH).await?;
    let problems: Vec<String> = services
        .jobs
        .watch_status()
        .into_iter()
        .filter_map(|(_, status)| {
            let error = status.error?;
            let retry = status
                .retry_in
                .map(|wait| format!("; it tries again within {} s", wait.as_secs()))
                .unwrap_or_default();
            Some(format!(
                "Following {} live failed {} time(s) in a row: {error}{retry}. Changes there reach NetBox with the next scheduled sync until it answers.",
                status.endpoint, status.failures
            ))
        })
        .collect();
    Ok(LiveFeed {
        on: services.jobs.settings().watch.is_some(),
        lines: changes
            .into_iter()
            .map(|row| feed_line(watched_change(row)))
            .collect(),
        problem: (!problems.is_empty()).then(|| problems.join(" ")),
    })
}

/// A change as one line of the feed.
pub fn feed_line(change: WatchedChange) -> FeedLine {
    FeedLine {
        text: format!(
            "{} · {} · {} — {}",
            change.seen, change.endpoint, change.change, change.outcome
        ),
        job_id: change.job_id,
        reached: change.reached,
    }
}

/// Endpoint `endpoint_id`'s watch history, newest first.
pub async fn history(
    services: &Services,
    endpoint_id: i64,
) -> Result<Vec<WatchedChange>, AppError> {
    Ok(services
        .db
        .watched_changes(Some(endpoint_id), HISTORY_LENGTH)
        .await?
        .into_iter()
        .map(watched_change)
        .collect())
}

/// A recorded change in words: where its job is, and how long after the watcher saw it
/// the change was in NetBox.
pub fn watched_change(row: WatchedRow) -> WatchedChange {
    let status = row.job_status.as_deref().and_then(JobStatus::parse);
    let (outcome, reached) = match (row.job_id, status, row.job_finished_at) {
        (Some(_), Some(JobStatus::Completed), Some(finished)) => (
            format!(
                "in NetBox {:.1} s later",
                (finished - row.seen_at).max(0) as f64 / 1000.0
            ),
            true,
        ),
        (Some(job), Some(JobStatus::Pending | JobStatus::Running), _) => {
            (format!("on its way (job {job})"), false)
        }
        (Some(job), Some(status), _) => (
            format!("job {job} {}: see its page", status.as_str()),
            false,
        ),
        (Some(job), None, _) => (format!("job {job} is gone"), false),
        (None, _, _) => (
            format!(
                "no sync queued: {}",
                row.problem.as_deref().unwrap_or("unknown reason")
            ),
            false,
        ),
    };
    WatchedChange {
        endpoint: row.endpoint,
        seen: format_utc(row.seen_at),
        change: row.change,
        provenance: row.provenance,
        job_id: row.job_id,
        outcome,
        reached,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(job: Option<i64>, status: Option<&str>, finished: Option<i64>) -> WatchedRow {
        WatchedRow {
            id: 1,
            endpoint_id: 1,
            endpoint: "lab".into(),
            seen_at: 10_000,
            change: "web-1 started".into(),
            provenance: "qmstart of 100 by a@pve, UPID:x".into(),
            job_id: job,
            problem: job.is_none().then(|| "NetBox is not connected".into()),
            job_status: status.map(Into::into),
            job_finished_at: finished,
        }
    }

    #[test]
    fn each_change_says_where_it_is() {
        let cases = [
            (
                row(Some(4), Some("completed"), Some(13_140)),
                "in NetBox 3.1 s later",
                true,
            ),
            (
                row(Some(4), Some("running"), None),
                "on its way (job 4)",
                false,
            ),
            (
                row(Some(4), Some("pending"), None),
                "on its way (job 4)",
                false,
            ),
            (
                row(Some(4), Some("failed"), Some(12_000)),
                "job 4 failed: see its page",
                false,
            ),
            (row(Some(4), None, None), "job 4 is gone", false),
            (
                row(None, None, None),
                "no sync queued: NetBox is not connected",
                false,
            ),
        ];
        for (row, outcome, reached) in cases {
            let change = watched_change(row);
            assert_eq!(
                (change.outcome.as_str(), change.reached),
                (outcome, reached)
            );
        }
    }

    #[test]
    fn a_feed_line_says_when_where_what_and_how_far() {
        let line = feed_line(watched_change(row(
            Some(4),
            Some("completed"),
            Some(13_140),
        )));
        assert_eq!(
            line.text,
            "1970-01-01 00:00:10 UTC · lab · web-1 started — in NetBox 3.1 s later"
        );
        assert_eq!((line.job_id, line.reached), (Some(4), true));
    }
}
