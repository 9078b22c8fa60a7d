//! PostgreSQL storage, for providers that run several app instances on one
//! shared database.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};
use uuid::Uuid;

use super::error::connect_reason;
use super::jobs::sql;
use super::rows::{self};
use super::{Backend, Entity, Store, StoreError};
use crate::clock::Clock;
use crate::config::DatabaseSettings;
use crate::model::{JobEvent, Tenant, TenantId, TenantOverview, TenantSlug};

mod accounts;
mod imports;
mod jobs;

/// The channel executors LISTEN on; enqueue and release NOTIFY it.
pub const WAKE_CHANNEL: &str = "sgp_import_jobs";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

pub struct PgStore {
    pub(super) pool: PgPool,
    pub(super) clock: Arc<dyn Clock>,
}

impl PgStore {
    pub async fn connect(
        settings: &DatabaseSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        let url = &settings.url;
        let fail = |reason: String| StoreError::Connect {
            url: url.to_string(),
            reason,
        };
        let options: PgConnectOptions = url
            .expose()
            .parse()
            .map_err(|e: sqlx::Error| fail(connect_reason(&e)))?;
        let options = options.application_name("sgp-import");
        // The pool retries until its timeout and then reports only that it
        // timed out; one direct attempt first surfaces the real cause
        // (refused, unknown host, bad password...).
        match tokio::time::timeout(settings.connect_timeout, options.connect()).await {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
            }
            Ok(Err(e)) => return Err(fail(connect_reason(&e))),
            Err(_) => {
                return Err(fail(format!(
                    "no answer within {}s",
                    settings.connect_timeout.as_secs()
                )))
            }
        }
        let pool = PgPoolOptions::new()
            .test_before_acquire(false)
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.connect_timeout)
            .connect_with(options)
            .await
            .map_err(|e| fail(connect_reason(&e)))?;
        Ok(PgStore { pool, clock })
    }

    /// The pool, for tests and benchmarks that inspect rows directly.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    async fn notify(&self) {
        // A lost wake-up only delays work until the next poll.
        if let Err(e) = sqlx::query("SELECT pg_notify($1, '')")
            .bind(WAKE_CHANNEL)
            .execute(&self.pool)
            .await
        {
            tracing::warn!(error = %e, "NOTIFY failed; executors will find the job by polling");
        }
    }

    fn claim_set() -> String {
        format!(
            "status = {}, attempt = attempt + 1, fence = fence + 1, \
            lease_owner = $1, lease_expires_at = $2, heartbeat_at = $3, \
            started_at = COALESCE(started_at, $3), updated_at = $3, log_count = log_count + 1",
            sql::status_after(JobEvent::Claim)
        )
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        // sqlx takes an advisory lock, so instances starting together on one
        // database migrate once.
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn ensure_tenant(&self, slug: &TenantSlug, name: &str) -> Result<Tenant, StoreError> {
        let now = self.clock.now();
        sqlx::query(
            "INSERT INTO tenants (id, slug, name, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (slug) DO NOTHING",
        )
        .bind(Uuid::new_v4())
        .bind(slug.as_str())
        .bind(name)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.tenant_by_slug(slug)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("tenant {slug} vanished after insert")))
    }

    async fn tenant_by_slug(&self, slug: &TenantSlug) -> Result<Option<Tenant>, StoreError> {
        let row = sqlx::query("SELECT id, slug, name, created_at FROM tenants WHERE slug = $1")
            .bind(slug.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::tenant).transpose()
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let rows =
            sqlx::query("SELECT id, slug, name, created_at FROM tenants ORDER BY name, slug")
                .fetch_all(&self.pool)
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
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound(Entity::Tenant))?;
        let counts = sqlx::query(
            "SELECT status, count(*) AS n FROM jobs WHERE tenant_id = $1 GROUP BY status",
        )
        .bind(tenant.0)
        .fetch_all(&self.pool)
        .await?;
        rows::tenant_overview(&row, &counts)
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
