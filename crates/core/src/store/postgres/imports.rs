//! PostgreSQL side of imports: the import page is in `page`, customer
//! search in `search`. The rest is
//! written once for both databases
//! ([`imports_for!`](crate::store::imports::imports_for)).

use super::columns::Insert;
use super::PgStore;
use crate::store::changes::changes_for;
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
    pub(super) fn per_key(table: &str, columns: &str) -> String {
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
        match self.write_page(page, Insert::Plain).await {
            // a row the page found no trace of was stored meanwhile (by
            // another import of the provider) or is a stored contract
            // now on a new customer: the page starts over as upserts.
            // Logged at info: an SGP that moves many contracts to new
            // customers makes many pages pay twice, and that should show.
            Err(e) if e.is_unique_violation() => {
                tracing::info!(
                    job_id = %page.lease.job.0,
                    tenant_id = %page.lease.tenant.0,
                    offset = page.offset,
                    "import page met a stored key: written again as upserts"
                );
                self.write_page(page, Insert::Upsert).await
            }
            written => written,
        }
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
