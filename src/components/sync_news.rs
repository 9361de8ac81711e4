//! Job news for a dashboard tab: one WebSocket on `/ws` that says when a sync starts or
//! ends anywhere (another tab, another operator, a scheduler), so that the dashboard
//! refreshes its cards and job panel. When the socket is down the tab polls instead and
//! says so, and it keeps trying to reconnect with a growing pause.

use leptos::prelude::*;

/// How often a tab without its WebSocket refreshes.
pub const POLL_SECS: u64 = 10;

/// How the tab hears about syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewsState {
    /// Not connected yet (also what the server renders).
    Connecting,
    /// The WebSocket is open: refreshes happen when a sync starts or ends.
    Live,
    /// The WebSocket is down: refreshes happen every [`POLL_SECS`].
    Polling,
}

impl NewsState {
    pub fn as_str(self) -> &'static str {
        match self {
            NewsState::Connecting => "connecting",
            NewsState::Live => "live",
            NewsState::Polling => "polling",
        }
    }
}

/// What the components of a dashboard follow: `revision` rises whenever they should read
/// their data again.
#[derive(Debug, Clone, Copy)]
pub struct SyncNews {
    revision: RwSignal<u64>,
    state: ReadSignal<NewsState>,
}

impl SyncNews {
    /// Rises on every sync start or end (and every poll while the socket is down).
    pub fn revision(&self) -> u64 {
        self.revision.get()
    }

    /// Whether no sync started or ended since `revision`: an answer asked for at an older
    /// revision may arrive after a newer one's, and must not replace it.
    pub fn is_latest(&self, revision: u64) -> bool {
        self.revision.try_get_untracked() == Some(revision)
    }

    pub fn state(&self) -> NewsState {
        self.state.get()
    }

    /// Something on this page saw a sync end (its own event stream, say): refresh now,
    /// whether or not the socket tells as well.
    pub fn notify(&self) {
        self.revision.try_update(|r| *r += 1);
    }
}

/// Opens the tab's news socket; it closes when the calling component goes away.
pub fn open_sync_news() -> SyncNews {
    let revision = RwSignal::new(0);
    let (state, set_state) = signal(NewsState::Connecting);
    #[cfg(feature = "hydrate")]
    browser::connect(revision, set_state);
    #[cfg(not(feature = "hydrate"))]
    let _ = set_state;
    SyncNews { revision, state }
}

/// The line a dashboard shows about its news.
#[component]
pub fn NewsIndicator(news: SyncNews) -> impl IntoView {
    view! {
        <p class="news-state muted" data-testid="news-state" data-state=move || news.state().as_str()
            hidden=move || news.state() != NewsState::Polling>
            {format!("Live updates are interrupted; this page refreshes every {POLL_SECS} s until they are back.")}
        </p>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    use std::time::Duration;

    use leptos::prelude::*;
    use send_wrapper::SendWrapper;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    use web_sys::{Event, MessageEvent, WebSocket};

    use super::{NewsState, POLL_SECS};
    use crate::models::Broadcast;

    /// The `type` of a [`Broadcast`]: all a tab needs to know, read without
    /// the rest (whose flattened payload would cost the bundle a buffering reader).
    #[derive(serde::Deserialize)]
    struct BroadcastKind {
        #[serde(rename = "type")]
        kind: String,
    }

    /// The longest pause between two reconnection attempts.
    const MAX_BACKOFF_SECS: u64 = 30;

    type Callback = Closure<dyn FnMut(Event)>;

    /// The socket of the moment, its callbacks and the timers, shared by the callbacks.
    struct Link {
        revision: RwSignal<u64>,
        set_state: WriteSignal<NewsState>,
        socket: RefCell<Option<WebSocket>>,
        callbacks: RefCell<Vec<Callback>>,
        poll: RefCell<Option<IntervalHandle>>,
        retry: RefCell<Option<TimeoutHandle>>,
        backoff_secs: Cell<u64>,
    }

    pub fn connect(revision: RwSignal<u64>, set_state: WriteSignal<NewsState>) {
        let link = Rc::new(Link {
            revision,
            set_state,
            socket: RefCell::new(None),
            callbacks: RefCell::new(Vec::new()),
            poll: RefCell::new(None),
            retry: RefCell::new(None),
            backoff_secs: Cell::new(1),
        });
        open(&link);
        let link = SendWrapper::new(link);
        // Once this has run, `link` is dropped: the retry timer's weak pointer finds
        // nothing and the socket's callbacks are detached, so nothing reopens it.
        on_cleanup(move || {
            if let Some(socket) = link.socket.borrow_mut().take() {
                // Its close event comes after the callbacks are dropped with `link`:
                // detach them first.
                socket.set_onopen(None);
                socket.set_onmessage(None);
                socket.set_onclose(None);
                let _ = socket.close();
            }
            stop_polling(&link);
            if let Some(retry) = link.retry.borrow_mut().take() {
                retry.clear();
            }
        });
    }

    fn url() -> Option<String> {
        let location = window().location();
        let scheme = if location.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        Some(format!("{scheme}://{}/ws", location.host().ok()?))
    }

    fn open(link: &Rc<Link>) {
        let Some(socket) = url().and_then(|url| WebSocket::new(&url).ok()) else {
            lost(link);
            return;
        };
        let on_open = {
            let link = Rc::downgrade(link);
            Callback::new(move |_| {
                let Some(link) = link.upgrade() else { return };
                link.backoff_secs.set(1);
                let was_polling = link.poll.borrow().is_some();
                stop_polling(&link);
                link.set_state.set(NewsState::Live);
                if was_polling {
                    // Whatever happened while the socket was down.
                    link.revision.try_update(|r| *r += 1);
                }
            })
        };
        let on_message = {
            let link = Rc::downgrade(link);
            Callback::new(move |event: Event| {
                let Some(link) = link.upgrade() else { return };
                let text = event
                    .dyn_ref::<MessageEvent>()
                    .and_then(|m| m.data().as_string());
                let news = text.and_then(|t| serde_json::from_str::<BroadcastKind>(&t).ok());
                if news.is_some_and(|n| Broadcast::SYNC_NEWS.contains(&n.kind.as_str())) {
                    link.revision.try_update(|r| *r += 1);
                }
            })
        };
        let on_close = {
            let link = Rc::downgrade(link);
            Callback::new(move |_| {
                if let Some(link) = link.upgrade() {
                    lost(&link);
                }
            })
        };
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        // An error is always followed by a close, which does the work.
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        *link.callbacks.borrow_mut() = vec![on_open, on_message, on_close];
        *link.socket.borrow_mut() = Some(socket);
    }

    /// The socket went (or never came): poll, and try again after a pause.
    fn lost(link: &Rc<Link>) {
        link.socket.borrow_mut().take();
        link.set_state.set(NewsState::Polling);
        if link.poll.borrow().is_none() {
            let revision = link.revision;
            *link.poll.borrow_mut() = set_interval_with_handle(
                move || {
                    revision.try_update(|r| *r += 1);
                },
                Duration::from_secs(POLL_SECS),
            )
            .ok();
        }
        let pause = link.backoff_secs.get();
        link.backoff_secs.set((pause * 2).min(MAX_BACKOFF_SECS));
        let retry = Rc::downgrade(link);
        *link.retry.borrow_mut() = set_timeout_with_handle(
            move || {
                if let Some(link) = retry.upgrade() {
                    open(&link);
                }
            },
            Duration::from_secs(pause),
        )
        .ok();
    }

    fn stop_polling(link: &Link) {
        if let Some(poll) = link.poll.borrow_mut().take() {
            poll.clear();
        }
    }
}
