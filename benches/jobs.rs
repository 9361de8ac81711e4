//! The job log and its streams: events per second through the log writer, and the latency
//! from a run emitting an event to each of 1,000 SSE subscribers (real HTTP on loopback)
//! reading it. Target: p99 under 100 ms.
//!
//! `make bench` runs it; `BENCH_SUBSCRIBERS`, `BENCH_EVENTS` and `BENCH_RATE` scale it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use leptos::prelude::LeptosOptions;
use proxbox::events::{StepStatus, Substep, SyncEvent};
use proxbox::models::JobScope;
use proxbox::server::infra::crypto::SecretBox;
use proxbox::server::infra::db::jobs::NewJob;
use proxbox::server::infra::db::Db;
use proxbox::server::jobs::log::{write_log, JobSink, LogItem};
use proxbox::server::jobs::{JobSettings, Jobs};
use proxbox::server::sync::sink::EventSink;
use proxbox::server::web::state::{AppState, WebSettings};

#[path = "common/targets.rs"]
mod targets;
use targets::Targets;

fn env_number(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An event whose message is the moment it was emitted, in µs since `epoch`.
fn stamped(epoch: Instant) -> SyncEvent {
    SyncEvent::Substep(Substep {
        event: "substep".into(),
        phase: "bench".into(),
        substep: "tick".into(),
        status: StepStatus::Completed,
        message: epoch.elapsed().as_micros().to_string(),
        item: None,
        timing: None,
        result: None,
    })
}

async fn new_job(db: &Db, label: &str) -> i64 {
    let scope = JobScope {
        stages: vec![label.into()],
        endpoint_ids: vec![],
        dry_run: false,
        target: None,
        delete_orphans: None,
    };
    let job = NewJob {
        kind: "bench",
        scope: &scope,
        requested_by: "bench",
        rerun_of: None,
        schedule_id: None,
    };
    let id = db.enqueue_job(&job).await.unwrap().job_id;
    db.claim_job("bench")
        .await
        .unwrap()
        .expect("the job is claimed");
    id
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let subscribers = env_number("BENCH_SUBSCRIBERS", 1000);
    let events = env_number("BENCH_EVENTS", 1000);
    let rate = env_number("BENCH_RATE", 100);
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&format!(
        "sqlite://{}",
        dir.path().join("bench.db").display()
    ))
    .await
    .unwrap();
    let secrets = Arc::new(SecretBox::from_key_text(&"ab".repeat(32)).unwrap());
    let settings = JobSettings {
        workers: 0,
        ..JobSettings::default()
    };
    let jobs = Jobs::new(db.clone(), secrets.clone(), settings);
    let _tasks = jobs.start().await.unwrap();

    // 1. Throughput of the log writer alone: emit as fast as possible, wait for the end.
    let burst = 50_000;
    let job_id = new_job(&db, "throughput").await;
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel::<LogItem>();
    let epoch = Instant::now();
    let writer = tokio::spawn(write_log(
        db.clone(),
        jobs.hub().clone(),
        job_id,
        0,
        receiver,
        "bench".into(),
    ));
    let sink = JobSink::new(sender, proxbox::server::infra::metrics::process_metrics());
    for _ in 0..burst {
        sink.emit(stamped(epoch));
    }
    let emitted = epoch.elapsed();
    drop(sink);
    writer.await.unwrap();
    let logged = epoch.elapsed();
    assert_eq!(db.job_last_seq(job_id).await.unwrap(), burst as i64);

    // 2. Latency to 1,000 subscribers over HTTP at a steady rate.
    let key = proxbox::server::services::credentials::create_api_key(
        &db,
        "bench",
        &[proxbox::models::Scope::Admin],
    )
    .await
    .unwrap();
    let state = AppState {
        leptos_options: LeptosOptions::builder()
            .output_name("proxbox")
            .site_root("target/site")
            .build(),
        web: Arc::new(WebSettings {
            cookie_secure: false,
            session_ttl_ms: 3_600_000,
            health_refresh_secs: 30,
            trusted_proxies: Default::default(),
        }),
        services: proxbox::server::services::Services::new(
            db.clone(),
            secrets,
            jobs.clone(),
            Duration::from_secs(30),
        ),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = proxbox::server::web::http::router(state);
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap()
    });
    let job_id = new_job(&db, "latency").await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let epoch = Instant::now();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(subscribers);
    let readers: Vec<_> = (0..subscribers)
        .map(|_| {
            let request = client
                .get(format!("{base}/jobs/{job_id}/stream"))
                .header("X-Proxbox-API-Key", &key);
            let ready = ready_tx.clone();
            tokio::spawn(async move {
                let mut response = request.send().await.unwrap();
                assert_eq!(response.status(), 200);
                let _ = ready.send(()).await;
                let mut latencies = Vec::with_capacity(events);
                let mut buffer = String::new();
                while let Some(chunk) = response.chunk().await.unwrap() {
                    let now = epoch.elapsed().as_micros() as u64;
                    buffer.push_str(std::str::from_utf8(&chunk).unwrap());
                    while let Some(end) = buffer.find("\n\n") {
                        let block: String = buffer.drain(..end + 2).collect();
                        if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) {
                            let value: serde_json::Value = serde_json::from_str(data).unwrap();
                            if let Some(sent) = value["message"]
                                .as_str()
                                .and_then(|m| m.parse::<u64>().ok())
                            {
                                latencies.push(now.saturating_sub(sent));
                            }
                        }
                    }
                }
                latencies
            })
        })
        .collect();
    for _ in 0..subscribers {
        ready_rx.recv().await.unwrap();
    }
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel::<LogItem>();
    let writer = tokio::spawn(write_log(
        db.clone(),
        jobs.hub().clone(),
        job_id,
        0,
        receiver,
        "bench".into(),
    ));
    let sink = JobSink::new(sender, proxbox::server::infra::metrics::process_metrics());
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate as u64));
    let started = Instant::now();
    for _ in 0..events {
        tick.tick().await;
        sink.emit(stamped(epoch));
    }
    sink.finish(
        proxbox::models::JobStatus::Completed,
        proxbox::events::Complete {
            ok: true,
            message: "done".into(),
            result: None,
            errors: None,
        },
    );
    writer.await.unwrap();
    let mut all = Vec::with_capacity(events * subscribers);
    let mut complete_streams = 0;
    for reader in readers {
        let latencies = reader.await.unwrap();
        if latencies.len() == events {
            complete_streams += 1;
        }
        all.extend(latencies);
    }
    let delivered = started.elapsed();
    all.sort_unstable();

    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| log writer, {burst} events emitted back to back | emitted in {:.0} ms; all in the log after {:.0} ms: **{:.0} events/s** |",
        emitted.as_secs_f64() * 1000.0,
        logged.as_secs_f64() * 1000.0,
        burst as f64 / logged.as_secs_f64()
    );
    println!(
        "| {subscribers} SSE subscribers, {events} events at {rate}/s | {complete_streams}/{subscribers} streams got every event; {} deliveries in {:.1} s ({:.0}/s) |",
        all.len(),
        delivered.as_secs_f64(),
        all.len() as f64 / delivered.as_secs_f64()
    );
    println!(
        "| emit → subscriber latency | p50 {:.1} ms, p90 {:.1} ms, **p99 {:.1} ms**, max {:.1} ms (target p99 < 100 ms) |",
        percentile(&all, 0.50),
        percentile(&all, 0.90),
        percentile(&all, 0.99),
        percentile(&all, 1.0)
    );
    let mut targets = Targets::default();
    targets.under(
        "emit → subscriber latency p99",
        percentile(&all, 0.99),
        100.0,
        "ms",
    );
    targets.equal(
        "SSE subscribers that missed events",
        (subscribers - complete_streams) as u64,
        0,
    );
    targets.finish("jobs");
}
