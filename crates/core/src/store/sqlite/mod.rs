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
use tokio_util::sync::{CancellationToken, DropGuard};

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
    /// Stops the background checkpoints when the store is dropped: their
    /// task holds both pools, and would otherwise keep the file's
    /// connections open for as long as the process runs.
    _checkpoints: DropGuard,
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
        // stalled imports); a background task checkpoints instead, on a
        // reader, and on the writer only to bound the WAL under continuous
        // writes (`checkpoint_pass`).
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
        let checkpoints = CancellationToken::new();
        tokio::spawn(checkpoint_in_background(
            reader.clone(),
            pool.clone(),
            checkpoints.clone(),
        ));
        Ok(SqliteStore {
            pool,
            reader,
            clock,
            wake: tokio::sync::watch::Sender::new(0),
            _checkpoints: checkpoints.drop_guard(),
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

/// WAL frames (4 KB pages) past which the writer finishes a checkpoint
/// itself: 32 MB, half the WAL file's kept size (`journal_size_limit`).
const WAL_FRAMES_BEFORE_CATCH_UP: i64 = 8192;

/// Runs [`checkpoint_pass`] every second until the store closes or is
/// dropped (`stop`).
async fn checkpoint_in_background(reader: SqlitePool, writer: SqlitePool, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if reader.is_closed() || writer.is_closed() {
            return;
        }
        if let Err(e) = checkpoint_pass(&reader, &writer).await {
            if reader.is_closed() || writer.is_closed() {
                return;
            }
            tracing::debug!(error = %e, "background WAL checkpoint failed; will retry");
        }
    }
}

/// Copies the WAL into the database file on a reader, off the writer's
/// path (a passive checkpoint never blocks the writer). But the WAL only
/// goes back to its start when a checkpoint has copied every frame before
/// the next write begins, and under continuous writes the writer has
/// always appended more by the time the reader's copy ends: the WAL then
/// grew for as long as the load lasted (840 MB in the job benchmark's two
/// minutes). So when the WAL holds more than
/// [`WAL_FRAMES_BEFORE_CATCH_UP`] frames, the writer connection, between
/// two of its transactions, copies what was appended meanwhile and syncs
/// the database (writes pause then, at most once a second and only under
/// such a load), and its next transaction starts the WAL over (unless a
/// read is using the WAL at that moment: the next pass tries again). Measured on the job and import
/// benchmarks: no change in throughput beyond the noise, the WAL's peak
/// 117-128 MB instead of 840 (jobs) and 74 instead of 112 (a
/// 100,000-customer import).
async fn checkpoint_pass(reader: &SqlitePool, writer: &SqlitePool) -> Result<(), sqlx::Error> {
    // (even when the reader reports every frame copied: that is the WAL
    // when its copy began, and the writer has appended since)
    if checkpoint(reader).await? > WAL_FRAMES_BEFORE_CATCH_UP {
        checkpoint(writer).await?;
    }
    Ok(())
}

/// A passive checkpoint on one of `pool`'s connections; returns the
/// frames the WAL held (-1 while another connection checkpoints).
async fn checkpoint(pool: &SqlitePool) -> Result<i64, sqlx::Error> {
    // (busy, frames in the WAL, frames copied)
    let (_, frames, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(pool)
        .await?;
    Ok(frames)
}

/// Rows for a set-based statement, as one JSON array bound to one
/// parameter and read back with `json_each` (SQLite has no array binds).
pub(super) fn json_rows(rows: impl Iterator<Item = serde_json::Value>) -> String {
    serde_json::Value::Array(rows.collect()).to_string()
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
    use std::time::Instant;

    use super::*;
    use crate::clock::SystemClock;
    use crate::config::DatabaseUrl;
    use crate::store::Store;

    /// The WAL header's first salt (bytes 16..20), which SQLite changes
    /// each time the WAL starts over from its first frame.
    fn wal_salt(wal: &Path) -> Option<u32> {
        let mut header = [0u8; 20];
        let mut file = std::fs::File::open(wal).ok()?;
        std::io::Read::read_exact(&mut file, &mut header).ok()?;
        Some(u32::from_be_bytes([
            header[16], header[17], header[18], header[19],
        ]))
    }

    /// Waits until `written` has reached `at_least`; past `deadline` (a
    /// writer that stopped, or passes that never restart the WAL) the test
    /// fails instead of hanging.
    async fn written_past(written: &AtomicI64, at_least: i64, deadline: Instant) {
        while written.load(Ordering::Relaxed) < at_least {
            assert!(Instant::now() < deadline, "60 s passed waiting for writes");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A store on a new file `name` in `dir`, two readers.
    async fn store_in(dir: &Path, name: &str) -> SqliteStore {
        let url = DatabaseUrl::parse(&format!("sqlite://{}/{name}", dir.display())).unwrap();
        let settings = DatabaseSettings {
            url,
            max_connections: 2,
            connect_timeout: Duration::from_secs(30),
        };
        SqliteStore::connect(&settings, Arc::new(SystemClock))
            .await
            .unwrap()
    }

    /// This process's open files under `dir` (`/proc/self/fd`).
    #[cfg(target_os = "linux")]
    fn open_files_under(dir: &Path) -> Vec<std::path::PathBuf> {
        // /proc shows resolved paths: a temporary directory reached
        // through a symlink must be compared resolved too
        let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
        std::fs::read_dir("/proc/self/fd")
            .map(|fds| {
                fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                    .filter(|target| target.starts_with(&dir))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_store_lets_go_of_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path(), "drop.db").await;
        store.migrate().await.unwrap();
        sqlx::query("SELECT count(*) FROM jobs")
            .execute(store.reads())
            .await
            .unwrap();
        // a checkpoint pass has run: the background task is live
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert!(!open_files_under(dir.path()).is_empty());
        drop(store);
        // the connections close on their own threads, soon after
        let deadline = Instant::now() + Duration::from_secs(10);
        while !open_files_under(dir.path()).is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            open_files_under(dir.path()),
            Vec::<std::path::PathBuf>::new()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_over_under_writes_that_do_not_stop() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(dir.path(), "wal.db").await;
        let writer = store.pool().clone();
        sqlx::query("CREATE TABLE filler (id INTEGER PRIMARY KEY, b BLOB NOT NULL)")
            .execute(&writer)
            .await
            .unwrap();
        // Transactions back to back, each rewriting 256 KB (some 64
        // frames), until the test ends.
        let written = Arc::new(AtomicI64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let load = tokio::spawn({
            let (writer, written, stop) = (writer.clone(), written.clone(), stop.clone());
            async move {
                for row in (0..16i64).cycle() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    sqlx::query(
                        "INSERT OR REPLACE INTO filler (id, b) VALUES (?1, randomblob(262144))",
                    )
                    .bind(row)
                    .execute(&writer)
                    .await
                    .unwrap();
                    written.fetch_add(64, Ordering::Relaxed);
                }
            }
        });
        // Three passes, each once the WAL has passed the catch-up point,
        // and the first write after each: without the writer's part the
        // reader's copy never caught up and the WAL never started over.
        let wal = dir.path().join("wal.db-wal");
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut restarts = 0;
        while restarts < 3 && Instant::now() < deadline {
            let before = wal_salt(&wal);
            let from = written.load(Ordering::Relaxed);
            written_past(&written, from + WAL_FRAMES_BEFORE_CATCH_UP + 1024, deadline).await;
            checkpoint_pass(&store.reader, &writer).await.unwrap();
            let after_pass = written.load(Ordering::Relaxed);
            written_past(&written, after_pass + 128, deadline).await;
            if wal_salt(&wal) != before {
                restarts += 1;
            }
        }
        stop.store(true, Ordering::Relaxed);
        load.await.unwrap();
        store.close().await;
        assert_eq!(restarts, 3, "the WAL started over {restarts} times in 60 s");
    }
}
