//! SQLite side of imports: the import page (the hot path: customers as
//! plain bound rows in chunks under SQLite's parameter ceiling; key lists
//! as one JSON array, `json_each`); customer search is in `search`. The rest is
//! written once for both databases
//! ([`imports_for!`](crate::store::imports::imports_for)).

use std::collections::HashMap;

use super::{json_rows, to_millis, SqliteStore};
use crate::model::ChangeKind;
use crate::store::changes::{self, changes_for};
use crate::store::imports::{self, imports_for};
use crate::store::rows::CUSTOMER_COLUMNS;

impl SqliteStore {
    /// A customer's columns (dates are stored as `YYYY-MM-DD` text).
    pub(super) const CUSTOMER_SELECT: &str = CUSTOMER_COLUMNS;
    /// The contracts of one customer: through their customer index (without
    /// statistics SQLite chose the provider's key index, for its order,
    /// and read every contract of the provider: 45 ms at 200,000).
    pub(super) const CONTRACTS_OF_CUSTOMER: &str = "contracts INDEXED BY contracts_customer";
    /// A contract's columns.
    pub(super) const CONTRACT_SELECT: &str =
        "sgp_key, status, status_raw, signup_date, services, removed_at";
    /// Not seen by job `$2`: `NOT IN` a subquery, which SQLite builds into
    /// a temporary index once (a correlated test would read every seen
    /// page per customer).
    const NOT_SEEN_CUSTOMER: &str = "c.sgp_key NOT IN (SELECT j.value FROM import_seen s, \
        json_each(s.customer_keys) j WHERE s.job_id = $2)";
    const NOT_SEEN_CONTRACT: &str = "ct.sgp_key NOT IN (SELECT j.value FROM import_seen s, \
        json_each(s.contract_keys) j WHERE s.job_id = $2)";
}

changes_for!(SqliteStore, sqlx::Sqlite);

imports_for!(SqliteStore, {
    async fn import_page(&self, page: &PageWrite<'_>) -> Result<PageCounts, StoreError> {
        let lease = page.lease;
        let now = to_millis(self.clock.now());
        // IMMEDIATE: the write lock before the first read, so a page waits
        // (up to the busy timeout) for another process writing the file
        // instead of failing when it upgrades from reading to writing
        // (SQLite refuses that upgrade at once, without waiting: an
        // import page failed so when a test held the file's write lock)
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let customers = imports::distinct(page.customers);
        let keys = json_rows(customers.iter().map(|c| c.customer.key.as_str().into()));
        // The page's stored customers, and (the row without a key) the
        // highest customer id: new customers get the ids after it, so the
        // upsert needs no RETURNING (streaming its rows back cost a
        // cross-thread wake-up each). The ids hold: this transaction holds
        // the write lock from its start.
        let mut next_id = 1;
        let mut existing: HashMap<String, imports::Existing> = HashMap::new();
        for row in sqlx::query(
            "SELECT id, sgp_key, content_hash, removed_at FROM customers \
             WHERE tenant_id = ?1 AND sgp_key IN (SELECT value FROM json_each(?2)) \
             UNION ALL SELECT max(id) AS id, NULL, NULL, NULL FROM customers",
        )
        .bind(lease.tenant.0)
        .bind(&keys)
        .fetch_all(&mut *tx)
        .await?
        {
            if row.opt_text("sgp_key")?.is_none() {
                next_id = row.opt_int("id")?.unwrap_or(0) + 1;
            } else {
                let (key, e) = rows::existing(&row)?;
                existing.insert(key, e);
            }
        }
        let (counts, changed) = imports::classify(&customers, &existing, page.errors.len());
        // what the stored customers being rewritten were, for the change rows
        let rewritten = changes::rewritten_ids(&changed, &existing);
        let mut old_customers = HashMap::new();
        let mut old_contracts = HashMap::new();
        if !rewritten.is_empty() {
            old_customers = sqlx::query(&format!(
                "SELECT {} FROM customers WHERE id IN (SELECT value FROM json_each(?1))",
                changes::OLD_CUSTOMER_COLUMNS
            ))
            .bind(json_rows(rewritten.iter().map(|&id| id.into())))
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(changes::old_customer)
            .collect::<Result<_, StoreError>>()?;
            let contract_keys = changes::rewritten_contract_keys(&changed, &existing);
            old_contracts = sqlx::query(&format!(
                "SELECT {} FROM contracts \
                 WHERE tenant_id = ?1 AND sgp_key IN (SELECT value FROM json_each(?2))",
                changes::OLD_CONTRACT_COLUMNS
            ))
            .bind(lease.tenant.0)
            .bind(json_rows(contract_keys.iter().map(|&k| k.into())))
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(changes::old_contract)
            .collect::<Result<_, StoreError>>()?;
        }
        if !changed.is_empty() {
            // the search index copies the provider's changes after the import
            sqlx::query(imports::MARK_SEARCH_DIRTY_SQLITE)
                .bind(lease.tenant.0)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let rows: Vec<_> = changed
                .iter()
                .map(|c| imports::CustomerRow::new(c))
                .collect();
            // SQLite takes at most 32,766 bound parameters a statement: an
            // SGP that ignores `limit` can send a page far past that, so
            // rows go in chunks
            let mut ids: HashMap<String, i64> = HashMap::with_capacity(rows.len());
            let first_new = next_id;
            for chunk in rows.chunks(CUSTOMER_CHUNK) {
                let sql = customer_insert(chunk.len());
                let mut insert = sqlx::query(&sql);
                for r in chunk {
                    // a stored customer keeps its id (NULL goes to the
                    // upsert's update); a new one takes the next
                    let id = match existing.get(r.sgp_key) {
                        Some(e) => {
                            ids.insert(r.sgp_key.to_owned(), e.id);
                            None
                        }
                        None => {
                            ids.insert(r.sgp_key.to_owned(), next_id);
                            next_id += 1;
                            Some(next_id - 1)
                        }
                    };
                    insert = insert
                        .bind(id)
                        .bind(lease.tenant.0)
                        .bind(r.sgp_key)
                        .bind(r.id)
                        .bind(r.name)
                        .bind(r.document)
                        .bind(r.person_type)
                        .bind(r.signup_date.as_deref())
                        .bind(r.notes)
                        .bind(r.street)
                        .bind(r.number)
                        .bind(r.complement)
                        .bind(r.district)
                        .bind(r.city)
                        .bind(r.state)
                        .bind(r.zip)
                        .bind(r.lat)
                        .bind(r.lon)
                        .bind(imports::json_array(r.emails))
                        .bind(imports::json_array(r.phones))
                        .bind(r.content_hash)
                        .bind(lease.job.0)
                        .bind(now)
                        .bind(now);
                }
                insert.execute(&mut *tx).await?;
            }
            let contracts = imports::contract_rows(&changed, &ids);
            for chunk in contracts.chunks(CONTRACT_CHUNK) {
                // padded to a multiple of CONTRACT_BATCH rows with copies of
                // the last one (a copy finds it stored and unchanged, the
                // upsert's no-op): a few statement shapes, not one per
                // contract count
                let padded = chunk.len().div_ceil(CONTRACT_BATCH) * CONTRACT_BATCH;
                let sql = contract_insert(padded);
                let mut insert = sqlx::query(&sql);
                let padding = std::iter::repeat_n(chunk.last(), padded - chunk.len()).flatten();
                for r in chunk.iter().chain(padding) {
                    insert = insert
                        .bind(lease.tenant.0)
                        .bind(r.customer_id)
                        .bind(r.sgp_key)
                        .bind(r.status)
                        .bind(r.status_raw)
                        .bind(r.signup_date.as_deref())
                        .bind(imports::json_array(r.services))
                        .bind(r.content_hash)
                        .bind(now)
                        .bind(now);
                }
                insert.execute(&mut *tx).await?;
            }
            let mut change_rows =
                changes::page_changes(&changed, &ids, &existing, &old_customers, &old_contracts);
            // A new customer's one change row (`cliente_criado`, most of a
            // first import's rows) is written from the ids the page just
            // numbered, one short statement instead of 8 binds a customer.
            let new_customers = (next_id - first_new) as usize;
            let created = |c: &changes::ChangeRow| c.kind == ChangeKind::CustomerCreated;
            if new_customers > 0
                && change_rows.iter().filter(|c| created(c)).count() == new_customers
            {
                change_rows.retain(|c| !created(c));
                sqlx::query(
                    "INSERT INTO import_changes (tenant_id, job_id, customer_id, kind, created_at) \
                     SELECT ?1, ?2, id, ?3, ?4 FROM customers \
                     WHERE id >= ?5 AND id < ?6 AND tenant_id = ?1",
                )
                .bind(lease.tenant.0)
                .bind(lease.job.0)
                .bind(ChangeKind::CustomerCreated.as_str())
                .bind(now)
                .bind(first_new)
                .bind(next_id)
                .execute(&mut *tx)
                .await?;
            }
            for chunk in change_rows.chunks(CHANGE_CHUNK) {
                // plain binds, padded like the contracts' (a JSON array
                // cost a fifth of the page on a first import)
                let padded = chunk.len().div_ceil(CONTRACT_BATCH) * CONTRACT_BATCH;
                let sql = change_insert(padded);
                let mut insert = sqlx::query(&sql);
                for c in chunk {
                    insert = insert
                        .bind(lease.tenant.0)
                        .bind(lease.job.0)
                        .bind(c.customer_id)
                        .bind(c.kind.as_str())
                        .bind(c.contract_key)
                        .bind(c.old.as_deref())
                        .bind(c.new.as_deref())
                        .bind(now);
                }
                for _ in 0..(padded - chunk.len()) * CHANGE_COLUMNS.split(',').count() {
                    insert = insert.bind(None::<i64>);
                }
                insert.execute(&mut *tx).await?;
            }
        }
        if page.track_seen {
            let (customer_keys, mut contract_keys) = changes::seen_keys(&customers, page.errors);
            let failed: Vec<String> = changes::failed_keys(page.errors).collect();
            let failed_contracts: Vec<String> = if failed.is_empty() {
                Vec::new()
            } else {
                sqlx::query_scalar(
                    "SELECT ct.sgp_key FROM contracts ct JOIN customers c ON c.id = ct.customer_id \
                     WHERE c.tenant_id = ?1 AND c.sgp_key IN (SELECT value FROM json_each(?2))",
                )
                .bind(lease.tenant.0)
                .bind(imports::json_array(&failed))
                .fetch_all(&mut *tx)
                .await?
            };
            contract_keys.extend(failed_contracts.iter().map(String::as_str));
            sqlx::query(
                // a page stored twice (a rerun from the start) only repeats
                // keys: the sweep reads them as a set
                "INSERT INTO import_seen (job_id, page_offset, tenant_id, customer_keys, \
                    contract_keys) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .bind(lease.job.0)
            .bind(page.offset as i64)
            .bind(lease.tenant.0)
            .bind(imports::json_array(&customer_keys))
            .bind(imports::json_array(&contract_keys))
            .execute(&mut *tx)
            .await?;
        }
        let listed = &page.errors[..page.errors_listed.min(page.errors.len())];
        if !listed.is_empty() {
            sqlx::query(
                "INSERT INTO import_row_errors (tenant_id, job_id, row_key, reason, page_offset, \
                    created_at) \
                 SELECT ?1, ?2, value ->> 0, value ->> 1, ?3, ?4 FROM json_each(?5) ORDER BY key",
            )
            .bind(lease.tenant.0)
            .bind(lease.job.0)
            .bind(page.offset as i64)
            .bind(now)
            .bind(json_rows(
                listed.iter().map(|e| serde_json::json!([e.key, e.reason])),
            ))
            .execute(&mut *tx)
            .await?;
        }

        let p = page.progress;
        let lines: Vec<_> = page
            .log
            .map(|log| {
                log(&counts)
                    .into_iter()
                    .map(|(level, line)| (lease.job, level, line))
                    .collect()
            })
            .unwrap_or_default();
        // Checked last, in the same transaction: when the attempt no longer
        // holds the job, dropping the transaction undoes the whole page. The
        // same statement counts the page's log lines (one less a page).
        let held: Option<i64> = sqlx::query_scalar(&format!(
            "UPDATE jobs SET total_estimated = ?1, processed = ?2, created_count = ?3, \
                updated_count = ?4, unchanged_count = ?5, failed_count = ?6, percent = ?7, \
                eta_seconds = ?8, current_message = ?9, checkpoint = ?10, updated_at = ?11, \
                log_count = log_count + ?15 \
             WHERE id = ?12 AND fence = ?13 AND lease_owner = ?14 AND {} RETURNING log_count",
            sql::lease_guard()
        ))
        .bind(p.total_estimated.map(|n| n as i64))
        .bind(p.processed as i64)
        .bind((p.created + counts.created) as i64)
        .bind((p.updated + counts.updated) as i64)
        .bind((p.unchanged + counts.unchanged) as i64)
        .bind((p.failed + counts.failed) as i64)
        .bind(f64::from(p.percent))
        .bind(p.eta_seconds.map(|n| n as i64))
        .bind(p.message.as_deref())
        .bind(page.checkpoint.to_string())
        .bind(now)
        .bind(lease.job.0)
        .bind(lease.fence)
        .bind(&lease.owner)
        .bind(lines.len() as i64)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(log_count) = held else {
            return Err(StoreError::LeaseLost(lease.job));
        };
        Self::counted_logs_in(&mut tx, now, &lines, log_count, page.log_cap).await?;
        tx.commit().await?;
        Ok(counts)
    }

    async fn count_existing_customers(
        &self,
        tenant: TenantId,
        keys: &[String],
    ) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM customers \
             WHERE tenant_id = ?1 AND sgp_key IN (SELECT value FROM json_each(?2))",
        )
        .bind(tenant.0)
        .bind(json_rows(keys.iter().map(|k| k.clone().into())))
        .fetch_one(&self.reader)
        .await?;
        Ok(n.max(0) as u64)
    }

    async fn list_customers(
        &self,
        tenant: TenantId,
        filter: &CustomerFilter,
    ) -> Result<CustomerPage, StoreError> {
        crate::store::search::list(self, tenant, filter).await
    }
});

/// Contract rows per statement shape (see `contract_insert`).
const CONTRACT_BATCH: usize = 32;

/// Rows per statement, under SQLite's 32,766 bound parameters: 500
/// customers of 24 columns, 1,024 contracts (a multiple of
/// `CONTRACT_BATCH`) of 10.
const CUSTOMER_CHUNK: usize = 500;
const CONTRACT_CHUNK: usize = 1024;

/// The contracts upsert for `rows` rows of bound parameters, one per
/// column.
fn contract_insert(rows: usize) -> String {
    format!(
        "INSERT INTO contracts ({}) VALUES {} {}",
        imports::CONTRACT_COLUMNS,
        values(imports::CONTRACT_COLUMNS, rows),
        imports::CONTRACT_UPSERT
    )
}

/// The change rows' columns, and rows per statement (under the
/// parameter ceiling, a multiple of `CONTRACT_BATCH`).
const CHANGE_COLUMNS: &str =
    "tenant_id, job_id, customer_id, kind, contract_key, old_value, new_value, created_at";
const CHANGE_CHUNK: usize = 2048;

/// The change rows' insert for `rows` rows of bound parameters, the rows
/// past the page's changes all NULL and skipped.
fn change_insert(rows: usize) -> String {
    format!(
        "INSERT INTO import_changes ({CHANGE_COLUMNS}) SELECT * FROM (VALUES {}) \
         WHERE column1 IS NOT NULL",
        values(CHANGE_COLUMNS, rows)
    )
}

/// The customers upsert for `rows` rows of bound parameters, one per
/// column (the tenant, job and time repeated per row). Plain binds instead
/// of one JSON array: SQLite parsing the array and looking up each field by
/// name was a tenth of the writer's time.
fn customer_insert(rows: usize) -> String {
    let columns = format!("id, {}", imports::CUSTOMER_COLUMNS);
    format!(
        "INSERT INTO customers ({columns}) VALUES {} {}",
        values(&columns, rows),
        imports::CUSTOMER_UPSERT
    )
}

/// `(?, ?, ...), (...)`: `rows` tuples of one parameter per column. The
/// parameters are anonymous on purpose: sqlx looks up each numbered
/// parameter's name, a linear walk in SQLite, which made binding a page
/// quadratic.
fn values(columns: &str, rows: usize) -> String {
    let width = columns.split(',').count();
    let row = format!("({})", vec!["?"; width].join(", "));
    vec![row; rows].join(", ")
}
