//! Use cases (accounts, endpoints, schedules, settings, the peers' tests, the doctor, housekeeping,
//! the configuration file) and the pages' read models (`views`). Called by server functions,
//! the HTTP handlers and the command line; they import the engine and infrastructure, never
//! the web or the command line.

pub mod accounts;
pub mod credentials;
pub mod declared;
pub mod doctor;
pub mod endpoints;
pub mod housekeeping;
pub mod import_plugin;
pub mod peer_views;
pub mod peers;
pub mod schedules;
pub mod settings;
pub mod views;

use std::sync::Arc;
use std::time::Duration;

use crate::server::infra::crypto::SecretBox;
use crate::server::infra::db::Db;
use crate::server::jobs::Jobs;
use peer_views::PeerViews;

/// What the use cases and read models work with: the database, the key that opens stored
/// secrets, the job queue and what the peers answered lately. The web server's state holds
/// one; a test or the command line makes its own.
#[derive(Clone, Debug)]
pub struct Services {
    pub db: Db,
    pub secrets: Arc<SecretBox>,
    pub jobs: Jobs,
    /// What the peers answered for the pages, kept a few seconds.
    pub peer_views: Arc<PeerViews>,
}

impl Services {
    /// `refresh`: how often the dashboard repeats its keepalive checks; no peer's answer is
    /// kept longer.
    pub fn new(db: Db, secrets: Arc<SecretBox>, jobs: Jobs, refresh: Duration) -> Services {
        Services {
            db,
            secrets,
            jobs,
            peer_views: Arc::new(PeerViews::new(refresh)),
        }
    }
}
