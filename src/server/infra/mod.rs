//! Infrastructure: the database, cryptography, cron expressions, secret files, metrics,
//! the log ring and a short-lived answer cache. It imports only shared code.

pub mod cron;
pub mod crypto;
pub mod db;
pub mod log_ring;
pub mod metrics;
pub mod recent;
pub mod secret_source;
