//! SIGTERM as a service manager sends it: the real binary ends its event streams with a
//! last comment, closes its sockets as "going away" and exits within seconds, although a
//! stream and a socket were open and a job was waiting.

use std::time::{Duration, Instant};

use futures::StreamExt;
use proxbox::server::infra::db::Db;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;
use crate::sync_support::*;

#[tokio::test]
async fn sigterm_ends_streams_and_sockets_and_exits_within_seconds() {
    let sim = simulator(&unique("term"), 108, 1, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("proxbox.db").display());
    let db = Db::connect(&url).await.unwrap();
    let endpoint_id = store_endpoints(&db, &sim, "lab").await;
    let key = proxbox::server::services::credentials::create_api_key(
        &db,
        "ops",
        &[proxbox::models::Scope::Admin],
    )
    .await
    .unwrap();
    db.close().await;

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_proxbox"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("PROXBOX_DATA_DIR", dir.path())
        .env("PROXBOX_SECRET_KEY", TEST_KEY)
        // No worker: the job waits, so its stream would stay open for good.
        .env("PROXBOX_WORKERS", "0")
        .env("PROXBOX_LOG", "warn")
        .env_remove("PROXBOX_DATABASE_URL")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let client = new_client();
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.get(format!("{base}/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let started: serde_json::Value = client
        .post(format!("{base}/sync/devices"))
        .header("x-proxbox-api-key", &key)
        .json(&serde_json::json!({ "endpoint_ids": [endpoint_id] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job_id = started["job_id"].as_i64().expect("a job");
    let stream = client
        .get(format!("{base}/jobs/{job_id}/stream"))
        .header("x-proxbox-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut request = format!("ws://127.0.0.1:{port}/ws")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("X-Proxbox-API-Key", key.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();

    let signalled = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    let body = tokio::time::timeout(Duration::from_secs(15), stream.text())
        .await
        .expect("the stream ended")
        .unwrap();
    assert!(
        body.ends_with(": proxbox is shutting down; reconnect to resume\n\n"),
        "{body}"
    );
    let closed = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                other => panic!("the socket ended without a close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("the socket was closed");
    assert_eq!(closed.map(|f| f.code), Some(CloseCode::Away));

    let exit = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(20),
            "the server was still running 20 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit:?}");
    sim.stop().await;
}
