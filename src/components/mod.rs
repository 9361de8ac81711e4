//! Pieces shared by several pages.

pub mod form;
pub mod layout;
pub mod session;
