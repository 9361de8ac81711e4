//! A job as it runs (the job page's live part, the dashboard's job panel and its sync
//! overlay): the stream's state and a progress bar, elapsed time, stage indicators with
//! their counters, and errors with what to do. Rendered on the server from the job log;
//! hydrated, an active job follows its event stream.

use leptos::prelude::*;

use crate::components::job_stream::{follow_job, StreamState};
use crate::models::{JobProgress, JobSnapshot, JobSummary};

/// The live view of one job; `on_end` runs once its stream delivered `complete`.
#[component]
pub fn JobLive(start: JobSnapshot, on_end: impl Fn() + Send + Sync + 'static) -> impl IntoView {
    let JobSnapshot {
        job,
        progress,
        last_seq,
        as_of,
    } = start;
    let progress = RwSignal::new(progress);
    let stream = if job.status.is_active() {
        follow_job(job.id, last_seq, progress, on_end)
    } else {
        signal(StreamState::Ended).0
    };
    view! {
        <LiveState stream progress/>
        <Elapsed job progress as_of/>
        <p class="job-message" data-testid="job-message">{move || progress.with(|p| p.message.clone())}</p>
        {move || view! { <StageTable progress=progress.get()/> }}
        {move || view! { <ErrorList progress=progress.get()/> }}
    }
}

/// The stream's state and a progress bar from discovery's totals.
#[component]
fn LiveState(stream: ReadSignal<StreamState>, progress: RwSignal<JobProgress>) -> impl IntoView {
    let percent = move || progress.with(JobProgress::percent);
    view! {
        <div class="live" data-testid="live-state" data-state=move || stream.get().as_str()>
            <span class=move || format!("badge stream-{}", stream.get().as_str())>
                {move || match stream.get() {
                    StreamState::Connecting => "connecting…",
                    StreamState::Live => "live",
                    StreamState::Reconnecting => "reconnecting…",
                    StreamState::Ended => "finished",
                }}
            </span>
            <progress max="100" value=move || percent().to_string() data-testid="job-progress"></progress>
            <span class="muted">{move || format!("{} %", percent())}</span>
        </div>
    }
}

/// `1h 02m 03s`, `2m 03s` or `3s`.
pub fn format_duration(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s:02}s"),
        _ => format!("{h}h {m:02}m {s:02}s"),
    }
}

/// How long the job has run (or ran); ticks every second while it runs in the browser.
#[component]
fn Elapsed(job: JobSummary, progress: RwSignal<JobProgress>, as_of: i64) -> impl IntoView {
    let now = RwSignal::new(as_of);
    // A job read while it waited (or still ran) starts (or ends) in the browser when its
    // events say so, to within the second.
    let started = RwSignal::new(job.started_at);
    let ended = RwSignal::new(job.finished_at);
    #[cfg(feature = "hydrate")]
    {
        if job.status.is_active() {
            // The server's clock, not the browser's: they need not agree.
            let offset = as_of - web_sys::js_sys::Date::now() as i64;
            let handle = set_interval_with_handle(
                move || {
                    let server_now = web_sys::js_sys::Date::now() as i64 + offset;
                    let (begun, finished) =
                        progress.with_untracked(|p| (p.started(), p.finished.is_some()));
                    if begun && started.get_untracked().is_none() {
                        started.set(Some(server_now));
                    }
                    if finished && ended.get_untracked().is_none() {
                        ended.set(Some(server_now));
                    }
                    now.set(server_now);
                },
                std::time::Duration::from_secs(1),
            );
            on_cleanup(move || {
                if let Ok(handle) = handle {
                    handle.clear();
                }
            });
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = progress;
    let text = move || match (started.get(), ended.get()) {
        (None, _) => "waiting for a worker".to_string(),
        (Some(start), Some(end)) => format_duration(end - start),
        (Some(start), None) => format_duration(now.get() - start),
    };
    view! {
        <p class="elapsed muted">"Elapsed: "<span data-testid="job-elapsed">{text}</span></p>
    }
}

#[component]
fn StageTable(progress: JobProgress) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table stages" data-testid="stages">
                <thead>
                    <tr><th>"Stage"</th><th>"State"</th><th>"Created"</th><th>"Updated"</th><th>"Deleted"</th><th>"Skipped"</th><th>"Failed"</th></tr>
                </thead>
                <tbody>
                    {progress.stages.into_iter().map(|s| view! {
                        <tr data-stage=s.name.clone()>
                            <td>{s.name.clone()}</td>
                            <td><span class=format!("badge stage-{}", s.state.as_str())>{s.state.as_str()}</span></td>
                            <td>{s.counts.created}</td>
                            <td>{s.counts.updated}</td>
                            <td>{s.counts.deleted}</td>
                            <td>{s.counts.skipped}</td>
                            <td>{s.counts.failed}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// The job's errors as a banner, each with its category and what to do.
#[component]
fn ErrorList(progress: JobProgress) -> impl IntoView {
    (!progress.errors.is_empty()).then(|| {
        view! {
            <section class="alert alert-error" role="alert" data-testid="job-errors">
                <h2>"Errors"</h2>
                <ul>
                    {progress.errors.into_iter().map(|e| view! {
                        <li>
                            <span class="badge">{e.category.as_str()}</span>" "
                            <strong>{e.item.as_ref().map(|i| format!("{}: ", i.name)).unwrap_or_default()}{e.message.clone()}</strong>
                            <br/><span class="muted">{e.detail.clone()}</span>
                            <br/>"What to do: "<span data-testid="error-suggestion">{e.suggestion.clone()}</span>
                        </li>
                    }).collect_view()}
                </ul>
            </section>
        }
    })
}

#[cfg(test)]
mod tests {
    use super::format_duration;

    #[test]
    fn durations_read_as_hours_minutes_seconds() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(59_999), "59s");
        assert_eq!(format_duration(61_000), "1m 01s");
        assert_eq!(format_duration(3_723_000), "1h 02m 03s");
        assert_eq!(format_duration(-5), "0s");
    }
}
