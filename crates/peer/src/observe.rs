//! Who hears about every request Proxbox makes to a peer: one process-wide observer (the
//! server's metrics), set once at start. Without one, nothing is recorded.

use std::sync::OnceLock;
use std::time::Duration;

use crate::ErrorKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Peer {
    Proxmox,
    Netbox,
}

impl Peer {
    pub fn as_str(self) -> &'static str {
        match self {
            Peer::Proxmox => "proxmox",
            Peer::Netbox => "netbox",
        }
    }
}

pub trait RequestObserver: Send + Sync {
    /// One request (one attempt of a retried one) ended after `elapsed`, with `error`'s
    /// category when it failed.
    fn finished(&self, peer: Peer, elapsed: Duration, error: Option<ErrorKind>);
}

static OBSERVER: OnceLock<Box<dyn RequestObserver>> = OnceLock::new();

/// Sets the observer; a second call is ignored (the first one stays).
pub fn observe_requests(observer: Box<dyn RequestObserver>) {
    let _ = OBSERVER.set(observer);
}

/// Times `request` and tells the observer how it went.
pub async fn timed<T, E>(
    peer: Peer,
    kind_of: impl Fn(&E) -> ErrorKind,
    request: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let Some(observer) = OBSERVER.get() else {
        return request.await;
    };
    let started = std::time::Instant::now();
    let result = request.await;
    observer.finished(peer, started.elapsed(), result.as_ref().err().map(kind_of));
    result
}
