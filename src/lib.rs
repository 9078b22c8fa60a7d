//! sgp-import: imports ISP customers from SGP as durable background jobs,
//! with an admin UI in Portuguese. The same crate is the server binary
//! (`ssr`) and the browser bundle (`hydrate`).

#![recursion_limit = "256"]

pub mod api;
pub mod app;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod server;

pub use sgp_import_core::model;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
    // A marker for browser tests (and curious admins): the page is live.
    if let Some(body) = leptos::prelude::document().body() {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}
