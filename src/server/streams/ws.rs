//! WebSocket `/ws`: job lifecycle news (`sync_started`, `sync_end`) pushed to every open
//! dashboard. A text `ping` gets a `pong` message; WebSocket pings are answered by the
//! protocol layer; the server pings an idle socket so that proxies keep it open.

use std::time::Duration;

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;

use crate::models::Broadcast;
use crate::server::auth::{cross_site_refusal, Caller};
use crate::server::respond::Wants;
use crate::server::state::AppState;

const IDLE_PING: Duration = Duration::from_secs(30);

pub async fn websocket(
    State(state): State<AppState>,
    Caller(auth): Caller,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Another site's page must not open a logged-in browser's socket (cookies ride along
    // on WebSocket handshakes, which no CORS rule stops).
    if let Some(refusal) = cross_site_refusal(&headers, auth.as_ref()) {
        return refusal.render(Wants::Json);
    }
    let news = state.jobs.hub().news();
    let shutdown = state.jobs.shutting_down();
    upgrade.on_upgrade(move |socket| serve(socket, news, shutdown))
}

async fn serve(
    mut socket: WebSocket,
    mut news: tokio::sync::broadcast::Receiver<Broadcast>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let outgoing = tokio::select! {
            // Going away (1001): the dashboard reconnects to the next start by itself.
            () = going_down(&mut shutdown) => {
                let _ = socket.send(Message::Close(Some(CloseFrame {
                    code: close_code::AWAY,
                    reason: "Proxbox is shutting down".into(),
                }))).await;
                break;
            }
            item = news.recv() => match item {
                Ok(message) => Message::Text(to_json(&message).into()),
                // A dashboard that fell behind only missed refresh hints; it refreshes
                // on the next one.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) if text.trim().eq_ignore_ascii_case("ping") => {
                    Message::Text(to_json(&Broadcast::Pong).into())
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            },
            _ = tokio::time::sleep(IDLE_PING) => Message::Ping(Vec::new().into()),
        };
        if socket.send(outgoing).await.is_err() {
            break;
        }
    }
    // Completes the closing handshake (answering the client's Close, or starting ours)
    // and flushes it before the connection goes.
    let _ = futures::SinkExt::close(&mut socket).await;
}

fn to_json(message: &Broadcast) -> String {
    serde_json::to_string(message).unwrap_or_else(|_| r#"{"type":"pong"}"#.into())
}

/// Resolves once the process starts shutting down (at once if it already has). The
/// watch's guard is dropped inside, so the waiting future stays `Send`.
pub(crate) async fn going_down(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|down| *down).await;
}
