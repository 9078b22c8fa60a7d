//! The job queue's interface ([`Jobs`]), its types, and the SQL fragments
//! both backends derive from the state machine.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::StoreError;
use crate::model::{
    JobDetails, JobId, JobOrigin, JobPage, JobProgress, JobStatus, JobSummary, LogLevel,
    StatusCounts, TenantId,
};

/// A job to put in the queue. Parameters must never hold a secret: jobs
/// read credentials from the provider's integration when they run.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub id: JobId,
    pub tenant: TenantId,
    pub kind: String,
    pub name: String,
    pub params: Value,
    pub max_attempts: u32,
    /// Not before this time (default: now).
    pub run_after: Option<DateTime<Utc>>,
    /// Refuse the job ([`StoreError::LimitReached`]) when the tenant already
    /// has this many jobs of its kind queued or running.
    pub max_active: Option<u32>,
    pub origin: JobOrigin,
}

impl NewJob {
    pub fn new(tenant: TenantId, kind: &str, name: &str, params: Value) -> Self {
        NewJob {
            id: JobId::new(),
            tenant,
            kind: kind.to_owned(),
            name: name.to_owned(),
            params,
            max_attempts: 5,
            run_after: None,
            max_active: None,
            origin: JobOrigin::Manual,
        }
    }

    pub fn with_origin(mut self, origin: JobOrigin) -> Self {
        self.origin = origin;
        self
    }
}

/// A job kind an executor runs, and how many of its jobs one provider may
/// have running at once (`None`: no limit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindLimit {
    pub kind: String,
    pub per_tenant: Option<u32>,
}

/// Proof that a worker holds the current attempt of a job. Every write a
/// worker makes is checked against it (fencing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub job: JobId,
    pub tenant: TenantId,
    pub owner: String,
    pub fence: i64,
}

/// A job handed to a worker by `claim`.
#[derive(Clone, Debug)]
pub struct ClaimedJob {
    pub lease: Lease,
    pub kind: String,
    pub name: String,
    pub params: Value,
    pub checkpoint: Option<Value>,
    pub attempt: u32,
    pub max_attempts: u32,
    pub progress: JobProgress,
    pub created_at: DateTime<Utc>,
    pub run_after: DateTime<Utc>,
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Completed {
        result: Value,
    },
    /// Fatal, or the last attempt failed.
    Failed {
        error: String,
    },
    /// Try again at `run_after`.
    Retry {
        error: String,
        run_after: DateTime<Utc>,
    },
    /// The job saw its cancel request and stopped at a safe point.
    Stopped,
}

/// A successful attempt, for [`super::Store::complete_many`].
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub lease: Lease,
    pub result: Value,
    /// A final line for the job's log.
    pub log: Option<String>,
}

/// What a heartbeat learns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    pub cancel_requested: bool,
}

/// What the rescuer did with one job whose lease expired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rescued {
    pub job: JobId,
    pub tenant: TenantId,
    pub owner: Option<String>,
    /// Where the rescue left it.
    pub status: JobStatus,
}

/// One kind of job across every provider, for operators' metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub kind: String,
    pub by_status: Vec<(JobStatus, u64)>,
    /// When the oldest job waiting to run (queued or retrying) was created.
    pub oldest_waiting: Option<DateTime<Utc>>,
}

/// Which jobs a list shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobFilter {
    /// `None`: every status.
    pub statuses: Option<Vec<JobStatus>>,
    /// `None`: every origin.
    pub origin: Option<JobOrigin>,
    /// `None`: every kind.
    pub kind: Option<String>,
    pub limit: u32,
    pub offset: u64,
}

/// The job queue: what the executor, the dashboard and the API ask of it.
/// Every worker write is fenced by its [`Lease`].
#[async_trait]
pub trait Jobs: Send + Sync {
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

    /// The same list over every provider (a superadmin's read-only view).
    async fn list_jobs_everywhere(&self, filter: &JobFilter) -> Result<JobPage, StoreError>;

    /// Jobs per status over every provider, of one kind or all.
    async fn status_counts_everywhere(
        &self,
        kind: Option<&str>,
    ) -> Result<StatusCounts, StoreError>;

    /// Jobs per status of one provider, of one kind or (`None`) all.
    async fn status_counts(
        &self,
        tenant: TenantId,
        kind: Option<&str>,
    ) -> Result<StatusCounts, StoreError>;

    /// Jobs per status of one origin, of one provider (or every one when
    /// `None`) and of one kind or all. Counted from the jobs themselves:
    /// the kept per-status counts know nothing of origins.
    async fn origin_status_counts(
        &self,
        tenant: Option<TenantId>,
        kind: Option<&str>,
        origin: JobOrigin,
    ) -> Result<StatusCounts, StoreError>;

    /// Jobs per status as a list with this provider (`None`: every one),
    /// kind and origin filter counts them: from the kept counters when no
    /// origin is picked, from the jobs themselves when one is.
    async fn list_status_counts(
        &self,
        tenant: Option<TenantId>,
        kind: Option<&str>,
        origin: Option<JobOrigin>,
    ) -> Result<StatusCounts, StoreError> {
        match (origin, tenant) {
            (Some(o), _) => self.origin_status_counts(tenant, kind, o).await,
            (None, Some(t)) => self.status_counts(t, kind).await,
            (None, None) => self.status_counts_everywhere(kind).await,
        }
    }

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

    /// Jobs per kind and status across providers, and the age of each
    /// kind's oldest waiting job.
    async fn queue_stats(&self) -> Result<Vec<QueueStats>, StoreError>;

    /// A stream of hints that work may be waiting (an enqueue, a release);
    /// executors still poll, so a lost hint only delays.
    async fn wakeups(&self) -> Result<Box<dyn Wakeups>, StoreError>;
}

#[async_trait]
pub trait Wakeups: Send {
    /// Returns when a hint arrives.
    async fn wait(&mut self);
}

/// Log lines per job beyond which only a marker is kept.
pub const DEFAULT_LOG_CAP: u32 = 2_000;
/// Longest log message stored, in characters.
pub const MAX_LOG_MESSAGE: usize = 2_000;

pub fn lease_expiry(now: DateTime<Utc>, lease: std::time::Duration) -> DateTime<Utc> {
    now + Duration::from_std(lease).unwrap_or(Duration::hours(1))
}

/// Cuts a log message to [`MAX_LOG_MESSAGE`] characters.
pub fn clip_message(message: &str) -> String {
    match message.char_indices().nth(MAX_LOG_MESSAGE) {
        None => message.to_owned(),
        Some((at, _)) => format!("{}…", &message[..at]),
    }
}

/// SQL fragments derived from the state machine, shared by both backends.
pub(crate) mod sql {
    use crate::model::{JobEvent, JobStatus};

    /// `CASE status WHEN 'from' THEN 'to' ... END`: the status after `event`.
    pub fn status_after(event: JobEvent) -> String {
        let arms: String = event
            .sources()
            .into_iter()
            .map(|from| {
                let to = event.apply(from).expect("sources() are legal");
                format!(" WHEN '{}' THEN '{}'", from.as_str(), to.as_str())
            })
            .collect();
        format!("CASE status{arms} END")
    }

    /// One status as an SQL literal: `'queued'`.
    pub fn literal(status: JobStatus) -> String {
        format!("'{}'", status.as_str())
    }

    /// `column IN ('a', 'b')`: for scans meant to use the partial indexes
    /// on those statuses (row-by-id updates use [`guard`] instead).
    pub fn status_in(column: &str, statuses: &[JobStatus]) -> String {
        format!("{column} IN ({})", super::status_list(statuses))
    }

    /// The `SET` of the rescue of a job whose lease expired, executing
    /// [`JobEvent::on_lease_expired`] row by row: the event depends on
    /// whether the attempt was the last. A job that fails this way gets
    /// `error` (an SQL expression) as its last error.
    pub fn rescue_set(now: &str, error: &str) -> String {
        let out_of_attempts = "attempt >= max_attempts";
        let last = JobEvent::on_lease_expired(true);
        let other = JobEvent::on_lease_expired(false);
        let failing: Vec<JobStatus> = last
            .sources()
            .into_iter()
            .filter(|from| last.apply(*from) == Ok(JobStatus::Failed))
            .collect();
        format!(
            "status = CASE WHEN {out_of_attempts} THEN {} ELSE {} END, \
             finished_at = CASE WHEN {out_of_attempts} THEN {} ELSE {} END, \
             last_error = CASE WHEN {out_of_attempts} AND {} THEN {error} ELSE last_error END",
            status_after(last),
            status_after(other),
            finished_at_after(last, now),
            finished_at_after(other, now),
            status_in("status", &failing)
        )
    }

    /// The `finished_at` after `event`: `now` where it ends the job.
    pub fn finished_at_after(event: JobEvent, now: &str) -> String {
        let ending: Vec<String> = event
            .sources()
            .into_iter()
            .filter(|from| event.apply(*from).is_ok_and(|to| to.is_finished()))
            .map(|from| format!("'{}'", from.as_str()))
            .collect();
        if ending.is_empty() {
            "NULL".to_owned()
        } else {
            format!(
                "CASE WHEN status IN ({}) THEN {now} ELSE NULL END",
                ending.join(", ")
            )
        }
    }

    /// `column NOT IN (every other status)`: the same rows as `column IN
    /// (allowed)`, since a status is always one of `JobStatus::ALL`, but
    /// written so the planner cannot match it to a partial index on those
    /// statuses. Statements that find their row by id use it: with `IN`,
    /// statistics taken when no job was running made Postgres scan the
    /// partial index of every running job once per id (seconds per batch
    /// with 100,000 jobs running) instead of probing the primary key.
    pub fn guard(column: &str, allowed: &[JobStatus]) -> String {
        let others: Vec<String> = JobStatus::ALL
            .iter()
            .filter(|s| !allowed.contains(s))
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        format!("{column} NOT IN ({})", others.join(", "))
    }

    /// The guard of a row-by-id update for `event`.
    pub fn event_guard(column: &str, event: JobEvent) -> String {
        guard(column, &event.sources())
    }

    /// The guard on a worker's writes: it still holds the current attempt.
    pub fn lease_guard() -> String {
        guard("status", &JobStatus::LEASED)
    }

    /// How many jobs of tenant `tenant` and kind `kind` (SQL expressions)
    /// are queued or running; each half matches a partial index.
    pub fn active_count(tenant: &str, kind: &str) -> String {
        let count = |statuses: &[JobStatus]| {
            format!(
                "(SELECT count(*) FROM jobs WHERE tenant_id = {tenant} AND kind = {kind} \
                 AND status IN ({}))",
                super::status_list(statuses)
            )
        };
        format!(
            "{} + {}",
            count(&JobStatus::WAITING),
            count(&JobStatus::LEASED)
        )
    }

    /// The log line that opens an attempt, built from the claimed row in
    /// the claim's own statement: `Tentativa 2 de 5 iniciada em <owner>.`
    pub fn start_line(owner: &str) -> String {
        format!("'Tentativa ' || attempt || ' de ' || max_attempts || ' iniciada em ' || {owner} || '.'")
    }
}

/// The message stored when a worker vanished and no attempt is left.
pub const LOST_WORKER_NO_ATTEMPTS: &str =
    "O processo que executava este job parou e não restam tentativas.";

/// Finished jobs deleted per statement when purging.
pub const PURGE_CHUNK: i64 = 1_000;
/// Rows of a purged job's dependents deleted (or unlinked) per statement:
/// one import can own hundreds of thousands of change rows and be the last
/// import of as many customers, and a single cascading `DELETE` would hold
/// the writer (every provider's, on SQLite) for all of them at once.
pub const PURGE_ROWS: i64 = 10_000;

/// What refers to a job, as a purge lets go of it before the job goes: the
/// table, the column naming the job, and the statement's work on the
/// rows it picks. `import_seen` is left to the cascade: its rows are a page
/// of keys each, and only a held removal keeps them.
pub(crate) type PurgeDependent = (&'static str, &'static str, &'static str);

/// How many of the first log lines are always kept when a log is capped.
pub const LOG_HEAD_KEPT: u32 = 100;

/// `'a', 'b'` for an SQL `IN (...)` list of statuses (fixed names, never
/// user text).
pub(crate) fn status_list(statuses: &[JobStatus]) -> String {
    statuses
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a guarded update touched no row, given the job as it is now: the
/// job is gone, or its status does not allow the event.
pub(crate) fn refusal(
    now: Result<crate::model::JobSummary, StoreError>,
    job: JobId,
    event: crate::model::JobEvent,
) -> StoreError {
    match now {
        Ok(s) => match event.apply(s.status) {
            Err(illegal) => StoreError::IllegalTransition(illegal),
            Ok(_) => StoreError::Corrupt(format!("job {job} changed while being updated")),
        },
        Err(e) => e,
    }
}

/// The [`Jobs`] methods whose SQL is the same on both databases (leases,
/// outcomes, cancel, rescue, the dashboard's reads, purging), for
/// `$store`, plus the backend's own methods given in braces: enqueue and
/// rerun (made atomic each its own way), the hot paths tuned to each
/// database (claim, batched completions) and wake-ups. Log lines are
/// written by the backend's own `logs_in`, in the time type of its
/// `now()`. Times and
/// JSON are bound as [`At`](super::bind::At) and [`Doc`](super::bind::Doc);
/// reads go to `self.reads()`, writes to `self.writes()`, and
/// `self.wake_executors()` tells executors that work may be waiting.
macro_rules! jobs_for {
    ($store:ty, { $($own:tt)* }) => {
        const _: () = {
            use std::time::Duration;

            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use $crate::model::{
                JobDetails, JobEvent, JobId, JobPage, JobProgress, JobStatus, JobSummary,
                LogLevel, StatusCounts, TenantId,
            };
            use $crate::store::bind::{At, Doc};
            use $crate::store::jobs::{
                self as job_rules, sql, ClaimedJob, Completion, Heartbeat, JobFilter, Jobs,
                KindLimit, Lease, NewJob, Outcome, Rescued, Wakeups, LOST_WORKER_NO_ATTEMPTS,
                PURGE_CHUNK,
            };
            use $crate::store::rows::{self, RowExt};
            use $crate::store::{Entity, StoreError};

            impl $store {
            async fn summary(
                &self,
                tenant: Option<TenantId>,
                job: JobId,
            ) -> Result<JobSummary, StoreError> {
                let columns = rows::summary_columns();
                let mut query = format!("SELECT {columns} FROM jobs j WHERE j.id = $1");
                if tenant.is_some() {
                    query.push_str(" AND j.tenant_id = $2");
                }
                let mut query = sqlx::query(&query).bind(job.0);
                if let Some(tenant) = tenant {
                    query = query.bind(tenant.0);
                }
                let row = query
                .fetch_optional(self.reads())
                .await?
                .ok_or(StoreError::NotFound(Entity::Job))?;
                rows::summary(&row)
            }
            async fn refusal(&self, tenant: TenantId, job: JobId, event: JobEvent) -> StoreError {
                job_rules::refusal(self.summary(Some(tenant), job).await, job, event)
            }

            /// A rerun's answer from the row its update returned: the new
            /// status (and a wake-up), or why nothing changed: the job's
            /// status, or else the tenant's cap on active jobs.
            async fn rerun_answer(
                &self,
                row: Option<impl RowExt>,
                tenant: TenantId,
                job: JobId,
                max_active: Option<u32>,
            ) -> Result<JobStatus, StoreError> {
                if let Some(row) = row {
                    self.wake_executors().await;
                    return rows::status(&row);
                }
                Err(match (self.refusal(tenant, job, JobEvent::Rerun).await, max_active) {
                    // the transition was allowed: the cap refused it
                    (StoreError::Corrupt(_), Some(max)) => StoreError::LimitReached(max),
                    (refusal, _) => refusal,
                })
            }
            /// A page of one provider's jobs, or (`None`) of every
            /// provider's. The provider is the statement's last parameter,
            /// bound only when given, so each case has its own plan.
            async fn list_jobs_in(
                &self,
                tenant: Option<TenantId>,
                filter: &JobFilter,
            ) -> Result<JobPage, StoreError> {
                let statuses = filter
                    .statuses
                    .clone()
                    .unwrap_or_else(|| JobStatus::ALL.to_vec());
                let list = job_rules::status_list(&statuses);
                let columns = rows::summary_columns();
                // origin is bound as text; NULL stands for every origin
                let origin = filter.origin.map(|o| o.as_str());
                let kind = filter.kind.as_deref();
                let of = |n: u32| match tenant {
                    Some(_) => format!("j.tenant_id = ${n} AND "),
                    None => String::new(),
                };
                let text = format!(
                    "SELECT {columns} FROM jobs j WHERE {} j.status IN ({list}) \
                        AND ($4 IS NULL OR j.origin = $4) AND ($5 IS NULL OR j.kind = $5) \
                     ORDER BY j.created_at DESC, j.id DESC LIMIT $2 OFFSET $3",
                    of(1)
                );
                let mut query = sqlx::query(&text);
                query = match tenant {
                    Some(t) => query.bind(t.0),
                    // $1 stands unused in the text: bind a value that
                    // keeps the numbering of the others
                    None => query.bind(i64::from(filter.limit)),
                };
                let rows = query
                    .bind(i64::from(filter.limit))
                    .bind(filter.offset as i64)
                    .bind(origin)
                    .bind(kind)
                    .fetch_all(self.reads())
                    .await?;
                let counts = self.list_status_counts(tenant, kind, filter.origin).await?;
                let total = statuses.iter().map(|s| counts.get(*s)).sum();
                rows::job_page(&rows, total, filter)
            }
            }

            #[async_trait]
            impl Jobs for $store {
            async fn heartbeat(&self, lease: &Lease, duration: Duration) -> Result<Heartbeat, StoreError> {
                let now = self.clock.now();
                let row = sqlx::query(&format!(
                    "UPDATE jobs SET lease_expires_at = $1, heartbeat_at = $2, updated_at = $2 \
                     WHERE id = $3 AND fence = $4 AND lease_owner = $5 AND {} \
                     RETURNING cancel_requested_at",
                    sql::lease_guard()
                ))
                .bind(At(job_rules::lease_expiry(now, duration)))
                .bind(At(now))
                .bind(lease.job.0)
                .bind(lease.fence)
                .bind(&lease.owner)
                .fetch_optional(self.writes())
                .await?
                .ok_or(StoreError::LeaseLost(lease.job))?;
                Ok(Heartbeat {
                    cancel_requested: row.opt_time("cancel_requested_at")?.is_some(),
                })
            }

            async fn save_progress(
                &self,
                lease: &Lease,
                progress: &JobProgress,
                checkpoint: Option<&serde_json::Value>,
            ) -> Result<(), StoreError> {
                let done = sqlx::query(&format!(
                    "UPDATE jobs SET total_estimated = $1, processed = $2, created_count = $3, \
                        updated_count = $4, unchanged_count = $5, failed_count = $6, percent = $7, \
                        eta_seconds = $8, current_message = $9, checkpoint = COALESCE($10, checkpoint), \
                        updated_at = $11 \
                     WHERE id = $12 AND fence = $13 AND lease_owner = $14 AND {}",
                    sql::lease_guard()
                ))
                .bind(progress.total_estimated.map(|n| n as i64))
                .bind(progress.processed as i64)
                .bind(progress.created as i64)
                .bind(progress.updated as i64)
                .bind(progress.unchanged as i64)
                .bind(progress.failed as i64)
                .bind(progress.percent)
                .bind(progress.eta_seconds.map(|n| n as i64))
                .bind(progress.message.as_deref())
                .bind(checkpoint.map(Doc))
                .bind(At(self.clock.now()))
                .bind(lease.job.0)
                .bind(lease.fence)
                .bind(&lease.owner)
                .execute(self.writes())
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::LeaseLost(lease.job));
                }
                Ok(())
            }

            async fn finish(&self, lease: &Lease, outcome: Outcome) -> Result<JobStatus, StoreError> {
                let (event, result, error, run_after) = match outcome {
                    Outcome::Completed { result } => (JobEvent::Complete, Some(result), None, None),
                    Outcome::Failed { error } => (JobEvent::Fail, None, Some(error), None),
                    Outcome::Retry { error, run_after } => {
                        (JobEvent::ScheduleRetry, None, Some(error), Some(run_after))
                    }
                    Outcome::Stopped => (JobEvent::Stopped, None, None, None),
                };
                let row = sqlx::query(&format!(
                    "UPDATE jobs SET status = {}, finished_at = {}, result = COALESCE($2, result), \
                        last_error = COALESCE($3, last_error), run_after = COALESCE($4, run_after), \
                        lease_expires_at = NULL, updated_at = $1 \
                     WHERE id = $5 AND fence = $6 AND lease_owner = $7 AND {} \
                     RETURNING status",
                    sql::status_after(event),
                    sql::finished_at_after(event, "$1"),
                    sql::event_guard("status", event)
                ))
                .bind(At(self.clock.now()))
                .bind(result.as_ref().map(Doc))
                .bind(error)
                .bind(run_after.map(At))
                .bind(lease.job.0)
                .bind(lease.fence)
                .bind(&lease.owner)
                .fetch_optional(self.writes())
                .await?
                .ok_or(StoreError::LeaseLost(lease.job))?;
                rows::status(&row)
            }

            async fn release(&self, lease: &Lease) -> Result<JobStatus, StoreError> {
                let event = JobEvent::Release;
                let row = sqlx::query(&format!(
                    "UPDATE jobs SET status = {}, finished_at = {}, \
                        attempt = CASE WHEN {} THEN CASE WHEN attempt > 0 THEN attempt - 1 ELSE 0 END ELSE attempt END, \
                        lease_expires_at = NULL, updated_at = $1 \
                     WHERE id = $2 AND fence = $3 AND lease_owner = $4 AND {} \
                     RETURNING status",
                    sql::status_after(event),
                    sql::finished_at_after(event, "$1"),
                    sql::status_in("status", &[JobStatus::Running]),
                    sql::event_guard("status", event)
                ))
                .bind(At(self.clock.now()))
                .bind(lease.job.0)
                .bind(lease.fence)
                .bind(&lease.owner)
                .fetch_optional(self.writes())
                .await?
                .ok_or(StoreError::LeaseLost(lease.job))?;
                self.wake_executors().await;
                rows::status(&row)
            }

            async fn cancel(&self, tenant: TenantId, job: JobId) -> Result<JobStatus, StoreError> {
                let event = JobEvent::RequestCancel;
                let row = sqlx::query(&format!(
                    "UPDATE jobs SET status = {}, finished_at = {}, cancel_requested_at = $1, updated_at = $1 \
                     WHERE id = $2 AND tenant_id = $3 AND {} RETURNING status",
                    sql::status_after(event),
                    sql::finished_at_after(event, "$1"),
                    sql::event_guard("status", event)
                ))
                .bind(At(self.clock.now()))
                .bind(job.0)
                .bind(tenant.0)
                .fetch_optional(self.writes())
                .await?;
                match row {
                    Some(row) => rows::status(&row),
                    None => Err(self.refusal(tenant, job, event).await),
                }
            }

            async fn rescue_expired(&self) -> Result<Vec<Rescued>, StoreError> {
                let rows = sqlx::query(&format!(
                    "UPDATE jobs SET {}, lease_expires_at = NULL, updated_at = $1 \
                     WHERE {} AND lease_expires_at < $1 \
                     RETURNING id, tenant_id, lease_owner, status",
                    sql::rescue_set("$1", "$2"),
                    sql::status_in("status", &JobStatus::LEASED)
                ))
                .bind(At(self.clock.now()))
                .bind(LOST_WORKER_NO_ATTEMPTS)
                .fetch_all(self.writes())
                .await?;
                if !rows.is_empty() {
                    self.wake_executors().await;
                }
                rows.iter()
                    .map(|row| {
                        Ok(Rescued {
                            job: JobId(row.uuid("id")?),
                            tenant: TenantId(row.uuid("tenant_id")?),
                            owner: row.opt_text("lease_owner")?,
                            status: rows::status(row)?,
                        })
                    })
                    .collect()
            }

            async fn list_jobs(&self, tenant: TenantId, filter: &JobFilter) -> Result<JobPage, StoreError> {
                self.list_jobs_in(Some(tenant), filter).await
            }

            async fn list_jobs_everywhere(&self, filter: &JobFilter) -> Result<JobPage, StoreError> {
                self.list_jobs_in(None, filter).await
            }

            async fn queue_stats(&self) -> Result<Vec<job_rules::QueueStats>, StoreError> {
                let counts = sqlx::query(
                    "SELECT kind, status, CAST(sum(n) AS BIGINT) AS n FROM job_counts \
                     GROUP BY kind, status ORDER BY kind, status",
                )
                .fetch_all(self.reads())
                .await?;
                let oldest = sqlx::query(&format!(
                    "SELECT kind, min(created_at) AS oldest FROM jobs WHERE {} GROUP BY kind",
                    sql::status_in("status", &JobStatus::WAITING)
                ))
                .fetch_all(self.reads())
                .await?;
                let mut stats: Vec<job_rules::QueueStats> = Vec::new();
                for row in &counts {
                    let kind = row.text("kind")?;
                    let n = row.int("n")?.max(0) as u64;
                    if stats.last().is_none_or(|s| s.kind != kind) {
                        stats.push(job_rules::QueueStats {
                            kind: kind.clone(),
                            ..Default::default()
                        });
                    }
                    let entry = stats.last_mut().expect("pushed above");
                    entry.by_status.push((rows::status(row)?, n));
                }
                for row in &oldest {
                    let kind = row.text("kind")?;
                    if let Some(s) = stats.iter_mut().find(|s| s.kind == kind) {
                        s.oldest_waiting = row.opt_time("oldest")?;
                    }
                }
                Ok(stats)
            }

            async fn status_counts(
                &self,
                tenant: TenantId,
                kind: Option<&str>,
            ) -> Result<StatusCounts, StoreError> {
                let rows = sqlx::query(
                    "SELECT status, CAST(sum(n) AS BIGINT) AS n FROM job_counts \
                     WHERE tenant_id = $1 AND ($2 IS NULL OR kind = $2) GROUP BY status",
                )
                .bind(tenant.0)
                .bind(kind)
                .fetch_all(self.reads())
                .await?;
                rows::status_counts(&rows)
            }

            async fn status_counts_everywhere(
                &self,
                kind: Option<&str>,
            ) -> Result<StatusCounts, StoreError> {
                let rows = sqlx::query(
                    "SELECT status, CAST(sum(n) AS BIGINT) AS n FROM job_counts \
                     WHERE ($1 IS NULL OR kind = $1) GROUP BY status",
                )
                .bind(kind)
                .fetch_all(self.reads())
                .await?;
                rows::status_counts(&rows)
            }

            async fn origin_status_counts(
                &self,
                tenant: Option<TenantId>,
                kind: Option<&str>,
                origin: $crate::model::JobOrigin,
            ) -> Result<StatusCounts, StoreError> {
                let text = format!(
                    "SELECT status, CAST(count(*) AS BIGINT) AS n FROM jobs \
                     WHERE {} origin = $1 AND ($2 IS NULL OR kind = $2) GROUP BY status",
                    if tenant.is_some() { "tenant_id = $3 AND" } else { "" }
                );
                let rows = sqlx::query(&text)
                .bind(origin.as_str())
                .bind(kind);
                let rows = match tenant {
                    Some(t) => rows.bind(t.0),
                    None => rows,
                };
                rows::status_counts(&rows.fetch_all(self.reads()).await?)
            }

            async fn job_details(
                &self,
                tenant: TenantId,
                job: JobId,
                log_lines: u32,
            ) -> Result<JobDetails, StoreError> {
                let columns = rows::summary_columns();
                let row = sqlx::query(&format!(
                    "SELECT {columns}, j.params, j.result, j.checkpoint, j.log_count, \
                        (SELECT count(*) FROM job_logs l WHERE l.job_id = j.id) AS stored_logs \
                     FROM jobs j WHERE j.id = $1 AND j.tenant_id = $2"
                ))
                .bind(job.0)
                .bind(tenant.0)
                .fetch_optional(self.reads())
                .await?
                .ok_or(StoreError::NotFound(Entity::Job))?;
                let logs = sqlx::query(
                    "SELECT logged_at, level, message FROM \
                        (SELECT id, logged_at, level, message FROM job_logs WHERE job_id = $1 \
                         ORDER BY id DESC LIMIT $2) AS newest ORDER BY id",
                )
                .bind(job.0)
                .bind(i64::from(log_lines))
                .fetch_all(self.reads())
                .await?;
                rows::job_details(&row, &logs)
            }

            async fn append_log(
                &self,
                job: JobId,
                level: LogLevel,
                message: &str,
                cap: u32,
            ) -> Result<(), StoreError> {
                let mut tx = self.writes().begin().await?;
                let line = [(job, level, message.to_owned())];
                if Self::logs_in(&mut tx, self.now(), &line, cap).await? == 0 {
                    return Err(StoreError::NotFound(Entity::Job));
                }
                tx.commit().await?;
                Ok(())
            }

            async fn append_logs(
                &self,
                lines: &[(JobId, LogLevel, String)],
                cap: u32,
            ) -> Result<(), StoreError> {
                let mut tx = self.writes().begin().await?;
                Self::logs_in(&mut tx, self.now(), lines, cap).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn purge_finished(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
                // In chunks of jobs, and their dependents in chunks of rows
                // first: each statement is a short write of its own, so
                // other providers' writes go between them.
                let chunk = format!(
                    "SELECT id FROM jobs WHERE finished_at IS NOT NULL AND finished_at < $1 \
                     AND {} ORDER BY finished_at LIMIT $2",
                    sql::status_in("status", &JobStatus::FINISHED)
                );
                let mut purged = 0;
                loop {
                    for (table, column, work) in <$store>::PURGED_FIRST {
                        loop {
                            let done = sqlx::query(&format!(
                                "{work} WHERE id IN (SELECT id FROM {table} \
                                 WHERE {column} IN ({chunk}) LIMIT $3)"
                            ))
                            .bind(At(before))
                            .bind(PURGE_CHUNK)
                            .bind(job_rules::PURGE_ROWS)
                            .execute(self.writes())
                            .await?;
                            if done.rows_affected() < job_rules::PURGE_ROWS as u64 {
                                break;
                            }
                        }
                    }
                    let done = sqlx::query(&format!("DELETE FROM jobs WHERE id IN ({chunk})"))
                        .bind(At(before))
                        .bind(PURGE_CHUNK)
                        .execute(self.writes())
                        .await?;
                    purged += done.rows_affected();
                    if done.rows_affected() < PURGE_CHUNK as u64 {
                        return Ok(purged);
                    }
                }
            }

                $($own)*
            }
        };
    };
}
pub(crate) use jobs_for;

#[cfg(test)]
mod guard_tests {
    use super::sql;
    use crate::model::{JobEvent, JobStatus};

    /// The `NOT IN` guard lists exactly the statuses the event may not
    /// start from, so it admits the same rows as `IN (sources)`.
    #[test]
    fn guards_admit_exactly_the_source_statuses() {
        for event in JobEvent::ALL {
            let guard = sql::event_guard("status", event);
            for status in JobStatus::ALL {
                let excluded = guard.contains(&format!("'{}'", status.as_str()));
                assert_eq!(
                    !excluded,
                    event.sources().contains(&status),
                    "{event:?} / {status:?}: {guard}"
                );
            }
        }
        assert_eq!(
            sql::lease_guard(),
            "status NOT IN ('queued', 'retrying', 'completed', 'failed', 'cancelled')"
        );
    }
}
