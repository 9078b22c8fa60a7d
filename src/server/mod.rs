//! Server-only code (the `ssr` feature): never part of the browser bundle.

pub mod auth;
pub mod charts;
pub mod cli;
pub mod health;
pub mod jobs;
pub mod markup;
pub mod metrics;
pub mod reads;
pub mod rest;
pub mod security;
pub mod services;
pub mod startup;
pub mod state;
pub mod streams;
pub mod telemetry;
