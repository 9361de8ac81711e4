//! The HTTP surface: the router and its route book, the access policy and authentication,
//! the one place an error becomes a response, forms, exports, the event streams and the
//! WebSocket, `/health`, `/metrics` and `/logs/stream`.

pub mod access_forms;
pub mod auth;
pub mod connections;
pub mod context;
pub mod csp;
pub mod endpoint_forms;
pub mod exports;
pub mod forms;
pub mod http;
pub mod respond;
pub mod route_book;
pub mod settings_forms;
pub mod site;
pub mod sse_wire;
pub mod state;
pub mod streams;
