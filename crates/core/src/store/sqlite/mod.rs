//! SQLite storage: an embedded file, zero set-up. WAL lets readers work
//! while one writer writes. This process writes through a single
//! connection, so its writers queue in memory instead of meeting SQLite's
//! lock (whose busy handler sleeps); the busy timeout covers other
//! processes on the same file (the `migrate` command, a test's second
//! store).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::error::connect_reason;
use super::{store_for, StoreError};
use crate::clock::Clock;
use crate::config::DatabaseSettings;

mod accounts;
mod imports;
mod jobs;
mod search;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

pub struct SqliteStore {
    /// One connection: every write of this process.
    pub(super) pool: SqlitePool,
    /// Pure reads (dashboard, details), concurrent with the writer.
    pub(super) reader: SqlitePool,
    pub(super) clock: Arc<dyn Clock>,
    /// Wakes this process's executors on enqueue (SQLite has no NOTIFY;
    /// one file is one process's queue, so an in-process signal suffices).
    wake: tokio::sync::watch::Sender<u64>,
}

/// Times are stored as Unix milliseconds.
pub(crate) fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
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
        // SQLite's default page cache (2 MB) is smaller than the hot
        // indexes of a large queue or import. The writer does not
        // checkpoint on commit (a checkpoint syncs the database file, which
        // stalled imports); a background task checkpoints instead.
        let pool_with = |connections: u32, cache_kib: u32, autocheckpoint: u32| {
            SqlitePoolOptions::new()
                .test_before_acquire(false)
                .max_connections(connections)
                .acquire_timeout(settings.connect_timeout)
                .connect_with(
                    options
                        .clone()
                        .pragma("cache_size", format!("-{cache_kib}"))
                        .pragma("wal_autocheckpoint", autocheckpoint.to_string())
                        .pragma("journal_size_limit", (64u64 << 20).to_string()),
                )
        };
        // The writer first: it creates the file and switches it to WAL.
        let pool = pool_with(1, 32 * 1024, 0)
            .await
            .map_err(|e| fail(connect_reason(&e)))?;
        let reader = pool_with(settings.max_connections.max(1), 4 * 1024, 1000)
            .await
            .map_err(|e| fail(connect_reason(&e)))?;
        tokio::spawn(checkpoint_in_background(reader.clone()));
        Ok(SqliteStore {
            pool,
            reader,
            clock,
            wake: tokio::sync::watch::Sender::new(0),
        })
    }

    /// The pool, for tests and benchmarks that inspect rows directly.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Pure reads go to the reader pool, concurrent with the writer.
    fn reads(&self) -> &SqlitePool {
        &self.reader
    }

    /// Every write goes through the one writer connection.
    fn writes(&self) -> &SqlitePool {
        &self.pool
    }

    /// Tells this process's executors that work may be waiting.
    async fn wake_executors(&self) {
        self.wake.send_modify(|v| *v = v.wrapping_add(1));
    }

    fn now(&self) -> i64 {
        to_millis(self.clock.now())
    }
}

crate::store::schedules::schedules_for!(SqliteStore);
crate::store::notifications::notifications_for!(SqliteStore);

store_for!(SqliteStore, {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
        self.reader.close().await;
    }
});

/// Copies the WAL into the database file every second, off the writer's
/// path (a passive checkpoint never blocks the writer), until the store
/// closes.
async fn checkpoint_in_background(pool: SqlitePool) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                return;
            }
            tracing::debug!(error = %e, "background WAL checkpoint failed; will retry");
        }
    }
}

/// Rows for a set-based statement, as one JSON array bound to one
/// parameter and read back with `json_each` (SQLite has no array binds).
pub(super) fn json_rows(rows: impl Iterator<Item = serde_json::Value>) -> String {
    serde_json::Value::Array(rows.collect()).to_string()
}
