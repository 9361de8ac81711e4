//! A Proxbox server with the simulator and the test NetBox configured, and an HTTP client
//! that talks to its job routes with an API key, as the NetBox plugin does.

use std::time::{Duration, Instant};

use proxbox::events::SyncEvent;
use proxbox::models::{JobScope, JobStatus, JobSummary};
use proxbox::server::infra::db::jobs::NewJob;
use proxbox::server::infra::db::Db;
use proxbox::server::jobs::JobSettings;
use proxbox::server::web::sse_wire::parse_frames;
use serde_json::Value;

use crate::support::*;
use crate::sync_support::*;

pub struct JobsLab {
    pub app: TestApp,
    pub sim: pve_sim::RunningSim,
    pub cluster: String,
    pub endpoint_id: i64,
    pub key: String,
}

impl JobsLab {
    pub async fn start(backend: Backend, prefix: &str, seed: u64, guests: usize) -> JobsLab {
        JobsLab::start_with(backend, prefix, seed, guests, test_job_settings()).await
    }

    pub async fn start_with(
        backend: Backend,
        prefix: &str,
        seed: u64,
        guests: usize,
        settings: JobSettings,
    ) -> JobsLab {
        let app = TestApp::start_with(backend, settings, None).await;
        let cluster = unique(prefix);
        let sim = simulator(&cluster, seed, 2, guests).await;
        let endpoint_id = store_endpoints(&app.db, &sim, &cluster).await;
        let key = proxbox::server::services::credentials::create_api_key(
            &app.db,
            &unique("key"),
            &[proxbox::models::Scope::Admin],
        )
        .await
        .unwrap();
        JobsLab {
            app,
            sim,
            cluster,
            endpoint_id,
            key,
        }
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.app
            .client
            .get(self.app.url(path))
            .header("X-Proxbox-API-Key", &self.key)
    }

    /// A POST with the API key, as a JSON client.
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.app
            .client
            .post(self.app.url(path))
            .header("X-Proxbox-API-Key", &self.key)
            .header("Accept", "application/json")
    }

    /// `POST /sync/{stage}` as a JSON client: the job id and whether it attached.
    pub async fn start_sync(&self, stage: &str) -> (i64, bool) {
        let response = self
            .post(&format!("/sync/{stage}"))
            .json(&serde_json::json!({ "endpoint_ids": [self.endpoint_id] }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "{:?}", response.text().await);
        let body: Value = response.json().await.unwrap();
        (
            body["job_id"].as_i64().unwrap(),
            body["attached"].as_bool().unwrap(),
        )
    }

    /// The whole body of `GET /jobs/{id}/stream` (it ends after `complete`).
    pub async fn stream_body(&self, job_id: i64, last_event_id: Option<i64>) -> String {
        let mut request = self.get(&format!("/jobs/{job_id}/stream"));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }

    pub async fn wait_until_ended(&self, job_id: i64) -> JobSummary {
        wait_for_job(&self.app, job_id, |job| !job.status.is_active()).await
    }

    /// Ends the jobs a test left behind (a stream dropped, a job waiting without workers):
    /// cancelled, and waited for, so that none writes into NetBox after the cleanup listed
    /// what to delete.
    pub async fn stop(self) {
        for job in self.app.db.jobs(None, None, 100).await.unwrap() {
            if job.status().is_active() {
                self.app.jobs.cancel(job.id).await.unwrap();
                self.wait_until_ended(job.id).await;
            }
        }
        cleanup(&netbox(), &self.cluster).await;
        self.sim.stop().await;
        self.app.stop().await;
    }
}

/// Queues a sync of `stages` on `endpoint_ids` as a test asks for it; its id.
pub async fn enqueue_sync(db: &Db, stages: &[&str], endpoint_ids: Vec<i64>) -> i64 {
    let scope = JobScope {
        stages: stages.iter().map(|s| s.to_string()).collect(),
        endpoint_ids,
        dry_run: false,
        target: None,
        delete_orphans: None,
    };
    db.enqueue_job(&NewJob {
        kind: "sync",
        scope: &scope,
        requested_by: "test",
        rerun_of: None,
        schedule_id: None,
    })
    .await
    .unwrap()
    .job_id
}

/// Polls the job's row until `done` holds (or fails the test after two minutes).
pub async fn wait_for_job(
    app: &TestApp,
    job_id: i64,
    done: impl Fn(&JobSummary) -> bool,
) -> JobSummary {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let job = app
            .db
            .job(job_id)
            .await
            .unwrap()
            .expect("job exists")
            .summary();
        if done(&job) {
            return job;
        }
        assert!(Instant::now() < deadline, "job {job_id} stuck: {job:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads a stream into `body` until `enough` holds; fails the test if it ends first.
pub async fn read_until(
    stream: &mut reqwest::Response,
    body: &mut String,
    enough: impl Fn(&str) -> bool,
) {
    while !enough(body) {
        let chunk = stream
            .chunk()
            .await
            .unwrap()
            .expect("the stream ended early");
        body.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

/// Reads the rest of a stream into `body`.
pub async fn read_rest(stream: &mut reqwest::Response, body: &mut String) {
    while let Some(chunk) = stream.chunk().await.unwrap() {
        body.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

/// The job's log as `(seq, event)`.
pub async fn job_log(app: &TestApp, job_id: i64) -> Vec<(i64, SyncEvent)> {
    app.db
        .job_events_after(job_id, 0, 1_000_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.seq, SyncEvent::from_frame(&e.name, &e.data).unwrap()))
        .collect()
}

/// `(seq, event)` of the frames of an SSE body that carry an id.
pub fn logged_frames(body: &str) -> Vec<(i64, SyncEvent)> {
    parse_frames(body)
        .into_iter()
        .filter_map(|(id, event)| id.map(|id| (id, event)))
        .collect()
}

pub fn names(events: &[(i64, SyncEvent)]) -> Vec<&'static str> {
    events.iter().map(|(_, e)| e.name()).collect()
}

pub fn assert_status(job: &JobSummary, status: JobStatus) {
    assert_eq!(job.status, status, "{job:?}");
}

/// A WebSocket client's connection to Proxbox.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The close frame that ends `socket`: its code and reason. Text messages before it are
/// skipped when `text_allowed`, else they fail the test.
pub async fn close_frame(
    socket: &mut Socket,
    text_allowed: bool,
) -> (
    tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode,
    String,
) {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("the socket is closed in time");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => return (frame.code, frame.reason.to_string()),
            Some(Ok(Message::Text(text))) if !text_allowed => {
                panic!("no message before the close: {text}")
            }
            Some(Ok(_)) => continue,
            other => panic!("the socket ends with a close frame, not {other:?}"),
        }
    }
}
