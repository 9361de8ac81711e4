//! Starting syncs and following them from the dashboard: the sync buttons (plain forms
//! that post to `/sync/{stage}` and land on the job page without JavaScript), the live
//! progress overlay they open instead when hydrated, and the panel of the current job.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::components::job_live::JobLive;
use crate::components::sync_news::SyncNews;
use crate::error::AppError;
use crate::models::JobSnapshot;
use crate::pages::jobs::JobStatusBadge;
use crate::wire::JsonText;

/// Enqueues a sync of every enabled endpoint (or attaches to the one already running) and
/// answers with the job as it stands, for the overlay to follow.
#[server(endpoint = "start_sync", output = JsonText)]
pub async fn start_sync(
    #[server(default)] csrf: String,
    stage: String,
) -> Result<JobSnapshot, AppError> {
    let _ = csrf; // checked by the middleware before any server function runs
    let (state, who) = crate::server::context::require_user()?;
    let request = crate::server::jobs::SyncRequest {
        stages: vec![stage],
        endpoint_ids: Vec::new(),
        dry_run: false,
    };
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
    fn start(self, csrf: String, stage: &'static str) {
        if self.starting.get_untracked() {
            return;
        }
        self.starting.set(true);
        leptos::task::spawn_local(async move {
            let answer = start_sync(csrf, stage.to_string()).await;
            let _ = self.shown.try_set(Some(answer));
            let _ = self.starting.try_set(false);
        });
    }

    /// The job the overlay follows, so that the panel does not follow it a second time.
    fn job_id(self) -> Option<i64> {
        self.shown
            .with(|s| s.as_ref().and_then(|s| s.as_ref().ok()).map(|s| s.job.id))
    }
}

const BUTTONS: [(&str, &str); 3] = [
    ("full-update", "Full update"),
    ("devices", "Sync nodes"),
    ("virtual-machines", "Sync virtual machines"),
];

/// Each button is a form: without JavaScript it posts and lands on the job's page (303);
/// hydrated, it opens the overlay instead of navigating.
#[component]
pub fn SyncButtons(csrf: String, overlay: OverlayState) -> impl IntoView {
    view! {
        <section class="sync-actions" data-testid="sync-actions">
            {BUTTONS.into_iter().map(|(stage, label)| {
                let token = csrf.clone();
                let on_submit = move |ev: SubmitEvent| {
                    ev.prevent_default();
                    overlay.start(token.clone(), stage);
                };
                view! {
                    <form method="post" action=format!("/sync/{stage}") on:submit=on_submit>
                        <input type="hidden" name="csrf" value=csrf.clone()/>
                        <button type="submit" class="btn btn-primary" data-testid=format!("sync-{stage}")
                            disabled=move || overlay.starting.get()>{label}</button>
                    </form>
                }
            }).collect_view()}
        </section>
    }
}

/// The current (or last) job, live while it runs.
#[component]
pub fn JobPanel(current: JobSnapshot, overlay: OverlayState, news: SyncNews) -> impl IntoView {
    let job = current.job.clone();
    let id = job.id;
    view! {
        <section class="card job-panel" data-testid="job-panel" data-job=id>
            <h2>
                <a href=format!("/jobs/{id}")>{format!("Job #{id}")}</a>" "
                <JobStatusBadge status=job.status/>" "
                <span class="mono muted">{job.scope.stage_label()}</span>
            </h2>
            {move || match overlay.job_id() == Some(id) {
                true => view! { <p class="muted">"Followed in the progress window."</p> }.into_any(),
                false => view! { <JobLive start=current.clone() on_end=move || news.notify()/> }.into_any(),
            }}
        </section>
    }
}

/// The live progress window a sync button opens: the job's stages, counters, progress and
/// errors as its event stream delivers them. Its end refreshes the rest of the page.
#[component]
pub fn SyncOverlay(overlay: OverlayState, news: SyncNews) -> impl IntoView {
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
                        <h2>{format!("Job #{id} · {}", snapshot.job.scope.stage_label())}</h2>
                        <JobLive start=snapshot on_end=move || news.notify()/>
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
