//! Proxmox authentication, really checked: API tokens (`Authorization: PVEAPIToken=…`)
//! and tickets from `POST /access/ticket` (cookie `PVEAuthCookie`, header
//! `CSRFPreventionToken` on writes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Form, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use crate::api::pve_error;
use crate::SimState;

/// What the simulator accepts.
#[derive(Debug, Clone)]
pub struct SimCredentials {
    pub token_id: String,
    pub token_secret: String,
    pub username: String,
    pub password: String,
}

const TICKET_LIFETIME: Duration = Duration::from_secs(2 * 3600);

#[derive(Debug, Clone)]
pub struct IssuedTicket {
    pub csrf: String,
    pub issued: Instant,
}

pub async fn check(State(sim): State<Arc<SimState>>, request: Request, next: Next) -> Response {
    // Inside the nested API router the path has lost its `/api2/json` prefix.
    if request.uri().path().trim_start_matches("/api2/json") == "/access/ticket" {
        return next.run(request).await;
    }
    let headers = request.headers();
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let expected = format!(
            "PVEAPIToken={}={}",
            sim.credentials.token_id, sim.credentials.token_secret
        );
        return if auth == expected {
            next.run(request).await
        } else {
            pve_error(StatusCode::UNAUTHORIZED, "authentication failure")
        };
    }
    let cookie_ticket = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|c| {
            c.split(';')
                .map(str::trim)
                .find_map(|kv| kv.strip_prefix("PVEAuthCookie="))
        })
        .map(str::to_string);
    let Some(ticket) = cookie_ticket else {
        return pve_error(StatusCode::UNAUTHORIZED, "No ticket");
    };
    let issued = sim.tickets.lock().await.get(&ticket).cloned();
    let Some(issued) = issued.filter(|t| t.issued.elapsed() < TICKET_LIFETIME) else {
        return pve_error(StatusCode::UNAUTHORIZED, "invalid ticket");
    };
    if request.method() != Method::GET {
        let csrf = request
            .headers()
            .get("CSRFPreventionToken")
            .and_then(|v| v.to_str().ok());
        if csrf != Some(issued.csrf.as_str()) {
            return pve_error(
                StatusCode::UNAUTHORIZED,
                "Permission denied - invalid csrf token",
            );
        }
    }
    next.run(request).await
}

#[derive(Deserialize)]
pub struct TicketForm {
    username: String,
    password: String,
}

/// `POST /access/ticket` → `{username, ticket, CSRFPreventionToken, cap}`.
pub async fn ticket(State(sim): State<Arc<SimState>>, Form(form): Form<TicketForm>) -> Response {
    if form.username != sim.credentials.username || form.password != sim.credentials.password {
        return pve_error(StatusCode::UNAUTHORIZED, "authentication failure");
    }
    let mut tickets = sim.tickets.lock().await;
    let serial = tickets.len() as u64 + 1;
    let ticket = format!(
        "PVE:{}:{:08X}::simulated-signature-{serial}-{}",
        form.username,
        0x6700_0000 + serial,
        sim.nonce
    );
    let csrf = format!(
        "{:08X}:simulated-csrf-{serial}-{}",
        0x6700_0000 + serial,
        sim.nonce
    );
    tickets.insert(
        ticket.clone(),
        IssuedTicket {
            csrf: csrf.clone(),
            issued: Instant::now(),
        },
    );
    axum::response::IntoResponse::into_response(axum::Json(json!({
        "data": { "username": form.username, "ticket": ticket, "CSRFPreventionToken": csrf, "cap": {} }
    })))
}
