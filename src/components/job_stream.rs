//! A job's live event stream in the browser: one `EventSource` (gloo-net's) per watched
//! job, folded into the same [`JobProgress`] the server renders from the stored log.
//!
//! The browser's EventSource reconnects by itself and sends `Last-Event-ID`, and the server
//! resumes after it, so a dropped connection loses nothing; meanwhile the state says
//! "reconnecting". The stream is closed on `complete` and when its component goes away.

use leptos::prelude::*;

use crate::models::JobProgress;

/// Where a job's stream stands, for the "live" / "reconnecting" indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    /// Not connected yet (also what the server renders).
    Connecting,
    Live,
    Reconnecting,
    /// `complete` arrived, or the stream was closed.
    Ended,
}

impl StreamState {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamState::Connecting => "connecting",
            StreamState::Live => "live",
            StreamState::Reconnecting => "reconnecting",
            StreamState::Ended => "ended",
        }
    }
}

/// Follows job `job_id` from after event `after` (what the page already shows), applying
/// each event to `progress`; `on_end` runs once `complete` arrived.
pub fn follow_job(
    job_id: i64,
    after: i64,
    progress: RwSignal<JobProgress>,
    on_end: impl Fn() + Send + Sync + 'static,
) -> ReadSignal<StreamState> {
    let (state, set_state) = signal(StreamState::Connecting);
    #[cfg(feature = "hydrate")]
    browser::open(job_id, after, progress, set_state, on_end);
    #[cfg(not(feature = "hydrate"))]
    let _ = (job_id, after, progress, set_state, on_end);
    state
}

#[cfg(feature = "hydrate")]
mod browser {
    use futures::future::{AbortHandle, Abortable};
    use futures::StreamExt;
    use gloo_net::eventsource::futures::EventSource;
    use gloo_net::eventsource::State;
    use leptos::prelude::*;

    use super::StreamState;
    use crate::events::SyncEvent;
    use crate::models::JobProgress;

    /// The event names the server frames (`event:` lines); an EventSource delivers named
    /// events only to subscribers of that name.
    const EVENTS: [&str; 8] = [
        "discovery",
        "step",
        "substep",
        "item_progress",
        "phase_summary",
        "error_detail",
        "error",
        "complete",
    ];

    pub fn open(
        job_id: i64,
        after: i64,
        progress: RwSignal<JobProgress>,
        set_state: WriteSignal<StreamState>,
        on_end: impl Fn() + Send + Sync + 'static,
    ) {
        let url = format!("/jobs/{job_id}/stream?last_event_id={after}");
        let Ok(mut source) = EventSource::new(&url) else {
            set_state.set(StreamState::Ended);
            return;
        };
        // The server's `error` frames and the connection's own error events share a name:
        // a frame carries data, a connection error none.
        let subscriptions: Result<Vec<_>, _> = EVENTS
            .into_iter()
            .chain(["open"])
            .map(|name| source.subscribe(name))
            .collect();
        let Ok(subscriptions) = subscriptions else {
            set_state.set(StreamState::Ended);
            return;
        };
        let mut events = futures::stream::select_all(subscriptions);
        let (abort, registration) = AbortHandle::new_pair();
        let follow = async move {
            while let Some(next) = events.next().await {
                let Ok((name, message)) = next else {
                    // Closed for good (not reconnecting): the browser gave up.
                    set_state.set(StreamState::Ended);
                    return;
                };
                if name == "open" {
                    set_state.set(StreamState::Live);
                    continue;
                }
                let Some(data) = message.data().as_string() else {
                    // A connection error: the browser is already trying again, sending
                    // Last-Event-ID, and the server resumes after it.
                    set_state.set(match source.state() {
                        State::Closed => StreamState::Ended,
                        _ => StreamState::Reconnecting,
                    });
                    continue;
                };
                let Ok(parsed) = SyncEvent::from_frame(&name, &data) else {
                    continue;
                };
                set_state.set(StreamState::Live);
                progress.update(|p| p.apply(&parsed));
                if matches!(parsed, SyncEvent::Complete(_)) {
                    set_state.set(StreamState::Ended);
                    on_end();
                    // Dropping the source closes it.
                    return;
                }
            }
        };
        leptos::task::spawn_local(async move {
            let _ = Abortable::new(follow, registration).await;
        });
        // Leaving the page drops the source with the task, which closes it.
        on_cleanup(move || abort.abort());
    }
}
