//! Server-only code (the `ssr` feature): never part of the browser bundle.

pub mod cli;
pub mod health;
pub mod services;
pub mod startup;
pub mod state;
pub mod telemetry;
