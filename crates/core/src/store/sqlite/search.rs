//! SQLite side of customer search: the statements of
//! [`search::list`](crate::store::search::list), the FTS5 word index, and
//! the refresh that fills `customer_search`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{json_rows, to_millis, SqliteStore};
use crate::import::IMPORT_KIND;
use crate::model::{StoredCustomer, TenantId};
use crate::store::rows::{self, RowExt};
use crate::store::search::{
    self, Arg, Dialect, IndexQuery, LiveRow, SearchIndex, SearchQueries, Terms, LIVE_MAX,
    REFRESH_CHUNK, REMOVED_TAG,
};
use crate::store::StoreError;

pub(crate) struct Lite;

/// A customer's tags as the search index holds them ("_ativo _cancelado
/// _removido", see [`search::status_tag`]), in the refresh's `SELECT ...
/// FROM customers`.
const TAGS: &str = "trim(coalesce((SELECT group_concat(s, ' ') FROM ( \
        SELECT DISTINCT '_' || k.status AS s FROM contracts k \
        WHERE k.customer_id = customers.id ORDER BY s)), '') \
    || CASE WHEN removed_at IS NOT NULL THEN ' _removido' ELSE '' END)";

impl Dialect for Lite {
    fn param(n: usize) -> String {
        format!("?{n}")
    }
    fn in_ids(column: &str, n: usize) -> String {
        format!("{column} IN (SELECT value FROM json_each(?{n}))")
    }
    // SQLite keeps no statistics here (the app never runs ANALYZE), and
    // without them it chose the provider's key index for these, reading
    // every row of a large provider: 45 to 130 ms a page at 200,000
    fn sort_few() -> &'static str {
        // (NOT INDEXED already keeps the order's index out)
        "s.words, s.customer_id"
    }
    fn position(text: &str, p: &str) -> String {
        format!("instr({text}, {p})")
    }
    fn has_status(p: &str) -> String {
        format!(
            "EXISTS (SELECT 1 FROM contracts k INDEXED BY contracts_customer \
             WHERE k.customer_id = s.customer_id AND k.status = {p})"
        )
    }
    fn status_rows_per_customer() -> u64 {
        // As on PostgreSQL. (With the ids handed over row by row, reading
        // twice the rows cost more than the count it spares: `ativo` at
        // 1,000,000 took 27 ms instead of 13; as one JSON value it does
        // not, and customers with two contracts in `ativo` made the count
        // run at 100,000: 56 ms.)
        2
    }
    fn words_query(words: &[&str], terms: &Terms) -> String {
        words
            .iter()
            .map(|w| fts_word(w, terms))
            .collect::<Vec<_>>()
            .join(" AND ")
    }
    fn index_query(
        words: &[&str],
        terms: &Terms,
        status: Option<&str>,
        removed: Option<bool>,
    ) -> IndexQuery {
        // one text: the words and the tags are tokens of the same column
        // (the table's tokenizer keeps '_' within a token)
        let mut parts: Vec<String> = words.iter().map(|w| fts_word(w, terms)).collect();
        parts.extend(status.map(|s| fts_string(&search::status_tag(s))));
        if removed == Some(true) {
            parts.push(fts_string(REMOVED_TAG));
        }
        let mut q = parts.join(" AND ");
        if removed == Some(false) {
            q = format!("({q}) NOT {}", fts_string(REMOVED_TAG));
        }
        IndexQuery {
            words: Some(q),
            tags: None,
        }
    }
    fn index_in(t: &str, words: Option<&str>, _tags: Option<&str>, alone: bool) -> String {
        // (`index_query` puts everything in the words' text)
        fts_in("customer_search_words", t, words.unwrap_or("''"), alone)
    }
    fn rest_words_in(t: &str, q: &str, alone: bool) -> String {
        fts_in("customer_search_rest", t, q, alone)
    }
    fn removed_index() -> &'static str {
        "INDEXED BY customers_removed"
    }
    fn by_id_only() -> &'static str {
        "NOT INDEXED"
    }
    fn shortest_looked_up() -> usize {
        // shorter ones have prefix indexes of their own (`prefix = '2 3'`)
        4
    }
}

/// `word` in an FTS5 query: its whole words when `terms` has them (quoted,
/// any of them), else the prefix.
fn fts_word(word: &str, terms: &Terms) -> String {
    match terms.get(word) {
        Some(whole) if !whole.is_empty() => {
            let any: Vec<String> = whole.iter().map(|t| fts_string(t)).collect();
            format!("({})", any.join(" OR "))
        }
        _ => format!("{}*", fts_string(word)),
    }
}

/// `text` as an FTS5 string, its double quotes doubled. What reaches here
/// is folded to [a-z0-9_] already; the quoting still holds whatever does.
fn fts_string(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// The ids of provider `t`'s customers that FTS5 table `fts` matches for
/// the query bound as `q`. Each match is checked against the provider by
/// its row unless the provider is `alone` in the index: those row lookups
/// were most of the time of a name search at 1,000,000 (10,000 of them
/// to learn that a first name has more matches than the cap).
fn fts_in(fts: &str, t: &str, q: &str, alone: bool) -> String {
    if alone {
        return format!("SELECT rowid AS id FROM {fts} WHERE {fts} MATCH {q}");
    }
    // CROSS JOIN keeps the word index outside: the other way round,
    // SQLite ran the word query once per provider's row
    format!(
        "SELECT w.customer_id AS id FROM {fts} f \
         CROSS JOIN customer_search w ON w.customer_id = f.rowid \
         WHERE {fts} MATCH {q} AND w.tenant_id = {t}"
    )
}

fn bound<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    tenant: TenantId,
    args: &'q [Arg],
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    q = q.bind(tenant.0);
    for arg in args {
        q = match arg {
            Arg::Text(t) => q.bind(t.as_str()),
            Arg::Int(i) => q.bind(*i),
            Arg::Ids(ids) => q.bind(json_rows(ids.iter().map(|&i| i.into()))),
        };
    }
    q
}

#[async_trait]
impl SearchQueries for SqliteStore {
    type Dialect = Lite;

    async fn provider_size(&self, tenant: TenantId, bound: u64) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT 1 FROM customers WHERE tenant_id = ?1 LIMIT ?2)",
        )
        .bind(tenant.0)
        .bind(i64::try_from(bound).unwrap_or(i64::MAX))
        .fetch_one(&self.reader)
        .await?;
        Ok(n.max(0) as u64)
    }

    async fn live_rows(
        &self,
        tenant: TenantId,
        status: Option<&str>,
    ) -> Result<Vec<LiveRow>, StoreError> {
        // One JSON array, not 10,000 rows: sqlx hands SQLite rows over one
        // by one from its worker thread, which took 40 ms for a provider of
        // 10,000; the array is one value, parsed in 3
        let rows: Option<String> = sqlx::query_scalar(
            "SELECT json_group_array(json_array(id, name, cpf_cnpj, removed_at IS NOT NULL, \
                ?2 IS NOT NULL AND EXISTS (SELECT 1 FROM contracts k \
                    WHERE k.customer_id = customers.id AND k.status = ?2))) \
             FROM customers WHERE tenant_id = ?1",
        )
        .bind(tenant.0)
        .bind(status)
        .fetch_one(&self.reader)
        .await?;
        search::live_rows_from_json(rows.as_deref().unwrap_or("[]"))
    }

    async fn index_state(
        &self,
        tenant: TenantId,
    ) -> Result<(Option<DateTime<Utc>>, u64), StoreError> {
        let row = sqlx::query(
            "SELECT refreshed_at, indexed FROM customer_search_state WHERE tenant_id = ?1",
        )
        .bind(tenant.0)
        .fetch_optional(&self.reader)
        .await?;
        match row {
            Some(r) => Ok((r.opt_time("refreshed_at")?, r.int("indexed")?.max(0) as u64)),
            None => Ok((None, 0)),
        }
    }

    async fn index_alone(&self, tenant: TenantId) -> Result<bool, StoreError> {
        // two range probes of the order's index (SQLite reads `<>` as a
        // scan); a provider being indexed right now counts as another
        let other: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM customer_search WHERE tenant_id < ?1) \
                OR EXISTS (SELECT 1 FROM customer_search WHERE tenant_id > ?1)",
        )
        .bind(tenant.0)
        .fetch_one(&self.reader)
        .await?;
        Ok(!other)
    }

    async fn terms_starting(
        &self,
        _tenant: TenantId,
        words: &[&str],
        limit: usize,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        // (the FTS5 vocabulary of the word index: every provider's words,
        // as FTS5 keeps them)
        let sql = search::terms_starting_sql::<Lite>("customer_search_terms", words.len(), limit);
        let mut q = sqlx::query_as(&sql);
        for word in words {
            q = q.bind(*word).bind(search::word_range_end(word));
        }
        Ok(q.fetch_all(&self.reader).await?)
    }

    async fn ids(&self, tenant: TenantId, sql: &str, args: &[Arg]) -> Result<Vec<i64>, StoreError> {
        bound(sqlx::query(sql), tenant, args)
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(|r| r.int("id"))
            .collect()
    }

    async fn id_set(
        &self,
        tenant: TenantId,
        sql: &str,
        args: &[Arg],
    ) -> Result<Vec<i64>, StoreError> {
        // One JSON array, as for `live_rows`: sqlx hands rows over one by
        // one from SQLite's thread, most of the time of reading a source's
        // 10,001 ids
        let sql = format!("SELECT json_group_array(id) AS ids FROM ({sql})");
        let row = bound(sqlx::query(&sql), tenant, args)
            .fetch_one(&self.reader)
            .await?;
        serde_json::from_str(&row.text("ids")?)
            .map_err(|e| StoreError::Corrupt(format!("customer search ids: {e}")))
    }

    async fn count(&self, tenant: TenantId, sql: &str, args: &[Arg]) -> Result<u64, StoreError> {
        let row = bound(sqlx::query(sql), tenant, args)
            .fetch_one(&self.reader)
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
        let list = json_rows(ids.iter().map(|&i| i.into()));
        let customers = sqlx::query(&format!(
            "SELECT {} FROM customers NOT INDEXED \
             WHERE id IN (SELECT value FROM json_each(?2)) AND tenant_id = ?1",
            Self::CUSTOMER_SELECT
        ))
        .bind(tenant.0)
        .bind(&list)
        .fetch_all(&self.reader)
        .await?;
        let contracts = sqlx::query(&format!(
            "SELECT customer_id, {} FROM contracts INDEXED BY contracts_customer \
             WHERE customer_id IN (SELECT value FROM json_each(?2)) AND tenant_id = ?1 \
             ORDER BY customer_id, sgp_key",
            Self::CONTRACT_SELECT
        ))
        .bind(tenant.0)
        .bind(&list)
        .fetch_all(&self.reader)
        .await?;
        let found = rows::customers_with_contracts(&customers, contracts)?;
        Ok(search::in_order(ids, found))
    }
}

#[async_trait]
impl SearchIndex for SqliteStore {
    async fn search_dirty(&self) -> Result<Vec<TenantId>, StoreError> {
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
            "SELECT tenant_id FROM customer_search_state WHERE dirty_at IS NOT NULL \
             ORDER BY dirty_at",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(ids.into_iter().map(TenantId).collect())
    }

    async fn refresh_search(&self, tenant: TenantId) -> Result<Option<u64>, StoreError> {
        let importing: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE tenant_id = ?1 AND kind = ?2 \
                AND status IN ('running', 'cancelling'))",
        )
        .bind(tenant.0)
        .bind(IMPORT_KIND)
        .fetch_one(&self.reader)
        .await?;
        if importing {
            return Ok(None);
        }
        let started = to_millis(self.clock.now());
        let state =
            sqlx::query("SELECT dirty_at, through FROM customer_search_state WHERE tenant_id = ?1")
                .bind(tenant.0)
                .fetch_optional(&self.reader)
                .await?;
        let (dirty, through) = match &state {
            Some(r) => (r.opt_int("dirty_at")?, r.int("through")?),
            None => (None, 0),
        };
        let mut copied = 0;
        // A small provider is listed from customers itself: nothing to copy
        // yet, and `through` stays, so the first refresh after it grows
        // copies everything changed since.
        let walk = self.refresh_walk(tenant).await?;
        let large = walk.is_some();
        if let Some(walk) = walk {
            let by_id = format!(
                "SELECT id, sgp_key, name, cpf_cnpj, {TAGS} AS tags \
                 FROM customers NOT INDEXED \
                 WHERE id > ?3 AND tenant_id = ?1 \
                    AND (updated_at >= ?2 OR removed_at >= ?2) \
                 ORDER BY id LIMIT ?4"
            );
            let by_key = format!(
                "SELECT id, sgp_key, name, cpf_cnpj, {TAGS} AS tags \
                 FROM customers \
                 WHERE tenant_id = ?1 AND sgp_key > ?3 \
                    AND (updated_at >= ?2 OR removed_at >= ?2) \
                 ORDER BY sgp_key LIMIT ?4"
            );
            let mut after = RefreshCursor::start(walk);
            loop {
                // On the writer, between its own writes: no read of ours
                // holds an old snapshot that would keep the WAL from
                // starting over.
                let chunk = match &after {
                    RefreshCursor::Id(id) => {
                        sqlx::query(&by_id).bind(tenant.0).bind(through).bind(*id)
                    }
                    RefreshCursor::Key(key) => sqlx::query(&by_key)
                        .bind(tenant.0)
                        .bind(through)
                        .bind(key.clone()),
                }
                .bind(REFRESH_CHUNK)
                .fetch_all(&self.pool)
                .await?;
                let Some(last) = chunk.last() else { break };
                after = after.past(last)?;
                let rows = chunk
                    .iter()
                    .map(|r| {
                        let name = r.text("name")?;
                        Ok(serde_json::json!([
                            r.int("id")?,
                            crate::text::search_words(&name),
                            name,
                            r.opt_text("cpf_cnpj")?,
                            r.text("tags")?
                        ]))
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                copied += rows.len() as u64;
                sqlx::query(
                    "INSERT INTO customer_search (customer_id, tenant_id, words, name, doc, \
                        tags) \
                     SELECT value ->> 0, ?1, value ->> 1, value ->> 2, value ->> 3, value ->> 4 \
                     FROM json_each(?2) WHERE true \
                     ON CONFLICT (customer_id) DO UPDATE SET name = excluded.name, \
                        words = excluded.words, doc = excluded.doc, tags = excluded.tags \
                     WHERE customer_search.name IS NOT excluded.name \
                        OR customer_search.doc IS NOT excluded.doc \
                        OR customer_search.tags IS NOT excluded.tags",
                )
                .bind(tenant.0)
                .bind(json_rows(rows.into_iter()))
                .execute(&self.pool)
                .await?;
                // A refresh writes for as long as it takes (40 s for a
                // million customers), faster than the background
                // checkpoint could catch up: the WAL only starts over once
                // it has caught up, and grew to 7 GB. Checkpointing here,
                // on the writer, between chunks keeps it to one chunk's
                // pages.
                sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&self.pool)
                    .await?;
            }
        }
        // A page that marked the provider after `dirty` was read keeps it
        // marked: its rows may have been missed, and the next refresh
        // reads again from a little before this one began.
        sqlx::query(
            "INSERT INTO customer_search_state (tenant_id, dirty_at, through, refreshed_at, \
                indexed) \
             VALUES (?1, NULL, ?2, ?3, \
                (SELECT count(*) FROM customer_search WHERE tenant_id = ?1)) \
             ON CONFLICT (tenant_id) DO UPDATE SET \
                indexed = excluded.indexed, \
                through = CASE WHEN ?4 THEN excluded.through ELSE customer_search_state.through END, \
                refreshed_at = CASE WHEN ?4 THEN excluded.refreshed_at \
                    ELSE customer_search_state.refreshed_at END, \
                dirty_at = CASE WHEN customer_search_state.dirty_at IS ?5 THEN NULL \
                    ELSE customer_search_state.dirty_at END",
        )
        .bind(tenant.0)
        .bind(if large { started - search::OVERLAP_MS } else { through })
        .bind(large.then_some(started))
        .bind(large)
        .bind(dirty)
        .execute(&self.pool)
        .await?;
        Ok(Some(copied))
    }
}

impl SqliteStore {
    /// How a refresh walks `tenant`'s rows (see [`RefreshWalk`]).
    /// `None` for a provider of at most [`LIVE_MAX`] customers, which has
    /// nothing to copy; one count of its rows answers both questions.
    async fn refresh_walk(&self, tenant: TenantId) -> Result<Option<RefreshWalk>, StoreError> {
        // the largest id bounds the table's rows (ids are never reused
        // below it), in one probe of the table's own key
        let table: i64 = sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM customers")
            .fetch_one(&self.reader)
            .await?;
        let share = u64::try_from(table).unwrap_or(0) / REFRESH_TABLE_SHARE;
        let own = self.provider_size(tenant, share.max(LIVE_MAX) + 1).await?;
        Ok((own > LIVE_MAX).then(|| refresh_walk(own, share)))
    }
}

/// Past this share of the table (one in four rows), a provider's refresh
/// walks the table; under it, the provider's own key index.
const REFRESH_TABLE_SHARE: u64 = 4;

/// How a refresh reads a provider's changed rows, a chunk at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RefreshWalk {
    /// In id order through the table (`NOT INDEXED`): each chunk starts
    /// where the last stopped and reads rows in the order they lie, but
    /// also every other provider's on the way, to the table's end. Cheap
    /// when the provider is much of the table.
    Table,
    /// In key order through the provider's `(tenant_id, sgp_key)` index:
    /// its own rows only, each found through the index. A provider of
    /// 10,000 among a million customers refreshed by walking the table
    /// read the million on SQLite's one writer, every time one of its
    /// customers changed.
    OwnKeys,
}

/// [`RefreshWalk::OwnKeys`] when the provider has at most `share` rows
/// (a [`REFRESH_TABLE_SHARE`]th of the table), so a refresh never reads
/// more than that many times the provider's own rows.
fn refresh_walk(own: u64, share: u64) -> RefreshWalk {
    if own <= share {
        RefreshWalk::OwnKeys
    } else {
        RefreshWalk::Table
    }
}

/// Where the next chunk of a refresh starts.
enum RefreshCursor {
    Id(i64),
    Key(String),
}

impl RefreshCursor {
    fn start(walk: RefreshWalk) -> Self {
        match walk {
            RefreshWalk::Table => RefreshCursor::Id(0),
            // every key sorts after the empty text
            RefreshWalk::OwnKeys => RefreshCursor::Key(String::new()),
        }
    }

    /// The cursor past `last`, the chunk's last row.
    fn past(&self, last: &sqlx::sqlite::SqliteRow) -> Result<Self, StoreError> {
        Ok(match self {
            RefreshCursor::Id(_) => RefreshCursor::Id(last.int("id")?),
            RefreshCursor::Key(_) => RefreshCursor::Key(last.text("sgp_key")?),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_provider_refreshes_through_its_own_keys_unless_it_is_much_of_the_table() {
        use super::{refresh_walk, RefreshWalk};
        // 10,000 customers among a million: its own 10,000, not the million
        assert_eq!(refresh_walk(10_000, 250_000), RefreshWalk::OwnKeys);
        // a million alone: through the table, in the order rows lie
        assert_eq!(refresh_walk(1_000_000, 250_000), RefreshWalk::Table);
        assert_eq!(refresh_walk(250_001, 250_000), RefreshWalk::Table);
    }

    use super::*;
    use crate::store::search::{Statement, Wanted};

    fn conditions(wanted: &Wanted) -> String {
        Statement::<Lite>::new().conditions(wanted, None)
    }

    #[test]
    fn a_lone_status_or_removed_flag_is_checked_live_and_with_others_on_the_tags() {
        let removed = Wanted {
            removed: Some(false),
            ..Wanted::default()
        };
        let live = conditions(&removed);
        assert!(live.contains("EXISTS (SELECT 1 FROM customers c"), "{live}");
        assert!(!live.contains("tags"), "{live}");
        let status = Wanted {
            status: Some("ativo".into()),
            ..Wanted::default()
        };
        assert!(conditions(&status).contains("FROM contracts k"));
        let together = Wanted {
            words: Some(vec!["silva".into()]),
            ..status
        };
        let tags = conditions(&together);
        assert!(
            tags.contains("s.tags") && !tags.contains("contracts"),
            "{tags}"
        );
        let flags = Wanted {
            removed: Some(true),
            ..removed
        };
        assert!(!conditions(&Wanted {
            status: Some("ativo".into()),
            ..flags
        })
        .contains("EXISTS"));
    }

    /// A double quote inside a quoted FTS5 string is doubled: the string
    /// still parses, and matches the text it came from.
    #[tokio::test]
    async fn fts_strings_hold_their_quotes() {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::query("CREATE VIRTUAL TABLE t USING fts5(x)")
            .execute(&mut c)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t (rowid, x) VALUES (1, 'dona o\"brien'), (2, 'o brie')")
            .execute(&mut c)
            .await
            .unwrap();
        for (q, want) in [
            (fts_string("o\"brien"), vec![1]),
            (format!("{}*", fts_string("o\"bri")), vec![1, 2]),
        ] {
            let found: Vec<i64> =
                sqlx::query_scalar("SELECT rowid FROM t WHERE t MATCH ?1 ORDER BY 1")
                    .bind(&q)
                    .fetch_all(&mut c)
                    .await
                    .unwrap_or_else(|e| panic!("{q}: {e}"));
            assert_eq!(found, want, "{q}");
        }
    }
}
