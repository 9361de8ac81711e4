//! Job streams over real HTTP: SSE framing at the byte level, resume with Last-Event-ID,
//! keepalives, many subscribers and a stalled one, failures that still end as `error` +
//! `complete`, the WebSocket news and the proxbox-api compatible routes.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use proxbox::events::{ErrorCategory, SyncEvent};
use proxbox::models::JobStatus;
use proxbox::server::sync::stage::Stage;
use proxbox::server::web::sse_wire::parse_frames;
use pve_sim::{Fault, FaultKind};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::jobs_support::*;
use crate::support::*;

/// Every block of a stream body is a keepalive comment or a well-formed logged frame;
/// ids rise by one; the last frame is `complete`. Returns the frames.
fn assert_well_framed(body: &str, first_id: i64) -> Vec<(i64, SyncEvent)> {
    assert!(body.ends_with("\n\n"), "a stream ends with a whole frame");
    let mut expected = first_id;
    let mut last_name = "";
    for block in body.trim_end_matches('\n').split("\n\n") {
        if block == ": keepalive" {
            continue;
        }
        let lines: Vec<&str> = block.split('\n').collect();
        assert_eq!(lines[0], format!("id: {expected}"), "block {block:?}");
        let name = lines[1].strip_prefix("event: ").expect("event line");
        assert!(lines.len() >= 3 && lines[2..].iter().all(|l| l.starts_with("data: ")));
        let data: Value = serde_json::from_str(&lines[2]["data: ".len()..]).unwrap();
        assert!(data.is_object(), "{name}: data is a JSON object");
        expected += 1;
        last_name = match name {
            "complete" => "complete",
            _ => "other",
        };
    }
    assert_eq!(last_name, "complete", "the last frame is complete");
    logged_frames(body)
}

#[tokio::test]
async fn a_job_stream_is_framed_resumable_and_equal_to_the_log() {
    let lab = JobsLab::start(Backend::Sqlite, "sse", 70, 6).await;
    let (job_id, attached) = lab.start_sync("full-update").await;
    assert!(!attached);

    // Read a few frames live, then drop the connection mid-stream.
    let mut response = lab
        .get(&format!("/jobs/{job_id}/stream"))
        .send()
        .await
        .unwrap();
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "text/event-stream; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    let mut first_part = String::new();
    read_until(&mut response, &mut first_part, |b| {
        logged_frames(b).len() >= 5
    })
    .await;
    drop(response);
    // Only whole frames count; a torn last block is read again after the resume.
    let whole = &first_part[..first_part.rfind("\n\n").unwrap() + 2];
    let seen = logged_frames(whole);
    let last_id = seen.last().unwrap().0;

    let rest = lab.stream_body(job_id, Some(last_id)).await;
    let resumed = assert_well_framed(&rest, last_id + 1);
    let job = lab.wait_until_ended(job_id).await;
    assert_status(&job, JobStatus::Completed);

    let mut joined = seen.clone();
    joined.extend(resumed);
    let log = job_log(&lab.app, job_id).await;
    assert_eq!(joined, log, "every event exactly once, in order");
    assert_eq!(names(&log)[0], "discovery");
    assert!(matches!(log.last().unwrap().1, SyncEvent::Complete(ref c) if c.ok));

    // A finished job replays in full from the start.
    let replay = lab.stream_body(job_id, None).await;
    assert_eq!(assert_well_framed(&replay, 1), log);
    // And from a point given in the query, for a page reloaded mid-stream.
    let from_query = lab
        .get(&format!(
            "/jobs/{job_id}/stream?last_event_id={}",
            log.len() - 2
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(logged_frames(&from_query), log[log.len() - 2..].to_vec());
    lab.stop().await;
}

#[tokio::test]
async fn a_waiting_job_keeps_its_stream_alive_and_a_cancel_ends_it() {
    let mut settings = test_job_settings();
    settings.workers = 0;
    let lab = JobsLab::start_with(Backend::Sqlite, "kal", 71, 2, settings).await;
    let (job_id, _) = lab.start_sync("devices").await;
    let mut response = lab
        .get(&format!("/jobs/{job_id}/stream"))
        .send()
        .await
        .unwrap();
    let mut body = String::new();
    read_until(&mut response, &mut body, |b| {
        b.matches(": keepalive\n\n").count() >= 2
    })
    .await;
    assert!(logged_frames(&body).is_empty(), "nothing ran yet: {body:?}");

    let cancel = lab
        .post(&format!("/jobs/{job_id}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 202);
    read_rest(&mut response, &mut body).await;
    let frames = assert_well_framed(&body, 1);
    assert_eq!(names(&frames), ["error_detail", "error", "complete"]);
    assert!(
        matches!(&frames[0].1, SyncEvent::ErrorDetail(d) if d.category == ErrorCategory::Cancelled)
    );
    assert_status(&lab.wait_until_ended(job_id).await, JobStatus::Cancelled);
    lab.stop().await;
}

/// Sends a stream request on a raw socket and reads nothing until told to.
async fn stalled_subscriber(lab: &JobsLab, job_id: i64) -> tokio::net::TcpStream {
    let address = lab.app.base.trim_start_matches("http://").to_string();
    let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    let request = format!(
        "GET /jobs/{job_id}/stream HTTP/1.0\r\nHost: {address}\r\nX-Proxbox-API-Key: {}\r\n\r\n",
        lab.key
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    socket
}

#[tokio::test]
async fn five_hundred_subscribers_get_everything_and_a_stalled_one_holds_nothing_up() {
    let lab = JobsLab::start(Backend::Sqlite, "fan", 72, 8).await;
    // The first read waits a moment, so that most subscribers are there from the first
    // events.
    lab.sim
        .add_fault(Fault {
            path: "/cluster/status".into(),
            kind: FaultKind::Latency { ms: 1500 },
            times: Some(1),
        })
        .await;
    let (job_id, _) = lab.start_sync("full-update").await;
    let mut stalled = stalled_subscriber(&lab, job_id).await;
    let subscribers: Vec<_> = (0..500)
        .map(|_| {
            let request = lab.get(&format!("/jobs/{job_id}/stream"));
            tokio::spawn(async move { request.send().await.unwrap().text().await.unwrap() })
        })
        .collect();

    // The job ends while one subscriber has not read a byte.
    let job = lab.wait_until_ended(job_id).await;
    assert_status(&job, JobStatus::Completed);
    let log = job_log(&lab.app, job_id).await;
    for subscriber in subscribers {
        let body = subscriber.await.unwrap();
        assert_eq!(logged_frames(&body), log);
    }
    let mut raw = Vec::new();
    stalled.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    // HTTP/1.0: no chunked encoding, the body is the event stream as sent.
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert_eq!(
        logged_frames(body),
        log,
        "the stalled subscriber caught up from the log"
    );
    lab.stop().await;
}

#[tokio::test]
async fn failures_still_end_as_error_and_complete_frames() {
    let lab = JobsLab::start(Backend::Sqlite, "fail", 73, 2).await;
    let ending = |body: &str| {
        let frames = parse_frames(body);
        let names: Vec<&str> = frames.iter().map(|(_, e)| e.name()).collect();
        assert_eq!(names, ["error_detail", "error", "complete"], "{body}");
        match &frames[0].1 {
            SyncEvent::ErrorDetail(d) => (d.category, d.suggestion.clone()),
            _ => unreachable!(),
        }
    };

    // An unknown job.
    let response = lab.get("/jobs/999999/stream").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        ending(&response.text().await.unwrap()).0,
        ErrorCategory::NotFound
    );

    // No credentials: an event stream still, never a login page.
    let response = lab
        .app
        .client
        .get(lab.app.url("/full-update/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert_eq!(
        ending(&response.text().await.unwrap()).0,
        ErrorCategory::Authentication
    );

    // Another site cannot make a logged-in browser start a sync.
    lab.app.login().await;
    let response = lab
        .app
        .client
        .get(lab.app.url("/sync/devices/stream"))
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        ending(&response.text().await.unwrap()).0,
        ErrorCategory::Permission
    );
    assert!(
        lab.app.db.jobs(None, None, 10).await.unwrap().is_empty(),
        "no job was started"
    );

    // Proxmox refusing the token: the job fails and its stream says what to do. (The
    // devices stage's first read is the cluster status.)
    lab.sim
        .add_fault(Fault {
            path: "/cluster/status".into(),
            kind: FaultKind::Unauthorized,
            times: None,
        })
        .await;
    let response = lab
        .app
        .client
        .get(lab.app.url("/sync/devices/stream"))
        .header("Sec-Fetch-Site", "same-origin")
        .send()
        .await
        .unwrap();
    let body = response.text().await.unwrap();
    let frames = assert_well_framed(&body, 1);
    assert!(frames.iter().any(|(_, e)| matches!(e, SyncEvent::ErrorDetail(d) if d.category == ErrorCategory::Authentication)));
    assert!(matches!(frames.last().unwrap().1, SyncEvent::Complete(ref c) if !c.ok));
    lab.sim.clear_faults().await;

    // Bad input to a JSON client: a clear error, no job.
    let response = new_client()
        .post(lab.app.url("/sync/everything"))
        .header("X-Proxbox-API-Key", &lab.key)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert!(error.to_string().contains("unknown stage"), "{error}");
    lab.stop().await;
}

#[tokio::test]
async fn the_websocket_pushes_sync_started_and_sync_end() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;

    let lab = JobsLab::start(Backend::Sqlite, "ws", 74, 2).await;
    let mut request = lab
        .app
        .base
        .replace("http://", "ws://")
        .add_path("/ws")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("X-Proxbox-API-Key", lab.key.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();

    socket.send(Message::Text("ping".into())).await.unwrap();
    let pong = next_json(&mut socket).await;
    assert_eq!(pong["type"], "pong");

    let (job_id, _) = lab.start_sync("devices").await;
    let started = next_json(&mut socket).await;
    assert_eq!(started["type"], "sync_started");
    assert_eq!(started["job_id"], job_id);
    let ended = next_json(&mut socket).await;
    assert_eq!(ended["type"], "sync_end");
    assert_eq!(ended["job_id"], job_id);
    assert_eq!(ended["ok"], true);
    assert_eq!(ended["status"], "completed");
    assert!(ended["result"]["stages"]["devices"].is_object(), "{ended}");

    socket.close(None).await.unwrap();
    while let Some(message) = socket.next().await {
        assert!(matches!(message, Ok(Message::Close(_))), "{message:?}");
    }
    lab.stop().await;
}

/// A socket to `/ws` whose handshake carries no credentials (as the old relay connects).
async fn bare_socket(
    lab: &JobsLab,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = lab.app.base.replace("http://", "ws://").add_path("/ws");
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

#[tokio::test]
async fn a_socket_client_starts_a_full_update_by_command_and_reads_its_progress_to_the_end() {
    use tokio_tungstenite::tungstenite::Message;

    let lab = JobsLab::start(Backend::Sqlite, "wscmd", 111, 3).await;
    let mut socket = bare_socket(&lab).await;
    socket
        .send(Message::Text(
            serde_json::json!({ "api_key": lab.key }).to_string().into(),
        ))
        .await
        .unwrap();
    socket
        .send(Message::Text("Full Update".into()))
        .await
        .unwrap();

    let mut items = Vec::new();
    let mut stage_ends = Vec::new();
    let end = loop {
        let message = next_json(&mut socket).await;
        if message.get("object").is_none() {
            continue; // the dashboard news this socket also carries
        }
        match (message["object"].as_str(), message["end"].as_bool()) {
            (Some("full-update"), Some(true)) => break message,
            (Some(object), Some(true)) => stage_ends.push(object.to_string()),
            (Some(_), None) => items.push(message),
            _ => panic!("a message of no object: {message}"),
        }
    };
    assert_eq!(end["status"], "completed", "{end}");
    assert_eq!(end["ok"], true);
    let job_id = end["job_id"].as_i64().unwrap();
    let job = lab.app.db.job(job_id).await.unwrap().unwrap();
    assert_eq!(job.status(), JobStatus::Completed);
    assert_eq!(stage_ends.len(), Stage::ALL.len(), "{stage_ends:?}");
    assert_eq!(stage_ends[0], "device");
    assert_eq!(stage_ends[2], "virtual_machine");

    // One message per object the job's log reports, in its order.
    let logged: Vec<String> = job_log(&lab.app, job_id)
        .await
        .into_iter()
        .filter_map(|(_, event)| match event {
            SyncEvent::ItemProgress(item) => Some(item.item.name),
            _ => None,
        })
        .collect();
    let sent: Vec<String> = items
        .iter()
        .map(|m| m["data"]["rowid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sent, logged);
    assert!(
        items.iter().any(|m| m["object"] == "device"),
        "nodes are devices"
    );
    assert!(
        items
            .iter()
            .filter(|m| m["object"] == "virtual_machine")
            .count()
            >= 3,
        "each guest is a virtual_machine"
    );
    assert_eq!(
        job.summary().requested_by,
        format!(
            "api-key:{}",
            lab.app.db.api_keys().await.unwrap()[0].info.name
        )
    );
    lab.stop().await;
}

#[tokio::test]
async fn a_socket_without_a_valid_key_first_is_closed_with_the_reason() {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::Message;

    let lab = JobsLab::start(Backend::Sqlite, "wskey", 112, 1).await;
    async fn closed_with(mut socket: Socket, first: &str) -> (CloseCode, String) {
        socket.send(Message::Text(first.into())).await.unwrap();
        close_frame(&mut socket, false).await
    }
    let (code, reason) = closed_with(bare_socket(&lab).await, r#"{"api_key": "not-a-key"}"#).await;
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains("API key is not valid"), "{reason}");
    let (code, reason) = closed_with(bare_socket(&lab).await, "Full Update").await;
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains(r#"send {"api_key""#), "{reason}");
    assert!(
        lab.app.db.jobs(None, None, 10).await.unwrap().is_empty(),
        "no sync started"
    );

    // A read-only key may watch but not start syncs: the command is refused on the socket.
    let read_only = proxbox::server::services::credentials::create_api_key(
        &lab.app.db,
        "reader",
        &[proxbox::models::Scope::Read],
    )
    .await
    .unwrap();
    let mut socket = bare_socket(&lab).await;
    socket
        .send(Message::Text(
            serde_json::json!({ "api_key": read_only })
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    socket
        .send(Message::Text("Sync Nodes".into()))
        .await
        .unwrap();
    let refused = next_json(&mut socket).await;
    assert_eq!(refused["object"], "device");
    assert_eq!(refused["status"], "refused", "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("sync"),
        "{refused}"
    );
    assert!(
        lab.app.db.jobs(None, None, 10).await.unwrap().is_empty(),
        "no sync started"
    );
    lab.stop().await;
}

trait AddPath {
    fn add_path(self, path: &str) -> String;
}

impl AddPath for String {
    fn add_path(self, path: &str) -> String {
        format!("{self}{path}")
    }
}

async fn next_json<S>(socket: &mut S) -> Value
where
    S: futures::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    loop {
        let message = tokio::time::timeout(Duration::from_secs(120), socket.next())
            .await
            .expect("a message in time")
            .expect("socket open")
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[tokio::test]
async fn the_proxbox_api_compatible_routes_sync_and_stream_with_a_key() {
    let lab = JobsLab::start(Backend::Sqlite, "compat", 75, 3).await;
    let version: Value = lab
        .get("/version")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));

    let response = lab.get("/dcim/devices/create").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["ok"], true, "{body}");
    assert_eq!(body["status"], "completed");
    assert!(
        body["result"]["stages"]["devices"]["created"]
            .as_u64()
            .unwrap()
            > 0,
        "{body}"
    );

    let stream = lab
        .get("/virtualization/virtual-machines/create/stream")
        .send()
        .await
        .unwrap();
    let body = stream.text().await.unwrap();
    let frames = assert_well_framed(&body, 1);
    let steps: Vec<String> = frames
        .iter()
        .filter_map(|(_, e)| match e {
            SyncEvent::Step(s) => Some(format!("{} {:?}", s.step, s.status)),
            _ => None,
        })
        .collect();
    assert_eq!(
        steps,
        [
            "devices Started",
            "devices Completed",
            "virtual-machines Started",
            "virtual-machines Completed"
        ]
    );
    lab.stop().await;
}

/// JSON as the system we replace writes it (Python's `", "` and `": "`) without the space
/// outside strings: the bytes serde writes for the same value in the same key order.
fn compact(json: &str) -> String {
    let (mut out, mut in_string, mut escaped) = (String::new(), false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// The `data:` of the first frame of `event` in a stream body.
fn first_data<'a>(body: &'a str, event: &str) -> &'a str {
    body.split("\n\n")
        .find_map(|block| {
            let mut lines = block.lines().skip_while(|l| l.starts_with("id: "));
            (lines.next()? == format!("event: {event}"))
                .then(|| lines.next()?.strip_prefix("data: "))
                .flatten()
        })
        .unwrap_or_else(|| panic!("no {event} frame in {body}"))
}

#[tokio::test]
async fn a_full_update_stream_opens_with_the_discovery_of_the_system_we_replace() {
    let recorded = include_str!("../../contracts/anchor-transcripts/full-update-first-sync.sse");
    let theirs = compact(first_data(recorded, "discovery"));
    let theirs_value: Value = serde_json::from_str(&theirs).unwrap();
    let their_stages: Vec<&str> = theirs_value["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["name"].as_str().unwrap())
        .collect();
    let our_first: Vec<&str> = Stage::ALL
        .iter()
        .map(|s| s.name())
        .take(their_stages.len())
        .collect();
    assert_eq!(
        their_stages, our_first,
        "the full update's stages, by name and in order, come first"
    );

    let lab = JobsLab::start(Backend::Sqlite, "contract", 76, 3).await;
    let body = lab
        .get("/full-update/stream")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    lab.stop().await;
    let ours = first_data(&body, "discovery");
    let ours_value: Value = serde_json::from_str(ours).unwrap();
    let operation_id = ours_value["metadata"]["operation_id"].as_str().unwrap();

    // The recorded frame, byte for byte, with our operation id and restricted to the stages
    // Proxbox has built so far (the rest of the twelve come with their issues).
    let mut expected = theirs.replace(
        theirs_value["metadata"]["operation_id"].as_str().unwrap(),
        operation_id,
    );
    let ours_names: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
    for stage in their_stages.iter().filter(|s| !ours_names.contains(s)) {
        expected = expected
            .replace(&format!(r#"{{"name":"{stage}","type":"stage"}},"#), "")
            .replace(&format!(r#",{{"name":"{stage}","type":"stage"}}"#), "");
    }
    // Proxbox's own stages come after the twelve, in the same frame.
    let extra = &ours_names[their_stages.len()..];
    assert_eq!(extra, ["networks"], "the thirteenth stage");
    let last = format!(
        r#"{{"name":"{}","type":"stage"}}"#,
        their_stages.last().unwrap()
    );
    let appended: String = extra
        .iter()
        .map(|stage| format!(r#",{{"name":"{stage}","type":"stage"}}"#))
        .collect();
    expected = expected.replacen(&last, &format!("{last}{appended}"), 1);
    let n = Stage::ALL.len();
    expected = expected
        .replace(
            "Discovered 12 sync stage(s)",
            &format!("Discovered {n} sync stage(s)"),
        )
        .replace(r#""count":12"#, &format!(r#""count":{n}"#))
        .replace(r#""total":12"#, &format!(r#""total":{n}"#));
    assert_eq!(ours, expected);

    // Each stage then has its own discovery, as in the recorded stream.
    let frames = assert_well_framed(&body, 1);
    let phases: Vec<&str> = frames
        .iter()
        .filter_map(|(_, e)| match e {
            SyncEvent::Discovery(d) => Some(d.phase.as_str()),
            _ => None,
        })
        .collect();
    let mut want = vec!["full-update"];
    want.extend(&ours_names);
    assert_eq!(phases, want);
}

#[tokio::test]
async fn a_plugin_stream_syncs_only_the_endpoint_it_names() {
    let lab = JobsLab::start(Backend::Sqlite, "perendpoint", 78, 2).await;
    // Another enabled endpoint, unreachable: a stream that synced it too would fail.
    let other = crate::sync_support::endpoint(&lab.app.db, "unreachable").await;
    let body = lab
        .get(&format!(
            "/dcim/devices/create/stream?proxmox_endpoint_ids={}",
            lab.endpoint_id
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let frames = assert_well_framed(&body, 1);
    let Some((_, SyncEvent::Complete(complete))) = frames.last() else {
        panic!("no complete frame: {body}");
    };
    assert!(complete.ok, "{body}");
    let jobs: Vec<(i64,)> = sqlx::query_as("SELECT id FROM jobs")
        .fetch_all(lab.app.db.pool())
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    let job = lab.app.db.job(jobs[0].0).await.unwrap().unwrap().summary();
    assert_eq!(job.scope.endpoint_ids, vec![lab.endpoint_id]);
    assert_ne!(other, lab.endpoint_id);
    lab.stop().await;
}

#[tokio::test]
async fn old_stage_names_start_the_same_jobs() {
    // No worker: the first job waits, so the second request finds it.
    let mut settings = test_job_settings();
    settings.workers = 0;
    let lab = JobsLab::start_with(Backend::Sqlite, "alias", 77, 2, settings).await;
    let (old, _) = lab.start_sync("vm-disks").await;
    let (new, attached) = lab.start_sync("virtual-disks").await;
    assert_eq!(
        (new, attached),
        (old, true),
        "one job, asked for by either name"
    );
    lab.stop().await;
}

#[tokio::test]
async fn another_site_cannot_make_a_logged_in_browser_start_a_sync_or_open_the_socket() {
    let lab = JobsLab::start(Backend::Sqlite, "xsite", 107, 1).await;
    let app = &lab.app;
    app.login().await;
    let host = app.base.trim_start_matches("http://").to_string();
    let send = |path: &str, headers: Vec<(&'static str, String)>, upgrade: bool| {
        let mut request = app.client.get(app.url(path));
        if upgrade {
            request = request
                .header("connection", "Upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-version", "13")
                .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        }
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    let elsewhere = || {
        vec![
            vec![("sec-fetch-site", "cross-site".to_string())],
            vec![("origin", "https://evil.example".to_string())],
            vec![("referer", "https://evil.example/page".to_string())],
            vec![("origin", format!("http://{host}.evil.example"))],
            vec![],
        ]
    };
    for headers in elsewhere() {
        let stream = send("/sync/devices/stream", headers.clone(), false)
            .await
            .unwrap();
        assert_eq!(stream.status(), 403, "stream {headers:?}");
        let socket = send("/ws", headers.clone(), true).await.unwrap();
        assert_eq!(socket.status(), 403, "socket {headers:?}");
    }
    assert!(
        app.db.jobs(None, None, 10).await.unwrap().is_empty(),
        "no sync started"
    );

    // From Proxbox's own pages (or a typed address): accepted.
    let socket = send("/ws", vec![("origin", format!("http://{host}"))], true)
        .await
        .unwrap();
    assert_eq!(socket.status(), 101);
    let stream = send(
        "/sync/devices/stream",
        vec![("referer", format!("http://{host}/"))],
        false,
    )
    .await
    .unwrap();
    assert_eq!(stream.status(), 200);
    drop(stream);
    let typed = send(
        "/sync/virtual-machines/stream",
        vec![("sec-fetch-site", "none".to_string())],
        false,
    )
    .await
    .unwrap();
    assert_eq!(typed.status(), 200);
    drop(typed);
    assert_eq!(app.db.jobs(None, None, 10).await.unwrap().len(), 2);
    lab.stop().await;
}
