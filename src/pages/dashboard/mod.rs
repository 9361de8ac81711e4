//! `/`: what Proxbox knows at a glance. Rendered on the server from one read of the
//! database (endpoints, the current job, recent jobs) so that it works without
//! JavaScript; hydrated, it asks its peers for the rest (cluster inventories, keepalive
//! badges), follows the current job live, and refreshes when a sync starts or ends.
//!
//! The page's live part is one island, [`DashboardLive`], started from the server's read;
//! the parts that come later are plain signals filled after hydration, so that what the
//! browser hydrates is always exactly what the server sent.

pub mod clusters;
pub mod health;
pub mod live_job;
pub mod sync_options;

use leptos::prelude::*;
use leptos::server_fn::codec::GetUrl;
use leptos_meta::Title;

use crate::components::layout::PageErrors;
use crate::components::session::{csrf_token, page_allows};
use crate::components::sync_news::{open_sync_news, NewsIndicator};
use crate::components::sync_overlay::{OverlayState, SyncOverlay};
use crate::error::AppError;
use crate::models::{DashboardData, EndpointsOverview, LiveFeed, Permission};
use crate::pages::jobs::JobTable;
use crate::wire::JsonText;
use clusters::{ClusterCards, ClusterCardsState, NetboxCard};
use health::{HealthBadges, HealthState};
use live_job::{JobPanel, SyncButtons};

#[server(endpoint = "dashboard", input = GetUrl, output = JsonText)]
pub async fn dashboard() -> Result<DashboardData, AppError> {
    /// How many jobs the dashboard lists.
    const RECENT_JOBS: i64 = 5;
    let (state, _) = crate::server::web::context::require(crate::models::Permission::Read)?;
    let overview = crate::pages::endpoints::load_overview(&state).await?;
    let current = match state.db.current_job_id().await? {
        Some(id) => Some(crate::server::services::views::jobs::load_snapshot(&state, id).await?),
        None => None,
    };
    let recent = state
        .db
        .jobs(None, None, RECENT_JOBS)
        .await?
        .iter()
        .map(|row| row.summary())
        .collect();
    let live = crate::server::services::views::watch::live_feed(&state).await?;
    Ok(DashboardData {
        overview,
        current,
        recent,
        live,
    })
}

#[component]
pub fn DashboardPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| dashboard());
    view! {
        <Title text="Dashboard"/>
        <PageErrors>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let data = data.await?;
                    let live = data.live.clone();
                    Ok::<_, AppError>(view! {
                        <DashboardLive data csrf=csrf_token()
                            can_sync=page_allows(Permission::RunSyncs) can_configure=page_allows(Permission::Administer)/>
                        // Server HTML that the island swaps in again on news (no island of
                        // its own: the bundle carries none of its rendering).
                        <div data-live-region=""><LiveFeedSection live/></div>
                    })
                })}
            </Suspense>
        </PageErrors>
        {page_allows(Permission::RunSyncs).then(|| view! { <sync_options::SyncOptionsForm/> })}
    }
}

/// The whole dashboard is one island: its parts follow each other (the news socket
/// refreshes the cards and the job panel, a sync button opens the overlay that the panel
/// then leaves to it), and islands share no signals.
#[island]
fn DashboardLive(
    data: DashboardData,
    csrf: String,
    /// The caller's role may start syncs (the buttons are left out otherwise).
    can_sync: bool,
    /// The caller's role may change the configuration (the settings links).
    can_configure: bool,
) -> impl IntoView {
    let news = open_sync_news();
    let data = RwSignal::new(data);
    let refresh_failed = RwSignal::new(None::<AppError>);
    // The server sent the first read; every sync start or end reads again.
    Effect::new(move |seen: Option<u64>| {
        let revision = news.revision();
        if seen.is_some_and(|seen| seen != revision) {
            leptos::task::spawn_local(async move {
                // The live feed is server HTML outside the island: swapped in afresh.
                #[cfg(feature = "hydrate")]
                crate::components::live_region::refresh(|| news.is_latest(revision)).await;
                let answer = dashboard().await;
                if !news.is_latest(revision) {
                    return;
                }
                match answer {
                    Ok(fresh) => {
                        data.try_set(fresh);
                        refresh_failed.try_set(None);
                    }
                    Err(e) => {
                        refresh_failed.try_set(Some(e));
                    }
                }
            });
        }
        revision
    });
    let health = HealthState::start();
    let cards = ClusterCardsState::follow(news);
    let overlay = OverlayState::default();
    view! {
        <div class="page-head">
            <h1>"Dashboard"</h1>
            <HealthBadges health/>
        </div>
        <NewsIndicator news/>
        {move || refresh_failed.get().map(|e| view! {
            <div class="alert alert-error" role="alert" data-testid="dashboard-error">
                {format!("The dashboard could not be read again, so it shows what it read before: {e}")}
            </div>
        })}
        {move || {
            let DashboardData { overview, current, recent, .. } = data.get();
            let ready = can_sync
                && overview.netbox.is_some()
                && overview.proxmox.iter().any(|e| e.enabled);
            let csrf = csrf.clone();
            view! {
                <div class="overview">
                    <Overview overview cards health can_configure/>
                    {ready.then(|| view! { <SyncButtons csrf overlay/> })}
                    {current.map(|current| view! { <JobPanel current overlay news/> })}
                    <section class="recent-jobs">
                        <h2>"Recent jobs"</h2>
                        <JobTable jobs=recent/>
                        <p><a href="/jobs">"All jobs"</a></p>
                    </section>
                </div>
            }
        }}
        <SyncOverlay overlay on_end=move || news.notify()/>
    }
}

/// What the watcher saw change in Proxmox lately, and whether it reached NetBox; and any
/// endpoint it cannot read. Rendered on the server; the dashboard island fetches it again
/// when a change is seen or a sync ends.
#[component]
fn LiveFeedSection(live: LiveFeed) -> impl IntoView {
    let LiveFeed { on, lines, problem } = live;
    let empty = lines.is_empty().then_some(if on {
        "Nothing changed in Proxmox since Proxbox started watching."
    } else {
        "The watcher is off (settings: Follow Proxmox live every 0 seconds)."
    });
    view! {
        <section class="live-feed" data-testid="live-feed">
            <h2>"Live from Proxmox"</h2>
            {problem.map(|p| view! { <p class="alert alert-error" data-testid="watch-problem">{p}</p> })}
            <p class="muted">{empty}</p>
            <ul>
                {lines.into_iter().map(|line| view! {
                    <li data-testid="live-change" data-reached=line.reached.to_string()>
                        <a href=line.job_id.map(|id| format!("/jobs/{id}"))>{line.text}</a>
                    </li>
                }).collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn Overview(
    overview: EndpointsOverview,
    cards: ClusterCardsState,
    health: HealthState,
    can_configure: bool,
) -> impl IntoView {
    let EndpointsOverview { proxmox, netbox } = overview;
    if proxmox.is_empty() && netbox.is_none() && can_configure {
        return view! {
            <section class="card welcome" data-testid="welcome">
                <h2>"Welcome to Proxbox"</h2>
                <p>"Proxbox keeps NetBox in step with your Proxmox VE clusters. Two steps to the first sync:"</p>
                <ol>
                    <li><a href="/endpoints/proxmox/new">"Add a Proxmox endpoint"</a>" (an API token with the PVEAuditor role is enough)."</li>
                    <li><a href="/endpoints/netbox">"Connect NetBox"</a>" with an API token that may write."</li>
                </ol>
            </section>
        }
        .into_any();
    }
    view! {
        <div class="cards">
            <ClusterCards endpoints=proxmox cards can_configure/>
            <NetboxCard netbox health can_configure/>
        </div>
    }
    .into_any()
}
