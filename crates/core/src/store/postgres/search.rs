//! PostgreSQL side of customer search: the statements of
//! [`search::list`](crate::store::search::list), the full-text word index
//! (`to_tsvector('simple', words)` under GIN), and the refresh that fills
//! `customer_search`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::PgStore;
use crate::import::IMPORT_KIND;
use crate::model::{StoredCustomer, TenantId};
use sqlx::Row;

use crate::store::rows::{self, RowExt};
use crate::store::search::{
    self, Arg, Dialect, LiveRow, SearchIndex, SearchQueries, LIVE_MAX, REFRESH_CHUNK,
};
use crate::store::StoreError;

pub(crate) struct Pg;

impl Dialect for Pg {
    fn param(n: usize) -> String {
        format!("${n}")
    }
    fn in_ids(column: &str, n: usize) -> String {
        // a semi-join on the list: with `= ANY(array)` the planner walked
        // the provider's order index for its order and tested each row
        // against the array (160 ms for 1,000 ids among 1,000,000)
        format!("{column} IN (SELECT unnest(${n}::bigint[]))")
    }
    fn sort_few() -> &'static str {
        // An expression, not the indexed column: given the index's order,
        // the planner walked the provider's whole order index testing each
        // row against the few ids (160 ms for 1,000 of 1,000,000) instead
        // of looking them up and sorting them. Same order ("C" collation).
        "(s.words || ''), s.customer_id"
    }
    fn has_status(p: &str) -> String {
        // with the provider, so that a semi-join reads the (provider,
        // status) index instead of every contract of that status (200 ms
        // at 1,000,000)
        format!(
            "EXISTS (SELECT 1 FROM contracts k WHERE k.customer_id = s.customer_id \
             AND k.tenant_id = s.tenant_id AND k.status = {p})"
        )
    }
    fn status_rows_per_customer() -> u64 {
        // Twice the cap: a customer seldom has two contracts in one
        // status, so the distinct customers among them tell "more than
        // the cap" nearly always. The count hashed every contract of a
        // common status first (95 ms for `cancelado` at 1,000,000).
        2
    }
    fn words_query(words: &[&str]) -> String {
        words
            .iter()
            .map(|w| format!("{w}:*"))
            .collect::<Vec<_>>()
            .join(" & ")
    }
    fn words_in(t: &str, q: &str, _alone: bool) -> String {
        // (the ids are read from the table's rows either way)
        format!(
            "SELECT customer_id AS id FROM customer_search WHERE tenant_id = {t} \
             AND to_tsvector('simple', words) @@ to_tsquery('simple', {q})"
        )
    }
    fn rest_words_in(t: &str, q: &str, _alone: bool) -> String {
        // the expression of the index `customer_search_rest`
        format!(
            "SELECT customer_id AS id FROM customer_search WHERE tenant_id = {t} \
             AND to_tsvector('simple', substr(words || ' ', strpos(words || ' ', ' ') + 1)) \
                @@ to_tsquery('simple', {q})"
        )
    }
    fn removed_index() -> &'static str {
        ""
    }
    fn by_id_only() -> &'static str {
        ""
    }
}

/// `q` with the provider and `args` bound, as an unnamed statement:
/// planned for these values each time. A named (cached) statement turns,
/// from its sixth run on, to a generic plan made without the values: the
/// status `inviabilidade_tecnica` was then estimated as a quarter of the
/// contracts, not a thousandth, and its source read every contract of
/// the provider (105 ms a run at 1,000,000 instead of 1 ms).
fn bound<'q>(
    q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    tenant: TenantId,
    args: &'q [Arg],
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let mut q = q.persistent(false).bind(tenant.0);
    for arg in args {
        q = match arg {
            Arg::Text(t) => q.bind(t.as_str()),
            Arg::Int(i) => q.bind(*i),
            Arg::Ids(ids) => q.bind(ids.as_slice()),
        };
    }
    q
}

#[async_trait]
impl SearchQueries for PgStore {
    type Dialect = Pg;

    async fn provider_size(&self, tenant: TenantId, bound: u64) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT 1 FROM customers WHERE tenant_id = $1 LIMIT $2) m",
        )
        .bind(tenant.0)
        .bind(i64::try_from(bound).unwrap_or(i64::MAX))
        .fetch_one(&self.pool)
        .await?;
        Ok(n.max(0) as u64)
    }

    async fn live_rows(
        &self,
        tenant: TenantId,
        status: Option<&str>,
    ) -> Result<Vec<LiveRow>, StoreError> {
        // one JSON array, as on SQLite: a value instead of 10,000 rows
        let rows: Option<String> = sqlx::query_scalar(
            "SELECT json_agg(json_build_array(id, name, cpf_cnpj, removed_at IS NOT NULL, \
                $2::text IS NOT NULL AND EXISTS (SELECT 1 FROM contracts k \
                    WHERE k.customer_id = customers.id AND k.status = $2)))::text \
             FROM customers WHERE tenant_id = $1",
        )
        .bind(tenant.0)
        .bind(status)
        .fetch_one(&self.pool)
        .await?;
        search::live_rows_from_json(rows.as_deref().unwrap_or("[]"))
    }

    async fn index_state(
        &self,
        tenant: TenantId,
    ) -> Result<(Option<DateTime<Utc>>, u64), StoreError> {
        let row = sqlx::query(
            "SELECT refreshed_at, indexed FROM customer_search_state WHERE tenant_id = $1",
        )
        .bind(tenant.0)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => Ok((r.opt_time("refreshed_at")?, r.int("indexed")?.max(0) as u64)),
            None => Ok((None, 0)),
        }
    }

    async fn index_alone(&self, _tenant: TenantId) -> Result<bool, StoreError> {
        // unused: a GIN index gives row addresses, and the ids are read
        // from the rows whatever else they hold
        Ok(false)
    }

    async fn ids(&self, tenant: TenantId, sql: &str, args: &[Arg]) -> Result<Vec<i64>, StoreError> {
        bound(sqlx::query(sql), tenant, args)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| r.int("id"))
            .collect()
    }

    async fn count(&self, tenant: TenantId, sql: &str, args: &[Arg]) -> Result<u64, StoreError> {
        let row = bound(sqlx::query(sql), tenant, args)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.int("n")?.max(0) as u64)
    }

    async fn customers(
        &self,
        tenant: TenantId,
        ids: &[i64],
    ) -> Result<Vec<StoredCustomer>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let customers = sqlx::query(&format!(
            "SELECT {} FROM customers WHERE tenant_id = $1 AND id = ANY($2::bigint[])",
            Self::CUSTOMER_SELECT
        ))
        .bind(tenant.0)
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        let contracts = sqlx::query(&format!(
            "SELECT customer_id, {} FROM contracts WHERE tenant_id = $1 \
                AND customer_id = ANY($2::bigint[]) \
             ORDER BY customer_id, sgp_key",
            Self::CONTRACT_SELECT
        ))
        .bind(tenant.0)
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        let found = rows::customers_with_contracts(&customers, contracts)?;
        Ok(search::in_order(ids, found))
    }
}

#[async_trait]
impl SearchIndex for PgStore {
    async fn search_dirty(&self) -> Result<Vec<TenantId>, StoreError> {
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
            "SELECT tenant_id FROM customer_search_state WHERE dirty_at IS NOT NULL \
             ORDER BY dirty_at",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(TenantId).collect())
    }

    async fn refresh_search(&self, tenant: TenantId) -> Result<Option<u64>, StoreError> {
        let importing: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE tenant_id = $1 AND kind = $2 \
                AND status IN ('running', 'cancelling'))",
        )
        .bind(tenant.0)
        .bind(IMPORT_KIND)
        .fetch_one(&self.pool)
        .await?;
        if importing {
            return Ok(None);
        }
        let started = self.clock.now();
        let state =
            sqlx::query("SELECT dirty_at, through FROM customer_search_state WHERE tenant_id = $1")
                .bind(tenant.0)
                .fetch_optional(&self.pool)
                .await?;
        let (dirty, through): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = match &state {
            Some(r) => (r.try_get("dirty_at")?, r.try_get("through")?),
            None => (None, None),
        };
        let mut copied = 0;
        // A small provider is listed from customers itself: nothing to copy
        // yet, and `through` stays, so the first refresh after it grows
        // copies everything changed since.
        let large = self.provider_size(tenant, LIVE_MAX + 1).await? > LIVE_MAX;
        if large {
            let mut after = 0i64;
            loop {
                let chunk = sqlx::query(
                    "SELECT id, name, cpf_cnpj FROM customers \
                     WHERE id > $3 AND tenant_id = $1 \
                        AND ($2::timestamptz IS NULL OR updated_at >= $2) \
                     ORDER BY id LIMIT $4",
                )
                .bind(tenant.0)
                .bind(through)
                .bind(after)
                .bind(REFRESH_CHUNK)
                .fetch_all(&self.pool)
                .await?;
                let Some(last) = chunk.last() else { break };
                after = last.int("id")?;
                let mut ids = Vec::with_capacity(chunk.len());
                let mut words = Vec::with_capacity(chunk.len());
                let mut names = Vec::with_capacity(chunk.len());
                let mut docs = Vec::with_capacity(chunk.len());
                for r in &chunk {
                    let name = r.text("name")?;
                    ids.push(r.int("id")?);
                    words.push(crate::text::search_words(&name));
                    names.push(name);
                    docs.push(r.opt_text("cpf_cnpj")?);
                }
                copied += ids.len() as u64;
                sqlx::query(
                    "INSERT INTO customer_search (customer_id, tenant_id, words, name, doc) \
                     SELECT r.id, $1, r.words, r.name, r.doc \
                     FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[]) \
                        AS r(id, words, name, doc) \
                     ON CONFLICT (customer_id) DO UPDATE SET name = excluded.name, \
                        words = excluded.words, doc = excluded.doc \
                     WHERE customer_search.name IS DISTINCT FROM excluded.name \
                        OR customer_search.doc IS DISTINCT FROM excluded.doc",
                )
                .bind(tenant.0)
                .bind(&ids)
                .bind(&words)
                .bind(&names)
                .bind(&docs)
                .execute(&self.pool)
                .await?;
            }
        }
        // A page that marked the provider after `dirty` was read keeps it
        // marked: its rows may have been missed, and the next refresh
        // reads again from a little before this one began.
        let overlap = chrono::Duration::milliseconds(search::OVERLAP_MS);
        sqlx::query(
            "INSERT INTO customer_search_state (tenant_id, dirty_at, through, refreshed_at, \
                indexed) \
             VALUES ($1, NULL, $2, $3, \
                (SELECT count(*) FROM customer_search WHERE tenant_id = $1)) \
             ON CONFLICT (tenant_id) DO UPDATE SET \
                indexed = excluded.indexed, \
                through = CASE WHEN $4 THEN excluded.through ELSE customer_search_state.through END, \
                refreshed_at = CASE WHEN $4 THEN excluded.refreshed_at \
                    ELSE customer_search_state.refreshed_at END, \
                dirty_at = CASE WHEN customer_search_state.dirty_at IS NOT DISTINCT FROM $5 \
                    THEN NULL ELSE customer_search_state.dirty_at END",
        )
        .bind(tenant.0)
        .bind(if large { Some(started - overlap) } else { through })
        .bind(large.then_some(started))
        .bind(large)
        .bind(dirty)
        .execute(&self.pool)
        .await?;
        self.analyze_if_stale(copied).await?;
        Ok(Some(copied))
    }
}

impl PgStore {
    /// Refreshes the planner's statistics of the customers page's tables
    /// that changed by more than autoanalyze's own threshold (50 rows and
    /// a tenth of the table as last analysed). Autovacuum gets there
    /// within a minute or so, but the first customers page after a first
    /// import comes sooner: planned for the empty tables the statistics
    /// still described, a name search over 100,000 customers took 2.4 s
    /// instead of milliseconds, and the count of a contract status filter
    /// 160 s (a nested loop of 10,000 by 45,000 contracts). The import's
    /// changes are read from the statistics system (each connection
    /// reports within a second of its transaction); the `copied` rows this
    /// refresh just wrote into `customer_search` are counted here, as they
    /// may not be reported yet. Returns the tables analysed.
    async fn analyze_if_stale(&self, copied: u64) -> Result<Vec<String>, StoreError> {
        let stale: Vec<String> = sqlx::query_scalar(
            "SELECT c.oid::regclass::text FROM pg_class c \
             LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid \
             WHERE c.oid IN ('customers'::regclass, 'contracts'::regclass, \
                'customer_search'::regclass) \
                AND CASE WHEN c.oid = 'customer_search'::regclass \
                    THEN $1 ELSE COALESCE(s.n_mod_since_analyze, 0) END \
                    > 50 + 0.1 * GREATEST(c.reltuples, 0) \
             ORDER BY 1",
        )
        .bind(copied as i64)
        .fetch_all(&self.pool)
        .await?;
        if stale.is_empty() {
            return Ok(stale);
        }
        // names from the catalog, of these three tables only; SKIP_LOCKED:
        // another instance analysing one of them will do
        sqlx::query(&format!("ANALYZE (SKIP_LOCKED) {}", stale.join(", ")))
            .execute(&self.pool)
            .await?;
        tracing::info!(tables = ?stale, "planner statistics refreshed after a bulk change");
        Ok(stale)
    }
}
