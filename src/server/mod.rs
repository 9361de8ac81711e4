//! The server: configuration, database, authentication and the HTTP surface.

pub mod access_forms;
pub mod accounts;
pub mod auth;
pub mod cli;
pub mod cluster_pages;
pub mod config;
pub mod context;
pub mod cron;
pub mod crypto;
pub mod db;
pub mod exports;
pub mod headless;
pub mod health;
pub mod http;
pub mod jobs;
pub mod peers;
pub mod respond;
pub mod route_book;
pub mod schedules;
pub mod settings;
pub mod settings_forms;
pub mod sse_wire;
pub mod state;
pub mod streams;
pub mod sync;
pub mod views;
