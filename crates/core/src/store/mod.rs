//! Storage: one interface ([`Store`], the sum of [`Jobs`], [`Imports`]
//! and [`Accounts`]), one implementation per database in a folder of its
//! own (`sqlite/`, `postgres/`, each with `jobs`, `imports`, `accounts`),
//! each with its own SQL and migrations.

use std::sync::Arc;

use async_trait::async_trait;

use crate::clock::Clock;
use crate::config::{DatabaseSettings, DatabaseUrl};
use crate::model::{Tenant, TenantId, TenantOverview, TenantSlug};

pub mod accounts;
mod error;
pub mod imports;
pub mod jobs;
pub mod postgres;
mod rows;
pub mod sqlite;

pub use accounts::{
    Accounts, LoginLimits, NewApiToken, NewSession, NewUser, SessionRecord, TokenRecord,
};
pub use error::{Entity, StoreError};
pub use imports::{
    CustomerFilter, HashedCustomer, Imports, IntegrationRecord, PageCounts, PageWrite,
};
pub use jobs::{
    ClaimedJob, Completion, Heartbeat, JobFilter, Jobs, KindLimit, Lease, NewJob, Outcome, Rescued,
    Wakeups,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[async_trait]
pub trait Store: Jobs + Imports + Accounts + Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Applies pending migrations; safe to run again.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// A round trip to the database, for health checks.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The tenant with this slug, created with `name` if it does not exist
    /// (an existing tenant keeps its name).
    async fn ensure_tenant(&self, slug: &TenantSlug, name: &str) -> Result<Tenant, StoreError>;

    async fn tenant_by_slug(&self, slug: &TenantSlug) -> Result<Option<Tenant>, StoreError>;

    /// Every tenant, by name.
    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError>;

    /// Counts for the overview page, of this tenant's rows only.
    async fn tenant_overview(&self, tenant: TenantId) -> Result<TenantOverview, StoreError>;

    /// Waits for open connections to finish and closes the pool.
    async fn close(&self);
}

/// Opens the database named by the settings (creating an SQLite file and its
/// directory if needed). Does not migrate.
pub async fn connect(
    settings: &DatabaseSettings,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match &settings.url {
        DatabaseUrl::Sqlite(_) => Arc::new(sqlite::SqliteStore::connect(settings, clock).await?),
        DatabaseUrl::Postgres(_) => Arc::new(postgres::PgStore::connect(settings, clock).await?),
    })
}
