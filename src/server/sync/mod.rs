//! The sync engine: reads Proxmox, reads NetBox once per object type, plans in memory and
//! writes only what changed, in bulk, reporting every step as [`SyncEvent`]s into a sink.
//!
//! Every stage (under `stages/`, one file each) has one shape: `read` gathers its inputs,
//! a pure `plan…` function turns them into a [`plan::Plan`], and [`apply`] writes any plan
//! the same way (chunks, stop between chunks, dry run). What stages share lives beside
//! them: which stages a run includes ([`stage`]), what marks Proxbox's objects
//! ([`managed`]), which object is a Proxmox object's ([`adopt`]), what stages hand on
//! ([`state`]), how a stage fails ([`failure`]), where events go ([`sink`], [`report`]) and
//! which NetBox fields a sync may overwrite ([`overwrite`]), how guest agents are asked ([`agents`]), what operators' mapping
//! rules choose ([`mapping`]), the platform a guest's OS makes ([`platforms`]), what a Proxmox token must hold
//! ([`privileges`]), the VLANs and IP addresses guests
//! and nodes share ([`vlans`], [`addresses`]); the stages that keep Proxmox's inventory in
//! Proxbox's own database plan and write it through [`inventory`], knowing each cluster's
//! nodes and guests from [`cluster_view`]. NetBox's VMs link to their panel through
//! [`custom_link`]. The identity map of managed
//! objects is in the database (`db::sync_objects`); the copy of the NetBox objects read at
//! scale, kept current through NetBox's change log, is [`mirror`].
//!
//! [`SyncEvent`]: crate::events::SyncEvent

pub mod addresses;
pub mod adopt;
pub mod agents;
pub mod apply;
pub mod cluster_view;
pub mod context;
pub mod custom_fields;
pub mod custom_link;
pub mod failure;
pub mod inventory;
pub mod managed;
pub mod mapping;
#[cfg(test)]
mod memory;
pub mod mirror;
pub mod overwrite;
pub mod peers;
pub mod plan;
pub mod platforms;
pub mod privileges;
#[cfg(test)]
mod properties;
pub mod report;
pub mod run;
pub mod sink;
pub mod stage;
pub mod stages;
pub mod state;
pub mod stop;
pub mod target;
pub mod terminal;
pub mod vlans;
pub mod watch;
