//! Reading rows the same way on both databases: each backend says how it
//! stores times and JSON, and the mapping code is shared.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use uuid::Uuid;

use super::accounts::{SessionRecord, TokenRecord};
use super::imports::IntegrationRecord;
use super::jobs::{sql, ClaimedJob, JobFilter, Lease};
use super::schedules::{DueSchedule, PausedSchedule};
use super::StoreError;
use crate::model::{
    ApiTokenInfo, Email, ImportRowError, JobDetails, JobId, JobPage, JobProgress, JobStatus,
    JobSummary, LogLevel, LogLine, Role, ScheduleInput, ScheduleView, StatusCounts, StoredContract,
    StoredCustomer, Tenant, TenantId, TenantOverview, TenantSlug, User, UserId,
};

pub(crate) trait RowExt {
    fn time(&self, col: &str) -> Result<DateTime<Utc>, StoreError>;
    fn opt_time(&self, col: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    fn json(&self, col: &str) -> Result<Option<Value>, StoreError>;
    fn int(&self, col: &str) -> Result<i64, StoreError>;
    /// A 32-bit INTEGER column (Postgres INT4; SQLite has one integer type).
    fn int32(&self, col: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError>;
    fn real(&self, col: &str) -> Result<f32, StoreError>;
    fn text(&self, col: &str) -> Result<String, StoreError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;
    fn uuid(&self, col: &str) -> Result<Uuid, StoreError>;
    fn opt_uuid(&self, col: &str) -> Result<Option<Uuid>, StoreError>;
    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn opt_bool(&self, col: &str) -> Result<Option<bool>, StoreError>;
}

fn from_millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {ms} out of range")))
}

fn parse_json(text: Option<String>) -> Result<Option<Value>, StoreError> {
    text.map(|t| serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("JSON: {e}"))))
        .transpose()
}

impl RowExt for SqliteRow {
    fn time(&self, col: &str) -> Result<DateTime<Utc>, StoreError> {
        from_millis(self.try_get(col)?)
    }
    fn opt_time(&self, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.try_get::<Option<i64>, _>(col)?
            .map(from_millis)
            .transpose()
    }
    fn json(&self, col: &str) -> Result<Option<Value>, StoreError> {
        parse_json(self.try_get(col)?)
    }
    fn int(&self, col: &str) -> Result<i64, StoreError> {
        Ok(self.try_get(col)?)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.try_get(col)?)
    }
    fn int32(&self, col: &str) -> Result<i64, StoreError> {
        Ok(self.try_get(col)?)
    }
    fn real(&self, col: &str) -> Result<f32, StoreError> {
        Ok(self.try_get::<f64, _>(col)? as f32)
    }
    fn text(&self, col: &str) -> Result<String, StoreError> {
        Ok(self.try_get(col)?)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(col)?)
    }
    fn uuid(&self, col: &str) -> Result<Uuid, StoreError> {
        Ok(self.try_get(col)?)
    }
    fn opt_uuid(&self, col: &str) -> Result<Option<Uuid>, StoreError> {
        Ok(self.try_get(col)?)
    }
    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.try_get(col)?)
    }
    fn opt_bool(&self, col: &str) -> Result<Option<bool>, StoreError> {
        Ok(self.try_get::<Option<i64>, _>(col)?.map(|v| v != 0))
    }
}

impl RowExt for PgRow {
    fn time(&self, col: &str) -> Result<DateTime<Utc>, StoreError> {
        Ok(self.try_get(col)?)
    }
    fn opt_time(&self, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.try_get(col)?)
    }
    fn json(&self, col: &str) -> Result<Option<Value>, StoreError> {
        Ok(self.try_get(col)?)
    }
    fn int(&self, col: &str) -> Result<i64, StoreError> {
        Ok(self.try_get(col)?)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.try_get(col)?)
    }
    fn int32(&self, col: &str) -> Result<i64, StoreError> {
        Ok(i64::from(self.try_get::<i32, _>(col)?))
    }
    fn real(&self, col: &str) -> Result<f32, StoreError> {
        Ok(self.try_get(col)?)
    }
    fn text(&self, col: &str) -> Result<String, StoreError> {
        Ok(self.try_get(col)?)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(col)?)
    }
    fn uuid(&self, col: &str) -> Result<Uuid, StoreError> {
        Ok(self.try_get(col)?)
    }
    fn opt_uuid(&self, col: &str) -> Result<Option<Uuid>, StoreError> {
        Ok(self.try_get(col)?)
    }
    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.try_get(col)?)
    }
    fn opt_bool(&self, col: &str) -> Result<Option<bool>, StoreError> {
        Ok(self.try_get(col)?)
    }
}

fn count(n: i64) -> u64 {
    n.max(0) as u64
}

pub(crate) fn status(row: &impl RowExt) -> Result<JobStatus, StoreError> {
    Ok(row.text("status")?.parse::<JobStatus>()?)
}

fn progress(row: &impl RowExt) -> Result<JobProgress, StoreError> {
    Ok(JobProgress {
        total_estimated: row.opt_int("total_estimated")?.map(count),
        processed: count(row.int("processed")?),
        created: count(row.int("created_count")?),
        updated: count(row.int("updated_count")?),
        unchanged: count(row.int("unchanged_count")?),
        failed: count(row.int("failed_count")?),
        percent: row.real("percent")?,
        eta_seconds: row.opt_int("eta_seconds")?.map(count),
        message: row.opt_text("current_message")?,
    })
}

/// Columns read by [`summary`]; `j` is the jobs table.
pub(crate) fn summary_columns() -> &'static str {
    static COLUMNS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    COLUMNS.get_or_init(|| {
        format!(
            "j.id, j.tenant_id, j.kind, j.name, j.status, j.origin, j.attempt, \
            j.max_attempts, j.total_estimated, j.processed, j.created_count, j.updated_count, \
            j.unchanged_count, j.failed_count, j.percent, j.eta_seconds, j.current_message, \
            j.lease_owner, j.last_error, j.run_after, j.cancel_requested_at, j.created_at, \
            j.started_at, j.finished_at, j.updated_at, \
            CASE WHEN {} THEN 1 + (SELECT count(*) FROM (SELECT 1 FROM jobs q \
                WHERE q.tenant_id = j.tenant_id AND q.kind = j.kind AND {} \
                  AND (q.run_after, q.created_at, q.id) < (j.run_after, j.created_at, j.id) \
                LIMIT {}) ahead) \
            END AS queue_position",
            sql::status_in("j.status", &JobStatus::WAITING),
            sql::status_in("q.status", &JobStatus::WAITING),
            crate::model::QUEUE_POSITION_COUNTED
        )
    })
}

pub(crate) fn summary(row: &impl RowExt) -> Result<JobSummary, StoreError> {
    Ok(JobSummary {
        id: JobId(row.uuid("id")?),
        tenant_id: TenantId(row.uuid("tenant_id")?),
        kind: row.text("kind")?,
        name: row.text("name")?,
        status: status(row)?,
        origin: row.text("origin")?.parse().map_err(StoreError::Corrupt)?,
        attempt: row.int32("attempt")? as u32,
        max_attempts: row.int32("max_attempts")? as u32,
        progress: progress(row)?,
        queue_position: row.opt_int("queue_position")?.map(count),
        lease_owner: row.opt_text("lease_owner")?,
        last_error: row.opt_text("last_error")?,
        run_after: row.time("run_after")?,
        cancel_requested_at: row.opt_time("cancel_requested_at")?,
        created_at: row.time("created_at")?,
        started_at: row.opt_time("started_at")?,
        finished_at: row.opt_time("finished_at")?,
        updated_at: row.time("updated_at")?,
    })
}

/// Columns read by [`claimed`] (from an `UPDATE ... RETURNING`).
pub(crate) const CLAIMED_COLUMNS: &str = "id, tenant_id, kind, name, params, checkpoint, attempt, \
    max_attempts, fence, lease_owner, total_estimated, processed, created_count, updated_count, \
    unchanged_count, failed_count, percent, eta_seconds, current_message, created_at, run_after";

pub(crate) fn claimed(row: &impl RowExt) -> Result<ClaimedJob, StoreError> {
    Ok(ClaimedJob {
        lease: Lease {
            job: JobId(row.uuid("id")?),
            tenant: TenantId(row.uuid("tenant_id")?),
            owner: row.text("lease_owner")?,
            fence: row.int("fence")?,
        },
        kind: row.text("kind")?,
        name: row.text("name")?,
        params: row.json("params")?.unwrap_or(Value::Null),
        checkpoint: row.json("checkpoint")?,
        attempt: row.int32("attempt")? as u32,
        max_attempts: row.int32("max_attempts")? as u32,
        progress: progress(row)?,
        created_at: row.time("created_at")?,
        run_after: row.time("run_after")?,
    })
}

pub(crate) fn log_line(row: &impl RowExt) -> Result<LogLine, StoreError> {
    Ok(LogLine {
        at: row.time("logged_at")?,
        level: row
            .text("level")?
            .parse::<LogLevel>()
            .map_err(StoreError::Corrupt)?,
        message: row.text("message")?,
    })
}

/// Per-status counts from `status, n` rows (the job_counts shards summed).
pub(crate) fn status_counts<R: RowExt>(rows: &[R]) -> Result<StatusCounts, StoreError> {
    let mut counts = Vec::new();
    for row in rows {
        let n = row.int("n")?;
        if n > 0 {
            counts.push((status(row)?, n as u64));
        }
    }
    counts.sort();
    Ok(StatusCounts(counts))
}

/// A page of jobs; the total comes from the counters, not a COUNT.
pub(crate) fn job_page<R: RowExt>(
    rows: &[R],
    total: u64,
    filter: &JobFilter,
) -> Result<JobPage, StoreError> {
    Ok(JobPage {
        jobs: rows.iter().map(summary).collect::<Result<_, _>>()?,
        total,
        limit: filter.limit,
        offset: filter.offset,
    })
}

/// A job with its log, from the row of a details query and its log rows.
pub(crate) fn job_details<R: RowExt>(row: &R, logs: &[R]) -> Result<JobDetails, StoreError> {
    Ok(JobDetails {
        summary: summary(row)?,
        params: row.json("params")?.unwrap_or(Value::Null),
        result: row.json("result")?,
        checkpoint: row.json("checkpoint")?,
        logs: logs.iter().map(log_line).collect::<Result<_, _>>()?,
        logs_omitted: (row.int32("log_count")? - row.int("stored_logs")?).max(0) as u64,
    })
}

pub(crate) fn tenant(row: &impl RowExt) -> Result<Tenant, StoreError> {
    let slug = row.text("slug")?;
    Ok(Tenant {
        id: TenantId(row.uuid("id")?),
        slug: TenantSlug::parse(&slug).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        name: row.text("name")?,
        created_at: row.time("created_at")?,
    })
}

/// The overview from the tenant row (with `customers` and `contracts`
/// counts) and its `status, n` job rows.
pub(crate) fn tenant_overview<R: RowExt>(
    row: &R,
    jobs: &[R],
) -> Result<TenantOverview, StoreError> {
    let mut imports = Vec::with_capacity(jobs.len());
    for c in jobs {
        imports.push((status(c)?, count(c.int("n")?)));
    }
    imports.sort();
    Ok(TenantOverview {
        tenant: tenant(row)?,
        customers: count(row.int("customers")?),
        contracts: count(row.int("contracts")?),
        imports,
    })
}

/// Customer columns both backends select (dates as `YYYY-MM-DD` text).
pub(crate) const CUSTOMER_COLUMNS: &str = "id, sgp_key, sgp_id, name, cpf_cnpj, person_type, \
    signup_date, notes, street, number, complement, district, city, state, zip, latitude, \
    longitude, emails, phones, removed_at";

fn string_list(value: Option<Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn stored_customer<R: RowExt>(
    row: &R,
    contracts: &[R],
) -> Result<StoredCustomer, StoreError> {
    Ok(StoredCustomer {
        id: row.int("id")?,
        sgp_key: row.text("sgp_key")?,
        sgp_id: row.opt_int("sgp_id")?,
        name: row.text("name")?,
        cpf_cnpj: row.opt_text("cpf_cnpj")?,
        person_type: row.opt_text("person_type")?,
        signup_date: row.opt_text("signup_date")?,
        notes: row.opt_text("notes")?,
        street: row.opt_text("street")?,
        number: row.opt_text("number")?,
        complement: row.opt_text("complement")?,
        district: row.opt_text("district")?,
        city: row.opt_text("city")?,
        state: row.opt_text("state")?,
        zip: row.opt_text("zip")?,
        latitude: row.opt_text("latitude")?,
        longitude: row.opt_text("longitude")?,
        emails: string_list(row.json("emails")?),
        phones: string_list(row.json("phones")?),
        removed_at: row.opt_time("removed_at")?,
        contracts: contracts
            .iter()
            .map(stored_contract)
            .collect::<Result<_, _>>()?,
    })
}

/// A page of customers; `contracts` are the page's contract rows (with
/// `customer_id`), in display order.
/// Customers with their contracts (rows of both, any order of customers).
pub(crate) fn customers_with_contracts<R: RowExt>(
    customers: &[R],
    contracts: Vec<R>,
) -> Result<Vec<StoredCustomer>, StoreError> {
    let mut by_customer: std::collections::HashMap<i64, Vec<R>> = Default::default();
    for row in contracts {
        by_customer
            .entry(row.int("customer_id")?)
            .or_default()
            .push(row);
    }
    customers
        .iter()
        .map(|row| {
            let own = by_customer.remove(&row.int("id")?).unwrap_or_default();
            stored_customer(row, &own)
        })
        .collect()
}

pub(crate) fn stored_contract(row: &impl RowExt) -> Result<StoredContract, StoreError> {
    Ok(StoredContract {
        sgp_key: row.text("sgp_key")?,
        status: row.text("status")?,
        status_raw: row.opt_text("status_raw")?,
        signup_date: row.opt_text("signup_date")?,
        services: match row.json("services")? {
            Some(v) => serde_json::from_value(v).map_err(|e| {
                StoreError::Corrupt(format!("contracts.services is not a list of services: {e}"))
            })?,
            None => Vec::new(),
        },
        removed_at: row.opt_time("removed_at")?,
    })
}

/// A page customer already stored (`id, sgp_key, content_hash, removed_at`).
pub(crate) fn existing(
    row: &impl RowExt,
) -> Result<(String, crate::store::imports::Existing), StoreError> {
    Ok((
        row.text("sgp_key")?,
        crate::store::imports::Existing {
            id: row.int("id")?,
            hash: row.text("content_hash")?,
            removed: row.opt_time("removed_at")?.is_some(),
        },
    ))
}

pub(crate) fn row_error(row: &impl RowExt) -> Result<ImportRowError, StoreError> {
    Ok(ImportRowError {
        id: row.int("id")?,
        row_key: row.opt_text("row_key")?,
        reason: row.text("reason")?,
        page_offset: row.opt_int("page_offset")?.map(count),
    })
}

pub(crate) fn integration(row: &impl RowExt) -> Result<IntegrationRecord, StoreError> {
    Ok(IntegrationRecord {
        base_url: row.text("base_url")?,
        auth_mode: row.text("auth_mode")?,
        app_name: row.opt_text("app_name")?,
        token_sealed: row.opt_bytes("token_encrypted")?,
        token_hint: row.opt_text("token_hint")?,
        username: row.opt_text("username")?,
        password_sealed: row.opt_bytes("password_encrypted")?,
        password_hint: row.opt_text("password_hint")?,
        last_tested_at: row.opt_time("last_tested_at")?,
        last_test_ok: row.opt_bool("last_test_ok")?,
        last_test_message: row.opt_text("last_test_message")?,
    })
}

/// Jobs among `rows` (with `id` and `log_count`) whose log went over `cap`.
pub(crate) fn over_cap<R: RowExt>(rows: &[R], cap: u32) -> Result<Vec<Uuid>, StoreError> {
    let mut over = Vec::new();
    for row in rows {
        if row.int32("log_count")? > i64::from(cap) {
            over.push(row.uuid("id")?);
        }
    }
    Ok(over)
}

/// The user columns of account queries (`u` is the users table).
pub(crate) const USER_COLUMNS: &str = "u.id AS user_id, u.tenant_id AS user_tenant, u.email, \
    u.name AS user_name, u.role, u.disabled_at, u.created_at AS user_created";

pub(crate) fn user(row: &impl RowExt) -> Result<User, StoreError> {
    let role = row.text("role")?;
    let email = row.text("email")?;
    Ok(User {
        id: UserId(row.uuid("user_id")?),
        tenant_id: row.opt_uuid("user_tenant")?.map(TenantId),
        email: Email::parse(&email).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        name: row.text("user_name")?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
        disabled: row.opt_time("disabled_at")?.is_some(),
        created_at: row.time("user_created")?,
    })
}

/// The session columns of `find_session` (`s` is the sessions table),
/// read together with `USER_COLUMNS`.
pub(crate) const SESSION_COLUMNS: &str =
    "s.tenant_id AS session_tenant, s.created_at AS session_created, s.expires_at, s.last_seen_at";

pub(crate) fn session(row: &impl RowExt) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        user: user(row)?,
        tenant: row.opt_uuid("session_tenant")?.map(TenantId),
        created_at: row.time("session_created")?,
        expires_at: row.time("expires_at")?,
        last_seen_at: row.time("last_seen_at")?,
    })
}

/// A token and its owner, read together with `USER_COLUMNS` (`t` is the
/// token).
pub(crate) const TOKEN_RECORD_COLUMNS: &str =
    "t.id AS token_id, t.tenant_id AS token_tenant, t.last_used_at";

pub(crate) fn token_record(row: &impl RowExt) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        id: row.uuid("token_id")?,
        user: user(row)?,
        tenant: row.opt_uuid("token_tenant")?.map(TenantId),
        last_used_at: row.opt_time("last_used_at")?,
    })
}

pub(crate) const API_TOKEN_COLUMNS: &str =
    "id, name, tenant_id, created_at, last_used_at, revoked_at, expires_at";

pub(crate) fn api_token(row: &impl RowExt) -> Result<ApiTokenInfo, StoreError> {
    Ok(ApiTokenInfo {
        id: row.uuid("id")?,
        name: row.text("name")?,
        tenant_id: row.opt_uuid("tenant_id")?.map(TenantId),
        created_at: row.time("created_at")?,
        last_used_at: row.opt_time("last_used_at")?,
        revoked_at: row.opt_time("revoked_at")?,
        expires_at: row.opt_time("expires_at")?,
        expired: false,
    })
}

/// Columns read by [`schedule`] and [`due_schedule`].
pub(crate) const SCHEDULE_COLUMNS: &str = "tenant_id, active, cron, incremental, only_active, \
    signup_from, signup_to, pause_after_failures, consecutive_failures, next_run_at, \
    last_run_at, paused_at, pause_reason";

fn schedule_input(row: &impl RowExt) -> Result<ScheduleInput, StoreError> {
    let flag = |col: &str| -> Result<bool, StoreError> { Ok(row.opt_bool(col)?.unwrap_or(false)) };
    let date = |col: &str| -> Result<Option<chrono::NaiveDate>, StoreError> {
        row.opt_text(col)?
            .map(|d| {
                d.parse()
                    .map_err(|e| StoreError::Corrupt(format!("{col} {d:?}: {e}")))
            })
            .transpose()
    };
    Ok(ScheduleInput {
        active: flag("active")?,
        cron: row.text("cron")?,
        incremental: flag("incremental")?,
        only_active: flag("only_active")?,
        signup_from: date("signup_from")?,
        signup_to: date("signup_to")?,
        pause_after_failures: row.int32("pause_after_failures")?.max(1) as u32,
    })
}

pub(crate) fn schedule(row: &impl RowExt) -> Result<ScheduleView, StoreError> {
    Ok(ScheduleView {
        input: schedule_input(row)?,
        next_run: row.opt_time("next_run_at")?,
        last_run: row.opt_time("last_run_at")?,
        consecutive_failures: row.int32("consecutive_failures")?.max(0) as u32,
        paused_at: row.opt_time("paused_at")?,
        pause_reason: row.opt_text("pause_reason")?,
    })
}

pub(crate) fn paused_schedule(row: &impl RowExt) -> Result<PausedSchedule, StoreError> {
    Ok(PausedSchedule {
        tenant: TenantId(row.uuid("tenant_id")?),
        failures: row.int32("consecutive_failures")?.max(0) as u32,
        reason: row.text("pause_reason")?,
    })
}

pub(crate) fn due_schedule(row: &impl RowExt) -> Result<DueSchedule, StoreError> {
    Ok(DueSchedule {
        tenant: TenantId(row.uuid("tenant_id")?),
        slot: row
            .opt_time("next_run_at")?
            .ok_or_else(|| StoreError::Corrupt("due schedule without a slot".into()))?,
        input: schedule_input(row)?,
    })
}
