//! SQLite storage: an embedded file, zero set-up. WAL lets readers work
//! while one writer writes; the busy timeout makes writers queue instead of
//! failing with "database is locked".

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::Row;
use uuid::Uuid;

use super::error::connect_reason;
use super::{Backend, Store, StoreError};
use crate::clock::Clock;
use crate::config::DatabaseSettings;
use crate::model::{JobStatus, Tenant, TenantId, TenantOverview, TenantSlug};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

pub struct SqliteStore {
    pool: SqlitePool,
    clock: Arc<dyn Clock>,
}

/// Times are stored as Unix milliseconds.
pub(crate) fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {ms} out of range")))
}

impl SqliteStore {
    pub async fn connect(
        settings: &DatabaseSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        let url = &settings.url;
        let fail = |reason: String| StoreError::Connect {
            url: url.to_string(),
            reason,
        };
        let options = SqliteConnectOptions::from_str(url.expose())
            .map_err(|e| fail(connect_reason(&e)))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let file = options.get_filename();
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| fail(format!("cannot create directory {}: {e}", dir.display())))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.connect_timeout)
            .connect_with(options)
            .await
            .map_err(|e| fail(connect_reason(&e)))?;
        Ok(SqliteStore { pool, clock })
    }

    /// The pool, for tests and benchmarks that inspect rows directly.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    fn tenant_from_row(row: &SqliteRow) -> Result<Tenant, StoreError> {
        let slug: String = row.try_get("slug")?;
        Ok(Tenant {
            id: TenantId(row.try_get::<Uuid, _>("id")?),
            slug: TenantSlug::parse(&slug).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            name: row.try_get("name")?,
            created_at: from_millis(row.try_get("created_at")?)?,
        })
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn ensure_tenant(&self, slug: &TenantSlug, name: &str) -> Result<Tenant, StoreError> {
        let now = to_millis(self.clock.now());
        sqlx::query(
            "INSERT INTO tenants (id, slug, name, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?4)
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
        let row = sqlx::query("SELECT id, slug, name, created_at FROM tenants WHERE slug = ?1")
            .bind(slug.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::tenant_from_row).transpose()
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let rows =
            sqlx::query("SELECT id, slug, name, created_at FROM tenants ORDER BY name, slug")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(Self::tenant_from_row).collect()
    }

    async fn tenant_overview(&self, tenant: TenantId) -> Result<TenantOverview, StoreError> {
        let row = sqlx::query(
            "SELECT t.id, t.slug, t.name, t.created_at,
                    (SELECT count(*) FROM customers WHERE tenant_id = t.id) AS customers,
                    (SELECT count(*) FROM contracts WHERE tenant_id = t.id) AS contracts
             FROM tenants t WHERE t.id = ?1",
        )
        .bind(tenant.0)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("tenant"))?;
        let counts = sqlx::query(
            "SELECT status, count(*) AS n FROM jobs WHERE tenant_id = ?1 GROUP BY status",
        )
        .bind(tenant.0)
        .fetch_all(&self.pool)
        .await?;
        let mut imports = Vec::with_capacity(counts.len());
        for c in &counts {
            let status: String = c.try_get("status")?;
            imports.push((
                status.parse::<JobStatus>()?,
                c.try_get::<i64, _>("n")? as u64,
            ));
        }
        imports.sort();
        Ok(TenantOverview {
            tenant: Self::tenant_from_row(&row)?,
            customers: row.try_get::<i64, _>("customers")? as u64,
            contracts: row.try_get::<i64, _>("contracts")? as u64,
            imports,
        })
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}
