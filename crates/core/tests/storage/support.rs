//! Fresh databases for each test.
//!
//! PostgreSQL comes from `TEST_DATABASE_URL` (scripts/test.sh starts a
//! throw-away server and sets it). Without it the Postgres half of the suite
//! fails loudly: a storage behaviour tested on one database only is a gap.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sgp_import_core::clock::{Clock, ManualClock};
use sgp_import_core::config::{DatabaseSettings, DatabaseUrl};
use sgp_import_core::model::TenantId;
use sgp_import_core::store::{postgres::PgStore, sqlite::SqliteStore, Store};
use sqlx::Connection;
use uuid::Uuid;

/// Writes held off by [`TestDb::block_writes`].
pub enum WriteBlock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl WriteBlock {
    pub async fn release(self) {
        match self {
            WriteBlock::Sqlite(mut c) => {
                sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
            }
            WriteBlock::Postgres(mut c) => {
                sqlx::query("ROLLBACK").execute(&mut c).await.unwrap();
            }
        }
    }
}

pub enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

pub struct TestDb {
    pub store: Arc<dyn Store>,
    pub url: DatabaseUrl,
    pub clock: Arc<ManualClock>,
    raw: Raw,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    PgDatabase { admin_url: String, name: String },
}

pub fn start_time() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_767_225_600_000).unwrap() // 2026-01-01T00:00:00Z
}

fn settings(url: DatabaseUrl) -> DatabaseSettings {
    DatabaseSettings {
        url,
        max_connections: 5,
        connect_timeout: Duration::from_secs(10),
    }
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::parse(&format!("sqlite://{}/test.db", dir.path().display())).unwrap();
    let clock = Arc::new(ManualClock::new(start_time()));
    let store = SqliteStore::connect(&settings(url.clone()), clock.clone() as Arc<dyn Clock>)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let raw = Raw::Sqlite(store.pool().clone());
    TestDb {
        store: Arc::new(store),
        url,
        clock,
        raw,
        cleanup: Cleanup::Dir(dir),
    }
}

pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "TEST_DATABASE_URL is not set: the PostgreSQL half of the storage suite needs a server. \
             Run ./scripts/test.sh, which starts a throw-away one, or set TEST_DATABASE_URL=postgres://..."
        )
    })
}

/// A new, migrated database on the test server, dropped by `finish`.
pub async fn postgres() -> TestDb {
    let admin_url = postgres_admin_url();
    let name = format!("t_{}", Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach TEST_DATABASE_URL: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.ok();
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_path(&name);
    let clock = Arc::new(ManualClock::new(start_time()));
    let url = DatabaseUrl::parse(url.as_str()).unwrap();
    let store = PgStore::connect(&settings(url.clone()), clock.clone() as Arc<dyn Clock>)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let raw = Raw::Postgres(store.pool().clone());
    TestDb {
        store: Arc::new(store),
        url,
        clock,
        raw,
        cleanup: Cleanup::PgDatabase { admin_url, name },
    }
}

impl TestDb {
    pub fn clock_now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Another store (its own pool) on the same database and clock, as a
    /// second app instance would have.
    pub async fn second_store(&self) -> Arc<dyn Store> {
        sgp_import_core::store::connect(&settings(self.url.clone()), self.clock.clone())
            .await
            .unwrap()
    }

    pub fn raw(&self) -> &Raw {
        &self.raw
    }

    pub async fn finish(self) {
        self.store.close().await;
        if let Cleanup::PgDatabase { admin_url, name } = self.cleanup {
            if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await;
            }
        }
    }

    /// Inserts a customer row directly (the import job comes later); for
    /// counting and isolation tests.
    pub async fn insert_customer(&self, tenant: TenantId, key: &str) -> i64 {
        let now = start_time();
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_scalar(
                "INSERT INTO customers (tenant_id, sgp_key, name, content_hash, created_at, updated_at)
                 VALUES (?1, ?2, ?3, 'h', ?4, ?4) RETURNING id",
            )
            .bind(tenant.0)
            .bind(key)
            .bind(format!("Cliente {key}"))
            .bind(now.timestamp_millis())
            .fetch_one(pool)
            .await
            .unwrap(),
            Raw::Postgres(pool) => sqlx::query_scalar(
                "INSERT INTO customers (tenant_id, sgp_key, name, content_hash, created_at, updated_at)
                 VALUES ($1, $2, $3, 'h', $4, $4) RETURNING id",
            )
            .bind(tenant.0)
            .bind(key)
            .bind(format!("Cliente {key}"))
            .bind(now)
            .fetch_one(pool)
            .await
            .unwrap(),
        }
    }

    pub async fn insert_contract(&self, tenant: TenantId, customer: i64, key: &str) {
        let now = start_time();
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query(
                "INSERT INTO contracts (tenant_id, customer_id, sgp_key, status, content_hash, created_at, updated_at)
                 VALUES (?1, ?2, ?3, 'ativo', 'h', ?4, ?4)",
            )
            .bind(tenant.0)
            .bind(customer)
            .bind(key)
            .bind(now.timestamp_millis())
            .execute(pool)
            .await
            .map(|_| ())
            .unwrap(),
            Raw::Postgres(pool) => sqlx::query(
                "INSERT INTO contracts (tenant_id, customer_id, sgp_key, status, content_hash, created_at, updated_at)
                 VALUES ($1, $2, $3, 'ativo', 'h', $4, $4)",
            )
            .bind(tenant.0)
            .bind(customer)
            .bind(key)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
            .unwrap(),
        }
    }

    /// Rows of `table` with this `column = value` (a UUID), read directly:
    /// finds rows the store's own queries would no longer show.
    pub async fn rows_with(&self, table: &str, column: &str, value: Uuid) -> i64 {
        match &self.raw {
            Raw::Sqlite(pool) => {
                sqlx::query_scalar(&format!("SELECT count(*) FROM {table} WHERE {column} = ?1"))
                    .bind(value)
                    .fetch_one(pool)
                    .await
                    .unwrap()
            }
            Raw::Postgres(pool) => {
                sqlx::query_scalar(&format!("SELECT count(*) FROM {table} WHERE {column} = $1"))
                    .bind(value)
                    .fetch_one(pool)
                    .await
                    .unwrap()
            }
        }
    }

    pub async fn rows_with_text(&self, table: &str, column: &str, value: &str) -> i64 {
        let sql = |p: &str| format!("SELECT count(*) FROM {table} WHERE {column} = {p}");
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_scalar(&sql("?1"))
                .bind(value)
                .fetch_one(pool)
                .await
                .unwrap(),
            Raw::Postgres(pool) => sqlx::query_scalar(&sql("$1"))
                .bind(value)
                .fetch_one(pool)
                .await
                .unwrap(),
        }
    }

    /// Makes the database unusable for `how_long`: PostgreSQL refuses new
    /// connections and drops the open ones (a restart, a failover);
    /// SQLite's write lock is held by another connection.
    pub async fn outage(&self, how_long: Duration) {
        match &self.cleanup {
            Cleanup::PgDatabase { admin_url, name } => {
                let mut admin = sqlx::PgConnection::connect(admin_url).await.unwrap();
                sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
                sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                )
                .bind(name)
                .execute(&mut admin)
                .await
                .unwrap();
                tokio::time::sleep(how_long).await;
                sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
            }
            Cleanup::Dir(_) => {
                let lock = self.block_writes("jobs").await;
                tokio::time::sleep(how_long).await;
                lock.release().await;
            }
        }
    }

    /// Marks an account disabled, as an operator would.
    pub async fn disable_user(&self, user: Uuid) {
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query("UPDATE users SET disabled_at = ?2 WHERE id = ?1")
                .bind(user)
                .bind(start_time().timestamp_millis())
                .execute(pool)
                .await
                .map(|_| ())
                .unwrap(),
            Raw::Postgres(pool) => sqlx::query("UPDATE users SET disabled_at = $2 WHERE id = $1")
                .bind(user)
                .bind(start_time())
                .execute(pool)
                .await
                .map(|_| ())
                .unwrap(),
        }
    }

    /// Blocks every write to `table` (reads go on) until released: on
    /// SQLite a second connection holds the database's write lock, on
    /// PostgreSQL an EXCLUSIVE lock on the table.
    pub async fn block_writes(&self, table: &str) -> WriteBlock {
        match &self.raw {
            Raw::Sqlite(_) => {
                let path = self.url.expose().trim_start_matches("sqlite:");
                let path = path.trim_start_matches("//");
                let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}"))
                    .await
                    .unwrap();
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                WriteBlock::Sqlite(conn)
            }
            Raw::Postgres(_) => {
                let mut conn = sqlx::PgConnection::connect(self.url.expose())
                    .await
                    .unwrap();
                sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
                sqlx::query(&format!("LOCK TABLE {table} IN EXCLUSIVE MODE"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                WriteBlock::Postgres(conn)
            }
        }
    }

    /// Deletes a provider as an operator would, letting the schema cascade.
    pub async fn delete_tenant(&self, tenant: TenantId) {
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query("DELETE FROM tenants WHERE id = ?1")
                .bind(tenant.0)
                .execute(pool)
                .await
                .map(|_| ())
                .unwrap(),
            Raw::Postgres(pool) => sqlx::query("DELETE FROM tenants WHERE id = $1")
                .bind(tenant.0)
                .execute(pool)
                .await
                .map(|_| ())
                .unwrap(),
        }
    }

    pub async fn insert_job(&self, tenant: TenantId, status: &str) {
        let now = start_time();
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query(
                "INSERT INTO jobs (id, tenant_id, kind, name, status, run_after, created_at, updated_at)
                 VALUES (?1, ?2, 'sgp_import', 'teste', ?3, ?4, ?4, ?4)",
            )
            .bind(Uuid::new_v4())
            .bind(tenant.0)
            .bind(status)
            .bind(now.timestamp_millis())
            .execute(pool)
            .await
            .map(|_| ())
            .unwrap(),
            Raw::Postgres(pool) => sqlx::query(
                "INSERT INTO jobs (id, tenant_id, kind, name, status, run_after, created_at, updated_at)
                 VALUES ($1, $2, 'sgp_import', 'teste', $3, $4, $4, $4)",
            )
            .bind(Uuid::new_v4())
            .bind(tenant.0)
            .bind(status)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
            .unwrap(),
        }
    }
}

/// Runs a test body on both databases: `on_both!(name)` expects an
/// `async fn name(db: &TestDb)` in the same module and makes `name::sqlite`
/// and `name::postgres` tests.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::support::sqlite().await;
                super::$name(&db).await;
                db.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = $crate::support::postgres().await;
                super::$name(&db).await;
                db.finish().await;
            }
        }
    )+};
}
