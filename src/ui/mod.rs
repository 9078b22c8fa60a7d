//! Pages and the components they share.

pub mod account;
pub mod changes;
pub mod charts;
pub mod common;
pub mod customers;
pub mod field;
pub mod format;
pub mod imports;
pub mod integrations;
pub mod job_modal;
pub mod layout;
pub mod live_progress;
pub mod login;
pub mod not_found;
pub mod notifications;
pub mod overview;
pub mod polling;
pub mod progress;
pub mod resource;
pub mod schedule;
pub mod server_form;
