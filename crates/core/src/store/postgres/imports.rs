//! PostgreSQL side of imports: the import page (the hot path: rows travel
//! as one JSONB array per statement, `jsonb_to_recordset`, under a lock on
//! the job row); customer search is in `search`. The rest is
//! written once for both databases
//! ([`imports_for!`](crate::store::imports::imports_for)).

use std::collections::HashMap;

use super::PgStore;
use crate::store::changes::{self, changes_for};
use crate::store::imports::imports_for;

impl PgStore {
    /// A customer's columns, dates read back as `YYYY-MM-DD` text, as
    /// SQLite stores them.
    pub(super) const CUSTOMER_SELECT: &str = "id, sgp_key, sgp_id, name, cpf_cnpj, person_type, \
        to_char(signup_date, 'YYYY-MM-DD') AS signup_date, notes, street, number, complement, \
        district, city, state, zip, latitude, longitude, emails, phones, removed_at";
    /// The contracts of one customer (the planner's statistics choose).
    pub(super) const CONTRACTS_OF_CUSTOMER: &str = "contracts";
    /// A contract's columns, dates as text.
    pub(super) const CONTRACT_SELECT: &str = "sgp_key, status, status_raw, \
        to_char(signup_date, 'YYYY-MM-DD') AS signup_date, services, removed_at";
    /// Not seen by job `$2`: `NOT EXISTS`, which the planner turns into a
    /// hash anti-join (`NOT IN` would test each customer against a list
    /// larger than `work_mem` one by one).
    const NOT_SEEN_CUSTOMER: &str = "NOT EXISTS (SELECT 1 FROM import_seen s \
        CROSS JOIN LATERAL unnest(s.customer_keys) AS k(key) \
        WHERE s.job_id = $2 AND k.key = c.sgp_key)";
    /// `FROM` the page's keys (`$2`), each looked up in `table` by
    /// (tenant `$1`, key) with its unique index, as `c` with `columns`.
    ///
    /// Written so that no plan can do otherwise. As a plain join, the
    /// planner chose by its statistics, and those lag behind an import:
    /// the table starts empty, or holds another provider's rows, and
    /// autoanalyze runs now and then. It then judged the provider's rows
    /// few and hashed all of them for every page (through the index on the
    /// provider alone), and the prepared statement kept that plan as the
    /// table grew: in slow benchmark rounds the lookup took 6 to 19 ms a
    /// page on average (up to 105 ms) instead of 0.25 ms, and the import,
    /// and the re-import that reused the plan, ran 3 to 10 times slower.
    /// A lateral subquery with `LIMIT 1` (keys are unique per provider) is
    /// never flattened into a join: one index probe per key, always.
    fn per_key(table: &str, columns: &str) -> String {
        format!(
            "FROM unnest($2::text[]) AS k(key) CROSS JOIN LATERAL \
             (SELECT {columns} FROM {table} WHERE tenant_id = $1 AND sgp_key = k.key LIMIT 1) c"
        )
    }
    const NOT_SEEN_CONTRACT: &str = "NOT EXISTS (SELECT 1 FROM import_seen s \
        CROSS JOIN LATERAL unnest(s.contract_keys) AS k(key) \
        WHERE s.job_id = $2 AND k.key = ct.sgp_key)";
}

changes_for!(PgStore, sqlx::Postgres);

imports_for!(PgStore, {
    async fn import_page(&self, page: &PageWrite<'_>) -> Result<PageCounts, StoreError> {
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
            let rows: Vec<_> = changed
                .iter()
                .map(|c| imports::CustomerRow::new(c))
                .collect();
            let batch = sqlx::types::Json(&rows);
            let ids: HashMap<String, i64> = sqlx::query(&format!(
                "INSERT INTO customers ({}) \
                 SELECT $1, r.k, r.id, r.n, r.d, r.t, r.s, r.o, r.street, r.number, r.complement, \
                    r.district, r.city, r.state, r.zip, r.lat, r.lon, \
                    COALESCE(r.emails, '[]'), COALESCE(r.phones, '[]'), r.h, $2, $3, $3 \
                 FROM jsonb_to_recordset($4::jsonb) AS r(k text, id bigint, n text, d text, \
                    t text, s date, o text, street text, number text, complement text, \
                    district text, city text, state text, zip text, lat text, lon text, \
                    emails jsonb, phones jsonb, h text) {} RETURNING id, sgp_key",
                imports::CUSTOMER_COLUMNS,
                imports::CUSTOMER_UPSERT
            ))
            .bind(lease.tenant.0)
            .bind(lease.job.0)
            .bind(now)
            .bind(batch)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| Ok((r.text("sgp_key")?, r.int("id")?)))
            .collect::<Result<_, StoreError>>()?;

            let contracts = imports::contract_rows(&changed, &ids);
            if !contracts.is_empty() {
                sqlx::query(&format!(
                    "INSERT INTO contracts ({}) \
                     SELECT $1, r.cid, r.k, r.st, r.sr, r.s, COALESCE(r.sv, '[]'), r.h, $2, $2 \
                     FROM jsonb_to_recordset($3::jsonb) AS r(k text, cid bigint, st text, \
                        sr text, s date, sv jsonb, h text) {}",
                    imports::CONTRACT_COLUMNS,
                    imports::CONTRACT_UPSERT
                ))
                .bind(lease.tenant.0)
                .bind(now)
                .bind(sqlx::types::Json(&contracts))
                .execute(&mut *tx)
                .await?;
            }
            let change_rows =
                changes::page_changes(&changed, &ids, &existing, &old_customers, &old_contracts);
            if !change_rows.is_empty() {
                sqlx::query(
                    "INSERT INTO import_changes (tenant_id, job_id, customer_id, kind, \
                        contract_key, old_value, new_value, created_at) \
                     SELECT $1, $2, (v ->> 0)::bigint, v ->> 1, v ->> 2, v ->> 3, v ->> 4, $3 \
                     FROM jsonb_array_elements($4::jsonb) WITH ORDINALITY AS e(v, ord) \
                     ORDER BY ord",
                )
                .bind(lease.tenant.0)
                .bind(lease.job.0)
                .bind(now)
                .bind(changes::change_batch(&change_rows))
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

        if !page.errors.is_empty() {
            let keys: Vec<Option<&str>> = page.errors.iter().map(|e| e.key.as_deref()).collect();
            let reasons: Vec<&str> = page.errors.iter().map(|e| e.reason.as_str()).collect();
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

    async fn count_existing_customers(
        &self,
        tenant: TenantId,
        keys: &[String],
    ) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) {}",
            Self::per_key("customers", "id")
        ))
        .bind(tenant.0)
        .bind(keys)
        .fetch_one(&self.pool)
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
