//! SQLite side of the job queue: what each database does its own way, here
//! tuned to the one writer connection. Enqueue and rerun count a
//! provider's jobs in the same statement as their write; claiming, log
//! lines and batched completions travel as one JSON array each (SQLite has
//! no array binds); wake-ups are an in-process signal. The rest is written
//! once for both databases ([`jobs_for!`](crate::store::jobs::jobs_for)).

use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use super::{json_rows, to_millis, SqliteStore};
use crate::model::{JobEvent, JobId, JobStatus, LogLevel};
use crate::store::jobs::{self as job_rules, jobs_for, sql, LOG_HEAD_KEPT};
use crate::store::lanes::{self, PassOutcome, Walk};
use crate::store::rows::{self, RowExt, CLAIMED_COLUMNS};
use crate::store::{ClaimedJob, StoreError, Wakeups};

jobs_for!(SqliteStore, {
    async fn enqueue(&self, job: NewJob) -> Result<JobSummary, StoreError> {
        let now = self.clock.now();
        // one statement on the one writer: the count and the insert cannot
        // interleave with another enqueue
        let inserted = sqlx::query(&format!(
            "INSERT INTO jobs (id, tenant_id, kind, name, params, status, attempt, max_attempts, \
                run_after, created_at, updated_at, origin) \
             SELECT ?1, ?2, ?3, ?4, ?5, {queued}, 0, ?6, ?7, ?8, ?8, ?10 \
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
        .bind(job.origin.as_str())
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::LimitReached(job.max_active.unwrap_or(0)));
        }
        self.wake_executors().await;
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
        let limits = json_rows(
            kinds
                .iter()
                .map(|k| serde_json::json!([k.kind, k.per_tenant])),
        );
        // IMMEDIATE: the transaction takes the write lock before it reads
        // the lanes, so the walk and the claim see one state even when
        // another process writes the same file (a read-then-write
        // transaction would fail on a stale snapshot instead of waiting).
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut claimed = Vec::new();
        let mut done = 0;
        loop {
            let left = max - claimed.len() as u32;
            let walk = self.walk_lanes(&mut tx, &limits, left).await?;
            if walk.lanes.is_empty() {
                break;
            }
            let (got, pass) = self
                .claim_from(&mut tx, owner, left, &walk, lease, log_cap)
                .await?;
            Self::end_pass(&mut tx, pass).await?;
            done += 1;
            let took = got.len();
            claimed.extend(got);
            if claimed.len() as u32 >= max
                || !lanes::another_pass(done, left, walk.lanes.len() as i64, took)
            {
                break;
            }
        }
        tx.commit().await?;
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
        let row = sqlx::query(&format!(
            "UPDATE jobs SET status = {}, finished_at = NULL, attempt = 0, run_after = ?1, \
                cancel_requested_at = NULL, lease_expires_at = NULL, notified_at = NULL, \
                updated_at = ?1 \
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

    async fn wakeups(&self) -> Result<Box<dyn Wakeups>, StoreError> {
        Ok(Box::new(SqliteWakeups(self.wake.subscribe())))
    }
});

/// Log lines as the JSON array the log statements read: `[job hex,
/// level, message]` each.
fn log_batch(lines: &[(JobId, LogLevel, String)]) -> String {
    json_rows(lines.iter().map(|(job, level, message)| {
        serde_json::json!([
            job.0.simple().to_string(),
            level.as_str(),
            job_rules::clip_message(message)
        ])
    }))
}

impl SqliteStore {
    /// A job's dependents, let go of in chunks before the job: its writes
    /// hold the one writer of every provider, so no cascade may be large.
    pub(super) const PURGED_FIRST: &[crate::store::jobs::PurgeDependent] = &[
        ("import_changes", "job_id", "DELETE FROM import_changes"),
        (
            "import_row_errors",
            "job_id",
            "DELETE FROM import_row_errors",
        ),
        ("job_logs", "job_id", "DELETE FROM job_logs"),
        (
            "customers",
            "last_job_id",
            "UPDATE customers SET last_job_id = NULL",
        ),
    ];

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
        let batch = log_batch(lines);
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

    /// Inserts one job's log lines already counted in its `log_count`
    /// (now `log_count`), trimming past `cap`.
    pub(super) async fn counted_logs_in(
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        now: i64,
        lines: &[(JobId, LogLevel, String)],
        log_count: i64,
        cap: u32,
    ) -> Result<(), StoreError> {
        let Some((job, _, _)) = lines.first() else {
            return Ok(());
        };
        let batch = log_batch(lines);
        Self::insert_log_lines(tx, now, &batch).await?;
        if log_count > i64::from(cap) {
            Self::trim_logs(tx, &[job.0], cap).await?;
        }
        Ok(())
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

    /// The lanes of a claim pass (see [`lanes`]): [`lanes::walk_limit`]
    /// lanes of the kinds in `limits` (`[kind, per-provider limit or
    /// null]`) with a job due and room under their limit, in id
    /// order from the lane after the cursor, wrapping around.
    async fn walk_lanes(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        limits: &str,
        max: u32,
    ) -> Result<Walk, StoreError> {
        static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let walk = SQL.get_or_init(|| {
            let part = |n: u8, side: &str| {
                format!(
                    "SELECT * FROM (SELECT {n} AS part, l.id, l.tenant_id, l.kind, \
                        CASE WHEN c.value ->> 1 IS NULL THEN ?2 ELSE (c.value ->> 1) - \
                            (SELECT count(*) FROM jobs a WHERE a.tenant_id = l.tenant_id \
                                AND a.kind = l.kind AND {leased}) END AS room \
                     FROM job_lanes l JOIN json_each(?1) c ON c.value ->> 0 = l.kind \
                     WHERE l.ready_at IS NOT NULL AND l.ready_at <= ?3 \
                        AND l.id {side} (SELECT lane FROM job_claim_cursor) AND room > 0 \
                     ORDER BY l.id LIMIT ?4)",
                    leased = sql::status_in("a.status", &JobStatus::LEASED)
                )
            };
            format!(
            "SELECT id, tenant_id, kind, room FROM ({} UNION ALL {}) ORDER BY part, id LIMIT ?4",
            part(0, ">"),
            part(1, "<=")
        )
        });
        let rows = sqlx::query(walk)
            .bind(limits)
            .bind(i64::from(max))
            .bind(self.now())
            .bind(lanes::walk_limit(max))
            .fetch_all(&mut **tx)
            .await?;
        Walk::from_rows(&rows, max)
    }

    /// Claims up to `max` due jobs from the walked lanes: each lane's next
    /// due jobs through its queue index, kept round-robin by
    /// [`Walk::pick`]. Writes their start lines; returns them and what the
    /// pass leaves behind.
    #[allow(clippy::too_many_arguments)]
    async fn claim_from(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        owner: &str,
        max: u32,
        walk: &Walk,
        lease: Duration,
        log_cap: u32,
    ) -> Result<(Vec<ClaimedJob>, PassOutcome), StoreError> {
        let now = self.now();
        let expires = to_millis(job_rules::lease_expiry(self.clock.now(), lease));
        // SQLite's LIMIT cannot read the outer row, and its plans for a
        // join on a per-row subquery cost more than the lookups: one
        // scalar subquery per lane lists its next jobs (as many as the
        // largest quota; each lane's own is kept in Rust). INDEXED BY: left
        // to itself, the planner may take another index and sort the lane.
        let lanes = json_rows(
            walk.lanes
                .iter()
                .map(|l| serde_json::json!([l.tenant.simple().to_string(), l.kind])),
        );
        static NEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let next = NEXT.get_or_init(|| {
            format!(
            "SELECT (SELECT group_concat(hex(n.id), ',' ORDER BY n.run_after, n.created_at, n.id) \
                FROM (SELECT j.id, j.run_after, j.created_at FROM jobs j INDEXED BY jobs_queue \
                    WHERE j.tenant_id = unhex(e.value ->> 0) AND j.kind = e.value ->> 1 \
                        AND {} AND j.run_after <= ?2 \
                    ORDER BY j.run_after, j.created_at, j.id LIMIT ?3) n) AS ids \
             FROM json_each(?1) e ORDER BY e.key",
            sql::status_in("j.status", &JobStatus::WAITING)
        )
        });
        let rows = sqlx::query(next)
            .bind(&lanes)
            .bind(now)
            .bind(walk.quotas.iter().copied().max().unwrap_or(0))
            .fetch_all(&mut **tx)
            .await?;
        let mut candidates = Vec::with_capacity(rows.len());
        for (row, quota) in rows.iter().zip(&walk.quotas) {
            let listed = row.opt_text("ids")?.unwrap_or_default();
            let ids = listed
                .split(',')
                .filter(|id| !id.is_empty())
                .take(usize::try_from(*quota).unwrap_or(0))
                .map(|id| {
                    Uuid::try_parse(id)
                        .map_err(|e| StoreError::Corrupt(format!("job id {id}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            candidates.push(ids);
        }
        let (picked, pass) = walk.pick(&candidates, max);
        let picked = serde_json::json!(picked
            .iter()
            .map(|id| id.simple().to_string())
            .collect::<Vec<_>>())
        .to_string();
        static CLAIM: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let statement = CLAIM.get_or_init(|| {
            format!(
                "UPDATE jobs SET status = {claimed}, attempt = attempt + 1, fence = fence + 1, \
                lease_owner = ?1, lease_expires_at = ?2, heartbeat_at = ?3, \
                started_at = COALESCE(started_at, ?3), updated_at = ?3, log_count = log_count + 1 \
             WHERE id IN (SELECT unhex(value) FROM json_each(?4)) AND {guard} \
             RETURNING {CLAIMED_COLUMNS}, log_count, {start} AS start_line",
                claimed = sql::status_after(JobEvent::Claim),
                guard = sql::event_guard("status", JobEvent::Claim),
                start = sql::start_line("?1")
            )
        });
        let rows = sqlx::query(statement)
            .bind(owner)
            .bind(expires)
            .bind(now)
            .bind(&picked)
            .fetch_all(&mut **tx)
            .await?;
        // the start lines carry their tenant: no join back to the jobs
        let mut lines = Vec::with_capacity(rows.len());
        for row in &rows {
            lines.push(serde_json::json!([
                row.uuid("id")?.simple().to_string(),
                row.uuid("tenant_id")?.simple().to_string(),
                row.text("start_line")?
            ]));
        }
        sqlx::query(
            "INSERT INTO job_logs (job_id, tenant_id, logged_at, level, message) \
             SELECT unhex(value ->> 0), unhex(value ->> 1), ?2, 'info', value ->> 2 \
             FROM json_each(?1) ORDER BY key",
        )
        .bind(json_rows(lines.into_iter()))
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Self::trim_logs(tx, &rows::over_cap(&rows, log_cap)?, log_cap).await?;
        let claimed = rows.iter().map(rows::claimed).collect::<Result<_, _>>()?;
        Ok((claimed, pass))
    }

    /// After a pass: the cursor moves to where it stopped, and the lanes
    /// that gave less than asked get their `ready_at` read again (NULL when
    /// nothing waits, which takes them out of the walk).
    async fn end_pass(
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        pass: PassOutcome,
    ) -> Result<(), StoreError> {
        if let Some(lane) = pass.cursor {
            sqlx::query("UPDATE job_claim_cursor SET lane = ?1")
                .bind(lane)
                .execute(&mut **tx)
                .await?;
        }
        if !pass.short.is_empty() {
            let due = format!(
                "(SELECT min(j.run_after) FROM jobs j WHERE j.tenant_id = job_lanes.tenant_id \
                    AND j.kind = job_lanes.kind AND {})",
                sql::status_in("j.status", &JobStatus::WAITING)
            );
            sqlx::query(&format!(
                "UPDATE job_lanes SET ready_at = {due} \
                 WHERE id IN (SELECT value FROM json_each(?1))"
            ))
            .bind(serde_json::json!(pass.short).to_string())
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
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
