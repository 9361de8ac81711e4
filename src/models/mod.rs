//! Types that cross the data boundary between server and browser.
//! Nothing in here may hold a secret: these structs are serialised into pages.

pub mod endpoint;
pub mod dashboard;
pub mod job;
pub mod progress;
pub mod session;

pub use endpoint::*;
pub use dashboard::*;
pub use job::*;
pub use progress::*;
pub use session::*;
