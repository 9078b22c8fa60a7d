//! PostgreSQL side of the job queue: what each database does its own way.
//! Enqueue and rerun count a provider's jobs under an advisory lock;
//! claims run one at a time under another, one statement per pass; log lines and batched completions travel as
//! arrays (`unnest`); wake-ups are LISTEN/NOTIFY. The rest is written once
//! for both databases ([`jobs_for!`](crate::store::jobs::jobs_for)).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgPool;

use std::time::Duration;

use super::{PgStore, WAKE_CHANNEL};
use crate::model::{JobEvent, JobId, JobStatus, LogLevel};
use crate::store::jobs::{self as job_rules, jobs_for, sql, LOG_HEAD_KEPT};
use crate::store::lanes;
use crate::store::rows::{RowExt, CLAIMED_COLUMNS};
use crate::store::{StoreError, Wakeups};

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
        if kinds.is_empty() || max == 0 {
            return Ok(Vec::new());
        }
        let names: Vec<&str> = kinds.iter().map(|k| k.kind.as_str()).collect();
        let caps: Vec<Option<i64>> = kinds.iter().map(|k| k.per_tenant.map(i64::from)).collect();
        let mut tx = self.pool.begin().await?;
        // One claim at a time across instances: the cursor is read and
        // moved in one step, and a provider's only slot cannot be started
        // twice. Read committed: each statement below takes its
        // snapshot after the lock, so it sees every job the previous lock
        // holder started and every job queued before it (the queueing
        // trigger holds the shared side of this lock until its commit).
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CLAIM_LOCK)
            .execute(&mut *tx)
            .await?;
        let mut rows = Vec::new();
        let mut done = 0;
        loop {
            let left = max - rows.len() as u32;
            let (got, walked) = self
                .claim_pass(&mut tx, owner, left, &names, &caps, lease)
                .await?;
            done += 1;
            let took = got.len();
            rows.extend(got);
            if rows.len() as u32 >= max || !lanes::another_pass(done, left, walked, took) {
                break;
            }
        }
        let over = rows::over_cap(&rows, log_cap)?;
        if !over.is_empty() {
            Self::trim_logs(&mut tx, &over, log_cap).await?;
        }
        tx.commit().await?;
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
        // The lane trigger's shared claim lock, taken before the row's: a
        // claim that picked this job before a cancel (its snapshot still
        // sees it queued) waits on the row, so the rerun must not wait on
        // that claim while holding the row.
        sqlx::query("SELECT pg_advisory_xact_lock_shared($1)")
            .bind(CLAIM_LOCK)
            .execute(&mut *tx)
            .await?;
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
    /// None: a large cascade locks only the rows it deletes, so other
    /// providers' writes go on beside it, and `customers.last_job_id` has
    /// no index to find a job's customers in chunks (the delete trigger
    /// reads the providers' customers once per statement instead).
    pub(super) const PURGED_FIRST: &[crate::store::jobs::PurgeDependent] = &[];

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

    /// One claim pass (see [`lanes`]) in one statement:
    /// - `walk`: [`lanes::walk_limit`] lanes of these kinds with a
    ///   job due and room under their limit, in id order from the lane
    ///   after the cursor, wrapping around (two walks of the waiting lanes'
    ///   index, each stopping early);
    /// - `cand`: each lane's next due jobs, an equal share of `max`;
    /// - `pick`: `max` of them, every lane's first before any second;
    /// - `moved`: the cursor goes to the lane of the last job picked;
    /// - `dried`: lanes that had fewer due jobs than asked get their
    ///   `ready_at` read again (NULL when nothing waits). The statement
    ///   sees the jobs as before it, so the picked ones are left out;
    /// - the claim itself, and each claimed job's start line.
    ///
    /// Returns the claimed rows and how many lanes were walked.
    async fn claim_pass(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        owner: &str,
        max: u32,
        kinds: &[&str],
        caps: &[Option<i64>],
        lease: Duration,
    ) -> Result<(Vec<sqlx::postgres::PgRow>, i64), StoreError> {
        let now = self.now();
        let statement = Self::claim_pass_sql();
        let rows = sqlx::query(statement)
            .bind(owner)
            .bind(job_rules::lease_expiry(now, lease))
            .bind(now)
            .bind(i64::from(max))
            .bind(kinds)
            .bind(caps)
            .bind(lanes::walk_limit(max))
            .fetch_all(&mut **tx)
            .await?;
        // one row even when nothing was claimed, to carry `walked`
        let walked = match rows.first() {
            Some(row) => row.int("walked")?,
            None => 0,
        };
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            if row.opt_uuid("id")?.is_some() {
                claimed.push(row);
            }
        }
        Ok((claimed, walked))
    }

    /// The statement of [`claim_pass`](Self::claim_pass); the same for
    /// every claim, so it is built once.
    fn claim_pass_sql() -> &'static str {
        static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        SQL.get_or_init(|| {
            let part = |n: u8, side: &str| {
                format!(
                    "(SELECT {n} AS part, l.id, l.tenant_id, l.kind, r.room FROM job_lanes l \
                     CROSS JOIN LATERAL (SELECT CASE WHEN c.cap IS NULL THEN $4 ELSE c.cap - \
                            (SELECT count(*) FROM jobs a WHERE a.tenant_id = l.tenant_id \
                                AND a.kind = l.kind AND {leased}) END AS room \
                        FROM lim c WHERE c.kind = l.kind) r \
                     WHERE l.ready_at IS NOT NULL AND l.ready_at <= $3 \
                        AND l.id {side} (SELECT lane FROM job_claim_cursor) AND r.room > 0 \
                     ORDER BY l.id LIMIT $7)",
                    leased = sql::status_in("a.status", &JobStatus::LEASED)
                )
            };
            let waiting = sql::status_in("j.status", &JobStatus::WAITING);
            format!(
                "WITH lim AS (SELECT * FROM unnest($5::text[], $6::int8[]) AS c(kind, cap)), \
                 walk AS (SELECT w.*, row_number() OVER (ORDER BY part, id) AS ord \
                    FROM ({first} UNION ALL {second}) w ORDER BY part, id LIMIT $7), \
                 lane AS (SELECT walk.*, \
                    least(room, ceil($4::numeric / count(*) OVER ())::int8) AS quota FROM walk), \
                 cand AS (SELECT q.id, q.rn, q.got, lane.ord, lane.id AS lane_id, lane.quota \
                    FROM lane LEFT JOIN LATERAL \
                    (SELECT n.id, row_number() OVER (ORDER BY n.run_after, n.created_at, n.id) AS rn, \
                        count(*) OVER () AS got \
                     FROM (SELECT j.id, j.run_after, j.created_at FROM jobs j \
                        WHERE j.tenant_id = lane.tenant_id AND j.kind = lane.kind \
                            AND {waiting} AND j.run_after <= $3 \
                        ORDER BY j.run_after, j.created_at, j.id LIMIT lane.quota) n) q ON true), \
                 pick AS (SELECT id AS pick_id, rn, ord, lane_id FROM cand WHERE id IS NOT NULL \
                    ORDER BY rn, ord LIMIT $4), \
                 moved AS (UPDATE job_claim_cursor SET lane = p.lane_id \
                    FROM (SELECT lane_id FROM pick ORDER BY rn DESC, ord DESC LIMIT 1) p), \
                 short AS (SELECT DISTINCT lane_id AS id FROM cand WHERE coalesce(got, 0) < quota), \
                 dried AS (UPDATE job_lanes l SET ready_at = (SELECT min(j.run_after) FROM jobs j \
                        WHERE j.tenant_id = l.tenant_id AND j.kind = l.kind AND {waiting} \
                            AND j.id NOT IN (SELECT pick_id FROM pick)) \
                    FROM short WHERE l.id = short.id), \
                 claimed AS (UPDATE jobs SET {set} FROM pick WHERE id = pick.pick_id AND {guard} \
                    RETURNING {CLAIMED_COLUMNS}, log_count), \
                 logged AS (INSERT INTO job_logs (job_id, tenant_id, logged_at, level, message) \
                    SELECT id, tenant_id, $3, 'info', {start} FROM claimed ORDER BY created_at, id) \
                 SELECT claimed.*, w.walked FROM (SELECT count(*) AS walked FROM walk) w \
                    LEFT JOIN claimed ON true",
                first = part(0, ">"),
                second = part(1, "<="),
                set = Self::claim_set(),
                guard = sql::event_guard("status", JobEvent::Claim),
                start = sql::start_line("$1"),
            )
        })
    }
}

/// Serialises claims across all instances (see `claim`); the migration
/// `job_lanes` takes its shared side when a job enters the queue.
const CLAIM_LOCK: i64 = 0x5347_5049_4d50; // "SGPIMP"

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
