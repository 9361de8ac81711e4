//! Proxbox: keeps NetBox in step with Proxmox VE clusters.
//!
//! The crate compiles twice: with `ssr` it is the server (axum, sqlx, the sync engine),
//! with `hydrate` it is the WASM bundle that hydrates the islands (the live parts) of the
//! server-rendered pages.
//! Modules without a `cfg` are shared by both; `server` is compiled for the server only.

// The typed views of a whole page nest deeper than rustc's default limit of 128 (a
// release build of the browser bundle without `erase_components` needs this).
#![recursion_limit = "256"]

pub mod app;
pub mod components;
pub mod error;
pub mod events;
pub mod models;
pub mod pages;
pub mod validation;
pub mod wire;

#[cfg(feature = "ssr")]
pub mod server;

/// The bundle's entry: the page's island script calls it, then hydrates each island
/// (`<leptos-island>`) in the page, in the same task.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
    // Marks `<body data-hydrated="true">` once the islands are live, so that end-to-end
    // tests (and curious operators) can tell a live page from plain HTML: a timer runs
    // after the task that hydrates them.
    leptos::prelude::set_timeout(
        || {
            if let Some(body) = leptos::prelude::document().body() {
                let _ = body.set_attribute("data-hydrated", "true");
            }
        },
        std::time::Duration::ZERO,
    );
}
