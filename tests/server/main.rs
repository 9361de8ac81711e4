//! Server integration tests: the real router on a loopback port, a real HTTP client,
//! SQLite files and a real PostgreSQL. Run with `--features ssr`.

#[path = "../common/netbox_cleanup.rs"]
mod netbox_cleanup;
#[path = "../common/sim_control.rs"]
mod sim_control;
mod support;

mod access;
mod access_table;
mod auth;
mod cli_config;
mod cli_doctor;
mod cli_sync;
mod cli_takeover;
mod config;
mod connection;
mod dashboard;
mod database;
mod endpoints;
mod inventory_pages;
mod job_pages;
mod jobs;
mod jobs_support;
mod logs;
mod metrics;
mod netbox_link;
mod serve;
mod settings;
mod shutdown;
mod stream_rights;
mod streams;
mod sync_faults;
mod sync_guest;
mod sync_guest_fields;
mod sync_inventory;
mod sync_mirror;
mod sync_networks;
mod sync_node_interfaces;
mod sync_provenance;
mod sync_real_shapes;
mod sync_restore;
mod sync_run;
mod sync_stages;
mod sync_support;
mod sync_takeover;
mod sync_vrf;
mod takeover_fixtures;
mod watch_changes;
mod watch_history;
mod watch_kinds;
