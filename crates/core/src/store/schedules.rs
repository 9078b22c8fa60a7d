//! Providers' automatic syncs ([`Schedules`]): what the admin saved, which
//! slots are due, and the step that turns a due slot into one import (or
//! one recorded skip) exactly once, however many instances race for it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{NewJob, StoreError};
use crate::model::{JobId, ScheduleInput, ScheduleView, TenantId};

/// A schedule whose slot has come.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueSchedule {
    pub tenant: TenantId,
    pub slot: DateTime<Utc>,
    pub input: ScheduleInput,
}

/// A due slot to take: move the schedule on to `next` and enqueue `job`,
/// or, when the provider already has a job of that kind queued or running,
/// record `job` as skipped with `skip_reason` instead.
#[derive(Clone, Debug)]
pub struct ScheduledRun {
    pub slot: DateTime<Utc>,
    pub next: Option<DateTime<Utc>>,
    pub job: NewJob,
    pub skip_reason: String,
}

/// What became of a slot this instance took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotOutcome {
    Enqueued(JobId),
    Skipped(JobId),
    /// The run before had just failed once too often: the schedule paused
    /// instead of running again.
    Paused(PausedSchedule),
}

/// A schedule that paused itself after too many failed runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PausedSchedule {
    pub tenant: TenantId,
    pub failures: u32,
    pub reason: String,
}

#[async_trait]
pub trait Schedules: Send + Sync {
    /// The provider's schedule; `None` when it never saved one.
    async fn schedule(&self, tenant: TenantId) -> Result<Option<ScheduleView>, StoreError>;

    /// Saves the admin's settings with their next slot (`None` when off).
    /// Saving clears the failure count and a pause.
    async fn save_schedule(
        &self,
        tenant: TenantId,
        input: &ScheduleInput,
        next_run: Option<DateTime<Utc>>,
    ) -> Result<ScheduleView, StoreError>;

    /// Active schedules whose slot is at or before `now`, oldest first.
    async fn due_schedules(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueSchedule>, StoreError>;

    /// Takes `run.slot` of the job's provider, in one transaction: `None`
    /// when the slot is no longer the schedule's (another instance took it,
    /// or the admin changed the schedule).
    async fn take_slot(&self, run: ScheduledRun) -> Result<Option<SlotOutcome>, StoreError>;

    /// Counts the outcome of each finished scheduled import once (a failure
    /// adds one, a success resets, a cancel leaves the count), then pauses
    /// the schedules that reached their limit and returns them.
    async fn settle_scheduled_runs(&self) -> Result<Vec<PausedSchedule>, StoreError>;
}

/// The reason a schedule pauses with, written by the database from the
/// row's own count.
pub(crate) fn pause_reason_sql() -> &'static str {
    "'Pausada após ' || consecutive_failures || ' falhas seguidas das importações agendadas.'"
}

/// Counts the outcome of each finished pending run (of the schedules
/// `which` selects; `$1` is the time) and clears it, in one statement so
/// that each outcome is counted once.
pub(crate) fn settle_sql(which: &str) -> String {
    use crate::model::JobStatus;
    use crate::store::jobs::sql;
    format!(
        "UPDATE import_schedules SET \
            consecutive_failures = CASE \
                (SELECT j.status FROM jobs j WHERE j.id = import_schedules.pending_job_id) \
                WHEN {failed} THEN consecutive_failures + 1 \
                WHEN {completed} THEN 0 \
                ELSE consecutive_failures END, \
            pending_job_id = NULL, updated_at = $1 \
         WHERE {which} AND pending_job_id IS NOT NULL AND EXISTS (SELECT 1 FROM jobs j \
            WHERE j.id = import_schedules.pending_job_id AND {finished})",
        failed = sql::literal(JobStatus::Failed),
        completed = sql::literal(JobStatus::Completed),
        finished = sql::status_in("j.status", &JobStatus::FINISHED),
    )
}

/// Pauses the active schedules (of those `which` selects; `$1` is the
/// time) whose failures reached their limit, returning each one's tenant,
/// count and reason.
pub(crate) fn pause_sql(which: &str) -> String {
    format!(
        "UPDATE import_schedules SET active = FALSE, next_run_at = NULL, \
            paused_at = $1, pause_reason = {}, pause_notified_at = NULL, \
            updated_at = $1 \
         WHERE {which} AND active AND consecutive_failures >= pause_after_failures \
         RETURNING tenant_id, consecutive_failures, pause_reason",
        pause_reason_sql()
    )
}

/// The [`Schedules`] methods, for `$store`: the same SQL on both databases.
/// Times are bound as [`At`](super::bind::At); the slot's job and its first
/// log line are written in the transaction that takes the slot.
macro_rules! schedules_for {
    ($store:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use $crate::model::{
                JobOrigin, JobStatus, LogLevel, ScheduleInput, ScheduleView, TenantId,
            };
            use $crate::store::bind::{At, Doc};
            use $crate::store::jobs::{sql, DEFAULT_LOG_CAP};
            use $crate::store::rows::{self, RowExt};
            use $crate::store::schedules::{
                pause_sql, settle_sql, DueSchedule, PausedSchedule, ScheduledRun,
                Schedules, SlotOutcome,
            };
            use $crate::store::StoreError;

            #[async_trait]
            impl Schedules for $store {
                async fn schedule(
                    &self,
                    tenant: TenantId,
                ) -> Result<Option<ScheduleView>, StoreError> {
                    let row = sqlx::query(&format!(
                        "SELECT {} FROM import_schedules WHERE tenant_id = $1",
                        rows::SCHEDULE_COLUMNS
                    ))
                    .bind(tenant.0)
                    .fetch_optional(self.reads())
                    .await?;
                    row.as_ref().map(rows::schedule).transpose()
                }

                async fn save_schedule(
                    &self,
                    tenant: TenantId,
                    input: &ScheduleInput,
                    next_run: Option<DateTime<Utc>>,
                ) -> Result<ScheduleView, StoreError> {
                    let now = At(self.clock.now());
                    let date = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string());
                    sqlx::query(
                        "INSERT INTO import_schedules (tenant_id, active, cron, incremental, \
                            only_active, signup_from, signup_to, pause_after_failures, \
                            consecutive_failures, next_run_at, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10, $10) \
                         ON CONFLICT (tenant_id) DO UPDATE SET active = $2, cron = $3, \
                            incremental = $4, only_active = $5, signup_from = $6, \
                            signup_to = $7, pause_after_failures = $8, \
                            consecutive_failures = 0, next_run_at = $9, paused_at = NULL, \
                            pause_reason = NULL, pause_notified_at = NULL, updated_at = $10",
                    )
                    .bind(tenant.0)
                    .bind(input.active)
                    .bind(&input.cron)
                    .bind(input.incremental)
                    .bind(input.only_active)
                    .bind(date(input.signup_from))
                    .bind(date(input.signup_to))
                    .bind(i64::from(input.pause_after_failures))
                    .bind(next_run.map(At))
                    .bind(now)
                    .execute(self.writes())
                    .await?;
                    // read from the writer: the reader may lag a commit
                    let row = sqlx::query(&format!(
                        "SELECT {} FROM import_schedules WHERE tenant_id = $1",
                        rows::SCHEDULE_COLUMNS
                    ))
                    .bind(tenant.0)
                    .fetch_one(self.writes())
                    .await?;
                    rows::schedule(&row)
                }

                async fn due_schedules(
                    &self,
                    now: DateTime<Utc>,
                    limit: u32,
                ) -> Result<Vec<DueSchedule>, StoreError> {
                    let rows = sqlx::query(&format!(
                        "SELECT {} FROM import_schedules \
                         WHERE active AND next_run_at <= $1 ORDER BY next_run_at LIMIT $2",
                        rows::SCHEDULE_COLUMNS
                    ))
                    .bind(At(now))
                    .bind(i64::from(limit))
                    .fetch_all(self.writes())
                    .await?;
                    rows.iter().map(rows::due_schedule).collect()
                }

                async fn take_slot(
                    &self,
                    run: ScheduledRun,
                ) -> Result<Option<SlotOutcome>, StoreError> {
                    let now = self.clock.now();
                    let job = &run.job;
                    let mut tx = self.writes().begin().await?;
                    // The run before may have ended since the last
                    // settling: its outcome is counted before its id is
                    // replaced (or a failure would go uncounted), and a
                    // schedule that so reaches its limit pauses instead of
                    // taking the slot (which stays its last run's).
                    sqlx::query(&settle_sql("tenant_id = $2"))
                        .bind(At(now))
                        .bind(job.tenant.0)
                        .execute(&mut *tx)
                        .await?;
                    let paused = sqlx::query(&pause_sql("tenant_id = $2"))
                        .bind(At(now))
                        .bind(job.tenant.0)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if let Some(row) = paused {
                        tx.commit().await?;
                        return Ok(Some(SlotOutcome::Paused(rows::paused_schedule(&row)?)));
                    }
                    // The compare-and-set on the slot is what makes a run
                    // exactly once: a second instance waits for the first
                    // one's row lock (or SQLite's one writer), then finds
                    // the slot moved on and updates nothing.
                    let taken = sqlx::query(
                        "UPDATE import_schedules SET next_run_at = $1, last_run_at = $2, \
                            updated_at = $3 \
                         WHERE tenant_id = $4 AND active AND next_run_at = $2",
                    )
                    .bind(run.next.map(At))
                    .bind(At(run.slot))
                    .bind(At(now))
                    .bind(job.tenant.0)
                    .execute(&mut *tx)
                    .await?;
                    if taken.rows_affected() == 0 {
                        return Ok(None);
                    }
                    let busy = sqlx::query(&format!(
                        "SELECT {} AS n",
                        sql::active_count("$1", "$2")
                    ))
                    .bind(job.tenant.0)
                    .bind(&job.kind)
                    .fetch_one(&mut *tx)
                    .await?
                    .int("n")?
                        > 0;
                    let (status, finished_at, error) = if busy {
                        (JobStatus::Cancelled, Some(At(now)), Some(run.skip_reason.as_str()))
                    } else {
                        (JobStatus::Queued, None, None)
                    };
                    // the unique (provider, kind, slot) index is the second
                    // lock on the door: a slot never gets two jobs
                    let inserted = sqlx::query(
                        "INSERT INTO jobs (id, tenant_id, kind, name, params, status, attempt, \
                            max_attempts, run_after, created_at, updated_at, finished_at, \
                            last_error, current_message, origin, scheduled_for, notified_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $8, $8, $9, $10, $10, $11, $12, $9) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(job.id.0)
                    .bind(job.tenant.0)
                    .bind(&job.kind)
                    .bind(&job.name)
                    .bind(Doc(&job.params))
                    .bind(status.as_str())
                    .bind(i64::from(job.max_attempts.max(1)))
                    .bind(At(now))
                    .bind(finished_at)
                    .bind(error)
                    .bind(JobOrigin::Scheduled.as_str())
                    .bind(At(run.slot))
                    .execute(&mut *tx)
                    .await?;
                    if inserted.rows_affected() == 0 {
                        // the slot already has its job; keep the schedule moved on
                        tx.commit().await?;
                        return Ok(None);
                    }
                    let line = if busy {
                        (job.id, LogLevel::Warn, run.skip_reason.clone())
                    } else {
                        (job.id, LogLevel::Info, "Importação agendada colocada na fila.".to_owned())
                    };
                    Self::logs_in(&mut tx, self.now(), &[line], DEFAULT_LOG_CAP).await?;
                    if !busy {
                        sqlx::query(
                            "UPDATE import_schedules SET pending_job_id = $1 WHERE tenant_id = $2",
                        )
                        .bind(job.id.0)
                        .bind(job.tenant.0)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    Ok(Some(if busy {
                        SlotOutcome::Skipped(job.id)
                    } else {
                        self.wake_executors().await;
                        SlotOutcome::Enqueued(job.id)
                    }))
                }

                async fn settle_scheduled_runs(&self) -> Result<Vec<PausedSchedule>, StoreError> {
                    let now = At(self.clock.now());
                    let mut tx = self.writes().begin().await?;
                    // pending_job_id is cleared in the same statement, so
                    // each outcome is counted once
                    sqlx::query(&settle_sql("TRUE"))
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    let paused = sqlx::query(&pause_sql("TRUE"))
                    .bind(now)
                    .fetch_all(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    paused.iter().map(rows::paused_schedule).collect()
                }
            }
        };
    };
}
pub(crate) use schedules_for;
