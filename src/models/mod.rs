//! Types that cross the data boundary between server and browser.
//! Nothing in here may hold a secret: these structs are serialised into pages.

pub mod access;
pub mod cluster;
pub mod coverage;
pub mod dashboard;
pub mod doctor;
pub mod endpoint;
pub mod guests;
pub mod inventory;
pub mod job;
pub mod job_log;
pub mod logs;
pub mod networks;
pub mod progress;
pub mod session;
pub mod settings;
pub mod takeover;
pub mod watch;

pub use access::*;
pub use cluster::*;
pub use coverage::*;
pub use dashboard::*;
pub use doctor::*;
pub use endpoint::*;
pub use guests::*;
pub use inventory::*;
pub use job::*;
pub use job_log::*;
pub use logs::*;
pub use networks::*;
pub use progress::*;
pub use session::*;
pub use settings::*;
pub use takeover::*;
pub use watch::*;
