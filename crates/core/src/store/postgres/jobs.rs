//! PostgreSQL side of the job queue: claiming with SKIP LOCKED, leases,
//! outcomes, logs, LISTEN/NOTIFY wake-ups and the dashboard's reads.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgPool;

use std::time::Duration;

use super::{PgStore, WAKE_CHANNEL};
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
impl Jobs for PgStore {
    async fn enqueue(&self, job: NewJob) -> Result<JobSummary, StoreError> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        if job.max_active.is_some() {
            // Two instances enqueueing for one tenant would both count
            // below the cap under READ COMMITTED; a per-tenant lock (in
            // the two-key space, apart from the claim's one-key lock)
            // makes the count and the insert one step.
            sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2::text))")
                .bind(ENQUEUE_LOCK_CLASS)
                .bind(job.tenant.0)
                .execute(&mut *tx)
                .await?;
        }
        // One statement: the wake-up goes out when the row is committed.
        let queued = sqlx::query(&format!(
            "WITH queued AS (INSERT INTO jobs (id, tenant_id, kind, name, params, status, attempt, \
                max_attempts, run_after, created_at, updated_at) \
             SELECT $1, $2, $3, $4, $5, {queued}, 0, $6, $7, $8, $8 \
             WHERE $10::int8 IS NULL OR {} < $10::int8 RETURNING id) \
             SELECT pg_notify($9, '') FROM queued",
            sql::active_count("$2", "$3"),
            queued = sql::literal(JobStatus::Queued)
        ))
        .bind(job.id.0)
        .bind(job.tenant.0)
        .bind(&job.kind)
        .bind(&job.name)
        .bind(&job.params)
        .bind(i64::from(job.max_attempts.max(1)))
        .bind(job.run_after.unwrap_or(now))
        .bind(now)
        .bind(WAKE_CHANNEL)
        .bind(job.max_active.map(i64::from))
        .fetch_optional(&mut *tx)
        .await?;
        if queued.is_none() {
            return Err(StoreError::LimitReached(job.max_active.unwrap_or(0)));
        }
        tx.commit().await?;
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
        let mut rows = self.claim_limited(owner, max, &limited, lease).await?;
        let left = max.saturating_sub(rows.len() as u32);
        rows.extend(self.claim_free(owner, left, &free, lease).await?);
        let over = rows::over_cap(&rows, log_cap)?;
        if !over.is_empty() {
            Self::trim_logs(&mut *self.pool.acquire().await?, &over, log_cap).await?;
        }
        let mut claimed = rows
            .iter()
            .map(rows::claimed)
            .collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|c| (c.created_at, c.lease.job));
        Ok(claimed)
    }

    async fn heartbeat(&self, lease: &Lease, duration: Duration) -> Result<Heartbeat, StoreError> {
        let now = self.clock.now();
        let row = sqlx::query(&format!(
            "UPDATE jobs SET lease_expires_at = $1, heartbeat_at = $2, updated_at = $2 \
             WHERE id = $3 AND fence = $4 AND lease_owner = $5 AND {} \
             RETURNING cancel_requested_at",
            sql::lease_guard()
        ))
        .bind(job_rules::lease_expiry(now, duration))
        .bind(now)
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
        .bind(checkpoint)
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
                attempt = CASE WHEN {} THEN GREATEST(attempt - 1, 0) ELSE attempt END, \
                lease_expires_at = NULL, updated_at = $1 \
             WHERE id = $2 AND fence = $3 AND lease_owner = $4 AND {} \
             RETURNING status",
            sql::status_after(event),
            sql::finished_at_after(event, "$1"),
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
        self.notify().await;
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
        let mut tx = self.pool.begin().await?;
        if max_active.is_some() {
            // the same per-tenant lock as enqueue: the count and the update
            // are one step across instances
            sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2::text))")
                .bind(ENQUEUE_LOCK_CLASS)
                .bind(tenant.0)
                .execute(&mut *tx)
                .await?;
        }
        let row = sqlx::query(&format!(
            "UPDATE jobs SET status = {}, finished_at = NULL, attempt = 0, run_after = $1, \
                cancel_requested_at = NULL, lease_expires_at = NULL, updated_at = $1 \
             WHERE id = $2 AND tenant_id = $3 AND {} AND ($4::int8 IS NULL OR {} < $4::int8) RETURNING status",
            sql::status_after(event),
            sql::event_guard("status", event),
            sql::active_count("$3", "(SELECT k.kind FROM jobs k WHERE k.id = $2)")
        ))
        .bind(self.now())
        .bind(job.0)
        .bind(tenant.0)
        .bind(max_active.map(i64::from))
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        match row {
            Some(row) => {
                self.notify().await;
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
            "UPDATE jobs SET {}, lease_expires_at = NULL, updated_at = $1 \
             WHERE {} AND lease_expires_at < $1 \
             RETURNING id, tenant_id, lease_owner, status",
            sql::rescue_set("$1", "$2"),
            sql::status_in("status", &JobStatus::LEASED)
        ))
        .bind(self.now())
        .bind(LOST_WORKER_NO_ATTEMPTS)
        .fetch_all(&self.pool)
        .await?;
        if !rows.is_empty() {
            self.notify().await;
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
            "SELECT {columns} FROM jobs j WHERE j.tenant_id = $1 AND j.status IN ({list}) \
             ORDER BY j.created_at DESC, j.id DESC LIMIT $2 OFFSET $3"
        ))
        .bind(tenant.0)
        .bind(i64::from(filter.limit))
        .bind(filter.offset as i64)
        .fetch_all(&self.pool)
        .await?;
        let counts = self.status_counts(tenant).await?;
        rows::job_page(&rows, &statuses, &counts, filter)
    }

    async fn status_counts(&self, tenant: TenantId) -> Result<StatusCounts, StoreError> {
        let rows = sqlx::query(
            "SELECT status, sum(n)::bigint AS n FROM job_counts WHERE tenant_id = $1 GROUP BY status",
        )
        .bind(tenant.0)
        .fetch_all(&self.pool)
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
             FROM jobs j WHERE j.id = $1 AND j.tenant_id = $2"
        ))
        .bind(job.0)
        .bind(tenant.0)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound(Entity::Job))?;
        let logs = sqlx::query(
            "SELECT logged_at, level, message FROM \
                (SELECT id, logged_at, level, message FROM job_logs WHERE job_id = $1 \
                 ORDER BY id DESC LIMIT $2) AS newest ORDER BY id",
        )
        .bind(job.0)
        .bind(i64::from(log_lines))
        .fetch_all(&self.pool)
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
        Self::log_in(&mut tx, self.now(), job, level, message, cap).await?;
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
        let ids: Vec<uuid::Uuid> = done.iter().map(|c| c.lease.job.0).collect();
        let fences: Vec<i64> = done.iter().map(|c| c.lease.fence).collect();
        let owners: Vec<&str> = done.iter().map(|c| c.lease.owner.as_str()).collect();
        let results: Vec<&serde_json::Value> = done.iter().map(|c| &c.result).collect();
        let logs: Vec<Option<String>> = done
            .iter()
            .map(|c| c.log.as_deref().map(job_rules::clip_message))
            .collect();
        let now = self.now();
        let mut tx = self.pool.begin().await?;
        // One statement ends the attempts and writes their closing lines.
        let rows = sqlx::query(&format!(
            "WITH v AS (SELECT * FROM unnest($2::uuid[], $3::bigint[], $4::text[], $5::jsonb[], \
                    $6::text[]) WITH ORDINALITY AS v(id, fence, owner, result, line, ord)), \
             ended AS (UPDATE jobs SET status = {}, finished_at = {}, result = v.result, \
                    lease_expires_at = NULL, updated_at = $1, \
                    log_count = jobs.log_count + (v.line IS NOT NULL)::int \
                FROM v WHERE jobs.id = v.id AND jobs.fence = v.fence AND jobs.lease_owner = v.owner \
                    AND {} \
                RETURNING jobs.id, jobs.tenant_id, jobs.status, jobs.log_count, v.line, v.ord), \
             logged AS (INSERT INTO job_logs (job_id, tenant_id, logged_at, level, message) \
                SELECT id, tenant_id, $1, 'info', line FROM ended WHERE line IS NOT NULL \
                ORDER BY ord) \
             SELECT id, status, log_count FROM ended",
            sql::status_after(event).replace("CASE status", "CASE jobs.status"),
            sql::finished_at_after(event, "$1").replace("WHEN status", "WHEN jobs.status"),
            sql::event_guard("jobs.status", event)
        ))
        .bind(now)
        .bind(&ids)
        .bind(&fences)
        .bind(&owners)
        .bind(&results)
        .bind(&logs)
        .fetch_all(&mut *tx)
        .await?;
        let mut recorded = Vec::with_capacity(rows.len());
        for row in &rows {
            recorded.push((JobId(row.uuid("id")?), rows::status(row)?));
        }
        let over = rows::over_cap(&rows, cap)?;
        if !over.is_empty() {
            Self::trim_logs(&mut tx, &over, cap).await?;
        }
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
                 WHERE finished_at IS NOT NULL AND finished_at < $1 \
                 AND {} LIMIT $2)",
                sql::status_in("status", &JobStatus::FINISHED)
            ))
            .bind(before)
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
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(WAKE_CHANNEL).await?;
        Ok(Box::new(PgWakeups {
            listener: Some(listener),
            pool: self.pool.clone(),
        }))
    }
}

impl PgStore {
    async fn summary(
        &self,
        tenant: Option<TenantId>,
        job: JobId,
    ) -> Result<JobSummary, StoreError> {
        let columns = rows::summary_columns();
        let row = sqlx::query(&format!(
            "SELECT {columns} FROM jobs j \
             WHERE j.id = $1 AND ($2::uuid IS NULL OR j.tenant_id = $2)"
        ))
        .bind(job.0)
        .bind(tenant.map(|t| t.0))
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound(Entity::Job))?;
        rows::summary(&row)
    }

    async fn refusal(&self, tenant: TenantId, job: JobId, event: JobEvent) -> StoreError {
        job_rules::refusal(self.summary(Some(tenant), job).await, job, event)
    }

    /// Appends one log line inside `tx`, keeping the log within `cap`.
    async fn log_in(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        now: DateTime<Utc>,
        job: JobId,
        level: LogLevel,
        message: &str,
        cap: u32,
    ) -> Result<(), StoreError> {
        let line = [(job, level, message.to_owned())];
        match Self::logs_in(tx, now, &line, cap).await? {
            0 => Err(StoreError::NotFound(Entity::Job)),
            _ => Ok(()),
        }
    }

    /// Appends many log lines inside `tx` in three statements whatever
    /// their number; lines of jobs that do not exist are skipped. Returns
    /// how many were written.
    pub(super) async fn logs_in(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        now: DateTime<Utc>,
        lines: &[(JobId, LogLevel, String)],
        cap: u32,
    ) -> Result<u64, StoreError> {
        if lines.is_empty() {
            return Ok(0);
        }
        let ids: Vec<uuid::Uuid> = lines.iter().map(|(j, _, _)| j.0).collect();
        let levels: Vec<&str> = lines.iter().map(|(_, l, _)| l.as_str()).collect();
        let messages: Vec<String> = lines
            .iter()
            .map(|(_, _, m)| job_rules::clip_message(m))
            .collect();
        let written = sqlx::query(
            "WITH v AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]) \
                    WITH ORDINALITY AS v(job_id, level, message, ord)), \
             bumped AS (UPDATE jobs SET log_count = log_count + c.n \
                    FROM (SELECT job_id, count(*) AS n FROM v GROUP BY job_id) c \
                    WHERE jobs.id = c.job_id RETURNING jobs.id, jobs.tenant_id) \
             INSERT INTO job_logs (job_id, tenant_id, logged_at, level, message) \
             SELECT v.job_id, b.tenant_id, $4, v.level, v.message \
             FROM v JOIN bumped b ON b.id = v.job_id ORDER BY v.ord",
        )
        .bind(&ids)
        .bind(&levels)
        .bind(&messages)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        Self::trim_logs(tx, &ids, cap).await?;
        Ok(written)
    }

    /// Keeps the logs of these jobs within `cap`, dropping lines from the
    /// middle: the head (how it started) and the tail (where it is) stay.
    async fn trim_logs(
        conn: &mut sqlx::PgConnection,
        jobs: &[uuid::Uuid],
        cap: u32,
    ) -> Result<(), StoreError> {
        let over = sqlx::query(
            "SELECT j.id, (SELECT count(*) FROM job_logs l WHERE l.job_id = j.id) AS stored \
             FROM unnest($1::uuid[]) AS k(id) JOIN jobs j ON j.id = k.id \
             WHERE j.log_count > $2",
        )
        .bind(jobs)
        .bind(i64::from(cap))
        .fetch_all(&mut *conn)
        .await?;
        for row in &over {
            let excess = row.int("stored")? - i64::from(cap);
            if excess > 0 {
                sqlx::query(
                    "DELETE FROM job_logs WHERE id IN (SELECT id FROM job_logs WHERE job_id = $1 \
                     ORDER BY id OFFSET $2 LIMIT $3)",
                )
                .bind(row.uuid("id")?)
                .bind(i64::from(LOG_HEAD_KEPT.min(cap.saturating_sub(1))))
                .bind(excess)
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }

    /// Wraps a claiming `UPDATE ... RETURNING` (`$1` owner, `$3` now) so
    /// the same statement writes each claimed job's start line.
    fn claim_and_log(update: &str) -> String {
        format!(
            "WITH claimed AS ({update} RETURNING {CLAIMED_COLUMNS}, log_count), \
             logged AS (INSERT INTO job_logs (job_id, tenant_id, logged_at, level, message) \
                SELECT id, tenant_id, $3, 'info', {} FROM claimed ORDER BY created_at, id) \
             SELECT * FROM claimed",
            sql::start_line("$1")
        )
    }

    async fn claim_free(
        &self,
        owner: &str,
        max: u32,
        kinds: &[&KindLimit],
        lease: Duration,
    ) -> Result<Vec<sqlx::postgres::PgRow>, StoreError> {
        if kinds.is_empty() || max == 0 {
            return Ok(Vec::new());
        }
        let now = self.now();
        let names: Vec<&str> = kinds.iter().map(|k| k.kind.as_str()).collect();
        let rows = sqlx::query(&Self::claim_and_log(&format!(
            "WITH pick AS (SELECT id AS pick_id FROM jobs \
                WHERE status IN ({}) AND run_after <= $3 AND kind = ANY($5) \
                ORDER BY created_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
             UPDATE jobs SET {} FROM pick WHERE id = pick.pick_id",
            JobEvent::Claim.sources_sql(),
            Self::claim_set()
        )))
        .bind(owner)
        .bind(job_rules::lease_expiry(now, lease))
        .bind(now)
        .bind(i64::from(max))
        .bind(&names)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }

    async fn claim_limited(
        &self,
        owner: &str,
        max: u32,
        kinds: &[&KindLimit],
        lease: Duration,
    ) -> Result<Vec<sqlx::postgres::PgRow>, StoreError> {
        if kinds.is_empty() || max == 0 {
            return Ok(Vec::new());
        }
        let names: Vec<&str> = kinds.iter().map(|k| k.kind.as_str()).collect();
        let limits: Vec<i64> = kinds
            .iter()
            .map(|k| i64::from(k.per_tenant.unwrap_or(u32::MAX)))
            .collect();
        let mut tx = self.pool.begin().await?;
        // Read committed: the claim below takes its snapshot after the lock,
        // so it sees every job the previous lock holder started.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(LIMITED_CLAIM_LOCK)
            .execute(&mut *tx)
            .await?;
        let now = self.now();
        let rows = sqlx::query(&Self::claim_and_log(&format!(
            "WITH lim AS (SELECT * FROM unnest($5::text[], $6::bigint[]) AS l(kind, max_running)), \
             c AS (SELECT j.id, j.tenant_id, j.kind, j.created_at, \
                    row_number() OVER (PARTITION BY j.tenant_id, j.kind ORDER BY j.created_at, j.id) AS rn \
                   FROM jobs j WHERE j.status IN ({sources}) AND j.run_after <= $3 \
                   AND j.kind IN (SELECT kind FROM lim)), \
             pick AS (SELECT c.id AS pick_id FROM c JOIN lim ON lim.kind = c.kind \
                   WHERE c.rn + (SELECT count(*) FROM jobs r WHERE r.tenant_id = c.tenant_id \
                        AND r.kind = c.kind AND {leased}) <= lim.max_running \
                   ORDER BY c.created_at, c.id LIMIT $4) \
             UPDATE jobs SET {set} FROM pick WHERE id = pick.pick_id AND {guard}",
            sources = JobEvent::Claim.sources_sql(),
            guard = sql::event_guard("status", JobEvent::Claim),
            set = Self::claim_set(),
            leased = sql::status_in("r.status", &JobStatus::LEASED)
        )))
        .bind(owner)
        .bind(job_rules::lease_expiry(now, lease))
        .bind(now)
        .bind(i64::from(max))
        .bind(&names)
        .bind(&limits)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }
}

/// Serialises claims of kinds with a per-provider limit across all
/// instances, so two instances cannot both start a provider's only slot.
const LIMITED_CLAIM_LOCK: i64 = 0x5347_5049_4d50; // "SGPIMP"

/// The first key of the per-tenant enqueue lock (two-key advisory locks).
const ENQUEUE_LOCK_CLASS: i32 = 0x5e71;

/// NOTIFYs on the wake channel, from every instance sharing the database.
/// The listener holds a pool connection: it is let go when the pool closes,
/// or `close()` would wait for it forever.
struct PgWakeups {
    listener: Option<sqlx::postgres::PgListener>,
    pool: PgPool,
}

#[async_trait]
impl Wakeups for PgWakeups {
    async fn wait(&mut self) {
        let Some(listener) = self.listener.as_mut() else {
            // closed: the executor polls (and sees the pool closed) instead
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            return;
        };
        tokio::select! {
            received = listener.recv() => {
                // PgListener reconnects by itself; on an error, back off a
                // little so a dead server does not make the executor spin
                if let Err(e) = received {
                    if !self.pool.is_closed() {
                        tracing::warn!(error = %e, "LISTEN connection failed");
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
            _ = self.pool.close_event() => {}
        }
        if self.pool.is_closed() {
            self.listener = None;
        }
    }
}
