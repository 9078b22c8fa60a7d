//! The import page on PostgreSQL, the hot path of an import: one
//! transaction under a lock on the job row; rows travel as one array per
//! column (`columns`).

use std::collections::{HashMap, HashSet};

use super::columns::{self, Insert};
use super::PgStore;
use crate::store::changes;
use crate::store::imports::{self, PageCounts, PageWrite};
use crate::store::jobs::sql;
use crate::store::rows::{self, RowExt};
use crate::store::StoreError;

impl PgStore {
    /// Writes one import page (or several stored together) in one
    /// transaction, under a lock on the job row. With [`Insert::Plain`]
    /// the customers the page's lookup did not find, and their contracts,
    /// are inserted without `ON CONFLICT`: its speculative insertion (a
    /// probe of the key before the row, a second WAL record after it) was
    /// a quarter of the contracts' insert time. A key stored meanwhile
    /// then fails the statement, and the caller writes the page again
    /// with [`Insert::Upsert`].
    pub(super) async fn write_page(
        &self,
        page: &PageWrite<'_>,
        fresh: Insert,
    ) -> Result<PageCounts, StoreError> {
        let lease = page.lease;
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        // Locks the job row: a stale attempt waits here, then finds it lost.
        let held = sqlx::query(&format!(
            "SELECT 1 FROM jobs WHERE id = $1 AND fence = $2 AND lease_owner = $3 AND {} \
             FOR UPDATE",
            sql::lease_guard()
        ))
        .bind(lease.job.0)
        .bind(lease.fence)
        .bind(&lease.owner)
        .fetch_optional(&mut *tx)
        .await?;
        if held.is_none() {
            return Err(StoreError::LeaseLost(lease.job));
        }

        let customers = imports::distinct(page.customers);
        let keys: Vec<&str> = customers.iter().map(|c| c.customer.key.as_str()).collect();
        let existing: HashMap<String, imports::Existing> = sqlx::query(&format!(
            "SELECT c.id, c.sgp_key, c.content_hash, c.removed_at {}",
            Self::per_key("customers", "id, sgp_key, content_hash, removed_at")
        ))
        .bind(lease.tenant.0)
        .bind(&keys)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(rows::existing)
        .collect::<Result<_, StoreError>>()?;

        let (counts, changed) = imports::classify(&customers, &existing, page.errors.len());
        // what the stored customers being rewritten were, for the change rows
        let rewritten = changes::rewritten_ids(&changed, &existing);
        let mut old_customers = HashMap::new();
        let mut old_contracts = HashMap::new();
        if !rewritten.is_empty() {
            // by id, probed one by one like the keys (see `per_key`)
            old_customers = sqlx::query(&format!(
                "SELECT {0} FROM unnest($1::bigint[]) AS k(wanted) CROSS JOIN LATERAL \
                 (SELECT {0} FROM customers WHERE id = k.wanted LIMIT 1) c",
                changes::OLD_CUSTOMER_COLUMNS
            ))
            .bind(&rewritten)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(changes::old_customer)
            .collect::<Result<_, StoreError>>()?;
            let contract_keys = changes::rewritten_contract_keys(&changed, &existing);
            old_contracts = sqlx::query(&format!(
                "SELECT {} {}",
                changes::OLD_CONTRACT_COLUMNS,
                Self::per_key("contracts", changes::OLD_CONTRACT_COLUMNS)
            ))
            .bind(lease.tenant.0)
            .bind(&contract_keys)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(changes::old_contract)
            .collect::<Result<_, StoreError>>()?;
        }

        if !changed.is_empty() {
            // the search index copies the provider's changes after the import
            sqlx::query(imports::MARK_SEARCH_DIRTY_POSTGRES)
                .bind(lease.tenant.0)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            // the customers the lookup did not find, then the stored ones
            let (new, stored): (Vec<_>, Vec<_>) = changed
                .iter()
                .map(|c| imports::CustomerRow::new(c))
                .partition(|r| fresh == Insert::Plain && !existing.contains_key(r.sgp_key));
            let mut ids: HashMap<String, i64> = HashMap::with_capacity(changed.len());
            let mut new_ids = HashSet::with_capacity(new.len());
            for (rows, how) in [(new, Insert::Plain), (stored, Insert::Upsert)] {
                if rows.is_empty() {
                    continue;
                }
                let insert = sqlx::query(columns::customer_insert(how))
                    .bind(lease.tenant.0)
                    .bind(lease.job.0)
                    .bind(now);
                let written = columns::bind_customers(insert, &rows)
                    .fetch_all(&mut *tx)
                    .await?;
                for r in &written {
                    let id = r.int("id")?;
                    if how == Insert::Plain {
                        new_ids.insert(id);
                    }
                    ids.insert(r.text("sgp_key")?, id);
                }
            }

            let (new, stored): (Vec<_>, Vec<_>) = imports::contract_rows(&changed, &ids)
                .into_iter()
                .partition(|r| new_ids.contains(&r.customer_id));
            for (rows, how) in [(new, Insert::Plain), (stored, Insert::Upsert)] {
                if rows.is_empty() {
                    continue;
                }
                let insert = sqlx::query(columns::contract_insert(how))
                    .bind(lease.tenant.0)
                    .bind(now);
                columns::bind_contracts(insert, &rows)
                    .execute(&mut *tx)
                    .await?;
            }
            let change_rows =
                changes::page_changes(&changed, &ids, &existing, &old_customers, &old_contracts);
            if !change_rows.is_empty() {
                let insert = sqlx::query(columns::CHANGE_INSERT)
                    .bind(lease.tenant.0)
                    .bind(lease.job.0)
                    .bind(now);
                columns::bind_changes(insert, &change_rows)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        if page.track_seen {
            let (customer_keys, mut contract_keys) = changes::seen_keys(&customers, page.errors);
            let failed: Vec<String> = changes::failed_keys(page.errors).collect();
            let failed_contracts: Vec<String> = if failed.is_empty() {
                Vec::new()
            } else {
                sqlx::query_scalar(&format!(
                    "SELECT ct.sgp_key {} \
                     CROSS JOIN LATERAL (SELECT sgp_key FROM contracts \
                        WHERE customer_id = c.id OFFSET 0) ct",
                    Self::per_key("customers", "id")
                ))
                .bind(lease.tenant.0)
                .bind(&failed)
                .fetch_all(&mut *tx)
                .await?
            };
            contract_keys.extend(failed_contracts.iter().map(String::as_str));
            sqlx::query(
                "INSERT INTO import_seen (job_id, page_offset, tenant_id, customer_keys, \
                    contract_keys) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (job_id, page_offset) DO UPDATE SET \
                    customer_keys = excluded.customer_keys, contract_keys = excluded.contract_keys",
            )
            .bind(lease.job.0)
            .bind(page.offset as i64)
            .bind(lease.tenant.0)
            .bind(&customer_keys)
            .bind(&contract_keys)
            .execute(&mut *tx)
            .await?;
        }

        let listed = &page.errors[..page.errors_listed.min(page.errors.len())];
        if !listed.is_empty() {
            let keys: Vec<Option<&str>> = listed.iter().map(|e| e.key.as_deref()).collect();
            let reasons: Vec<&str> = listed.iter().map(|e| e.reason.as_str()).collect();
            sqlx::query(
                "INSERT INTO import_row_errors (tenant_id, job_id, row_key, reason, page_offset, \
                    created_at) \
                 SELECT $1, $2, e.k, e.r, $3, $4 \
                 FROM unnest($5::text[], $6::text[]) WITH ORDINALITY AS e(k, r, ord) ORDER BY ord",
            )
            .bind(lease.tenant.0)
            .bind(lease.job.0)
            .bind(page.offset as i64)
            .bind(now)
            .bind(&keys)
            .bind(&reasons)
            .execute(&mut *tx)
            .await?;
        }

        let p = page.progress;
        sqlx::query(
            "UPDATE jobs SET total_estimated = $1, processed = $2, created_count = $3, \
                updated_count = $4, unchanged_count = $5, failed_count = $6, percent = $7, \
                eta_seconds = $8, current_message = $9, checkpoint = $10, updated_at = $11 \
             WHERE id = $12",
        )
        .bind(p.total_estimated.map(|n| n as i64))
        .bind(p.processed as i64)
        .bind((p.created + counts.created) as i64)
        .bind((p.updated + counts.updated) as i64)
        .bind((p.unchanged + counts.unchanged) as i64)
        .bind((p.failed + counts.failed) as i64)
        .bind(p.percent)
        .bind(p.eta_seconds.map(|n| n as i64))
        .bind(p.message.as_deref())
        .bind(page.checkpoint)
        .bind(now)
        .bind(lease.job.0)
        .execute(&mut *tx)
        .await?;
        if let Some(log) = page.log {
            let lines: Vec<_> = log(&counts)
                .into_iter()
                .map(|(level, line)| (lease.job, level, line))
                .collect();
            Self::logs_in(&mut tx, now, &lines, page.log_cap).await?;
        }
        tx.commit().await?;
        Ok(counts)
    }
}
