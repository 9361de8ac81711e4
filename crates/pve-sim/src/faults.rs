//! Faults injected per path by tests: latency, an error status, a reset connection, a
//! hang past any timeout, a refused login, malformed JSON, or a wrong type in one field.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::pve_error;
use crate::SimState;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer normally, after a delay.
    Latency { ms: u64 },
    /// Answer with this HTTP status (and Proxmox's error body).
    Status { code: u16 },
    /// Send the headers, then break the connection.
    Reset,
    /// Never answer.
    Hang,
    /// 401, as for a wrong or revoked token.
    Unauthorized,
    /// 200 with a body that is not JSON.
    Malformed,
    /// Answer normally but put a value of the wrong type into `field` of every object in `data`.
    WrongType { field: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// Matches request paths below `/api2/json` that start with this (e.g. `/cluster/resources`
    /// or `/nodes/pve01/qemu/100/config`); `*` inside matches one path segment.
    pub path: String,
    #[serde(flatten)]
    pub kind: FaultKind,
    /// How many requests it hits; `None` for all until cleared.
    #[serde(default)]
    pub times: Option<u32>,
}

pub fn path_matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    pattern.len() <= path.len() && pattern.iter().zip(&path).all(|(p, s)| *p == "*" || p == s)
}

/// Takes the first matching fault (counting down its `times`).
async fn take_fault(sim: &SimState, path: &str) -> Option<FaultKind> {
    let mut faults = sim.faults.lock().await;
    let index = faults.iter().position(|f| path_matches(&f.path, path))?;
    let kind = faults[index].kind.clone();
    if let Some(times) = faults[index].times.as_mut() {
        *times -= 1;
        if *times == 0 {
            faults.remove(index);
        }
    }
    Some(kind)
}

pub async fn inject(State(sim): State<Arc<SimState>>, request: Request, next: Next) -> Response {
    let path = request
        .uri()
        .path()
        .strip_prefix("/api2/json")
        .unwrap_or(request.uri().path())
        .to_string();
    let Some(kind) = take_fault(&sim, &path).await else {
        return next.run(request).await;
    };
    sim.fault_hits
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(kind.clone());
    match kind {
        FaultKind::Latency { ms } => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            next.run(request).await
        }
        FaultKind::Status { code } => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            pve_error(status, &format!("simulated failure {code}"))
        }
        FaultKind::Unauthorized => pve_error(StatusCode::UNAUTHORIZED, "authentication failure"),
        FaultKind::Hang => std::future::pending().await,
        FaultKind::Reset => {
            let broken = futures_util::stream::once(async {
                Err::<axum::body::Bytes, _>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "simulated reset",
                ))
            });
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                Body::from_stream(broken),
            )
                .into_response()
        }
        FaultKind::Malformed => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"data\": [{\"vmid\": 1",
        )
            .into_response(),
        FaultKind::WrongType { field } => {
            let response = next.run(request).await;
            let (parts, body) = response.into_parts();
            let Ok(bytes) = to_bytes(body, 64 << 20).await else {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            };
            let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
                return Response::from_parts(parts, Body::from(bytes));
            };
            corrupt(&mut value["data"], &field);
            let mut response = Response::from_parts(parts, Body::from(value.to_string()));
            response.headers_mut().remove(header::CONTENT_LENGTH);
            response
        }
    }
}

/// Puts a value of a type no Proxmox version sends into `field`, wherever it occurs.
fn corrupt(value: &mut Value, field: &str) {
    match value {
        Value::Object(map) => {
            if let Some(v) = map.get_mut(field) {
                *v = serde_json::json!({"unexpected": ["shape"]});
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| corrupt(item, field)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_prefixes_and_wildcards() {
        assert!(path_matches("/cluster/resources", "/cluster/resources"));
        assert!(path_matches("/nodes", "/nodes/pve01/network"));
        assert!(path_matches(
            "/nodes/*/qemu/100/config",
            "/nodes/pve01/qemu/100/config"
        ));
        assert!(!path_matches(
            "/nodes/*/qemu/100/config",
            "/nodes/pve01/lxc/100/config"
        ));
        assert!(!path_matches("/cluster/status", "/cluster/resources"));
    }
}
