//! The settings page's routes: each field checked with its own message and nothing saved
//! on any error, flags and environment variables locking their setting, every change
//! recorded, schedules with cron expressions, the workers setting applied without a
//! restart, mapping rules checked against the real NetBox, and per-run sync options.

use std::time::{Duration, Instant};

use proxbox::models::JobStatus;
use proxbox::server::services::settings::Setting;
use serde_json::Value;

use crate::jobs_support::*;
use crate::support::*;
use crate::sync_support::*;

/// A form post of the logged-in admin as a JSON client, so errors come back per field.
async fn post_json(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> (u16, Value) {
    let csrf = app.csrf().await;
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    let response = app
        .client
        .post(app.url(path))
        .header("Accept", "application/json")
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The same post as a browser's form: the status and where it is sent next.
async fn post_page(app: &TestApp, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let csrf = app.csrf().await;
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    let response = app.post_form(path, &form).await;
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (response.status().as_u16(), location)
}

fn field<'a>(body: &'a Value, name: &str) -> &'a str {
    body["Validation"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no message for {name}: {body}"))
}

async fn bad_settings_and_schedules_save_nothing(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.login().await;
    let endpoint_id = endpoint(&app.db, "lab").await.to_string();

    let (status, body) = post_json(
        &app,
        "/settings",
        &[
            ("job_timeout_secs", "-5"),
            ("workers", "3"),
            ("overwrite.description", "always"),
            ("overwrite.colour", "always"),
        ],
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        field(&body, "job_timeout_secs")
            .contains("whole number from 1 to 604800 (seconds); \"-5\" is not"),
        "{body}"
    );
    assert!(
        field(&body, "overwrite").contains("unknown field \"colour\""),
        "{body}"
    );
    assert!(body["Validation"].get("workers").is_none(), "{body}");
    assert!(
        app.db.stored_settings().await.unwrap().is_empty(),
        "nothing saved"
    );
    assert!(
        app.db.setting_changes(10).await.unwrap().is_empty(),
        "nothing recorded"
    );
    assert_eq!(app.jobs.reload_settings().await.unwrap().workers, 2);

    for (when, message) in [
        ("61 * * * *", "the minute value 61 is out of range"),
        ("* * *", "has 3 fields; write five"),
        ("0", "is not a schedule"),
    ] {
        let (status, body) = post_json(
            &app,
            "/settings/schedules",
            &[
                ("endpoint", &endpoint_id),
                ("when", when),
                ("enabled", "on"),
            ],
        )
        .await;
        assert_eq!(status, 422, "{when}: {body}");
        assert!(field(&body, "when").contains(message), "{when}: {body}");
    }
    let (status, body) = post_json(
        &app,
        "/settings/schedules",
        &[("endpoint", &endpoint_id), ("stage", "vms"), ("when", "30")],
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        field(&body, "stages").contains("unknown stage \"vms\""),
        "{body}"
    );
    assert!(
        app.db.schedules().await.unwrap().is_empty(),
        "no schedule saved"
    );
    assert!(app.db.setting_changes(10).await.unwrap().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn bad_settings_and_schedules_save_nothing_on_sqlite() {
    bad_settings_and_schedules_save_nothing(Backend::Sqlite).await;
}

#[tokio::test]
async fn bad_settings_and_schedules_save_nothing_on_postgres() {
    bad_settings_and_schedules_save_nothing(Backend::Postgres).await;
}

async fn saved_settings_apply_and_are_recorded(backend: Backend) {
    let app = TestApp::start(backend).await;
    app.login().await;
    let (status, location) = post_page(
        &app,
        "/settings",
        &[
            ("job_timeout_secs", "900"),
            ("workers", "2"),
            ("overwrite.description", "always"),
            ("overwrite.status", "always"),
            ("task_retention_days", "7"),
        ],
    )
    .await;
    assert_eq!((status, location.as_str()), (303, "/settings?saved=3"));
    let settings = app.jobs.settings();
    assert_eq!(settings.job_timeout, Duration::from_secs(900));
    assert_eq!(settings.rules.task_retention_days, 7);
    assert_eq!(settings.rules.overwrite.to_text(), "description=always");

    let mut changes: Vec<(String, Option<String>, Option<String>, String)> = app
        .db
        .setting_changes(10)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.name, c.old_value, c.new_value, c.changed_by))
        .collect();
    changes.sort();
    let change = |name: &str, old: &str, new: &str| {
        (
            name.to_string(),
            Some(old.to_string()),
            Some(new.to_string()),
            ADMIN.to_string(),
        )
    };
    assert_eq!(
        changes,
        [
            change("job_timeout_secs", "600", "900"),
            change("overwrite", "", "description=always"),
            change("task_retention_days", "30", "7"),
        ]
    );

    // The page shows the values, their defaults and the record.
    let page = app.get_text("/settings").await;
    assert!(page.contains(r#"name="job_timeout_secs" value="900""#));
    assert!(page.contains("Default: 7200."));
    assert!(page.contains(r#"data-change="task_retention_days""#));

    // A second instance on the same database runs its next job with them.
    let other = TestApp::start_with(backend, test_job_settings(), Some(&app.db_url)).await;
    assert_eq!(
        other.jobs.reload_settings().await.unwrap().job_timeout,
        Duration::from_secs(900)
    );
    other.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn saved_settings_apply_and_are_recorded_on_sqlite() {
    saved_settings_apply_and_are_recorded(Backend::Sqlite).await;
}

#[tokio::test]
async fn saved_settings_apply_and_are_recorded_on_postgres() {
    saved_settings_apply_and_are_recorded(Backend::Postgres).await;
}

#[tokio::test]
async fn a_setting_given_by_the_environment_is_locked() {
    let mut settings = test_job_settings();
    settings
        .fixed
        .insert(Setting::KeepaliveSecs, "PROXBOX_SSE_KEEPALIVE_SECS".into());
    let app = TestApp::start_with(Backend::Sqlite, settings, None).await;
    app.login().await;
    let page = app.get_text("/settings").await;
    assert!(page.contains(r#"data-testid="locked-keepalive_secs""#));
    assert!(page.contains("set by the environment (PROXBOX_SSE_KEEPALIVE_SECS)"));
    assert!(
        page.contains(r#"name="keepalive_secs" value="0" min="1" max="300" required disabled"#),
        "the field cannot be changed"
    );
    let (status, body) = post_json(&app, "/settings", &[("keepalive_secs", "20")]).await;
    assert_eq!(status, 422);
    assert!(
        field(&body, "keepalive_secs").contains("change it there and restart Proxbox"),
        "{body}"
    );
    assert!(app.db.stored_settings().await.unwrap().is_empty());
    app.stop().await;
}

/// Waits (bounded) until `done` holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_workers_setting_applies_without_a_restart() {
    let lab = JobsLab::start(Backend::Sqlite, "wrk", 101, 2).await;
    let app = &lab.app;
    app.login().await;
    until("two workers run", || app.jobs.workers_running() == 2).await;
    let (status, _) = post_page(app, "/settings", &[("workers", "0")]).await;
    assert_eq!(status, 303);
    until("no worker runs", || app.jobs.workers_running() == 0).await;
    let endpoint_id = lab.endpoint_id.to_string();
    let (status, location) =
        post_page(app, "/sync/devices", &[("endpoint", endpoint_id.as_str())]).await;
    assert_eq!(status, 303);
    let job_id: i64 = location.trim_start_matches("/jobs/").parse().unwrap();
    assert_eq!(
        app.db.job(job_id).await.unwrap().unwrap().status(),
        JobStatus::Pending,
        "nobody takes a job with no worker"
    );
    let (status, _) = post_page(app, "/settings", &[("workers", "1")]).await;
    assert_eq!(status, 303);
    let ended = lab.wait_until_ended(job_id).await;
    assert_eq!(ended.status, JobStatus::Completed);
    assert_eq!(app.jobs.workers_running(), 1);
    lab.stop().await;
}

#[tokio::test]
async fn mapping_rules_are_checked_against_netbox_before_they_are_saved() {
    let lab = JobsLab::start(Backend::Sqlite, "map", 102, 1).await;
    let app = &lab.app;
    app.login().await;
    let missing = unique("no-such-role");
    let rules = format!(
        "{{\"match\": {{\"tag\": \"prod\"}}, \"tenant\": null}}\n{{\"name\": \"web\", \"match\": {{\"tag\": \"web\"}}, \"role\": \"{missing}\"}}"
    );
    let (status, body) = post_json(app, "/settings", &[("mapping", &rules)]).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        field(&body, "mapping").contains("rule \"rule 1\" sets nothing"),
        "the first rule sets nothing: {body}"
    );
    let rules =
        format!("{{\"name\": \"web\", \"match\": {{\"tag\": \"web\"}}, \"role\": \"{missing}\"}}");
    let (status, body) = post_json(app, "/settings", &[("mapping", &rules)]).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        field(&body, "mapping").contains(&format!(
            "names the role \"{missing}\", which NetBox does not have"
        )),
        "{body}"
    );
    assert!(app.db.stored_settings().await.unwrap().is_empty());
    lab.stop().await;
}

#[tokio::test]
async fn a_schedule_is_added_run_now_changed_and_removed_with_a_record() {
    let lab = JobsLab::start(Backend::Sqlite, "sched", 103, 1).await;
    let app = &lab.app;
    app.login().await;
    let endpoint_id = lab.endpoint_id.to_string();
    let fields = [
        ("endpoint", endpoint_id.as_str()),
        ("stage", "virtual-machines"),
        ("stage", "devices"),
        ("when", "30 2 * * *"),
        ("enabled", "on"),
    ];
    let (status, _) = post_page(app, "/settings/schedules", &fields).await;
    assert_eq!(status, 303);
    let (status, body) = post_json(app, "/settings/schedules", &fields).await;
    assert_eq!(status, 422, "one schedule per endpoint and stage set");
    assert!(field(&body, "stages").contains("already has a schedule"));
    let schedules = app.db.schedules().await.unwrap();
    let [schedule] = schedules.as_slice() else {
        panic!("{schedules:?}")
    };
    assert_eq!(schedule.stages, "devices,virtual-machines");
    assert_eq!(schedule.cron.as_deref(), Some("30 2 * * *"));
    let next = schedule.next_run_at;
    assert!(next > proxbox::server::infra::db::now_ms() && next % 60_000 == 0);

    let (status, location) = post_page(
        app,
        &format!("/settings/schedules/{}/run", schedule.id),
        &[],
    )
    .await;
    assert_eq!(status, 303);
    let job_id: i64 = location.trim_start_matches("/jobs/").parse().unwrap();
    let job = lab.wait_until_ended(job_id).await;
    assert_eq!(job.schedule_id, Some(schedule.id));
    assert_eq!(job.requested_by, ADMIN);
    assert_eq!(job.scope.stages, ["devices", "virtual-machines"]);
    let after = app.db.schedule(schedule.id).await.unwrap().unwrap();
    assert_eq!(after.last_job_id, Some(job_id));
    assert_eq!(
        after.next_run_at, next,
        "run now leaves the next tick alone"
    );

    let (status, _) = post_page(
        app,
        &format!("/settings/schedules/{}", schedule.id),
        &[("when", "15")],
    )
    .await;
    assert_eq!(status, 303);
    let changed = app.db.schedule(schedule.id).await.unwrap().unwrap();
    assert_eq!(
        (changed.interval_secs, changed.cron, changed.enabled),
        (Some(900), None, 0)
    );
    let (status, _) = post_page(
        app,
        &format!("/settings/schedules/{}/delete", schedule.id),
        &[],
    )
    .await;
    assert_eq!(status, 303);
    assert!(app.db.schedules().await.unwrap().is_empty());

    let record: Vec<(Option<String>, Option<String>)> = app
        .db
        .setting_changes(10)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .map(|c| {
            assert_eq!(
                c.name,
                format!("schedule {}: devices,virtual-machines", lab.cluster)
            );
            (c.old_value, c.new_value)
        })
        .collect();
    let s = |text: &str| Some(text.to_string());
    assert_eq!(
        record,
        [
            (None, s("cron 30 2 * * * (UTC), enabled")),
            (
                s("cron 30 2 * * * (UTC), enabled"),
                s("every 15 minutes, disabled")
            ),
            (s("every 15 minutes, disabled"), None),
        ]
    );
    lab.stop().await;
}

#[tokio::test]
async fn a_sync_request_names_its_stages_dry_run_and_orphan_deletion() {
    let lab = JobsLab::start(Backend::Sqlite, "opts", 104, 1).await;
    let response = lab
        .post("/sync/full-update")
        .json(&serde_json::json!({
            "endpoint_ids": [lab.endpoint_id],
            "stages": ["virtual-machines"],
            "dry_run": true,
            "delete_orphans": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    let job_id = body["job_id"].as_i64().unwrap();
    let job = lab.wait_until_ended(job_id).await;
    assert_eq!(job.scope.stages, ["virtual-machines"]);
    assert!(job.scope.dry_run);
    assert_eq!(job.scope.delete_orphans, Some(true));

    let response = lab
        .post("/sync/full-update")
        .json(&serde_json::json!({ "stage": ["devices"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    assert!(text.contains("unknown field `stage`"), "{text}");

    // A form: repeated stage fields, orphans kept whatever the setting says.
    let app = &lab.app;
    app.login().await;
    let endpoint_id = lab.endpoint_id.to_string();
    let (status, location) = post_page(
        app,
        "/sync/full-update",
        &[
            ("endpoint", &endpoint_id),
            ("stage", "devices"),
            ("stage", "storage"),
            ("delete_orphans", "off"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let job_id: i64 = location.trim_start_matches("/jobs/").parse().unwrap();
    let job = lab.wait_until_ended(job_id).await;
    assert_eq!(job.scope.stages, ["devices", "storage"]);
    assert_eq!(job.scope.delete_orphans, Some(false));
    assert!(!job.scope.dry_run);
    let (status, _) = post_page(app, "/sync/full-update", &[("delete_orphans", "maybe")]).await;
    assert_eq!(status, 400);
    lab.stop().await;
}
