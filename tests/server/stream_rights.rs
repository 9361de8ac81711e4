//! Connections that outlive their request keep only the rights their caller still has: the
//! socket and the server log's stream re-check them; a socket that has not authenticated
//! yet can send only small messages, and only so many wait at once; one socket follows a
//! job once however often it asks; a password change guesses no faster than a login.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use proxbox::models::{Role, Scope};
use proxbox::server::web::streams::ws::{MAX_AWAITING_CREDENTIALS, MAX_CLIENT_MESSAGE};
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use crate::jobs_support::*;
use crate::support::*;

fn ws_url(app: &TestApp) -> String {
    format!("{}/ws", app.base.replace("http://", "ws://"))
}

/// A socket whose handshake carries `header: value`, as a page of Proxbox's opens it.
async fn socket_with(app: &TestApp, header: &'static str, value: &str) -> Socket {
    let mut request = ws_url(app).into_client_request().unwrap();
    request.headers_mut().insert(header, value.parse().unwrap());
    request
        .headers_mut()
        .insert("sec-fetch-site", "same-origin".parse().unwrap());
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

/// Logs `name` in with a client of its own; returns the session cookie as a header value.
async fn session_of(app: &TestApp, name: &str, password: &str) -> String {
    let client = new_client();
    let csrf = app.csrf_of(&client).await;
    let response = client
        .post(app.url("/api/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", name),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("proxbox_session="))
        .expect("a session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    cookie
}

async fn person(app: &TestApp, name: &str, role: Role) -> String {
    let password = "a long test password";
    let hash = proxbox::server::services::credentials::hash_password(password.into())
        .await
        .unwrap();
    app.db.create_user(name, &hash, role, false).await.unwrap();
    session_of(app, name, password).await
}

async fn next_text(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(120), socket.next())
            .await
            .expect("a message in time")
            .expect("socket open")
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[tokio::test]
async fn a_revoked_key_loses_its_open_socket() {
    let app = TestApp::start(Backend::Sqlite).await;
    let key =
        proxbox::server::services::credentials::create_api_key(&app.db, "watcher", &[Scope::Sync])
            .await
            .unwrap();
    let mut socket = socket_with(&app, "x-proxbox-api-key", &key).await;
    socket.send(Message::Text("ping".into())).await.unwrap();
    assert_eq!(next_text(&mut socket).await["type"], "pong");
    assert!(app.db.delete_api_key("watcher").await.unwrap());
    let (code, reason) = close_frame(&mut socket, true).await;
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains("API key was revoked"), "{reason}");
    app.stop().await;
}

#[tokio::test]
async fn a_removed_user_loses_the_socket_and_a_demoted_operator_starts_no_sync() {
    let lab = JobsLab::start(Backend::Sqlite, "rights", 131, 2).await;
    let app = &lab.app;
    let operator = person(app, "ops", Role::Operator).await;
    let mut socket = socket_with(app, "cookie", &operator).await;
    proxbox::server::services::accounts::set_role(&app.db, "ops", Role::Viewer)
        .await
        .unwrap();
    socket
        .send(Message::Text("Full Update".into()))
        .await
        .unwrap();
    let refused = next_text(&mut socket).await;
    assert_eq!(refused["status"], "refused", "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("viewer"),
        "the refusal names the role now: {refused}"
    );
    assert!(
        app.db.jobs(None, None, 10).await.unwrap().is_empty(),
        "no sync started"
    );

    let viewer = person(app, "gone", Role::Viewer).await;
    let mut socket = socket_with(app, "cookie", &viewer).await;
    proxbox::server::services::accounts::remove_user(&app.db, "gone")
        .await
        .unwrap();
    let (code, reason) = close_frame(&mut socket, true).await;
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains("session ended"), "{reason}");
    lab.stop().await;
}

#[tokio::test]
async fn a_demoted_admin_loses_the_server_log_stream() {
    let app = TestApp::start(Backend::Sqlite).await;
    let cookie = person(&app, "second-admin", Role::Admin).await;
    let mut stream = new_client()
        .get(app.url("/logs/stream"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    proxbox::server::services::accounts::set_role(&app.db, "second-admin", Role::Operator)
        .await
        .unwrap();
    let mut body = String::new();
    let ended =
        tokio::time::timeout(Duration::from_secs(30), read_rest(&mut stream, &mut body)).await;
    assert!(ended.is_ok(), "the stream ends: {body}");
    let events = proxbox::server::web::sse_wire::parse_frames(&body);
    let names: Vec<&str> = events.iter().map(|(_, e)| e.name()).collect();
    assert!(
        names.ends_with(&["error_detail", "error", "complete"]),
        "{names:?}"
    );
    assert!(
        body.contains("operator") && body.contains("cannot"),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_socket_that_has_not_authenticated_sends_small_messages_only() {
    let app = TestApp::start(Backend::Sqlite).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url(&app))
        .await
        .unwrap();
    let huge = "x".repeat(MAX_CLIENT_MESSAGE * 64);
    // The server may close before the whole message is written: either way it is refused.
    let _ = socket.send(Message::Text(huge.into())).await;
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("the socket is closed in time");
    if let Some(code) = closed {
        assert!(
            matches!(
                code,
                CloseCode::Size | CloseCode::Policy | CloseCode::Protocol
            ),
            "{code:?}"
        );
    }
    // The server goes on serving.
    let health = new_client().get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn only_so_many_sockets_wait_for_credentials_at_once() {
    let app = TestApp::start(Backend::Sqlite).await;
    let mut waiting = Vec::new();
    for _ in 0..MAX_AWAITING_CREDENTIALS {
        waiting.push(
            tokio_tungstenite::connect_async(ws_url(&app))
                .await
                .unwrap()
                .0,
        );
    }
    let refused = tokio_tungstenite::connect_async(ws_url(&app)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
            let body = String::from_utf8(response.body().clone().unwrap_or_default()).unwrap();
            assert!(body.contains("try again"), "{body}");
        }
        other => panic!("one socket too many is refused with 503, not {other:?}"),
    }
    // One authenticates: its place is free for the next.
    let key = proxbox::server::services::credentials::create_api_key(&app.db, "k", &[Scope::Read])
        .await
        .unwrap();
    let first = &mut waiting[0];
    first
        .send(Message::Text(
            serde_json::json!({ "api_key": key }).to_string().into(),
        ))
        .await
        .unwrap();
    first.send(Message::Text("ping".into())).await.unwrap();
    assert_eq!(next_text(first).await["type"], "pong");
    let (_next, _) = tokio_tungstenite::connect_async(ws_url(&app))
        .await
        .expect("a place is free again");
    // A client with credentials on its handshake never waits for a place.
    let mut with_key = socket_with(&app, "x-proxbox-api-key", &key).await;
    with_key.send(Message::Text("ping".into())).await.unwrap();
    assert_eq!(next_text(&mut with_key).await["type"], "pong");
    app.stop().await;
}

#[tokio::test]
async fn a_socket_follows_a_job_once_however_often_it_asks() {
    let lab = JobsLab::start(Backend::Sqlite, "once", 132, 3).await;
    let mut socket = socket_with(&lab.app, "x-proxbox-api-key", &lab.key).await;
    for _ in 0..3 {
        socket
            .send(Message::Text("Full Update".into()))
            .await
            .unwrap();
    }
    let mut items = Vec::new();
    let end = loop {
        let message = next_text(&mut socket).await;
        match (message["object"].as_str(), message["end"].as_bool()) {
            (Some("full-update"), Some(true)) => break message,
            (Some(_), None) => items.push(message["data"]["rowid"].as_str().unwrap().to_string()),
            _ => continue,
        }
    };
    let job_id = end["job_id"].as_i64().unwrap();
    assert_eq!(
        lab.app.db.jobs(None, None, 10).await.unwrap().len(),
        1,
        "the three commands are one job"
    );
    let logged: Vec<String> = job_log(&lab.app, job_id)
        .await
        .into_iter()
        .filter_map(|(_, event)| match event {
            proxbox::events::SyncEvent::ItemProgress(item) => Some(item.item.name),
            _ => None,
        })
        .collect();
    assert_eq!(items, logged, "each item once");
    lab.stop().await;
}

#[tokio::test]
async fn a_password_change_guesses_no_faster_than_a_login() {
    let app = TestApp::start(Backend::Sqlite).await;
    let password = "the right long password";
    let hash = proxbox::server::services::credentials::hash_password(password.into())
        .await
        .unwrap();
    app.db
        .create_user("victim", &hash, Role::Viewer, false)
        .await
        .unwrap();
    let client = new_client();
    let csrf = app.csrf_of(&client).await;
    client
        .post(app.url("/api/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "victim"),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    let csrf = app.csrf_of(&client).await;
    let attempt = |current: String| {
        let client = client.clone();
        let url = app.url("/api/change_password");
        let csrf = csrf.clone();
        async move {
            client
                .post(url)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("current", current.as_str()),
                    ("new_password", "another long password"),
                    ("confirm", "another long password"),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // Many guesses at once: all answered, wrong ones refused, and then the lock holds.
    let guesses =
        futures::future::join_all((0..40).map(|i| attempt(format!("guess number {i}")))).await;
    assert!(
        guesses.iter().all(|s| *s == 422 || *s == 429),
        "{guesses:?}"
    );
    assert!(
        guesses.iter().any(|s| *s == 429),
        "the guesses are throttled: {guesses:?}"
    );
    assert_eq!(
        attempt(password.into()).await,
        429,
        "locked even for the right one"
    );
    let user = app.db.user_by_name("victim").await.unwrap().unwrap();
    assert!(
        proxbox::server::services::credentials::verify_password(
            user.password_hash,
            password.into()
        )
        .await
    );
    app.stop().await;
}
