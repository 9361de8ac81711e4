//! Pieces shared by several pages.

pub mod form;
pub mod job_live;
pub mod job_stream;
pub mod layout;
pub mod live_region;
pub mod session;
pub mod sync_news;
pub mod sync_overlay;
pub mod units;
