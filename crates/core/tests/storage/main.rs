//! The storage conformance suite: every test runs once on a fresh SQLite
//! file and once on a fresh PostgreSQL database (see `support`).

mod support;

mod accounts;
mod changes;
mod crash;

mod executor;
mod fairness;
mod hostile;
mod imports;
mod jobs;
mod migrations;
mod notifications;
mod schedules;
mod search;
mod tenants;
