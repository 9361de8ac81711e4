//! The job pages without JavaScript: the dashboard's sync form lands on the job page, which
//! renders the job from its log (stages, counts, the event log and its filters).

use proxbox::models::JobStatus;

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
