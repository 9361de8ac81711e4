//! A client for the Proxmox VE HTTP API (`/api2/json/...`), for the reads Proxbox syncs from.
//!
//! Proxmox answers differ between versions: numbers arrive as strings, booleans as 0/1,
//! fields come and go. Every typed read here is lenient: a field with an unexpected value
//! becomes `None` plus a [`FieldWarning`], and never fails the object it belongs to.

pub mod client;
pub mod config;
pub mod error;
pub mod lenient;
pub mod ostype;
pub mod permissions;
mod reads;
pub mod sdn;
pub mod types;

pub use client::{Credentials, PveClient, PveOptions};
pub use config::{AgentConfig, Disk, GuestConfig, NetDevice};
pub use error::PveError;
pub use lenient::{FieldWarning, Parsed};
pub use ostype::ostype_label;
pub use permissions::Permissions;
pub use proxbox_peer::ErrorKind;
pub use sdn::*;
pub use types::*;
