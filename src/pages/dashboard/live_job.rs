//! Starting syncs and following them from the dashboard: the sync buttons (plain forms
//! that post to `/sync/{stage}` and land on the job page without JavaScript; hydrated,
//! they open the progress overlay) and the panel of the current job.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::components::job_live::JobLive;
use crate::components::sync_news::SyncNews;
use crate::components::sync_overlay::{OverlayState, SyncStart};
use crate::models::JobSnapshot;
use crate::pages::jobs::JobStatusBadge;

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
                    overlay.start(token.clone(), stage, SyncStart::default());
                };
                view! {
                    <form method="post" action=format!("/sync/{stage}") on:submit=on_submit>
                        <input type="hidden" name="csrf" value=csrf.clone()/>
                        <button type="submit" class="btn btn-primary" data-testid=format!("sync-{stage}")
                            disabled=move || overlay.starting()>{label}</button>
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
                <span class="mono muted">{job.scope.title()}</span>
            </h2>
            {move || match overlay.job_id() == Some(id) {
                true => view! { <p class="muted">"Followed in the progress window."</p> }.into_any(),
                false => view! { <JobLive start=current.clone() on_end=move || news.notify()/> }.into_any(),
            }}
        </section>
    }
}
