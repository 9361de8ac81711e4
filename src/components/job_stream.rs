//! A job's live event stream in the browser: one `EventSource` per watched job, folded
//! into the same [`JobProgress`] the server renders from the stored log.
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
    use std::rc::Rc;

    use leptos::prelude::*;
    use send_wrapper::SendWrapper;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    use web_sys::{Event, EventSource, MessageEvent};

    use super::StreamState;
    use crate::events::SyncEvent;
    use crate::models::JobProgress;

    /// The event names the server frames (`event:` lines); EventSource delivers named
    /// events only to listeners of that name.
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

    /// The source and the callbacks it calls, kept alive together until cleanup.
    struct Open {
        source: EventSource,
        _listeners: Vec<Closure<dyn FnMut(Event)>>,
    }

    pub fn open(
        job_id: i64,
        after: i64,
        progress: RwSignal<JobProgress>,
        set_state: WriteSignal<StreamState>,
        on_end: impl Fn() + Send + Sync + 'static,
    ) {
        let url = format!("/jobs/{job_id}/stream?last_event_id={after}");
        let Ok(source) = EventSource::new(&url) else {
            set_state.set(StreamState::Ended);
            return;
        };
        let on_end = Rc::new(on_end);
        let mut listeners: Vec<Closure<dyn FnMut(Event)>> = Vec::new();
        for name in EVENTS {
            let (source_ref, on_end) = (source.clone(), on_end.clone());
            let listener = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
                let Some(data) = event
                    .dyn_ref::<MessageEvent>()
                    .and_then(|m| m.data().as_string())
                else {
                    return;
                };
                let Ok(parsed) = SyncEvent::from_frame(name, &data) else {
                    return;
                };
                set_state.set(StreamState::Live);
                progress.update(|p| p.apply(&parsed));
                if matches!(parsed, SyncEvent::Complete(_)) {
                    source_ref.close();
                    set_state.set(StreamState::Ended);
                    on_end();
                }
            });
            let _ =
                source.add_event_listener_with_callback(name, listener.as_ref().unchecked_ref());
            listeners.push(listener);
        }
        let opened = Closure::<dyn FnMut(Event)>::new(move |_| set_state.set(StreamState::Live));
        source.set_onopen(Some(opened.as_ref().unchecked_ref()));
        listeners.push(opened);
        let source_ref = source.clone();
        let failed = Closure::<dyn FnMut(Event)>::new(move |_| {
            // CONNECTING: the browser is already trying again, with Last-Event-ID.
            set_state.set(if source_ref.ready_state() == EventSource::CLOSED {
                StreamState::Ended
            } else {
                StreamState::Reconnecting
            });
        });
        source.set_onerror(Some(failed.as_ref().unchecked_ref()));
        listeners.push(failed);
        let open = SendWrapper::new(Open {
            source,
            _listeners: listeners,
        });
        on_cleanup(move || open.source.close());
    }
}
