//! The job queue against the simulator and the real NetBox: attach, no overlap on an
//! endpoint, cancel, wall-clock timeout, recovery after a dead process, schedules, and two
//! instances on one PostgreSQL.

use std::sync::Arc;

use proxbox::events::{ErrorCategory, SyncEvent};
use proxbox::models::{JobStatus, JobSummary};
use proxbox::server::infra::crypto::SecretBox;
use proxbox::server::infra::db::schedules::ScheduleRule;
use proxbox::server::jobs::Jobs;
use pve_sim::{Fault, FaultKind};

use crate::jobs_support::*;
use crate::support::*;
use crate::sync_support::*;

fn slow_configs(ms: u64) -> Fault {
    Fault {
        path: "/nodes/*/qemu/*/config".into(),
        kind: FaultKind::Latency { ms },
        times: None,
    }
}

fn assert_no_overlap(jobs: &[JobSummary]) {
    let mut spans: Vec<(i64, i64)> = jobs
        .iter()
        .map(|j| (j.started_at.unwrap(), j.finished_at.unwrap()))
        .collect();
    spans.sort();
    for pair in spans.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1,
            "jobs of one endpoint overlapped: {spans:?}"
        );
    }
}

fn last_error_detail(log: &[(i64, SyncEvent)]) -> proxbox::events::ErrorDetail {
    log.iter()
        .rev()
        .find_map(|(_, e)| match e {
            SyncEvent::ErrorDetail(d) => Some(d.clone()),
            _ => None,
        })
        .expect("the log has an error_detail")
}

#[tokio::test]
async fn a_second_request_attaches_and_jobs_of_one_endpoint_never_overlap() {
    for (backend, seed) in [(Backend::Sqlite, 76), (Backend::Postgres, 77)] {
        let lab = JobsLab::start(backend, "one", seed, 3).await;
        let (first, attached) = lab.start_sync("devices").await;
        assert!(!attached);
        let (again, attached) = lab.start_sync("devices").await;
        assert_eq!((again, attached), (first, true), "same scope: the same job");
        let (other, attached) = lab.start_sync("full-update").await;
        assert!(!attached && other != first, "another scope is another job");

        let a = lab.wait_until_ended(first).await;
        let b = lab.wait_until_ended(other).await;
        assert_status(&a, JobStatus::Completed);
        assert_status(&b, JobStatus::Completed);
        assert_no_overlap(&[a, b]);
        // With both ended, the same scope is a new job again.
        let (third, attached) = lab.start_sync("devices").await;
        assert!(!attached && third > other);
        assert_status(&lab.wait_until_ended(third).await, JobStatus::Completed);
        lab.stop().await;
    }
}

#[tokio::test]
async fn cancel_stops_a_running_job_at_its_next_chunk() {
    let lab = JobsLab::start(Backend::Sqlite, "cnl", 78, 10).await;
    lab.sim.add_fault(slow_configs(300)).await;
    let (job_id, _) = lab.start_sync("full-update").await;
    // Cancel once the VM stage is reading guest configs.
    let mut stream = lab
        .get(&format!("/jobs/{job_id}/stream"))
        .send()
        .await
        .unwrap();
    let mut body = String::new();
    read_until(&mut stream, &mut body, |b| {
        b.contains("\"step\":\"virtual-machines\"")
    })
    .await;
    assert_eq!(
        lab.app.jobs.cancel(job_id).await.unwrap(),
        JobStatus::Running
    );
    read_rest(&mut stream, &mut body).await;
    let job = lab.wait_until_ended(job_id).await;
    assert_status(&job, JobStatus::Cancelled);
    let log = job_log(&lab.app, job_id).await;
    assert_eq!(logged_frames(&body), log);
    assert_eq!(last_error_detail(&log).category, ErrorCategory::Cancelled);
    assert!(matches!(log.last().unwrap().1, SyncEvent::Complete(ref c) if !c.ok));
    lab.stop().await;
}

#[tokio::test]
async fn a_job_past_its_wall_clock_fails_with_a_timeout_naming_the_setting() {
    let mut settings = test_job_settings();
    settings.job_timeout = std::time::Duration::from_secs(1);
    let lab = JobsLab::start_with(Backend::Sqlite, "tmo", 79, 10, settings).await;
    lab.sim.add_fault(slow_configs(400)).await;
    let (job_id, _) = lab.start_sync("virtual-machines").await;
    let job = lab.wait_until_ended(job_id).await;
    assert_status(&job, JobStatus::Failed);
    let detail = last_error_detail(&job_log(&lab.app, job_id).await);
    assert_eq!(detail.category, ErrorCategory::Timeout);
    assert!(
        detail.suggestion.contains("PROXBOX_JOB_TIMEOUT_SECS"),
        "{detail:?}"
    );
    assert!(!job.result.unwrap().ok);
    lab.stop().await;
}

#[tokio::test]
async fn a_job_left_running_by_a_dead_process_is_failed_and_can_run_again() {
    for (backend, seed) in [(Backend::Sqlite, 80), (Backend::Postgres, 81)] {
        let mut settings = test_job_settings();
        settings.workers = 0;
        let lab = JobsLab::start_with(backend, "rec", seed, 2, settings).await;
        let (job_id, _) = lab.start_sync("devices").await;
        // A process claims it and dies without a word.
        let claimed = lab
            .app
            .db
            .claim_job("dead-instance")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(claimed.id, job_id);

        // The next process (here: a second job service on the same database) recovers it.
        let next = Jobs::new(
            lab.app.db.clone(),
            Arc::new(SecretBox::from_key_text(TEST_KEY).unwrap()),
            test_job_settings(),
        );
        let mut workers = next.start().await.unwrap();
        let job = lab.wait_until_ended(job_id).await;
        assert_status(&job, JobStatus::Failed);
        let log = job_log(&lab.app, job_id).await;
        assert_eq!(names(&log), ["error_detail", "error", "complete"]);
        assert!(last_error_detail(&log).message.contains("interrupted"));
        let streamed = lab.stream_body(job_id, None).await;
        assert_eq!(logged_frames(&streamed), log);

        // Run now: the same scope again, as a new job that the new process runs.
        let response = lab
            .post(&format!("/jobs/{job_id}/rerun"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let body: serde_json::Value = response.json().await.unwrap();
        let rerun = body["job_id"].as_i64().unwrap();
        let again = lab.wait_until_ended(rerun).await;
        assert_status(&again, JobStatus::Completed);
        assert_eq!(again.rerun_of, Some(job_id));
        assert_eq!(again.scope, job.scope);
        next.shut_down();
        workers.abort_all();
        lab.stop().await;
    }
}

/// A disabled endpoint is left alone by its schedules: the ticks pass, no job starts.
#[tokio::test]
async fn a_schedule_of_a_disabled_endpoint_starts_nothing() {
    use sqlx::Connection;
    let lab = JobsLab::start(Backend::Sqlite, "off", 83, 1).await;
    let mut conn = sqlx::SqliteConnection::connect(&lab.app.db_url)
        .await
        .unwrap();
    sqlx::query("UPDATE proxmox_endpoints SET enabled = 0")
        .execute(&mut conn)
        .await
        .unwrap();
    let schedule = lab
        .app
        .db
        .save_schedule(
            lab.endpoint_id,
            "devices",
            &ScheduleRule::Every { secs: 1 },
            true,
        )
        .await
        .unwrap();
    let first = lab
        .app
        .db
        .schedule(schedule)
        .await
        .unwrap()
        .unwrap()
        .next_run_at;
    // Three ticks acted on the schedule (each moves its next run on).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let next = lab
            .app
            .db
            .schedule(schedule)
            .await
            .unwrap()
            .unwrap()
            .next_run_at;
        if next >= first + 3_000 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the schedule's ticks did not come"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        lab.app.db.jobs(None, None, 10).await.unwrap().is_empty(),
        "a disabled endpoint's schedule started a job"
    );
    lab.stop().await;
}

#[tokio::test]
async fn scheduled_syncs_run_on_time_and_never_overlap() {
    let lab = JobsLab::start(Backend::Sqlite, "sch", 82, 2).await;
    // Each run takes longer than the interval, so ticks fall on a busy endpoint.
    lab.sim
        .add_fault(Fault {
            path: "/cluster/status".into(),
            kind: FaultKind::Latency { ms: 1500 },
            times: None,
        })
        .await;
    let schedule = lab
        .app
        .db
        .save_schedule(
            lab.endpoint_id,
            "devices",
            &ScheduleRule::Every { secs: 1 },
            true,
        )
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let ended = loop {
        let jobs: Vec<JobSummary> = lab
            .app
            .db
            .jobs(None, None, 100)
            .await
            .unwrap()
            .iter()
            .map(|j| j.summary())
            .collect();
        let ended: Vec<JobSummary> = jobs.into_iter().filter(|j| !j.status.is_active()).collect();
        if ended.len() >= 3 {
            break ended;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "schedule did not run: {ended:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    lab.app
        .db
        .save_schedule(
            lab.endpoint_id,
            "devices",
            &ScheduleRule::Every { secs: 3600 },
            false,
        )
        .await
        .unwrap();
    // A run the schedule started meanwhile must end before the cluster is cleaned up.
    for job in lab.app.db.jobs(None, None, 100).await.unwrap() {
        if job.status().is_active() {
            lab.app.jobs.cancel(job.id).await.unwrap();
            lab.wait_until_ended(job.id).await;
        }
    }
    for job in &ended {
        assert_eq!(job.schedule_id, Some(schedule));
        assert_eq!(job.requested_by, "schedule");
        assert_status(job, JobStatus::Completed);
    }
    assert_no_overlap(&ended);
    lab.stop().await;
}

#[tokio::test]
async fn claims_are_exclusive_per_job_and_per_endpoint() {
    for backend in BACKENDS {
        let app = TestApp::start_with(
            backend,
            {
                let mut s = test_job_settings();
                s.workers = 0;
                s
            },
            None,
        )
        .await;
        let mut endpoints = Vec::new();
        for i in 0..4 {
            endpoints.push(endpoint(&app.db, &format!("ep{i}")).await);
        }
        let stages = ["devices", "virtual-machines", "vm-disks"];
        for endpoint_id in &endpoints {
            for stage in stages {
                enqueue_sync(&app.db, &[stage], vec![*endpoint_id]).await;
            }
        }
        // Eight claimers at once: one job per endpoint, each claimed once.
        let claims: Vec<_> = (0..8)
            .map(|i| {
                let db = app.db.clone();
                tokio::spawn(async move { db.claim_job(&format!("claimer-{i}")).await.unwrap() })
            })
            .collect();
        let mut claimed = Vec::new();
        for claim in claims {
            if let Some(job) = claim.await.unwrap() {
                claimed.push(job);
            }
        }
        let mut claimed_endpoints: Vec<i64> = claimed
            .iter()
            .flat_map(|j| j.scope().endpoint_ids)
            .collect();
        claimed_endpoints.sort();
        assert_eq!(
            claimed_endpoints, endpoints,
            "{backend:?}: one running job per endpoint"
        );
        assert!(
            app.db.claim_job("late").await.unwrap().is_none(),
            "all endpoints are busy"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn a_job_run_by_one_instance_streams_live_from_another() {
    let mut serving = test_job_settings();
    serving.workers = 0;
    let a = TestApp::start_with(Backend::Postgres, serving, None).await;
    let b = TestApp::start_with(Backend::Postgres, test_job_settings(), Some(&a.db_url)).await;
    let cluster = unique("two");
    let sim = simulator(&cluster, 83, 2, 4).await;
    let endpoint_id = store_endpoints(&a.db, &sim, &cluster).await;
    let key = proxbox::server::services::credentials::create_api_key(
        &a.db,
        "plugin",
        &[proxbox::models::Scope::Admin],
    )
    .await
    .unwrap();
    let mut news = a.jobs.hub().news();

    let response = a
        .client
        .post(a.url("/sync/full-update"))
        .header("X-Proxbox-API-Key", &key)
        .json(&serde_json::json!({ "endpoint_ids": [endpoint_id] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let job_id = response.json::<serde_json::Value>().await.unwrap()["job_id"]
        .as_i64()
        .unwrap();
    let body = a
        .client
        .get(a.url(&format!("/jobs/{job_id}/stream")))
        .header("X-Proxbox-API-Key", &key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let job = wait_for_job(&a, job_id, |j| !j.status.is_active()).await;
    assert_status(&job, JobStatus::Completed);
    assert_eq!(logged_frames(&body), job_log(&a, job_id).await);

    // A's dashboards heard about B's job.
    let mut heard = Vec::new();
    while heard.len() < 2 {
        let message = tokio::time::timeout(std::time::Duration::from_secs(30), news.recv())
            .await
            .expect("news from the other instance")
            .unwrap();
        heard.push(
            serde_json::to_value(&message).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(heard, ["sync_started", "sync_end"]);
    cleanup(&netbox(), &cluster).await;
    sim.stop().await;
    b.stop().await;
    a.stop().await;
}

/// Ends a running job the way another instance's recovery does: failed, endpoints freed.
async fn end_elsewhere(lab: &JobsLab, job_id: i64) {
    let pool = lab.app.db.pool();
    sqlx::query("UPDATE jobs SET status = 'failed', finished_at = 1 WHERE id = $1")
        .bind(job_id)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM endpoint_locks WHERE job_id = $1")
        .bind(job_id)
        .execute(pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_run_whose_job_was_ended_elsewhere_stops_and_writes_nothing_more() {
    for (backend, seed) in [(Backend::Sqlite, 105), (Backend::Postgres, 106)] {
        let lab = JobsLab::start(backend, "lost", seed, 10).await;
        lab.sim.add_fault(slow_configs(300)).await;
        let (job_id, _) = lab.start_sync("full-update").await;
        let mut stream = lab
            .get(&format!("/jobs/{job_id}/stream"))
            .send()
            .await
            .unwrap();
        let mut body = String::new();
        read_until(&mut stream, &mut body, |b| {
            b.contains("\"step\":\"virtual-machines\"")
        })
        .await;
        assert_eq!(lab.app.jobs.running_here(), [job_id]);

        end_elsewhere(&lab, job_id).await;
        let logged = job_log(&lab.app, job_id).await.len();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while lab.app.jobs.running_here().contains(&job_id) {
            assert!(
                std::time::Instant::now() < deadline,
                "the run went on after its job was ended"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(
            job_log(&lab.app, job_id).await.len(),
            logged,
            "nothing was logged after the job ended"
        );
        let row = lab.app.db.job(job_id).await.unwrap().unwrap();
        assert_eq!(row.status(), JobStatus::Failed, "the end stands");
        // The endpoint is free: the next sync runs.
        let (next, _) = lab.start_sync("devices").await;
        assert_status(&lab.wait_until_ended(next).await, JobStatus::Completed);
        lab.stop().await;
    }
}

#[tokio::test]
async fn finished_jobs_past_their_retention_go_with_their_logs() {
    use proxbox::server::services::housekeeping::{tidy, Tidied};
    for (backend, seed) in [(Backend::Sqlite, 109), (Backend::Postgres, 110)] {
        let mut settings = test_job_settings();
        settings.workers = 0;
        let lab = JobsLab::start_with(backend, "keep", seed, 1, settings).await;
        let (old, _) = lab.start_sync("devices").await;
        lab.app.jobs.cancel(old).await.unwrap();
        let (recent, _) = lab.start_sync("virtual-machines").await;
        lab.app.jobs.cancel(recent).await.unwrap();
        let (waiting, _) = lab.start_sync("storage").await;
        assert!(!job_log(&lab.app, old).await.is_empty());
        // The first ended 91 days ago.
        let ninety_one_days_ago = proxbox::server::infra::db::now_ms() - 91 * 86_400_000;
        sqlx::query("UPDATE jobs SET finished_at = $1 WHERE id = $2")
            .bind(ninety_one_days_ago)
            .bind(old)
            .execute(lab.app.db.pool())
            .await
            .unwrap();
        // A worker process silent for longer than a day is forgotten too.
        lab.app.db.report_runner("gone", 2).await.unwrap();
        sqlx::query("UPDATE job_runners SET seen_at = 0 WHERE instance = 'gone'")
            .execute(lab.app.db.pool())
            .await
            .unwrap();
        let tidied = tidy(&lab.app.db, lab.app.jobs.settings().job_retention)
            .await
            .unwrap();
        assert_eq!(tidied.jobs, 1, "{tidied:?}");
        assert_eq!(tidied.job_runners, 1, "{tidied:?}");
        assert!(lab.app.db.job(old).await.unwrap().is_none());
        assert!(
            job_log(&lab.app, old).await.is_empty(),
            "its log went with it"
        );
        assert!(lab.app.db.job(recent).await.unwrap().is_some());
        assert!(
            lab.app.db.job(waiting).await.unwrap().is_some(),
            "a waiting job stays"
        );
        assert_eq!(
            tidy(&lab.app.db, lab.app.jobs.settings().job_retention)
                .await
                .unwrap(),
            Tidied::default(),
            "a second round finds nothing"
        );
        lab.stop().await;
    }
}
