//! What the pages show, read from the database and the peers: the dashboard, the
//! inventory pages, the endpoint and node pages, the job pages.

pub mod clusters;
pub mod dashboard;
pub mod inventory;
pub mod jobs;
pub mod networks;
pub mod settings;
pub mod watch;
