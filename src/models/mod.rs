//! Types that cross the data boundary between server and browser.
//! Nothing in here may hold a secret: these structs are serialised into pages.

pub mod dashboard;
pub mod endpoint;
pub mod inventory;
pub mod job;
pub mod progress;
pub mod session;

pub use dashboard::*;
pub use endpoint::*;
pub use inventory::*;
pub use job::*;
pub use progress::*;
pub use session::*;
