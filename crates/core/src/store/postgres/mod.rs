//! PostgreSQL storage, for providers that run several app instances on one
//! shared database.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

use super::error::connect_reason;
use super::jobs::sql;
use super::{store_for, StoreError};
use crate::clock::Clock;
use crate::config::DatabaseSettings;
use crate::model::JobEvent;

mod accounts;
mod columns;
mod imports;
mod jobs;
mod page;
mod search;

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
        // No JIT: its threshold is a plan's estimated cost, which a walk of
        // a million customers' order with a LIMIT reaches while it reads a
        // few hundred rows. Compiling took 5-7 ms of a 6 ms list statement,
        // and 30 ms more the first time in each connection (loading LLVM):
        // a surname with `ativo` at 1,000,000 was 10 ms at p50 and 35-45
        // for the first inputs. None of these statements runs long enough
        // to gain from it. Set once a connection is open rather than as a
        // startup parameter, which poolers such as PgBouncer refuse.
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
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("SET jit = off").execute(conn).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| fail(connect_reason(&e)))?;
        Ok(PgStore { pool, clock })
    }

    /// The pool, for tests and benchmarks that inspect rows directly.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Reads and writes share one pool (named so as on SQLite, for the SQL
    /// written once for both).
    fn reads(&self) -> &PgPool {
        &self.pool
    }

    fn writes(&self) -> &PgPool {
        &self.pool
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Tells every instance's executors that work may be waiting.
    async fn wake_executors(&self) {
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

crate::store::schedules::schedules_for!(PgStore);
crate::store::notifications::notifications_for!(PgStore);

store_for!(PgStore, {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        // sqlx takes an advisory lock, so instances starting together on one
        // database migrate once.
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
});
