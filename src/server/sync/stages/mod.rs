//! One file per stage.

pub mod devices;
