//! PostgreSQL side of the job queue: what each database does its own way.
//! Enqueue and rerun count a provider's jobs under an advisory lock;
//! claiming uses SKIP LOCKED; log lines and batched completions travel as
//! arrays (`unnest`); wake-ups are LISTEN/NOTIFY. The rest is written once
//! for both databases ([`jobs_for!`](crate::store::jobs::jobs_for)).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgPool;

use std::time::Duration;

use super::{PgStore, WAKE_CHANNEL};
use crate::model::{JobEvent, JobId, JobStatus, LogLevel};
use crate::store::jobs::{self as job_rules, jobs_for, sql, LOG_HEAD_KEPT};
use crate::store::rows::{RowExt, CLAIMED_COLUMNS};
use crate::store::{KindLimit, StoreError, Wakeups};

jobs_for!(PgStore, {
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
                max_attempts, run_after, created_at, updated_at, origin) \
             SELECT $1, $2, $3, $4, $5, {queued}, 0, $6, $7, $8, $8, $11 \
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
        .bind(job.origin.as_str())
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
                cancel_requested_at = NULL, lease_expires_at = NULL, notified_at = NULL, \
                updated_at = $1 \
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
        self.rerun_answer(row, tenant, job, max_active).await
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

    async fn wakeups(&self) -> Result<Box<dyn Wakeups>, StoreError> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(WAKE_CHANNEL).await?;
        Ok(Box::new(PgWakeups {
            listener: Some(listener),
            pool: self.pool.clone(),
        }))
    }
});

impl PgStore {
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
