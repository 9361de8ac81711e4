//! The sync engine: reads Proxmox, reads NetBox once per object type, diffs in memory and
//! writes only what changed, in bulk, reporting every step as [`SyncEvent`]s into a sink.
//!
//! Each stage lives in its own file under `stages/` (added stage by stage); this module
//! holds what all stages share: which stages a run includes ([`stage`]) and where its
//! events go ([`sink`]).
//!
//! [`SyncEvent`]: crate::events::SyncEvent

pub mod sink;
pub mod stage;
