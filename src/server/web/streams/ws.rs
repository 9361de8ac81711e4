//! WebSocket `/ws`: job lifecycle news (`sync_started`, `sync_end`) pushed to every open
//! dashboard, and the legacy sync commands (`ws_commands`): a client sends `Full Update`
//! and reads that job's progress on the same socket. A text `ping` gets a `pong` message;
//! WebSocket pings are answered by the protocol layer; the server pings an idle socket so
//! that proxies keep it open. A client without a login or key header authenticates with
//! its first message, `{"api_key": …}`; a wrong one closes the socket with the reason.

use std::time::Duration;

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::follow::{Followed, JobFollower};
use super::ws_commands::{self, Command, Incoming};
use super::{enqueue, SyncParams};
use crate::error::AppError;
use crate::events::SyncEvent;
use crate::models::{Broadcast, JobStatus, Permission};
use crate::server::infra::crypto::token_hash;
use crate::server::jobs::going_down;
use crate::server::web::auth::policy::{self, Need};
use crate::server::web::auth::{cross_site_refusal, recheck, Caller, RequestAuth};
use crate::server::web::respond::Wants;
use crate::server::web::state::AppState;

const IDLE_PING: Duration = Duration::from_secs(30);
/// How long a client whose handshake had no credentials has to send `{"api_key": …}`.
const FIRST_MESSAGE_WITHIN: Duration = Duration::from_secs(10);
/// Messages of running commands waiting for the socket.
const COMMAND_BACKLOG: usize = 256;
/// The largest message (and frame) a client may send. Its messages are a key, `ping` or a
/// command name: a few hundred bytes; without a cap a client that has not authenticated
/// yet makes the server buffer up to 64 MiB.
pub const MAX_CLIENT_MESSAGE: usize = 16 * 1024;
/// Sockets waiting for their first message's credentials, all clients together.
pub const MAX_AWAITING_CREDENTIALS: usize = 64;
static AWAITING_CREDENTIALS: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(MAX_AWAITING_CREDENTIALS);

pub async fn websocket(
    State(state): State<AppState>,
    Caller(auth): Caller,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Without credentials on the handshake the client authenticates in its first message.
    let auth = auth.filter(RequestAuth::is_authenticated);
    // Another site's page must not open a logged-in browser's socket (cookies ride along
    // on WebSocket handshakes, which no CORS rule stops).
    if let Some(refusal) = auth
        .as_ref()
        .and_then(|auth| cross_site_refusal(&headers, Some(auth)))
    {
        return refusal.render(Wants::Json);
    }
    // A place among the sockets awaiting credentials, taken before the upgrade so that a
    // flood is refused with a status instead of holding connections open.
    let awaiting = match auth {
        Some(_) => None,
        None => match AWAITING_CREDENTIALS.try_acquire() {
            Ok(place) => Some(place),
            Err(_) => {
                return AppError::Busy(
                    "Too many WebSocket clients are authenticating at once; try again in a few seconds."
                        .into(),
                )
                .render(Wants::Json)
            }
        },
    };
    upgrade
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| serve(socket, state, auth, awaiting))
}

async fn serve(
    mut socket: WebSocket,
    state: AppState,
    auth: Option<RequestAuth>,
    awaiting: Option<tokio::sync::SemaphorePermit<'static>>,
) {
    let _open = state.jobs.metrics().stream_opened(true);
    let mut auth = match auth {
        Some(auth) => auth,
        None => match authenticate_in_band(&mut socket, &state).await {
            Ok(auth) => auth,
            Err(reason) => {
                close(&mut socket, close_code::POLICY, reason).await;
                return;
            }
        },
    };
    drop(awaiting);
    // Rights are read again this often and before every command: a revoked key, a removed
    // user or a demoted one loses the socket within one interval.
    let mut recheck = tokio::time::interval(state.jobs.settings().keepalive);
    recheck.reset();
    // One follower per job: a client that sends the same command twice gets one stream.
    let mut followed_jobs = std::collections::HashSet::new();
    let mut news = state.jobs.hub().news();
    let mut shutdown = state.jobs.shutting_down();
    let (progress, mut progress_to_send) = mpsc::channel::<String>(COMMAND_BACKLOG);
    // Dropped with the socket: a command's follower stops when its client goes.
    let mut commands = JoinSet::new();
    loop {
        let outgoing = tokio::select! {
            // Going away (1001): the dashboard reconnects to the next start by itself.
            () = going_down(&mut shutdown) => {
                close(&mut socket, close_code::AWAY, "Proxbox is shutting down".into()).await;
                break;
            }
            item = news.recv() => match item {
                Ok(message) => Message::Text(to_json(&message).into()),
                // A dashboard that fell behind only missed refresh hints; it refreshes
                // on the next one.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            },
            Some(message) = progress_to_send.recv() => Message::Text(message.into()),
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => match ws_commands::read(&text) {
                    Incoming::Ping => Message::Text(to_json(&Broadcast::Pong).into()),
                    Incoming::Command(command) => {
                        auth = match rights_now(&state, &auth).await {
                            Ok(now) => now,
                            Err(reason) => {
                                close(&mut socket, close_code::POLICY, reason).await;
                                break;
                            }
                        };
                        match start(&state, &auth, command).await {
                            Ok(job_id) => {
                                if followed_jobs.insert(job_id) {
                                    commands.spawn(follow(state.clone(), command, job_id, progress.clone()));
                                }
                                continue;
                            }
                            Err(message) => Message::Text(ws_commands::refused(command, &message).to_string().into()),
                        }
                    }
                    // Already authenticated: a key sent again changes nothing.
                    Incoming::ApiKey(_) => continue,
                    Incoming::Unknown(answer) => Message::Text(serde_json::json!({ "type": "error", "message": answer }).to_string().into()),
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => continue,
            },
            _ = recheck.tick() => match rights_now(&state, &auth).await {
                Ok(now) => {
                    auth = now;
                    continue;
                }
                Err(reason) => {
                    close(&mut socket, close_code::POLICY, reason).await;
                    break;
                }
            },
            _ = tokio::time::sleep(IDLE_PING) => Message::Ping(Vec::new().into()),
        };
        if socket.send(outgoing).await.is_err() {
            break;
        }
    }
    commands.abort_all();
    // Completes the closing handshake (answering the client's Close, or starting ours)
    // and flushes it before the connection goes.
    let _ = futures::SinkExt::close(&mut socket).await;
}

async fn close(socket: &mut WebSocket, code: u16, reason: String) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

/// The first message of a client whose handshake carried no credentials: its API key,
/// which must be valid and allow reading jobs. The error is the close reason (a close
/// frame holds at most 123 bytes).
async fn authenticate_in_band(
    socket: &mut WebSocket,
    state: &AppState,
) -> Result<RequestAuth, String> {
    const ASK: &str = "send {\"api_key\": \"...\"} first, or log in";
    let first = match tokio::time::timeout(FIRST_MESSAGE_WITHIN, socket.recv()).await {
        Ok(Some(Ok(Message::Text(text)))) => text,
        Ok(_) => return Err(format!("no credentials: {ASK}")),
        Err(_) => return Err(format!("no credentials in time: {ASK}")),
    };
    let Incoming::ApiKey(key) = ws_commands::read(&first) else {
        return Err(format!("no credentials: {ASK}"));
    };
    let found = state
        .db
        .api_key_by_hash(&token_hash(&key))
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "cannot check a WebSocket client's API key");
            "Proxbox cannot check API keys now (its database); try again".to_string()
        })?;
    let Some(api_key) = found else {
        return Err(
            "the API key is not valid: revoked or mistyped; an admin creates keys under API keys"
                .into(),
        );
    };
    let auth = RequestAuth {
        user: None,
        api_key: Some(api_key),
        csrf: String::new(),
        session_hash: None,
        client_ip: None,
    };
    policy::check(&auth, Some(Need::Permission(Permission::ReadJobs))).map_err(|_| {
        "this API key may not read jobs: it needs the read or sync scope".to_string()
    })?;
    Ok(auth)
}

/// The socket's rights read again (it may read jobs); the error is the close reason.
async fn rights_now(state: &AppState, auth: &RequestAuth) -> Result<RequestAuth, String> {
    recheck(state, auth, Permission::ReadJobs)
        .await
        .map_err(|refusal| close_reason(&refusal))
}

/// A refusal as a close frame carries it (at most 123 bytes).
fn close_reason(refusal: &AppError) -> String {
    let reason = match refusal {
        AppError::Unauthorized => {
            "the session ended or the API key was revoked: log in again or use a valid key"
                .to_string()
        }
        other => format!("no longer allowed: {other}"),
    };
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_string()
}

/// Starts (or attaches to) the command's sync for `auth`; the error says why not.
async fn start(state: &AppState, auth: &RequestAuth, command: Command) -> Result<i64, String> {
    policy::check(auth, Some(Need::Permission(Permission::RunSyncs))).map_err(|e| e.to_string())?;
    enqueue(
        state,
        SyncParams::default().request(command.stage),
        Some(auth),
    )
    .await
    .map(|enqueued| enqueued.job_id)
    .map_err(|e| e.to_string())
}

/// Sends the command's job to the socket as the old clients read it, from its first event
/// to its end.
async fn follow(state: AppState, command: Command, job_id: i64, socket: mpsc::Sender<String>) {
    let jobs = &state.jobs;
    let mut follower = JobFollower::new(jobs, job_id, 0);
    while let Some(followed) = follower.next().await {
        let message = match followed {
            Followed::Event(logged) => {
                let Ok(event) = SyncEvent::from_frame(&logged.name, &logged.data) else {
                    continue;
                };
                if let SyncEvent::Complete(complete) = &event {
                    let status = match jobs.db().job(job_id).await {
                        Ok(Some(job)) if !job.status().is_active() => job.status(),
                        _ if complete.ok => JobStatus::Completed,
                        _ => JobStatus::Failed,
                    };
                    ws_commands::ending(command, job_id, status, complete.ok, &complete.message)
                } else {
                    match ws_commands::progress(command, job_id, &event) {
                        Some(message) => message,
                        None => continue,
                    }
                }
            }
            Followed::Idle => continue,
            Followed::ShuttingDown => return,
            Followed::Failed(error) => {
                ws_commands::ending(command, job_id, JobStatus::Failed, false, &error.message)
            }
        };
        if socket.send(message.to_string()).await.is_err() {
            return;
        }
    }
}

fn to_json(message: &Broadcast) -> String {
    serde_json::to_string(message).unwrap_or_else(|_| r#"{"type":"pong"}"#.into())
}
