//! The job pages without JavaScript: the dashboard's sync form lands on the job page, which
//! renders the job from its log (stages, counts, the event log and its filters).

use proxbox::models::JobStatus;
use proxbox::server::infra::db::jobs::StoredEvent;

use crate::jobs_support::*;
use crate::support::*;

#[tokio::test]
async fn the_sync_form_leads_to_a_server_rendered_job_page() {
    let lab = JobsLab::start(Backend::Sqlite, "page", 85, 3).await;
    lab.app.login().await;
    let dashboard = lab.app.get_text("/").await;
    assert!(
        dashboard.contains("data-testid=\"sync-full-update\""),
        "{dashboard}"
    );

    let csrf = lab.app.csrf().await;
    let response = lab.app.post_form("/sync/devices", &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let job_id: i64 = location.strip_prefix("/jobs/").unwrap().parse().unwrap();

    // Without a CSRF token the form is refused and nothing is queued.
    let refused = lab.app.post_form("/sync/devices", &[]).await;
    assert_eq!(refused.status(), 403);

    let job = lab.wait_until_ended(job_id).await;
    assert_status(&job, JobStatus::Completed);
    let page = lab
        .app
        .client
        .get(lab.app.url(&location))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("Job #{job_id}")), "{html}");
    assert!(html.contains("job-completed"), "status badge");
    assert!(html.contains("data-stage=\"devices\""), "stage row");
    assert!(
        !html.contains("http-equiv=\"refresh\""),
        "a finished job does not refresh"
    );
    let events = job_log(&lab.app, job_id).await.len();
    assert!(
        html.contains(&format!("{events} of {events} events")),
        "the whole log"
    );

    let failures = lab.app.get_text(&format!("{location}?failures=1")).await;
    assert!(
        failures.contains(&format!("0 of {events} events")),
        "no failures in a good run"
    );

    let list = lab.app.get_text("/jobs?status=completed").await;
    assert!(list.contains(&format!("href=\"/jobs/{job_id}\"")), "{list}");
    let none = lab.app.get_text("/jobs?status=failed").await;
    assert!(none.contains("No sync jobs yet."), "{none}");

    let missing = lab.app.get_text("/jobs/987654").await;
    assert!(missing.contains("Job 987654 was not found"), "{missing}");
    lab.stop().await;
}

/// An `item_progress` frame as the log stores it; every ninth one failed.
fn item_event(seq: i64) -> StoredEvent {
    let status = if seq % 9 == 0 { "failed" } else { "created" };
    let data = serde_json::json!({
        "event": "item_progress", "phase": "devices", "name": format!("node-{seq}"),
        "type": "device", "status": status, "operation": status,
        "message": format!("node-{seq} {status}"),
        "item": { "name": format!("node-{seq}"), "type": "device" },
        "progress": { "current": seq, "total": 1000, "percent": 0.0 },
    });
    StoredEvent {
        seq,
        name: "item_progress".into(),
        data: data.to_string(),
    }
}

fn rows_of(html: &str) -> Vec<i64> {
    html.split("<tr class=\"event-item_progress\"><td class=\"muted\">")
        .skip(1)
        .map(|row| row.split('<').next().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn a_long_log_is_shown_a_page_at_a_time_and_filtered_across_pages() {
    let mut settings = test_job_settings();
    settings.workers = 0;
    let app = TestApp::start_with(Backend::Sqlite, settings, None).await;
    app.login().await;
    let job_id = enqueue_sync(&app.db, &["devices"], vec![]).await;
    app.db.claim_job("test").await.unwrap().unwrap();
    let first: Vec<StoredEvent> = (1..=450).map(item_event).collect();
    app.db
        .append_job_events(job_id, &first, None, None)
        .await
        .unwrap();

    // Without a page, the latest events: the third page of 200.
    let latest = app.get_text(&format!("/jobs/{job_id}")).await;
    assert!(latest.contains("450 of 450 events"), "{latest}");
    assert!(latest.contains("page 3 of 3"), "{latest}");
    assert_eq!(rows_of(&latest), (401..=450).collect::<Vec<_>>());
    assert!(
        latest.contains("href=\"?page=1\""),
        "a link to the first page"
    );

    let first_page = app.get_text(&format!("/jobs/{job_id}?page=1")).await;
    assert_eq!(rows_of(&first_page), (1..=200).collect::<Vec<_>>());
    let past_the_end = app.get_text(&format!("/jobs/{job_id}?page=99")).await;
    assert_eq!(rows_of(&past_the_end), rows_of(&latest));

    // A filter counts across the whole log, and its pages keep it.
    let failures = app.get_text(&format!("/jobs/{job_id}?failures=1")).await;
    assert!(failures.contains("50 of 450 events"), "{failures}");
    assert_eq!(
        rows_of(&failures),
        (1..=50).map(|n| n * 9).collect::<Vec<_>>()
    );
    let created = app
        .get_text(&format!("/jobs/{job_id}?status=created&page=2"))
        .await;
    assert!(created.contains("400 of 450 events"), "{created}");
    assert!(created.contains("page 2 of 2"), "{created}");
    let expected: Vec<i64> = (1..=450).filter(|s| s % 9 != 0).skip(200).collect();
    assert_eq!(rows_of(&created), expected);
    assert!(
        created.contains("href=\"?page=1&amp;status=created\""),
        "{created}"
    );

    // Events logged since the last view are folded in (the fold is remembered).
    let more: Vec<StoredEvent> = (451..=460).map(item_event).collect();
    app.db
        .append_job_events(job_id, &more, None, None)
        .await
        .unwrap();
    let later = app.get_text(&format!("/jobs/{job_id}")).await;
    assert!(later.contains("460 of 460 events"), "{later}");
    assert_eq!(rows_of(&later), (401..=460).collect::<Vec<_>>());
    let stage_row = later.split("data-stage=\"devices\"").nth(1).unwrap();
    let stage_row = stage_row.split("</tr>").next().unwrap();
    assert!(
        stage_row.contains("409") && stage_row.contains("51"),
        "409 created and 51 failed, counted over all pages: {stage_row}"
    );
    app.stop().await;
}

/// The page's words for why the job waits (text between its tag's `>` and `</p>`).
fn waiting_reason(html: &str) -> Option<String> {
    let at = html.find("data-testid=\"waiting-reason\"")?;
    let text = &html[at..];
    let text = &text[text.find('>')? + 1..];
    Some(text[..text.find("</p>")?].to_string())
}

#[tokio::test]
async fn a_waiting_job_says_why_it_waits() {
    for backend in BACKENDS {
        let mut settings = test_job_settings();
        settings.workers = 0;
        let app = TestApp::start_with(backend, settings, None).await;
        app.login().await;

        // Nothing runs jobs: this server has no worker and no other process reported one.
        let first = enqueue_sync(&app.db, &["devices"], vec![5]).await;
        let page = app.get_text(&format!("/jobs/{first}")).await;
        let reason = waiting_reason(&page).expect("a pending job's page says why it waits");
        assert!(
            reason.starts_with("No worker is running: this server runs with PROXBOX_WORKERS=0"),
            "{backend:?}: {reason}"
        );
        assert!(reason.contains("`proxbox worker`"), "{reason}");

        // A worker elsewhere takes the first job; a second job of the same endpoint waits for it.
        app.db.report_runner("elsewhere", 1).await.unwrap();
        assert_eq!(
            app.db.claim_job("elsewhere").await.unwrap().map(|j| j.id),
            Some(first)
        );
        let second = enqueue_sync(&app.db, &["virtual-machines"], vec![5]).await;
        let page = app.get_text(&format!("/jobs/{second}")).await;
        assert_eq!(
            waiting_reason(&page)
                .as_deref()
                .map(|r| r.split(':').next().unwrap()),
            Some(format!("Waiting for job #{first}, which is syncing endpoint 5").as_str()),
            "{backend:?}"
        );

        // A job of another endpoint waits for the one busy worker.
        let third = enqueue_sync(&app.db, &["devices"], vec![6]).await;
        let page = app.get_text(&format!("/jobs/{third}")).await;
        let reason = waiting_reason(&page).unwrap();
        assert!(
            reason.starts_with("Every worker is busy (1 worker, 1 job running)"),
            "{backend:?}: {reason}"
        );

        // A running job's page has no such line.
        let running = app.get_text(&format!("/jobs/{first}")).await;
        assert_eq!(waiting_reason(&running), None);
        app.stop().await;
    }
}

/// A dry run from the dashboard's form against a NetBox filled by hand: its job page is the
/// takeover preview (per kind what would be adopted, and by which rule); the real run's page
/// says what was adopted.
#[tokio::test]
async fn a_dry_runs_job_page_is_the_takeover_preview() {
    let lab = JobsLab::start(Backend::Sqlite, "tkpage", 46, 3).await;
    let netbox = crate::sync_support::netbox();
    let c = lab.sim.state.cluster.read().await.clone();
    let filled = crate::takeover_fixtures::by_hand(&netbox, &c).await;
    lab.app.login().await;
    let run = |dry_run: bool| {
        let lab = &lab;
        async move {
            let csrf = lab.app.csrf().await;
            let mut form = vec![("csrf", csrf.as_str())];
            if dry_run {
                form.push(("dry_run", "on"));
            }
            let response = lab.app.post_form("/sync/full-update", &form).await;
            assert_eq!(response.status(), 303);
            let location = response.headers()["location"].to_str().unwrap().to_string();
            let job_id: i64 = location.strip_prefix("/jobs/").unwrap().parse().unwrap();
            assert_status(&lab.wait_until_ended(job_id).await, JobStatus::Completed);
            lab.app.get_text(&location).await
        }
    };
    let preview = run(true).await;
    assert!(preview.contains(">Takeover preview<"), "{preview}");
    assert!(preview.contains("data-testid=\"takeover-kinds\""));
    assert!(preview.contains("would be adopted"));
    let guests = c.guests.len();
    let adopted_vms = ["qemu", "lxc"]
        .iter()
        .filter_map(|kind| {
            let row = preview
                .split(&format!("<tr data-kind=\"{kind}\">"))
                .nth(1)?;
            let cells: Vec<&str> = row.split("<td>").skip(2).take(1).collect();
            cells[0].split('<').next()?.parse::<usize>().ok()
        })
        .sum::<usize>();
    assert_eq!(adopted_vms, guests, "every guest's VM the fill made");
    assert!(preview.contains("by name in its cluster"), "the rule");
    assert!(preview.contains("by MAC address on its VM"));

    let done = run(false).await;
    assert!(
        done.contains("data-testid=\"takeover\"")
            && !done.contains("Takeover preview")
            && !done.contains("would be adopted"),
        "{done}"
    );
    crate::sync_support::cleanup(&netbox, &lab.cluster).await;
    for (path, id) in filled.others {
        let _ = netbox
            .request(reqwest::Method::DELETE, &format!("{path}{id}/"), &[], None)
            .await;
    }
}
