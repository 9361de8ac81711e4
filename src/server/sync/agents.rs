//! Asking QEMU guest agents, for every stage that does: only guests that run with the agent
//! enabled, of endpoints whose token may ask (see [`privileges`](super::privileges)), all at
//! once within the Proxmox client's bound on concurrent requests.

use std::collections::HashMap;
use std::future::Future;

use proxbox_pve::{GuestKind, PveClient, PveError};

use super::context::SyncContext;
use super::state::{RunState, SyncedGuest};

/// A guest whose agent may be asked: its index in the stage's list and where it runs.
pub struct AgentGuest<'a> {
    pub index: usize,
    pub kind: GuestKind,
    pub agent: bool,
    pub running: bool,
    pub endpoint_id: i64,
    pub node: &'a str,
    pub vmid: u64,
}

/// The run's guests (after the virtual-machines stage), by their index in `RunState::guests`.
pub fn synced(guests: &[SyncedGuest]) -> impl Iterator<Item = AgentGuest<'_>> {
    guests.iter().enumerate().map(|(index, g)| AgentGuest {
        index,
        kind: g.kind,
        agent: g.agent,
        running: g.running,
        endpoint_id: g.endpoint_id,
        node: &g.node,
        vmid: g.vmid,
    })
}

/// Each askable guest's answer to `ask`, by index; guests that cannot answer are absent.
pub async fn ask_agents<'a, T, F, Fut>(
    ctx: &SyncContext<'_>,
    state: &RunState,
    guests: impl IntoIterator<Item = AgentGuest<'a>>,
    ask: F,
) -> HashMap<usize, Result<T, PveError>>
where
    T: Send + 'static,
    F: Fn(PveClient, String, u64) -> Fut,
    Fut: Future<Output = Result<T, PveError>> + Send + 'static,
{
    let mut asks = tokio::task::JoinSet::new();
    for guest in guests {
        if guest.kind != GuestKind::Qemu
            || !guest.agent
            || !guest.running
            || state.no_guest_agent.contains(&guest.endpoint_id)
        {
            continue;
        }
        let Some(source) = ctx
            .sources
            .iter()
            .find(|s| s.endpoint_id == guest.endpoint_id)
        else {
            continue;
        };
        let answer = ask(source.pve.clone(), guest.node.to_string(), guest.vmid);
        let index = guest.index;
        asks.spawn(async move { (index, answer.await) });
    }
    let mut answers = HashMap::new();
    while let Some(joined) = asks.join_next().await {
        if let Ok((index, answer)) = joined {
            answers.insert(index, answer);
        }
    }
    answers
}
