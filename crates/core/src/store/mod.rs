//! Storage: one interface ([`Store`], the sum of [`Jobs`], [`Imports`],
//! [`Accounts`] and [`Schedules`]), one implementation per database in a folder of its
//! own (`sqlite/`, `postgres/`, each with `jobs`, `imports`, `accounts`),
//! each with its own SQL and migrations.

use std::sync::Arc;

use async_trait::async_trait;

use crate::clock::Clock;
use crate::config::{DatabaseSettings, DatabaseUrl};
use crate::model::{Tenant, TenantId, TenantOverview, TenantSlug};

pub mod accounts;
mod bind;
pub mod changes;
mod error;
pub mod imports;
pub mod jobs;
mod lanes;
pub mod notifications;
pub mod postgres;
mod rows;
pub mod schedules;
pub mod search;
pub mod sqlite;

pub use accounts::{
    Accounts, LoginLimits, NewApiToken, NewSession, NewUser, SessionRecord, TokenCap, TokenCaps,
    TokenRecord,
};
pub use changes::{Changes, FinishedImport, Removal, RemovalSweep, ResultEdit};
pub use error::{Entity, StoreError};
pub use imports::{
    CustomerFilter, HashedCustomer, Imports, IntegrationRecord, PageCounts, PageWrite,
};
pub use jobs::{
    ClaimedJob, Completion, Heartbeat, JobFilter, Jobs, KindLimit, Lease, NewJob, Outcome,
    QueueStats, Rescued, Wakeups,
};
pub use notifications::{
    Announcement, NotificationRecord, Notifications, SilenceWatch, TargetInput, UnannouncedPause,
};
pub use schedules::{DueSchedule, PausedSchedule, ScheduledRun, Schedules, SlotOutcome};
pub use search::SearchIndex;

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
pub trait Store:
    Jobs
    + Imports
    + Accounts
    + Schedules
    + Notifications
    + Changes
    + SearchIndex
    + Send
    + Sync
    + 'static
{
    fn backend(&self) -> Backend;

    /// Applies pending migrations; safe to run again.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// A round trip to the database, for health checks.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The tenant with this slug, created with `name` if it does not exist
    /// (an existing tenant keeps its name).
    async fn ensure_tenant(&self, slug: &TenantSlug, name: &str) -> Result<Tenant, StoreError>;

    async fn tenant_by_slug(&self, slug: &TenantSlug) -> Result<Option<Tenant>, StoreError>;

    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError>;

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

/// The [`Store`] methods whose SQL is the same on both databases (health
/// and tenants), for `$store`, plus the backend's own methods given in
/// braces. Reads go to `self.reads()`, writes to `self.writes()`.
macro_rules! store_for {
    ($store:ty, { $($own:tt)* }) => {
        const _: () = {
            use async_trait::async_trait;
            use uuid::Uuid;
            use $crate::model::{Tenant, TenantId, TenantOverview, TenantSlug};
            use $crate::store::rows;
            use $crate::store::bind::At;
            use $crate::store::{Backend, Entity, Store, StoreError};

            #[async_trait]
            impl Store for $store {
            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1").execute(self.reads()).await?;
                Ok(())
            }

            async fn ensure_tenant(&self, slug: &TenantSlug, name: &str) -> Result<Tenant, StoreError> {
                let now = At(self.clock.now());
                sqlx::query(
                    "INSERT INTO tenants (id, slug, name, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $4)
                     ON CONFLICT (slug) DO NOTHING",
                )
                .bind(Uuid::new_v4())
                .bind(slug.as_str())
                .bind(name)
                .bind(now)
                .execute(self.writes())
                .await?;
                self.tenant_by_slug(slug)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt(format!("tenant {slug} vanished after insert")))
            }

            async fn tenant_by_slug(&self, slug: &TenantSlug) -> Result<Option<Tenant>, StoreError> {
                let row = sqlx::query("SELECT id, slug, name, created_at FROM tenants WHERE slug = $1")
                    .bind(slug.as_str())
                    .fetch_optional(self.reads())
                    .await?;
                row.as_ref().map(rows::tenant).transpose()
            }

            async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
                let row = sqlx::query("SELECT id, slug, name, created_at FROM tenants WHERE id = $1")
                    .bind(id.0)
                    .fetch_optional(self.reads())
                    .await?;
                row.as_ref().map(rows::tenant).transpose()
            }

            async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
                let rows =
                    sqlx::query("SELECT id, slug, name, created_at FROM tenants ORDER BY name, slug")
                        .fetch_all(self.reads())
                        .await?;
                rows.iter().map(rows::tenant).collect()
            }

            async fn tenant_overview(&self, tenant: TenantId) -> Result<TenantOverview, StoreError> {
                let row = sqlx::query(
                    "SELECT t.id, t.slug, t.name, t.created_at,
                            (SELECT count(*) FROM customers WHERE tenant_id = t.id) AS customers,
                            (SELECT count(*) FROM contracts WHERE tenant_id = t.id) AS contracts
                     FROM tenants t WHERE t.id = $1",
                )
                .bind(tenant.0)
                .fetch_optional(self.reads())
                .await?
                .ok_or(StoreError::NotFound(Entity::Tenant))?;
                // the overview counts imports, not notification deliveries
                let counts = sqlx::query(
                    "SELECT status, CAST(sum(n) AS BIGINT) AS n FROM job_counts \
                     WHERE tenant_id = $1 AND kind = $2 GROUP BY status",
                )
                .bind(tenant.0)
                .bind($crate::import::IMPORT_KIND)
                .fetch_all(self.reads())
                .await?;
                rows::tenant_overview(&row, &counts)
            }

                $($own)*
            }
        };
    };
}
pub(crate) use store_for;
