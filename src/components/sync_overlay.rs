//! The sync progress overlay: a sync button (the dashboard's, a VM panel's, a node page's) opens it
//! instead of navigating when hydrated; it follows the job's event stream and, once the
//! job ends, tells the page (the `onSyncEnd` hook of the system we replace).

use leptos::prelude::*;

use crate::components::job_live::JobLive;
use crate::error::AppError;
use crate::models::JobSnapshot;
use crate::wire::JsonText;

/// What a sync button starts: everything (the default), one guest (by its NetBox VM id)
/// or one node of an endpoint. Plain fields rather than an enum, as an island's props
/// carry them: an enum's reader costs the browser bundle more than three options.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncStart {
    pub guest: Option<u64>,
    pub endpoint: Option<i64>,
    pub node: Option<String>,
}

/// Enqueues a sync — of every enabled endpoint, of the guest written to NetBox VM `guest`,
/// or of `node` of `endpoint` — or attaches to the same one already running, and answers
/// with the job as it stands, for the overlay to follow.
#[server(endpoint = "start_sync", output = JsonText)]
pub async fn start_sync(
    #[server(default)] csrf: String,
    stage: String,
    #[server(default)] guest: Option<u64>,
    #[server(default)] endpoint: Option<i64>,
    #[server(default)] node: Option<String>,
) -> Result<JobSnapshot, AppError> {
    use crate::models::SyncTarget;
    let _ = csrf; // checked by the middleware before any server function runs
    let (state, who) = crate::server::web::context::require(crate::models::Permission::RunSyncs)?;
    let mut request = crate::server::jobs::SyncRequest {
        stages: vec![stage],
        endpoint_ids: Vec::new(),
        dry_run: false,
        target: None,
        delete_orphans: None,
    };
    if let Some(netbox_id) = guest {
        let guest =
            crate::server::services::views::inventory::guest_of_vm(&state.db, netbox_id).await?;
        request.endpoint_ids = vec![guest.endpoint_id];
        request.target = Some(SyncTarget::Guest { vmid: guest.vmid });
    } else if let (Some(endpoint), Some(name)) = (endpoint, node) {
        request.endpoint_ids = vec![endpoint];
        request.target = Some(SyncTarget::Node { name });
    }
    let enqueued = state.jobs.request_sync(&request, &who.name).await?;
    crate::server::services::views::jobs::load_snapshot(&state, enqueued.job_id).await
}

/// The job the overlay shows, if it is open.
#[derive(Debug, Clone, Copy, Default)]
pub struct OverlayState {
    shown: RwSignal<Option<Result<JobSnapshot, AppError>>>,
    starting: RwSignal<bool>,
}

impl OverlayState {
    /// Starts `stage` of what `what` names and opens the overlay on its job.
    pub fn start(self, csrf: String, stage: &'static str, what: SyncStart) {
        if self.starting.get_untracked() {
            return;
        }
        self.starting.set(true);
        let SyncStart {
            guest,
            endpoint,
            node,
        } = what;
        leptos::task::spawn_local(async move {
            let answer = start_sync(csrf, stage.to_string(), guest, endpoint, node).await;
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

/// The sync button of one guest or node: a form that posts to `action` and lands on the
/// job page without JavaScript; hydrated, it opens the overlay on the job and, once it
/// ends, offers the page again (`back`) with what the sync found.
#[island]
pub fn SyncOneButton(
    action: String,
    label: String,
    testid: String,
    #[prop(optional)] guest: Option<u64>,
    #[prop(optional)] endpoint: Option<i64>,
    #[prop(optional)] node: Option<String>,
    back: String,
    csrf: String,
) -> impl IntoView {
    let start = SyncStart {
        guest,
        endpoint,
        node,
    };
    let overlay = OverlayState::default();
    let ended = RwSignal::new(false);
    let token = csrf.clone();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        ended.set(false);
        overlay.start(token.clone(), "full-update", start.clone());
    };
    view! {
        <form method="post" action=action on:submit=on_submit>
            <input type="hidden" name="csrf" value=csrf/>
            <button type="submit" class="btn btn-primary" data-testid=testid disabled=move || overlay.starting()>
                {label}
            </button>
        </form>
        {move || ended.get().then(|| view! {
            <a class="btn" href=back.clone() data-testid="reload-page">"Show what the sync found"</a>
        })}
        <SyncOverlay overlay on_end=move || ended.set(true)/>
    }
}
