//! The server, in layers (docs/architecture.md; `tests/layers.rs` keeps them):
//! infrastructure (`infra`), the engine (`sync`, `jobs`), use cases and the pages' read
//! models (`services`), the HTTP surface (`web`) and the command line (`cli`). Each imports
//! only the layers below it.

pub mod cli;
pub mod infra;
pub mod jobs;
pub mod services;
pub mod sync;
pub mod web;
