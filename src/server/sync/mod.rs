//! The sync engine: reads Proxmox, reads NetBox once per object type, diffs in memory and
//! writes only what changed, in bulk, reporting every step as [`SyncEvent`]s into a sink.
//!
//! Each stage lives in its own file under `stages/` (added stage by stage); this module
//! holds what all stages share: which stages a run includes ([`stage`]), where its events
//! go ([`sink`]) and which NetBox fields it may overwrite ([`overwrite`]). The identity map
//! of managed objects is in the database (`db::sync_objects`); the copy of the NetBox
//! objects read at scale, kept current through NetBox's change log, is [`mirror`].
//!
//! [`SyncEvent`]: crate::events::SyncEvent

pub mod apply;
pub mod context;
pub mod mirror;
pub mod overwrite;
pub mod report;
pub mod run;
pub mod sink;
pub mod stage;
pub mod stages;
pub mod terminal;
