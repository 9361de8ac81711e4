//! Several instances on one PostgreSQL: what one instance does, the others hear through
//! `LISTEN proxbox_jobs`. Notices are `<kind>:<instance>:<job>[:<seq>]`:
//! `e` new log events up to `seq`, `n` a new job, `s` a job started, `x` a job ended.
//! Events themselves are read from the log, so a notice lost in a reconnect costs only
//! latency: after every reconnect the watched jobs catch up from the log.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;

use super::hub::LoggedEvent;
use super::Inner;
use crate::models::Broadcast;

pub const CHANNEL: &str = "proxbox_jobs";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice<'a> {
    Events {
        instance: &'a str,
        job_id: i64,
        seq: i64,
    },
    NewJob {
        instance: &'a str,
    },
    Started {
        instance: &'a str,
        job_id: i64,
    },
    Ended {
        instance: &'a str,
        job_id: i64,
    },
}

impl<'a> Notice<'a> {
    pub fn parse(payload: &'a str) -> Option<Notice<'a>> {
        let mut parts = payload.split(':');
        let kind = parts.next()?;
        let instance = parts.next()?;
        let job_id: i64 = parts.next()?.parse().ok()?;
        Some(match kind {
            "e" => Notice::Events {
                instance,
                job_id,
                seq: parts.next()?.parse().ok()?,
            },
            "n" => Notice::NewJob { instance },
            "s" => Notice::Started { instance, job_id },
            "x" => Notice::Ended { instance, job_id },
            _ => return None,
        })
    }

    fn instance(&self) -> &str {
        match self {
            Notice::Events { instance, .. }
            | Notice::NewJob { instance }
            | Notice::Started { instance, .. }
            | Notice::Ended { instance, .. } => instance,
        }
    }
}

pub(crate) async fn bridge(inner: Arc<Inner>) {
    let mut shutdown = inner.shutdown.subscribe();
    loop {
        let mut listener = match connect(&inner).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for other instances' jobs; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                    _ = shutdown.changed() => return,
                }
            }
        };
        catch_up_watched(&inner).await;
        loop {
            let received = tokio::select! {
                received = listener.try_recv() => received,
                _ = shutdown.changed() => return,
            };
            match received {
                Ok(Some(notification)) => handle(&inner, notification.payload()).await,
                // The connection dropped and comes back on the next call: notices sent
                // meanwhile are gone, so read what the watched jobs logged.
                Ok(None) => catch_up_watched(&inner).await,
                Err(e) => {
                    tracing::warn!(error = %e, "lost the notification connection; reconnecting");
                    break;
                }
            }
        }
    }
}

async fn connect(inner: &Inner) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(inner.db.url()).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

async fn handle(inner: &Inner, payload: &str) {
    let Some(notice) = Notice::parse(payload) else {
        tracing::debug!(payload, "ignored an unknown job notice");
        return;
    };
    if notice.instance() == &*inner.instance {
        return;
    }
    match notice {
        Notice::Events { job_id, seq, .. } => {
            if inner
                .hub
                .watched_since(job_id)
                .is_some_and(|last| last < seq)
            {
                catch_up(inner, job_id).await;
            }
        }
        Notice::NewJob { .. } => inner.wake.notify_waiters(),
        Notice::Started { job_id, .. } => {
            if let Ok(Some(job)) = inner.db.job(job_id).await {
                inner.hub.announce(Broadcast::SyncStarted {
                    job_id,
                    stages: job.scope().stage_label(),
                });
            }
        }
        Notice::Ended { job_id, .. } => {
            if let Ok(Some(job)) = inner.db.job(job_id).await {
                let summary = job.summary();
                if let Some(complete) = summary.result {
                    inner.hub.announce(Broadcast::SyncEnd {
                        job_id,
                        status: summary.status,
                        complete,
                    });
                }
            }
        }
    }
}

async fn catch_up_watched(inner: &Inner) {
    for job_id in inner.hub.watched_jobs() {
        catch_up(inner, job_id).await;
    }
}

/// Publishes what a watched job logged since the last event its subscribers got.
async fn catch_up(inner: &Inner, job_id: i64) {
    while let Some(last) = inner.hub.watched_since(job_id) {
        match inner.db.job_events_after(job_id, last, 500).await {
            Ok(events) if events.is_empty() => return,
            Ok(events) => {
                let logged: Vec<Arc<LoggedEvent>> =
                    events.into_iter().map(|e| Arc::new(e.into())).collect();
                inner.hub.publish(job_id, &logged);
            }
            Err(e) => {
                tracing::warn!(job = job_id, error = %e, "could not read a job's log");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_parse_and_garbage_does_not() {
        assert_eq!(
            Notice::parse("e:12-abcd:7:42"),
            Some(Notice::Events {
                instance: "12-abcd",
                job_id: 7,
                seq: 42
            })
        );
        assert_eq!(
            Notice::parse("x:i:3"),
            Some(Notice::Ended {
                instance: "i",
                job_id: 3
            })
        );
        for bad in ["", "e:i", "e:i:7", "q:i:1", "s:i:seven"] {
            assert_eq!(Notice::parse(bad), None, "{bad:?}");
        }
    }
}
