//! A client for the NetBox REST API: v1 and v2 tokens, complete paginated reads,
//! chunked bulk writes that isolate the objects NetBox refuses, and errors that say
//! what failed and what to do.

pub mod changes;
pub mod client;
pub mod error;
pub mod fields;
pub mod models;
pub mod reads;

pub use changes::Change;
pub use client::{
    authorization, BulkOutcome, ItemFailure, NetboxClient, NetboxOptions, WriteObserver,
    WriteRights,
};
pub use error::NbError;
pub use proxbox_peer::ErrorKind;
