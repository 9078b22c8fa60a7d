//! SQLite side of the job queue: claiming, leases, outcomes, logs and the
//! dashboard's reads, each statement tuned to the one writer connection.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{json_rows, to_millis, SqliteStore};
use crate::model::{
    JobDetails, JobEvent, JobId, JobPage, JobProgress, JobStatus, JobSummary, LogLevel,
    StatusCounts, TenantId,
};
use crate::store::jobs::{
    self as job_rules, sql, LOG_HEAD_KEPT, LOST_WORKER_NO_ATTEMPTS, PURGE_CHUNK,
};
use crate::store::rows::{self, RowExt, CLAIMED_COLUMNS};
use crate::store::{
    ClaimedJob, Completion, Entity, Heartbeat, JobFilter, Jobs, KindLimit, Lease, NewJob, Outcome,
    Rescued, StoreError, Wakeups,
};

#[async_trait]
impl Jobs for SqliteStore {
    async fn enqueue(&self, job: NewJob) -> Result<JobSummary, StoreError> {
        let now = self.clock.now();
        // one statement on the one writer: the count and the insert cannot
        // interleave with another enqueue
        let inserted = sqlx::query(&format!(
            "INSERT INTO jobs (id, tenant_id, kind, name, params, status, attempt, max_attempts, \
                run_after, created_at, updated_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, {queued}, 0, ?6, ?7, ?8, ?8 \
             WHERE ?9 IS NULL OR {} < ?9",
            sql::active_count("?2", "?3"),
            queued = sql::literal(JobStatus::Queued)
        ))
        .bind(job.id.0)
        .bind(job.tenant.0)
        .bind(&job.kind)
        .bind(&job.name)
        .bind(job.params.to_string())
        .bind(i64::from(job.max_attempts.max(1)))
        .bind(to_millis(job.run_after.unwrap_or(now)))
        .bind(to_millis(now))
        .bind(job.max_active.map(i64::from))
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::LimitReached(job.max_active.unwrap_or(0)));
        }
        self.wake();
        self.summary(Some(job.tenant), job.id).await
    }

    async fn claim(
        &self,
        owner: &str,
        max: u32,
        kinds: &[KindLimit],
        lease: Duration,
        log_cap: u32,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let (limited, free): (Vec<&KindLimit>, Vec<&KindLimit>) =
            kinds.iter().partition(|k| k.per_tenant.is_some());
        let mut tx = self.pool.begin().await?;
        let mut claimed = self
            .claim_kinds(&mut tx, owner, max, &limited, true, lease, log_cap)
            .await?;
        let left = max.saturating_sub(claimed.len() as u32);
        claimed.extend(
            self.claim_kinds(&mut tx, owner, left, &free, false, lease, log_cap)
                .await?,
        );
        tx.commit().await?;
        claimed.sort_by_key(|c| (c.created_at, c.lease.job));
        Ok(claimed)
    }

    async fn heartbeat(&self, lease: &Lease, duration: Duration) -> Result<Heartbeat, StoreError> {
        let now = self.clock.now();
        let row = sqlx::query(&format!(
            "UPDATE jobs SET lease_expires_at = ?1, heartbeat_at = ?2, updated_at = ?2 \
             WHERE id = ?3 AND fence = ?4 AND lease_owner = ?5 AND {} \
             RETURNING cancel_requested_at",
            sql::lease_guard()
        ))
        .bind(to_millis(job_rules::lease_expiry(now, duration)))
        .bind(to_millis(now))
        .bind(lease.job.0)
        .bind(lease.fence)
        .bind(&lease.owner)
        .fetch_optional(&self.pool)
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
            "UPDATE jobs SET total_estimated = ?1, processed = ?2, created_count = ?3, \
                updated_count = ?4, unchanged_count = ?5, failed_count = ?6, percent = ?7, \
                eta_seconds = ?8, current_message = ?9, checkpoint = COALESCE(?10, checkpoint), \
                updated_at = ?11 \
             WHERE id = ?12 AND fence = ?13 AND lease_owner = ?14 AND {}",
            sql::lease_guard()
        ))
        .bind(progress.total_estimated.map(|n| n as i64))
        .bind(progress.processed as i64)
        .bind(progress.created as i64)
        .bind(progress.updated as i64)
        .bind(progress.unchanged as i64)
        .bind(progress.failed as i64)
        .bind(f64::from(progress.percent))
        .bind(progress.eta_seconds.map(|n| n as i64))
        .bind(progress.message.as_deref())
        .bind(checkpoint.map(|c| c.to_string()))
        .bind(self.now())
        .bind(lease.job.0)
        .bind(lease.fence)
        .bind(&lease.owner)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::LeaseLost(lease.job));
        }
        Ok(())
    }

    async fn finish(&self, lease: &Lease, outcome: Outcome) -> Result<JobStatus, StoreError> {
        let (event, result, error, run_after) = match outcome {
            Outcome::Completed { result } => {
                (JobEvent::Complete, Some(result.to_string()), None, None)
            }
            Outcome::Failed { error } => (JobEvent::Fail, None, Some(error), None),
            Outcome::Retry { error, run_after } => (
                JobEvent::ScheduleRetry,
                None,
                Some(error),
                Some(to_millis(run_after)),
            ),
            Outcome::Stopped => (JobEvent::Stopped, None, None, None),
        };
        let row = sqlx::query(&format!(
            "UPDATE jobs SET status = {}, finished_at = {}, result = COALESCE(?2, result), \
                last_error = COALESCE(?3, last_error), run_after = COALESCE(?4, run_after), \
                lease_expires_at = NULL, updated_at = ?1 \
             WHERE id = ?5 AND fence = ?6 AND lease_owner = ?7 AND {} \
             RETURNING status",
            sql::status_after(event),
            sql::finished_at_after(event, "?1"),
            sql::event_guard("status", event)
        ))
        .bind(self.now())
        .bind(result)
        .bind(error)
        .bind(run_after)
        .bind(lease.job.0)
        .bind(lease.fence)
        .bind(&lease.owner)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::LeaseLost(lease.job))?;
        rows::status(&row)
    }

    async fn release(&self, lease: &Lease) -> Result<JobStatus, StoreError> {
        let event = JobEvent::Release;
        let row = sqlx::query(&format!(
            "UPDATE jobs SET status = {}, finished_at = {}, \
                attempt = CASE WHEN {} THEN max(attempt - 1, 0) ELSE attempt END, \
                lease_expires_at = NULL, updated_at = ?1 \
             WHERE id = ?2 AND fence = ?3 AND lease_owner = ?4 AND {} \
             RETURNING status",
            sql::status_after(event),
            sql::finished_at_after(event, "?1"),
            sql::status_in("status", &[JobStatus::Running]),
            sql::event_guard("status", event)
        ))
        .bind(self.now())
        .bind(lease.job.0)
        .bind(lease.fence)
        .bind(&lease.owner)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::LeaseLost(lease.job))?;
        self.wake();
        rows::status(&row)
    }

    async fn cancel(&self, tenant: TenantId, job: JobId) -> Result<JobStatus, StoreError> {
        let event = JobEvent::RequestCancel;
        let row = sqlx::query(&format!(
            "UPDATE jobs SET status = {}, finished_at = {}, cancel_requested_at = ?1, updated_at = ?1 \
             WHERE id = ?2 AND tenant_id = ?3 AND {} RETURNING status",
            sql::status_after(event),
            sql::finished_at_after(event, "?1"),
            sql::event_guard("status", event)
        ))
        .bind(self.now())
        .bind(job.0)
        .bind(tenant.0)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => rows::status(&row),
            None => Err(self.refusal(tenant, job, event).await),
        }
    }

    async fn rerun(
        &self,
        tenant: TenantId,
        job: JobId,
        max_active: Option<u32>,
    ) -> Result<JobStatus, StoreError> {
        let event = JobEvent::Rerun;
        let row = sqlx::query(&format!(
            "UPDATE jobs SET status = {}, finished_at = NULL, attempt = 0, run_after = ?1, \
                cancel_requested_at = NULL, lease_expires_at = NULL, updated_at = ?1 \
             WHERE id = ?2 AND tenant_id = ?3 AND {} AND (?4 IS NULL OR {} < ?4) RETURNING status",
            sql::status_after(event),
            sql::event_guard("status", event),
            sql::active_count("?3", "(SELECT k.kind FROM jobs k WHERE k.id = ?2)")
        ))
        .bind(self.now())
        .bind(job.0)
        .bind(tenant.0)
        .bind(max_active.map(i64::from))
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => {
                self.wake();
                rows::status(&row)
            }
            None => Err(match (self.refusal(tenant, job, event).await, max_active) {
                // the transition was allowed: the cap refused it
                (StoreError::Corrupt(_), Some(max)) => StoreError::LimitReached(max),
                (refusal, _) => refusal,
            }),
        }
    }

    async fn rescue_expired(&self) -> Result<Vec<Rescued>, StoreError> {
        let rows = sqlx::query(&format!(
            "UPDATE jobs SET {}, lease_expires_at = NULL, updated_at = ?1 \
             WHERE {} AND lease_expires_at < ?1 \
             RETURNING id, tenant_id, lease_owner, status",
            sql::rescue_set("?1", "?2"),
            sql::status_in("status", &JobStatus::LEASED)
        ))
        .bind(self.now())
        .bind(LOST_WORKER_NO_ATTEMPTS)
        .fetch_all(&self.pool)
        .await?;
        if !rows.is_empty() {
            self.wake();
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
        let statuses = filter
            .statuses
            .clone()
            .unwrap_or_else(|| JobStatus::ALL.to_vec());
        let list = job_rules::status_list(&statuses);
        let columns = rows::summary_columns();
        let rows = sqlx::query(&format!(
            "SELECT {columns} FROM jobs j WHERE j.tenant_id = ?1 AND j.status IN ({list}) \
             ORDER BY j.created_at DESC, j.id DESC LIMIT ?2 OFFSET ?3"
        ))
        .bind(tenant.0)
        .bind(i64::from(filter.limit))
        .bind(filter.offset as i64)
        .fetch_all(&self.reader)
        .await?;
        let counts = self.status_counts(tenant).await?;
        rows::job_page(&rows, &statuses, &counts, filter)
    }

    async fn status_counts(&self, tenant: TenantId) -> Result<StatusCounts, StoreError> {
        let rows = sqlx::query(
            "SELECT status, sum(n) AS n FROM job_counts WHERE tenant_id = ?1 GROUP BY status",
        )
        .bind(tenant.0)
        .fetch_all(&self.reader)
        .await?;
        rows::status_counts(&rows)
    }

    async fn job_details(
        &self,
        tenant: TenantId,
        job: JobId,
        log_lines: u32,
    ) -> Result<JobDetails, StoreError> {
        let columns = rows::summary_columns();
        let row = sqlx::query(&format!(
            "SELECT {columns}, j.params, j.result, j.log_count, \
                (SELECT count(*) FROM job_logs l WHERE l.job_id = j.id) AS stored_logs \
             FROM jobs j WHERE j.id = ?1 AND j.tenant_id = ?2"
        ))
        .bind(job.0)
        .bind(tenant.0)
        .fetch_optional(&self.reader)
        .await?
        .ok_or(StoreError::NotFound(Entity::Job))?;
        let logs = sqlx::query(
            "SELECT logged_at, level, message FROM \
                (SELECT id, logged_at, level, message FROM job_logs WHERE job_id = ?1 \
                 ORDER BY id DESC LIMIT ?2) ORDER BY id",
        )
        .bind(job.0)
        .bind(i64::from(log_lines))
        .fetch_all(&self.reader)
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
        let mut tx = self.pool.begin().await?;
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
        let mut tx = self.pool.begin().await?;
        Self::logs_in(&mut tx, self.now(), lines, cap).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn complete_many(
        &self,
        done: &[Completion],
        cap: u32,
    ) -> Result<Vec<(JobId, JobStatus)>, StoreError> {
        if done.is_empty() {
            return Ok(Vec::new());
        }
        let event = JobEvent::Complete;
        // The result travels as JSON text inside the JSON array, so `->>`
        // hands back exactly the text a single UPDATE would store.
        let batch = json_rows(done.iter().map(|c| {
            serde_json::json!([
                c.lease.job.0.simple().to_string(),
                c.lease.fence,
                c.lease.owner,
                c.result.to_string(),
                c.log.is_some()
            ])
        }));
        let now = self.now();
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(&format!(
            "UPDATE jobs SET status = {}, finished_at = {}, result = c.c_result, \
                lease_expires_at = NULL, updated_at = ?1, log_count = log_count + c.c_logs \
             FROM (SELECT unhex(value ->> 0) AS c_id, value ->> 1 AS c_fence, \
                          value ->> 2 AS c_owner, value ->> 3 AS c_result, value ->> 4 AS c_logs \
                   FROM json_each(?2)) AS c \
             WHERE jobs.id = c.c_id AND jobs.fence = c.c_fence AND jobs.lease_owner = c.c_owner \
                AND {} \
             RETURNING id, status, log_count",
            sql::status_after(event),
            sql::finished_at_after(event, "?1"),
            sql::event_guard("jobs.status", event)
        ))
        .bind(now)
        .bind(&batch)
        .fetch_all(&mut *tx)
        .await?;
        let mut recorded = Vec::with_capacity(rows.len());
        for row in &rows {
            recorded.push((JobId(row.uuid("id")?), rows::status(row)?));
        }
        let ended: std::collections::HashSet<JobId> = recorded.iter().map(|(j, _)| *j).collect();
        let lines = json_rows(
            done.iter()
                .filter(|c| ended.contains(&c.lease.job))
                .filter_map(|c| {
                    let line = c.log.as_deref()?;
                    Some(serde_json::json!([
                        c.lease.job.0.simple().to_string(),
                        LogLevel::Info.as_str(),
                        job_rules::clip_message(line)
                    ]))
                }),
        );
        Self::insert_log_lines(&mut tx, now, &lines).await?;
        Self::trim_logs(&mut tx, &rows::over_cap(&rows, cap)?, cap).await?;
        tx.commit().await?;
        Ok(recorded)
    }

    async fn purge_finished(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        // In chunks: one huge DELETE would hold locks for long and rewrite
        // the counter rows once per deleted job in a single transaction.
        let mut purged = 0;
        loop {
            let done = sqlx::query(&format!(
                "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs \
                 WHERE finished_at IS NOT NULL AND finished_at < ?1 \
                 AND {} LIMIT ?2)",
                sql::status_in("status", &JobStatus::FINISHED)
            ))
            .bind(to_millis(before))
            .bind(PURGE_CHUNK)
            .execute(&self.pool)
            .await?;
            purged += done.rows_affected();
            if done.rows_affected() < PURGE_CHUNK as u64 {
                return Ok(purged);
            }
        }
    }

    async fn wakeups(&self) -> Result<Box<dyn Wakeups>, StoreError> {
        Ok(Box::new(SqliteWakeups(self.wake.subscribe())))
    }
}

impl SqliteStore {
    async fn summary(
        &self,
        tenant: Option<TenantId>,
        job: JobId,
    ) -> Result<JobSummary, StoreError> {
        let columns = rows::summary_columns();
        let row = sqlx::query(&format!(
            "SELECT {columns} FROM jobs j WHERE j.id = ?1 AND (?2 IS NULL OR j.tenant_id = ?2)"
        ))
        .bind(job.0)
        .bind(tenant.map(|t| t.0))
        .fetch_optional(&self.reader)
        .await?
        .ok_or(StoreError::NotFound(Entity::Job))?;
        rows::summary(&row)
    }

    async fn refusal(&self, tenant: TenantId, job: JobId, event: JobEvent) -> StoreError {
        job_rules::refusal(self.summary(Some(tenant), job).await, job, event)
    }

    /// Appends log lines inside `tx` with a fixed number of statements
    /// whatever their number (the lines travel as one JSON array), keeping
    /// each job's log within `cap`. Lines of jobs that no longer exist are
    /// skipped; returns how many were written.
    pub(super) async fn logs_in(
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        now: i64,
        lines: &[(JobId, LogLevel, String)],
        cap: u32,
    ) -> Result<u64, StoreError> {
        if lines.is_empty() {
            return Ok(0);
        }
        let batch = json_rows(lines.iter().map(|(job, level, message)| {
            serde_json::json!([
                job.0.simple().to_string(),
                level.as_str(),
                job_rules::clip_message(message)
            ])
        }));
        let over: Vec<Uuid> = sqlx::query(
            "UPDATE jobs SET log_count = log_count + c.n \
             FROM (SELECT unhex(value ->> 0) AS job_id, count(*) AS n FROM json_each(?1) \
                   GROUP BY 1) AS c \
             WHERE jobs.id = c.job_id RETURNING id, log_count",
        )
        .bind(&batch)
        .fetch_all(&mut **tx)
        .await
        .map_err(StoreError::from)
        .and_then(|rows| rows::over_cap(&rows, cap))?;
        let written = Self::insert_log_lines(tx, now, &batch).await?;
        Self::trim_logs(tx, &over, cap).await?;
        Ok(written)
    }

    /// Inserts log lines given as a JSON array of `[job hex, level,
    /// message]`, without counting them (the caller bumped `log_count`).
    async fn insert_log_lines(
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        now: i64,
        batch: &str,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "INSERT INTO job_logs (job_id, tenant_id, logged_at, level, message) \
             SELECT j.id, j.tenant_id, ?2, e.value ->> 1, e.value ->> 2 \
             FROM json_each(?1) AS e JOIN jobs j ON j.id = unhex(e.value ->> 0) \
             ORDER BY e.key",
        )
        .bind(batch)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected())
    }

    /// Keeps the logs of these jobs within `cap`, dropping lines from the
    /// middle: the head (how it started) and the tail (where it is) stay.
    async fn trim_logs(
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        jobs: &[Uuid],
        cap: u32,
    ) -> Result<(), StoreError> {
        for job in jobs {
            let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM job_logs WHERE job_id = ?1")
                .bind(job)
                .fetch_one(&mut **tx)
                .await?;
            let excess = stored - i64::from(cap);
            if excess > 0 {
                sqlx::query(
                    "DELETE FROM job_logs WHERE id IN (SELECT id FROM job_logs WHERE job_id = ?1 \
                     ORDER BY id LIMIT ?3 OFFSET ?2)",
                )
                .bind(job)
                .bind(i64::from(LOG_HEAD_KEPT.min(cap.saturating_sub(1))))
                .bind(excess)
                .execute(&mut **tx)
                .await?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn claim_kinds(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        owner: &str,
        max: u32,
        kinds: &[&KindLimit],
        limited: bool,
        lease: Duration,
        log_cap: u32,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        if kinds.is_empty() || max == 0 {
            return Ok(Vec::new());
        }
        let now = self.now();
        let expires = to_millis(job_rules::lease_expiry(self.clock.now(), lease));
        // ?1 owner, ?2 expiry, ?3 now, ?4 max, then the kinds (and limits).
        let mut params = 5;
        let candidates = if limited {
            let leased = sql::status_in("r.status", &JobStatus::LEASED);
            let mut allowed = Vec::new();
            for _ in kinds {
                allowed.push(format!(
                    "(c.kind = ?{} AND c.rn + (SELECT count(*) FROM jobs r WHERE r.tenant_id = c.tenant_id \
                     AND r.kind = c.kind AND {leased}) <= ?{})",
                    params,
                    params + 1
                ));
                params += 2;
            }
            format!(
                "SELECT c.id FROM (SELECT j.id, j.tenant_id, j.kind, j.created_at, \
                    row_number() OVER (PARTITION BY j.tenant_id, j.kind ORDER BY j.created_at, j.id) AS rn \
                    FROM jobs j WHERE j.status IN ({}) AND j.run_after <= ?3) c \
                 WHERE {} ORDER BY c.created_at, c.id LIMIT ?4",
                JobEvent::Claim.sources_sql(),
                allowed.join(" OR ")
            )
        } else {
            let list: Vec<String> = (0..kinds.len())
                .map(|i| format!("?{}", params + i))
                .collect();
            format!(
                "SELECT j.id FROM jobs j WHERE j.status IN ({}) AND j.run_after <= ?3 \
                 AND j.kind IN ({}) ORDER BY j.created_at, j.id LIMIT ?4",
                JobEvent::Claim.sources_sql(),
                list.join(", ")
            )
        };
        let statement = format!(
            "UPDATE jobs SET status = {}, attempt = attempt + 1, fence = fence + 1, \
                lease_owner = ?1, lease_expires_at = ?2, heartbeat_at = ?3, \
                started_at = COALESCE(started_at, ?3), updated_at = ?3, log_count = log_count + 1 \
             WHERE id IN ({candidates}) RETURNING {CLAIMED_COLUMNS}, log_count, {} AS start_line",
            sql::status_after(JobEvent::Claim),
            sql::start_line("?1")
        );
        let mut query = sqlx::query(&statement)
            .bind(owner)
            .bind(expires)
            .bind(now)
            .bind(i64::from(max));
        for kind in kinds {
            query = query.bind(kind.kind.as_str());
            if limited {
                query = query.bind(i64::from(kind.per_tenant.unwrap_or(u32::MAX)));
            }
        }
        let rows = query.fetch_all(&mut **tx).await?;
        let mut lines = Vec::with_capacity(rows.len());
        for row in &rows {
            lines.push(serde_json::json!([
                row.uuid("id")?.simple().to_string(),
                LogLevel::Info.as_str(),
                row.text("start_line")?
            ]));
        }
        Self::insert_log_lines(tx, now, &json_rows(lines.into_iter())).await?;
        Self::trim_logs(tx, &rows::over_cap(&rows, log_cap)?, log_cap).await?;
        rows.iter().map(rows::claimed).collect()
    }
}

/// Wake-ups from this process's enqueues. A watch channel remembers that
/// something changed even if nobody was waiting at that moment.
struct SqliteWakeups(tokio::sync::watch::Receiver<u64>);

#[async_trait]
impl Wakeups for SqliteWakeups {
    async fn wait(&mut self) {
        if self.0.changed().await.is_err() {
            // The store is gone; nothing will ever wake us.
            std::future::pending::<()>().await;
        }
    }
}
