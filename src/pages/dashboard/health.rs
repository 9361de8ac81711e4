//! Keepalive badges: Proxmox endpoints, NetBox and the database, checked by the server on
//! the dashboard's behalf every `PROXBOX_HEALTH_REFRESH_SECS`, each with its latency and
//! the time of the check, and what to do about a red one.

use std::time::Duration;

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;

use crate::error::AppError;
use crate::models::{HealthReport, PeerHealth};
use crate::wire::JsonText;

/// How long to wait before asking again when Proxbox itself did not answer.
const RETRY_SECS: u64 = 30;

#[server(endpoint = "check_peers", input = GetUrl, output = JsonText)]
pub async fn check_peers() -> Result<HealthReport, AppError> {
    let (state, _) = crate::server::web::context::require(crate::models::Permission::Read)?;
    Ok(
        crate::server::services::views::dashboard::check_all(&state, state.web.health_refresh_secs)
            .await,
    )
}

/// The latest keepalive report; the server renders "checking", the browser fills it in
/// once hydrated and keeps it fresh.
#[derive(Debug, Clone, Copy)]
pub struct HealthState {
    report: RwSignal<Option<Result<HealthReport, AppError>>>,
}

impl HealthState {
    pub fn start() -> HealthState {
        let report = RwSignal::new(None);
        let round = RwSignal::new(0u64);
        // Effects run only in the browser, after hydration.
        Effect::new(move |_| {
            round.track();
            leptos::task::spawn_local(async move {
                let answer = check_peers().await;
                let next = answer.as_ref().map_or(RETRY_SECS, |r| r.refresh_secs);
                // A page that went away meanwhile asks no more.
                if report.try_set(Some(answer)).is_none() {
                    set_timeout(
                        move || {
                            round.try_update(|r| *r += 1);
                        },
                        Duration::from_secs(next),
                    );
                }
            });
        });
        HealthState { report }
    }

    /// The latest check of one peer (`netbox`, `database`, `proxmox-<id>`).
    pub fn peer(&self, key: &str) -> Option<PeerHealth> {
        self.report.with(|r| {
            r.as_ref()
                .and_then(|r| r.as_ref().ok())
                .and_then(|r| r.peers.iter().find(|p| p.key == key).cloned())
        })
    }
}

#[component]
pub fn HealthBadges(health: HealthState) -> impl IntoView {
    view! {
        <div class="health" data-testid="health">
            {move || match health.report.get() {
                None => view! { <span class="badge muted">"checking peers…"</span> }.into_any(),
                Some(Err(e)) => view! {
                    <span class="badge badge-error" data-testid="health-error">{format!("Proxbox did not answer: {e}")}</span>
                }.into_any(),
                Some(Ok(report)) => view! { <Report report/> }.into_any(),
            }}
        </div>
    }
}

#[component]
fn Report(report: HealthReport) -> impl IntoView {
    let failing: Vec<PeerHealth> = report.peers.iter().filter(|p| !p.ok).cloned().collect();
    view! {
        {report.peers.into_iter().map(|peer| view! { <Badge peer/> }).collect_view()}
        <span class="health-time muted" data-testid="health-checked">{format!("checked {}", report.checked_at)}</span>
        {(!failing.is_empty()).then(|| view! {
            <ul class="health-problems" data-testid="health-problems">
                {failing.into_iter().map(|p| view! {
                    <li>
                        <strong>{p.label}": "</strong>{p.detail}" "
                        <span class="muted">{p.suggestion.unwrap_or_default()}</span>
                    </li>
                }).collect_view()}
            </ul>
        })}
    }
}

#[component]
fn Badge(peer: PeerHealth) -> impl IntoView {
    let class = if peer.ok {
        "badge badge-ok"
    } else {
        "badge badge-error"
    };
    let text = match peer.latency_ms {
        Some(ms) if peer.ok => format!("{} · {ms} ms", peer.label),
        _ => format!("{} · down", peer.label),
    };
    view! {
        <span class=class title=peer.detail data-testid="health-badge" data-peer=peer.key
            data-ok=if peer.ok { "true" } else { "false" }>
            {text}
        </span>
    }
}
