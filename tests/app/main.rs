//! The web app over real HTTP: one binary, fresh database per test.

mod api;
mod binary;
mod changes;
mod crash;
mod demo;
mod helpers;
mod http;
mod instances;
mod metrics;
mod notifications;
mod schedule;
mod secrets;
mod security;
