//! Storage: one interface ([`Store`]), one implementation per database, each
//! with its own SQL and migrations.

use std::sync::Arc;

use async_trait::async_trait;

use crate::clock::Clock;
use crate::config::{DatabaseSettings, DatabaseUrl};
use crate::model::{
    JobDetails, JobId, JobPage, JobProgress, JobStatus, JobSummary, LogLevel, StatusCounts, Tenant,
    TenantId, TenantOverview, TenantSlug,
};

pub mod accounts;
mod error;
pub mod imports;
pub mod jobs;
pub mod postgres;
mod postgres_accounts;
mod postgres_imports;
mod rows;
pub mod sqlite;
mod sqlite_accounts;
mod sqlite_imports;

pub use accounts::{
    Accounts, LoginLimits, NewApiToken, NewSession, NewUser, SessionRecord, TokenRecord,
};
pub use error::StoreError;
pub use imports::{
    CustomerFilter, HashedCustomer, Imports, IntegrationRecord, PageCounts, PageWrite,
};
pub use jobs::{
    ClaimedJob, Completion, Heartbeat, JobFilter, KindLimit, Lease, NewJob, Outcome, Rescued,
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
pub trait Store: Imports + Accounts + Send + Sync + 'static {
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

    // ---- jobs ----------------------------------------------------------

    /// Puts a job in the queue (status `queued`) and wakes executors.
    async fn enqueue(&self, job: NewJob) -> Result<JobSummary, StoreError>;

    /// Takes up to `max` runnable jobs of these kinds for `owner`, oldest
    /// first, marking them running with a lease until now + `lease`, and
    /// writes each one's start line to its log (kept within `log_cap`). A
    /// kind's per-provider limit counts jobs already running anywhere.
    async fn claim(
        &self,
        owner: &str,
        max: u32,
        kinds: &[KindLimit],
        lease: std::time::Duration,
        log_cap: u32,
    ) -> Result<Vec<ClaimedJob>, StoreError>;

    /// Extends the lease; tells whether a cancel was requested.
    async fn heartbeat(
        &self,
        lease: &Lease,
        duration: std::time::Duration,
    ) -> Result<Heartbeat, StoreError>;

    /// Records progress, and the checkpoint to resume from when given.
    async fn save_progress(
        &self,
        lease: &Lease,
        progress: &JobProgress,
        checkpoint: Option<&serde_json::Value>,
    ) -> Result<(), StoreError>;

    /// Ends the attempt; returns the job's new status. A job whose cancel
    /// was requested ends `cancelled` whatever the outcome.
    async fn finish(&self, lease: &Lease, outcome: Outcome) -> Result<JobStatus, StoreError>;

    /// Gives the job back without using up an attempt (graceful shutdown).
    async fn release(&self, lease: &Lease) -> Result<JobStatus, StoreError>;

    /// Cancels a job of this tenant: at once when waiting, by way of
    /// `cancelling` when running. A finished job is an error.
    async fn cancel(&self, tenant: TenantId, job: JobId) -> Result<JobStatus, StoreError>;

    /// Queues a failed or cancelled job again with a fresh attempt budget;
    /// [`StoreError::LimitReached`] when the tenant already has `max_active`
    /// jobs of its kind queued or running.
    async fn rerun(
        &self,
        tenant: TenantId,
        job: JobId,
        max_active: Option<u32>,
    ) -> Result<JobStatus, StoreError>;

    /// Jobs whose lease expired go back to the queue (or fail when out of
    /// attempts, or end cancelled when a cancel was pending).
    async fn rescue_expired(&self) -> Result<Vec<Rescued>, StoreError>;

    async fn list_jobs(&self, tenant: TenantId, filter: &JobFilter) -> Result<JobPage, StoreError>;

    async fn status_counts(&self, tenant: TenantId) -> Result<StatusCounts, StoreError>;

    /// One job with its newest `log_lines` log lines (oldest first).
    async fn job_details(
        &self,
        tenant: TenantId,
        job: JobId,
        log_lines: u32,
    ) -> Result<JobDetails, StoreError>;

    /// Appends to the job's log; past `cap` lines only one marker line is
    /// kept, so a chatty job cannot fill the disk.
    async fn append_log(
        &self,
        job: JobId,
        level: LogLevel,
        message: &str,
        cap: u32,
    ) -> Result<(), StoreError>;

    /// Appends several log lines in one transaction (lines of jobs that no
    /// longer exist are skipped).
    async fn append_logs(
        &self,
        lines: &[(JobId, LogLevel, String)],
        cap: u32,
    ) -> Result<(), StoreError>;

    /// Records many successful attempts in one transaction, each with its
    /// final log line. Returns the new status of each job whose attempt
    /// still held its lease; the others are left out.
    async fn complete_many(
        &self,
        done: &[Completion],
        cap: u32,
    ) -> Result<Vec<(JobId, JobStatus)>, StoreError>;

    /// Deletes finished jobs (and their logs) that finished before `before`.
    async fn purge_finished(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError>;

    /// A stream of hints that work may be waiting (an enqueue, a release);
    /// executors still poll, so a lost hint only delays.
    async fn wakeups(&self) -> Result<Box<dyn Wakeups>, StoreError>;

    /// Waits for open connections to finish and closes the pool.
    async fn close(&self);
}

#[async_trait]
pub trait Wakeups: Send {
    /// Returns when a hint arrives.
    async fn wait(&mut self);
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
