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
    use std::pin::Pin;
    use std::task::Poll;
    use std::time::Duration;

    use futures::future::{poll_fn, AbortHandle, Abortable};
    use futures::{Sink, Stream, StreamExt};
    use gloo_net::websocket::futures::WebSocket;
    use gloo_net::websocket::{Message, State};
    use leptos::prelude::*;

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

    pub fn connect(revision: RwSignal<u64>, set_state: WriteSignal<NewsState>) {
        let (abort, registration) = AbortHandle::new_pair();
        leptos::task::spawn_local(async move {
            let _ = Abortable::new(follow(revision, set_state), registration).await;
        });
        // Aborting drops the socket (which closes it) and the polling timer with the task.
        on_cleanup(move || abort.abort());
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

    /// Refreshes every [`POLL_SECS`] while the socket is down; stops when dropped.
    #[derive(Default)]
    struct Polling(Option<IntervalHandle>);

    impl Polling {
        fn start(&mut self, revision: RwSignal<u64>) {
            if self.0.is_none() {
                self.0 = set_interval_with_handle(
                    move || {
                        revision.try_update(|r| *r += 1);
                    },
                    Duration::from_secs(POLL_SECS),
                )
                .ok();
            }
        }

        /// Whether it was polling.
        fn stop(&mut self) -> bool {
            self.0.take().map(|handle| handle.clear()).is_some()
        }
    }

    impl Drop for Polling {
        fn drop(&mut self) {
            self.stop();
        }
    }

    async fn pause(duration: Duration) {
        let (done, wait) = futures::channel::oneshot::channel::<()>();
        set_timeout(
            move || {
                let _ = done.send(());
            },
            duration,
        );
        let _ = wait.await;
    }

    /// One socket after another for as long as the tab shows the page: news while one is
    /// open, polling and a growing pause while none is.
    async fn follow(revision: RwSignal<u64>, set_state: WriteSignal<NewsState>) {
        let mut polling = Polling::default();
        let mut backoff_secs = 1;
        loop {
            if let Some(mut socket) = url().and_then(|url| WebSocket::open(&url).ok()) {
                // Open, or gone before it opened: a refused socket may close without an
                // error, which would leave the sink waiting for an open that never comes,
                // so the stream is watched too.
                let opened = poll_fn(|cx| {
                    if Pin::new(&mut socket).poll_ready(cx).is_ready() {
                        return Poll::Ready(true);
                    }
                    Pin::new(&mut socket).poll_next(cx).map(|_| false)
                })
                .await;
                if opened && matches!(socket.state(), State::Open) {
                    backoff_secs = 1;
                    set_state.try_set(NewsState::Live);
                    if polling.stop() {
                        // Whatever happened while the socket was down.
                        revision.try_update(|r| *r += 1);
                    }
                    while let Some(Ok(message)) = socket.next().await {
                        let Message::Text(text) = message else {
                            continue;
                        };
                        let news = serde_json::from_str::<BroadcastKind>(&text).ok();
                        if news.is_some_and(|n| Broadcast::SYNC_NEWS.contains(&n.kind.as_str())) {
                            revision.try_update(|r| *r += 1);
                        }
                    }
                }
            }
            set_state.try_set(NewsState::Polling);
            polling.start(revision);
            pause(Duration::from_secs(backoff_secs)).await;
            backoff_secs = (backoff_secs * 2).min(MAX_BACKOFF_SECS);
        }
    }
}
