//! Importing customers from SGP: the provider's connection, the import's
//! parameters, the job that runs it (its I/O in `job`, its decisions in
//! `rules`), and the preview.

pub mod integration;
pub mod job;
pub mod params;
pub mod rules;
pub mod search_index;
pub mod service;

pub use integration::{
    IntegrationError, IntegrationInput, IntegrationView, Integrations, SgpIntegration,
};
pub use job::{
    ImportCheckpoint, ImportJob, ImportOutcome, DEFAULT_MAX_REMOVAL_PERCENT, IMPORT_KIND,
    MAX_LISTED_ROW_ERRORS,
};
pub use params::{signup_range_errors, FieldError, ImportParams};
pub use search_index::{SearchIndexer, SEARCH_INDEX_INTERVAL};
pub(crate) use service::changed_since;
pub use service::{ImportService, Preview, StartError};
