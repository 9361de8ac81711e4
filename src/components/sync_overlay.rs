//! The sync progress overlay: a sync button (the dashboard's, the VM panel's) opens it
//! instead of navigating when hydrated; it follows the job's event stream and, once the
//! job ends, tells the page (the `onSyncEnd` hook of the system we replace).

use leptos::prelude::*;

use crate::components::job_live::JobLive;
use crate::error::AppError;
use crate::models::JobSnapshot;
use crate::wire::JsonText;

/// Enqueues a sync — of every enabled endpoint, or with `guest` (a NetBox VM id) of that
/// guest only — or attaches to the same one already running, and answers with the job
/// as it stands, for the overlay to follow.
#[server(endpoint = "start_sync", output = JsonText)]
pub async fn start_sync(
    #[server(default)] csrf: String,
    stage: String,
    #[server(default)] guest: Option<u64>,
) -> Result<JobSnapshot, AppError> {
    let _ = csrf; // checked by the middleware before any server function runs
    let (state, who) = crate::server::context::require_user()?;
    let mut request = crate::server::jobs::SyncRequest {
        stages: vec![stage],
        endpoint_ids: Vec::new(),
        dry_run: false,
        target: None,
    };
    if let Some(netbox_id) = guest {
        let guest = crate::server::views::guest_of_vm(&state.db, netbox_id).await?;
        request.endpoint_ids = vec![guest.endpoint_id];
        request.target = Some(crate::models::SyncTarget::Guest { vmid: guest.vmid });
    }
    let enqueued = state.jobs.request_sync(&request, &who.name).await?;
    crate::pages::jobs::detail::load_snapshot(&state, enqueued.job_id).await
}

/// The job the overlay shows, if it is open.
#[derive(Debug, Clone, Copy, Default)]
pub struct OverlayState {
    shown: RwSignal<Option<Result<JobSnapshot, AppError>>>,
    starting: RwSignal<bool>,
}

impl OverlayState {
    /// Starts `stage` (of one guest, with `guest`) and opens the overlay on its job.
    pub fn start(self, csrf: String, stage: &'static str, guest: Option<u64>) {
        if self.starting.get_untracked() {
            return;
        }
        self.starting.set(true);
        leptos::task::spawn_local(async move {
            let answer = start_sync(csrf, stage.to_string(), guest).await;
            let _ = self.shown.try_set(Some(answer));
            let _ = self.starting.try_set(false);
        });
    }

    /// Whether a start is on its way (the buttons wait).
    pub fn starting(self) -> bool {
        self.starting.get()
    }

    /// The job the overlay follows, so that a panel does not follow it a second time.
    pub fn job_id(self) -> Option<i64> {
        self.shown
            .with(|s| s.as_ref().and_then(|s| s.as_ref().ok()).map(|s| s.job.id))
    }
}

/// The live progress window a sync button opens: the job's stages, counters, progress and
/// errors as its event stream delivers them. Its end refreshes the rest of the page.
#[component]
pub fn SyncOverlay(
    overlay: OverlayState,
    /// Runs once the job's stream delivered `complete`.
    on_end: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let close = move |_| overlay.shown.set(None);
    move || {
        overlay.shown.get().map(|shown| {
            let body = match shown {
                Ok(snapshot) => {
                    let id = snapshot.job.id;
                    view! {
                        <div class="overlay-head">
                            <a class="btn" href=format!("/jobs/{id}")>"Open the job page"</a>
                            <button type="button" class="btn" on:click=close data-testid="overlay-close">"Close"</button>
                        </div>
                        <h2>{format!("Job #{id} · {}", snapshot.job.scope.title())}</h2>
                        <JobLive start=snapshot on_end=on_end/>
                    }
                    .into_any()
                }
                Err(e) => view! {
                    <div class="overlay-head">
                        <button type="button" class="btn" on:click=close data-testid="overlay-close">"Close"</button>
                    </div>
                    <div class="alert alert-error" role="alert" data-testid="overlay-error">
                        <strong>"The sync could not start: "</strong>{e.to_string()}
                    </div>
                }
                .into_any(),
            };
            view! {
                <div class="overlay" role="dialog" aria-modal="true" aria-label="Sync progress" data-testid="sync-overlay">
                    <div class="card overlay-card">{body}</div>
                </div>
            }
        })
    }
}
