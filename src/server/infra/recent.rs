//! Answers kept a short time, by key, with one read in flight that callers at once share
//! (what the peers answered for the pages: `services::peer_views`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

/// An answer when it was read, or the read in flight that waiters share.
type Slot<T> = Arc<OnceCell<(Instant, T)>>;

/// One kind of answer, by key (an endpoint, an endpoint and node).
pub struct Recent<T> {
    kept_for: Duration,
    slots: Mutex<HashMap<String, Slot<T>>>,
}

impl<T: Clone> Recent<T> {
    pub fn new(kept_for: Duration) -> Recent<T> {
        Recent {
            kept_for,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The answer for `key`: the one kept if it is recent, the one being read if a read is
    /// in flight, else what `read` answers now.
    pub async fn get<F, Fut>(&self, key: &str, read: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            // Old answers go, so that the map holds only what viewers look at.
            slots.retain(|_, slot| {
                slot.get()
                    .is_none_or(|(at, _)| now.duration_since(*at) < self.kept_for)
            });
            slots.entry(key.to_string()).or_default().clone()
        };
        let (_, answer) = slot
            .get_or_init(|| async { (Instant::now(), read().await) })
            .await;
        answer.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn callers_at_once_share_one_read_and_a_recent_answer_is_shown_again() {
        let recent: Recent<usize> = Recent::new(Duration::from_secs(60));
        let reads = AtomicUsize::new(0);
        let (gate, opened) = tokio::sync::watch::channel(false);
        let read = || async {
            let mut opened = opened.clone();
            let _ = opened.wait_for(|open| *open).await;
            reads.fetch_add(1, Ordering::SeqCst) + 1
        };
        let callers = futures::future::join_all((0..20).map(|_| recent.get("lab", read)));
        let open = async {
            tokio::task::yield_now().await;
            gate.send(true).unwrap();
        };
        let (answers, ()) = tokio::join!(callers, open);
        assert_eq!(answers, vec![1; 20], "one read for twenty callers");
        assert_eq!(recent.get("lab", read).await, 1, "kept");
        assert_eq!(recent.get("edge", read).await, 2, "another key is read");
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_old_answer_is_read_again() {
        let recent: Recent<u32> = Recent::new(Duration::ZERO);
        assert_eq!(recent.get("lab", || async { 1 }).await, 1);
        assert_eq!(recent.get("lab", || async { 2 }).await, 2);
    }
}
