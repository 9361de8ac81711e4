//! `/metrics` as Prometheus scrapes it: the text format, counters that move with a sync,
//! open streams counted while open, and a key that may not read refused.

use proxbox::models::Scope;

use crate::jobs_support::*;
use crate::support::*;

/// The value of the sample `name{labels}` (labels exactly as written), 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

async fn scrape(lab: &JobsLab, key: &str) -> reqwest::Response {
    new_client()
        .get(lab.app.url("/metrics"))
        .header("X-Proxbox-API-Key", key)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn metrics_move_with_a_sync_and_need_a_key_that_may_read() {
    let lab = JobsLab::start(Backend::Sqlite, "metrics", 117, 3).await;
    let reader = proxbox::server::services::credentials::create_api_key(
        &lab.app.db,
        "prometheus",
        &[Scope::Read],
    )
    .await
    .unwrap();
    let before = scrape(&lab, &reader).await;
    assert_eq!(before.status(), 200);
    assert!(
        before.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "the Prometheus text format"
    );
    let before = before.text().await.unwrap();
    assert!(before.contains("# TYPE proxbox_jobs gauge"), "{before}");
    assert_eq!(
        sample(&before, "proxbox_jobs{status=\"completed\"}"),
        0.0,
        "{before}"
    );

    // While a stream of the job is open, it is counted.
    let (job_id, _) = lab.start_sync("devices").await;
    let stream = new_client()
        .get(lab.app.url(&format!("/jobs/{job_id}/stream")))
        .header("X-Proxbox-API-Key", &lab.key)
        .send()
        .await
        .unwrap();
    let during = scrape(&lab, &reader).await.text().await.unwrap();
    assert_eq!(sample(&during, "proxbox_sse_clients"), 1.0, "{during}");
    let body = stream.text().await.unwrap();
    assert!(body.contains("event: complete"));
    lab.wait_until_ended(job_id).await;

    let after = scrape(&lab, &reader).await.text().await.unwrap();
    assert_eq!(
        sample(&after, "proxbox_sse_clients"),
        0.0,
        "a closed stream is not counted"
    );
    assert_eq!(
        sample(&after, "proxbox_jobs{status=\"completed\"}"),
        1.0,
        "{after}"
    );
    assert_eq!(
        sample(
            &after,
            "proxbox_job_duration_seconds_count{status=\"completed\"}"
        ),
        1.0,
        "{after}"
    );
    assert!(
        sample(
            &after,
            "proxbox_objects_total{kind=\"node\",outcome=\"created\"}"
        ) >= 2.0,
        "{after}"
    );
    assert!(
        sample(
            &after,
            "proxbox_stage_duration_seconds_count{stage=\"devices\"}"
        ) >= 1.0,
        "{after}"
    );
    for peer in ["proxmox", "netbox"] {
        assert!(
            sample(
                &after,
                &format!("proxbox_peer_request_duration_seconds_count{{peer=\"{peer}\"}}")
            ) > sample(
                &before,
                &format!("proxbox_peer_request_duration_seconds_count{{peer=\"{peer}\"}}")
            ),
            "{peer} requests are timed: {after}"
        );
    }
    let endpoint = &lab
        .app
        .db
        .proxmox_endpoint(lab.endpoint_id)
        .await
        .unwrap()
        .unwrap()
        .name;
    let last = sample(
        &after,
        &format!("proxbox_last_successful_sync_timestamp_seconds{{endpoint=\"{endpoint}\"}}"),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - last).abs() < 300.0, "{last} vs {now}");
    assert!(
        sample(&after, "proxbox_db_pool_connections{pool=\"readers\"}") >= 1.0,
        "{after}"
    );

    // A key that may start syncs but not read, and no key at all: refused.
    let syncer = proxbox::server::services::credentials::create_api_key(
        &lab.app.db,
        "syncer",
        &[Scope::Sync],
    )
    .await
    .unwrap();
    assert_eq!(scrape(&lab, &syncer).await.status(), 403);
    let anonymous = new_client()
        .get(lab.app.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    lab.stop().await;
}
