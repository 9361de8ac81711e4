//! One file per page, with the server functions it calls beside it.

pub mod access;
pub mod account;
pub mod backups;
pub mod dashboard;
pub mod endpoints;
pub mod jobs;
pub mod login;
pub mod logs;
pub mod networks;
pub mod not_found;
pub mod settings;
pub mod storage;
pub mod streams_check;
pub mod virtual_machines;
