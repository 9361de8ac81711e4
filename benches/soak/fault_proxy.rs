//! A small HTTP proxy in front of the real NetBox that injects the faults a network and a
//! busy NetBox produce: 5xx answers, answers that never come, dropped connections, and the
//! worst of them, a gateway timeout after NetBox applied the write (the client cannot tell
//! that it arrived, so a careless retry creates a duplicate).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// What the proxy does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NetboxFault {
    /// 500, 502 or 503 without asking NetBox.
    ServerError,
    /// Asks NetBox, then answers 504: the write may have been applied.
    TimeoutAfterApply,
    /// Never answers (the client's timeout ends it).
    Hang,
    /// Closes the connection without an answer.
    Drop,
}

/// Faults injected, by kind and by the method of the request they hit (a 504 after an
/// applied POST is the one that makes duplicates when retried carelessly).
#[derive(Default)]
struct Counters {
    by_kind: Mutex<BTreeMap<(NetboxFault, String), u64>>,
}

pub struct FaultProxy {
    pub url: String,
    /// Per mille of requests that get a fault; 0 passes everything through.
    rate: Arc<AtomicU32>,
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct Shared {
    upstream: String,
    client: reqwest::Client,
    rate: Arc<AtomicU32>,
    counters: Arc<Counters>,
    seed: Arc<Mutex<u64>>,
}

impl FaultProxy {
    pub async fn start(upstream: String, seed: u64) -> FaultProxy {
        let rate = Arc::new(AtomicU32::new(0));
        let counters = Arc::new(Counters::default());
        let shared = Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(600))
                .build()
                .unwrap(),
            rate: rate.clone(),
            counters: counters.clone(),
            seed: Arc::new(Mutex::new(seed | 1)),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(forward).with_state(shared);
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FaultProxy {
            url,
            rate,
            counters,
            task,
        }
    }

    /// Faults from now on: `per_mille` of the requests.
    pub fn set_rate(&self, per_mille: u32) {
        self.rate.store(per_mille, Ordering::SeqCst);
    }

    /// Faults injected so far, by kind and method.
    pub fn injected(&self) -> BTreeMap<(NetboxFault, String), u64> {
        self.counters.by_kind.lock().unwrap().clone()
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

fn next_random(seed: &Mutex<u64>) -> u64 {
    let mut state = seed.lock().unwrap();
    // xorshift64*: reproducible from the soak's seed, no dependency.
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

async fn forward(State(shared): State<Shared>, request: Request) -> Response {
    let roll = next_random(&shared.seed);
    let fault = if (roll % 1000) < u64::from(shared.rate.load(Ordering::SeqCst)) {
        Some(match (roll / 1000) % 4 {
            0 => NetboxFault::ServerError,
            1 => NetboxFault::TimeoutAfterApply,
            2 => NetboxFault::Hang,
            _ => NetboxFault::Drop,
        })
    } else {
        None
    };
    if let Some(fault) = fault {
        *shared
            .counters
            .by_kind
            .lock()
            .unwrap()
            .entry((fault, request.method().to_string()))
            .or_default() += 1;
    }
    match fault {
        Some(NetboxFault::ServerError) => {
            let status = [500, 502, 503][(roll as usize / 4000) % 3];
            return (
                StatusCode::from_u16(status).unwrap(),
                "<html><body><h1>Server Error</h1></body></html>",
            )
                .into_response();
        }
        Some(NetboxFault::Hang) => return std::future::pending::<Response>().await,
        Some(NetboxFault::Drop) => return dropped(),
        _ => {}
    }
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 256 << 20)
        .await
        .unwrap_or_default();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = parts.headers.clone();
    headers.remove("host");
    let upstream = shared
        .client
        .request(parts.method.clone(), format!("{}{path}", shared.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await;
    let upstream = match upstream {
        Ok(response) => response,
        Err(_) => return (StatusCode::BAD_GATEWAY, "upstream unreachable").into_response(),
    };
    if fault == Some(NetboxFault::TimeoutAfterApply) {
        let _ = upstream.bytes().await;
        return (
            StatusCode::GATEWAY_TIMEOUT,
            "<html><body>504 Gateway Time-out</body></html>",
        )
            .into_response();
    }
    let status = upstream.status();
    let headers: HeaderMap = upstream.headers().clone();
    let bytes: Bytes = upstream.bytes().await.unwrap_or_default();
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if name != "transfer-encoding" && name != "content-length" && name != "connection" {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
    response
}

/// A response whose body fails at once: hyper then closes the connection mid-answer.
fn dropped() -> Response {
    let failing = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("dropped by the fault proxy"))
    });
    Response::new(Body::from_stream(failing))
}
