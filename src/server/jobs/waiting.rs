//! Why a pending job has not started, in words an operator can act on: another job holds
//! its endpoint, no process runs a worker, every worker is busy, or jobs queued before it.

use super::maintenance::runner_alive_within_ms;
use super::Jobs;
use crate::server::infra::db::runners::WaitFacts;
use crate::server::infra::db::DbError;

impl Jobs {
    /// The reason pending job `job_id` waits; `endpoint_name` names a Proxmox endpoint.
    pub async fn waiting_reason(
        &self,
        job_id: i64,
        endpoint_name: impl Fn(i64) -> Option<String>,
    ) -> Result<String, DbError> {
        let alive_within = runner_alive_within_ms(self.0.base.poll);
        let here = *self.0.workers_wanted.borrow();
        let facts = self
            .0
            .db
            .wait_facts(job_id, &self.0.instance, here, alive_within)
            .await?;
        let blocking = facts.blocked_by.map(|(_, endpoint)| {
            endpoint_name(endpoint).unwrap_or_else(|| format!("endpoint {endpoint}"))
        });
        Ok(explain_wait(
            &facts,
            blocking.as_deref(),
            alive_within / 1000,
        ))
    }
}

/// The words for `facts`; `blocking` names the endpoint another job holds.
pub fn explain_wait(facts: &WaitFacts, blocking: Option<&str>, alive_secs: i64) -> String {
    if let (Some((job, _)), Some(endpoint)) = (facts.blocked_by, blocking) {
        return format!(
            "Waiting for job #{job}, which is syncing {endpoint}: one sync runs per Proxmox \
             endpoint at a time. This job starts when that one ends (or cancel it on its page)."
        );
    }
    // This process's own workers are counted in `live_workers`.
    if facts.live_workers == 0 {
        return format!(
            "No worker is running: this server runs with PROXBOX_WORKERS=0 (the workers \
             setting), and no `proxbox worker` on this database has reported in the last \
             {alive_secs} s. Start one with `proxbox worker` (same database and secret key), \
             or set the workers setting to 1 or more."
        );
    }
    if facts.running >= facts.live_workers {
        let workers = plural(facts.live_workers, "worker", "workers");
        return format!(
            "Every worker is busy ({workers}, {} running): this job starts when one of them \
             ends. More workers: PROXBOX_WORKERS, or another `proxbox worker`.",
            plural(facts.running, "job", "jobs")
        );
    }
    if facts.ahead > 0 {
        return format!(
            "Queued behind {}; workers take jobs in the order they were asked for.",
            plural(facts.ahead, "earlier job", "earlier jobs")
        );
    }
    "Starting: a free worker takes it within a few seconds.".into()
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(live_workers: i64, running: i64, ahead: i64) -> WaitFacts {
        WaitFacts {
            blocked_by: None,
            live_workers,
            running,
            ahead,
        }
    }

    #[test]
    fn a_held_endpoint_names_the_job_holding_it() {
        let held = WaitFacts {
            blocked_by: Some((41, 3)),
            ..facts(2, 1, 0)
        };
        let reason = explain_wait(&held, Some("pve-lab"), 15);
        assert!(
            reason.starts_with("Waiting for job #41, which is syncing pve-lab"),
            "{reason}"
        );
    }

    #[test]
    fn no_worker_anywhere_says_how_to_start_one() {
        let reason = explain_wait(&facts(0, 0, 0), None, 15);
        assert!(reason.contains("PROXBOX_WORKERS=0"), "{reason}");
        assert!(reason.contains("`proxbox worker`"), "{reason}");
        assert!(reason.contains("last 15 s"), "{reason}");
    }

    #[test]
    fn busy_workers_queued_jobs_and_a_free_worker_each_have_their_words() {
        assert!(explain_wait(&facts(2, 2, 0), None, 15)
            .starts_with("Every worker is busy (2 workers, 2 jobs running)"));
        assert!(explain_wait(&facts(3, 1, 1), None, 15).starts_with("Queued behind 1 earlier job;"));
        assert!(explain_wait(&facts(3, 1, 0), None, 15).starts_with("Starting"));
    }
}
