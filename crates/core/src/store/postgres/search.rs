//! PostgreSQL side of customer search: the statements of
//! [`search::list`](crate::store::search::list), the full-text word index
//! (`to_tsvector('simple', words)` under GIN), and the refresh that fills
//! `customer_search`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::PgStore;
use crate::import::IMPORT_KIND;
use crate::model::{StoredCustomer, TenantId, CUSTOMER_COUNT_CAP};
use sqlx::Row;

use crate::store::rows::{self, RowExt};
use crate::store::search::{
    self, Arg, Dialect, IndexQuery, IndexRows, LiveRow, SearchIndex, SearchQueries, Source,
    Statement, Terms, Wanted, LIVE_MAX, REFRESH_CHUNK, REMOVED_TAG,
};
use crate::store::StoreError;

pub(crate) struct Pg;

/// The expression of the index `customer_search_words`: the name's words,
/// the tags (see [`search::status_tag`]) and each word joined to each
/// status's tag (see [`status_words_prefix`]).
const WORDS_INDEXED: &str = "(to_tsvector('simple', words) || \
    array_to_tsvector(string_to_array(tags, ' ')) || \
    array_to_tsvector(string_to_array(status_words, ' ')))";

impl Dialect for Pg {
    fn param(n: usize) -> String {
        format!("${n}")
    }
    fn in_ids(column: &str, n: usize) -> String {
        // `= ANY`, planned for the list's values (the statements are
        // unnamed): looked up by key among many rows, or tested against the
        // hashed list along a small provider's index. A semi-join on
        // `unnest` was estimated at 200 ids and tested each of a provider's
        // matches against the whole list, 8,000 ids: 383 ms instead of 5.
        // (An earlier walk of the provider's order index with `= ANY`, 160
        // ms, came from the cached plan made without the values.)
        format!("{column} = ANY(${n}::bigint[])")
    }
    fn sort_few() -> &'static str {
        // An expression, not the indexed column: given the index's order,
        // the planner walked the provider's whole order index testing each
        // row against the few ids (160 ms for 1,000 of 1,000,000) instead
        // of looking them up and sorting them. Same order ("C" collation).
        "(s.words || ''), s.customer_id"
    }
    fn position(text: &str, p: &str) -> String {
        format!("strpos({text}, {p})")
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
    fn words_query(words: &[&str], terms: &Terms) -> String {
        lexemes_query(words, terms, "")
    }
    fn index_query(
        words: &[&str],
        terms: &Terms,
        status: Option<&str>,
        removed: Option<bool>,
    ) -> IndexQuery {
        // the tags as a tsquery's own text, each quoted: taken verbatim,
        // where `to_tsquery` would parse the '_' away
        let mut tags: Vec<String> = Vec::new();
        let mut words = words;
        if let Some(status) = status {
            let tag = search::status_tag(status);
            if !words.is_empty() && words.iter().all(|w| joins_a_status(w, terms)) {
                // each word with the status, one lexeme of the index each
                // (see `status_words_prefix`): one posting list a word, where the
                // word's and the status's were intersected
                tags.push(lexemes_query(words, terms, &status_words_prefix(&tag)));
                words = &[];
            } else {
                tags.push(tsquery_lexeme(&tag));
            }
        }
        match removed {
            Some(true) => tags.push(tsquery_lexeme(REMOVED_TAG)),
            Some(false) => tags.push(format!("!{}", tsquery_lexeme(REMOVED_TAG))),
            None => {}
        }
        IndexQuery {
            words: (!words.is_empty()).then(|| Self::words_query(words, terms)),
            tags: (!tags.is_empty()).then(|| tags.join(" & ")),
        }
    }
    fn index_in(t: &str, words: Option<&str>, tags: Option<&str>, _alone: bool) -> String {
        // (the ids are read from the table's rows either way)
        index_select("customer_id AS id", t, words, tags)
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
    fn shortest_looked_up() -> usize {
        // no prefix index: any prefix gathers every lexeme it starts
        2
    }
}

/// What every lexeme of the word index that joins a name's word to the
/// status tag `tag` starts with (column `status_words`, generated from
/// the tags and words by the SQL function `customer_search_status_words`,
/// migration `20261210000001_customer_search_status_words.sql`).
fn status_words_prefix(tag: &str) -> String {
    format!("{tag}:")
}

/// Whether the typed word `word` is asked for with a status as the
/// joined lexemes of [`status_words_prefix`]: when it is looked up as whole
/// lexemes of the index (`terms`), or as a prefix made of letters only.
/// `to_tsquery` parses a typed word as the index's parser did the names
/// ("1e5a" is the two lexemes "1e5" and "a"); joined to a status verbatim,
/// such a word would find nothing. Letters alone are always one lexeme.
fn joins_a_status(word: &str, terms: &Terms) -> bool {
    terms.get(word).is_some_and(|t| !t.is_empty()) || word.bytes().all(|b| b.is_ascii_lowercase())
}

/// A tsquery's text for `words`, each lexeme after `prefix` (the name's
/// own lexemes when it is empty): a typed word as the lexemes it starts
/// when they are known and few (see `search::word_terms`), or as a prefix.
fn lexemes_query(words: &[&str], terms: &Terms, prefix: &str) -> String {
    let lexeme = |w: &str| tsquery_lexeme(&format!("{prefix}{w}"));
    words
        .iter()
        .map(|w| match terms.get(*w) {
            Some(whole) if !whole.is_empty() => {
                let any: Vec<String> = whole.iter().map(|t| lexeme(t)).collect();
                format!("({})", any.join(" | "))
            }
            _ => format!("{}:*", lexeme(w)),
        })
        .collect::<Vec<_>>()
        .join(" & ")
}

/// `text` as one quoted lexeme of a tsquery's text, its quotes and
/// backslashes escaped. What reaches here is folded to [a-z0-9_] already,
/// with a ':' between a status's tag and a word; the quoting holds
/// whatever does.
fn tsquery_lexeme(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// `columns` of provider `t`'s rows that the word index finds for the
/// words' query bound as `words` and the tags' bound as `tags`.
fn index_select(columns: &str, t: &str, words: Option<&str>, tags: Option<&str>) -> String {
    let query = match (words, tags) {
        (Some(w), Some(g)) => format!("(to_tsquery('simple', {w}) && {g}::tsquery)"),
        (Some(w), None) => format!("to_tsquery('simple', {w})"),
        (None, Some(g)) => format!("{g}::tsquery"),
        (None, None) => "''::tsquery".to_owned(),
    };
    format!(
        "SELECT {columns} FROM customer_search WHERE tenant_id = {t} \
         AND {WORDS_INDEXED} @@ {query}"
    )
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

    async fn terms_starting(
        &self,
        tenant: TenantId,
        words: &[&str],
        limit: usize,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        // The provider's own lexemes, from its counts (kept by triggers in
        // the transaction that writes its rows, so never behind them).
        // Typed words are letters and digits: their ranges never reach
        // the tags and the words joined to statuses, which start with '_'.
        // Every provider's lexemes (`customer_search_terms`, which the
        // refresh filled until 2026-12-04) let a neighbour's names decide
        // how a provider's word is asked (a prefix starting more than
        // `MAX_TERMS` lexemes anywhere is asked as a prefix), and grew
        // with every name any SGP ever sent.
        let vocabulary = format!(
            "(SELECT lexeme AS term FROM customer_search_lexemes WHERE tenant_id = ${}) v",
            2 * words.len() + 1
        );
        let sql = search::terms_starting_sql::<Pg>(&vocabulary, words.len(), limit);
        let mut q = sqlx::query_as::<_, (i32, String)>(&sql);
        for word in words {
            q = q.bind(*word).bind(search::word_range_end(word));
        }
        let rows = q.bind(tenant.0).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|(i, t)| (i64::from(i), t)).collect())
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

    async fn index_rows(
        &self,
        tenant: TenantId,
        source: &Source<'_>,
        wanted: &Wanted,
    ) -> Result<Option<IndexRows>, StoreError> {
        // The GIN index gives row addresses: the rows are read either way,
        // and their words, CPF/CNPJ and tags come with them (as one JSON
        // value, as for `live_rows`). Looked up again by id, a second
        // statement took as long as the first (27 ms for 6,000 of
        // 1,000,000).
        let Source::Index {
            words,
            terms,
            status,
            removed,
        } = source
        else {
            return Ok(None);
        };
        if let Some(bound) = bounding_lexemes(words, terms, *status, *removed) {
            if self.held_past_cap(tenant, &bound).await? {
                return Ok(Some(IndexRows::PastCap));
            }
        }
        let mut st = Statement::<Pg>::new();
        let (w, g) = st.bind_index_query(words, terms, *status, *removed);
        let rows = index_select(
            "customer_id AS id, words, doc, tags",
            &Pg::param(1),
            w.as_deref(),
            g.as_deref(),
        );
        // Counted first: past the cap the rows are not wanted, and putting
        // 10,001 of them into JSON and reading them back took 40 ms (a
        // surname: 24 -> 65 ms a page)
        let cap = CUSTOMER_COUNT_CAP;
        let sql = format!(
            "SELECT coalesce(json_agg(json_build_array(id, words, doc, tags)) \
                FILTER (WHERE n <= {cap}), '[]')::text AS rows, coalesce(max(n), 0) AS n \
             FROM (SELECT *, count(*) OVER () AS n FROM ({rows} LIMIT {}) x) r",
            cap + 1
        );
        let row = bound(sqlx::query(&sql), tenant, &st.args)
            .fetch_one(&self.pool)
            .await?;
        if row.int("n")? as u64 > cap {
            return Ok(Some(IndexRows::PastCap));
        }
        let rows = search::index_rows_from_json(&row.text("rows")?, wanted.status.as_deref())?;
        Ok(Some(IndexRows::Few(rows)))
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

impl PgStore {
    /// Whether the query `bound` comes from matches more than the cap of
    /// provider `tenant`'s indexed customers, known from the counts of
    /// its bounding lexemes (table `customer_search_lexemes`, kept by
    /// triggers: migration `20261211000001_customer_search_lexemes.sql`)
    /// without reading a row: a surname with `ativo` at 1,000,000 read
    /// 10,001 rows to learn it.
    async fn held_past_cap(&self, tenant: TenantId, bound: &Bound) -> Result<bool, StoreError> {
        let cap = i64::try_from(CUSTOMER_COUNT_CAP).unwrap_or(i64::MAX);
        // past the cap plus every removed customer, when those are left out
        let past = "customers > $2 + CASE WHEN $3 THEN coalesce((SELECT r.customers \
            FROM customer_search_lexemes r WHERE r.tenant_id = $1 AND r.lexeme = $4), 0) \
            ELSE 0 END";
        let which = match &bound.lexemes {
            Asked::Whole(_) => "lexeme = ANY($5::text[])",
            Asked::Prefix(_) => "lexeme >= $5 AND lexeme < $6",
        };
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM customer_search_lexemes \
             WHERE tenant_id = $1 AND {which} AND {past})"
        );
        let q = sqlx::query_scalar(&sql)
            .bind(tenant.0)
            .bind(cap)
            .bind(bound.less_removed)
            .bind(REMOVED_TAG);
        let q = match &bound.lexemes {
            Asked::Whole(lexemes) => q.bind(lexemes),
            Asked::Prefix(prefix) => q.bind(prefix).bind(search::word_range_end(prefix)),
        };
        Ok(q.fetch_one(&self.pool).await?)
    }
}

/// Lexemes of the word index.
#[derive(Debug, PartialEq)]
enum Asked {
    /// Any of these.
    Whole(Vec<String>),
    /// Any starting with this.
    Prefix(String),
}

/// What tells a lower bound of a query's matches: the most customers
/// holding one of `lexemes`, less every removed customer when
/// `less_removed` (the query leaves them out).
#[derive(Debug, PartialEq)]
struct Bound {
    lexemes: Asked,
    less_removed: bool,
}

/// Lexemes of the word index that each satisfy every clause of what
/// [`Pg::index_query`] asks for: a customer holding one of them matches,
/// so the most customers holding one is a lower bound of the query's
/// matches. One word, with a status or not ("silva" with `ativo`: the
/// lexeme `_ativo:silva`), or a word whose lexemes start with another
/// typed word ("marcos mar": `marcos`). "Not removed" is no lexeme's:
/// a customer holding one matches unless removed, and the bound is less
/// every removed customer ("silva" still in SGP: 60,838 less 5,000).
/// None when no lexeme satisfies every clause: two unrelated words, a
/// word and the removed flag, or a typed word that is not letters only
/// asked through `to_tsquery`, which may parse it into several lexemes.
fn bounding_lexemes(
    words: &[&str],
    terms: &Terms,
    status: Option<&str>,
    removed: Option<bool>,
) -> Option<Bound> {
    let letters = |w: &str| w.bytes().all(|b| b.is_ascii_lowercase());
    let mut clauses = Vec::new();
    if removed == Some(true) {
        clauses.push(Asked::Whole(vec![REMOVED_TAG.to_owned()]));
    }
    // (as `index_query` decides)
    let joined = !words.is_empty() && words.iter().all(|w| joins_a_status(w, terms));
    let prefix = match status {
        Some(s) if joined => status_words_prefix(&search::status_tag(s)),
        Some(s) => {
            clauses.push(Asked::Whole(vec![search::status_tag(s)]));
            String::new()
        }
        None => String::new(),
    };
    let joined = joined && status.is_some();
    for word in words {
        let whole = terms.get(*word).filter(|t| !t.is_empty());
        if !joined && !whole.map_or(letters(word), |w| w.iter().all(|t| letters(t))) {
            return None;
        }
        clauses.push(match whole {
            Some(w) => Asked::Whole(w.iter().map(|t| format!("{prefix}{t}")).collect()),
            None => Asked::Prefix(format!("{prefix}{word}")),
        });
    }
    let less_removed = removed == Some(false);
    let holds = |clause: &Asked, lexeme: &str| match clause {
        Asked::Whole(any) => any.iter().any(|l| l == lexeme),
        Asked::Prefix(p) => lexeme.starts_with(p.as_str()),
    };
    if let Some(Asked::Whole(any)) = clauses.iter().find(|c| matches!(c, Asked::Whole(_))) {
        let every: Vec<String> = any
            .iter()
            .filter(|l| clauses.iter().all(|c| holds(c, l)))
            .cloned()
            .collect();
        return (!every.is_empty()).then_some(Bound {
            lexemes: Asked::Whole(every),
            less_removed,
        });
    }
    // prefixes only: the longest, if the others start it
    let longest = clauses
        .iter()
        .filter_map(|c| match c {
            Asked::Prefix(p) => Some(p),
            Asked::Whole(_) => None,
        })
        .max_by_key(|p| p.len())?;
    clauses.iter().all(|c| holds(c, longest)).then(|| Bound {
        lexemes: Asked::Prefix(longest.clone()),
        less_removed,
    })
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
                    "SELECT id, name, cpf_cnpj, trim(coalesce((SELECT string_agg(DISTINCT \
                            '_' || k.status, ' ' ORDER BY '_' || k.status) \
                        FROM contracts k WHERE k.customer_id = customers.id), '') \
                        || CASE WHEN removed_at IS NOT NULL THEN ' _removido' ELSE '' END) \
                        AS tags \
                     FROM customers \
                     WHERE id > $3 AND tenant_id = $1 \
                        AND ($2::timestamptz IS NULL OR updated_at >= $2 OR removed_at >= $2) \
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
                let mut docs = Vec::with_capacity(chunk.len());
                let mut tags = Vec::with_capacity(chunk.len());
                for r in &chunk {
                    ids.push(r.int("id")?);
                    words.push(crate::text::search_words(&r.text("name")?));
                    docs.push(r.opt_text("cpf_cnpj")?);
                    tags.push(r.text("tags")?);
                }
                copied += ids.len() as u64;
                // (the rows' lexemes, which `search::word_terms` looks typed
                // words up in, are counted by the triggers of
                // `customer_search` in the statement after this one)
                //
                // Instances of the release before 2026-12-04, still running
                // during an upgrade, look typed words up in every provider's
                // lexemes instead, in this table, and expect it to hold each
                // copied row's before the row. To be dropped, with the
                // table, once no such instance runs.
                sqlx::query(
                    "INSERT INTO customer_search_terms (term) \
                     SELECT DISTINCT t.lexeme FROM unnest($1::text[]) AS w(words), \
                        unnest(to_tsvector('simple', w.words)) AS t \
                     ORDER BY 1 ON CONFLICT DO NOTHING",
                )
                .bind(&words)
                .execute(&self.pool)
                .await?;
                sqlx::query(
                    "INSERT INTO customer_search (customer_id, tenant_id, words, doc, tags) \
                     SELECT r.id, $1, r.words, r.doc, r.tags \
                     FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[]) \
                        AS r(id, words, doc, tags) \
                     ON CONFLICT (customer_id) DO UPDATE SET words = excluded.words, \
                        doc = excluded.doc, tags = excluded.tags \
                     WHERE customer_search.words IS DISTINCT FROM excluded.words \
                        OR customer_search.doc IS DISTINCT FROM excluded.doc \
                        OR customer_search.tags IS DISTINCT FROM excluded.tags",
                )
                .bind(tenant.0)
                .bind(&ids)
                .bind(&words)
                .bind(&docs)
                .bind(&tags)
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

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;

    /// A name with a status asks for each word's lexemes joined to the
    /// status's tag, verbatim; the removed flag stays a tag of its own,
    /// and a status without words is its tag.
    #[test]
    fn a_name_with_a_status_is_asked_as_the_words_joined_to_the_tag() {
        let mut terms = Terms::new();
        terms.insert("silv".to_owned(), vec!["silva".into(), "silvana".into()]);
        let q = Pg::index_query(&["silv", "jo"], &terms, Some("ativo"), Some(false));
        assert_eq!(q.words, None);
        assert_eq!(
            q.tags.as_deref(),
            Some("('_ativo:silva' | '_ativo:silvana') & '_ativo:jo':* & !'_removido'")
        );
        let q = Pg::index_query(&["silv"], &terms, None, Some(true));
        assert_eq!(q.words.as_deref(), Some("('silva' | 'silvana')"));
        assert_eq!(q.tags.as_deref(), Some("'_removido'"));
        let q = Pg::index_query(&[], &terms, Some("cancelado"), Some(true));
        assert_eq!(
            (q.words, q.tags.as_deref()),
            (None, Some("'_cancelado' & '_removido'"))
        );
        // a prefix with digits: parsed as the names were, the tag apart
        let q = Pg::index_query(&["silv", "1e5a"], &terms, Some("ativo"), None);
        assert_eq!(q.words.as_deref(), Some("('silva' | 'silvana') & '1e5a':*"));
        assert_eq!(q.tags.as_deref(), Some("'_ativo'"));
    }

    /// The lexemes that satisfy every clause of a query, each joined to
    /// the status's tag as `index_query` asks for them; none when the
    /// clauses share no lexeme, or a word may be split by `to_tsquery`.
    #[test]
    fn bounding_lexemes_satisfy_every_clause_of_the_query() {
        let mut terms = Terms::new();
        terms.insert("silv".to_owned(), vec!["silva".into(), "silvana".into()]);
        terms.insert("marcos".to_owned(), vec!["marcos".into()]);
        terms.insert("1e".to_owned(), vec!["1e5".into()]);
        terms.insert("zz".to_owned(), vec![]);
        let lexemes = |l: &[&str], less_removed| {
            Some(Bound {
                lexemes: Asked::Whole(l.iter().map(|t| t.to_string()).collect()),
                less_removed,
            })
        };
        let whole = |l: &[&str]| lexemes(l, false);
        let prefix = |p: &str| {
            Some(Bound {
                lexemes: Asked::Prefix(p.to_owned()),
                less_removed: false,
            })
        };
        let bound =
            |words: &[&str], status, removed| bounding_lexemes(words, &terms, status, removed);
        assert_eq!(
            bound(&["silv"], Some("ativo"), None),
            whole(&["_ativo:silva", "_ativo:silvana"])
        );
        assert_eq!(bound(&["silv"], None, None), whole(&["silva", "silvana"]));
        assert_eq!(bound(&["jo"], Some("ativo"), None), prefix("_ativo:jo"));
        assert_eq!(bound(&["jo"], None, None), prefix("jo"));
        // a word no name starts: still its prefix (which holds nothing)
        assert_eq!(bound(&["zz"], None, None), prefix("zz"));
        assert_eq!(bound(&[], Some("cancelado"), None), whole(&["_cancelado"]));
        assert_eq!(bound(&[], None, Some(true)), whole(&[REMOVED_TAG]));
        // words whose lexemes satisfy each other
        assert_eq!(bound(&["marcos", "mar"], None, None), whole(&["marcos"]));
        assert_eq!(
            bound(&["mar", "marcos"], Some("ativo"), None),
            whole(&["_ativo:marcos"])
        );
        assert_eq!(
            bound(&["sil", "silv"], None, None),
            whole(&["silva", "silvana"])
        );
        assert_eq!(bound(&["jo", "jos"], None, None), prefix("jos"));
        // joined verbatim with a status; parsed again by `to_tsquery` without
        assert_eq!(bound(&["1e"], Some("ativo"), None), whole(&["_ativo:1e5"]));
        assert_eq!(bound(&["1e"], None, None), None);
        // not removed: less every removed customer
        assert_eq!(
            bound(&["silv"], None, Some(false)),
            lexemes(&["silva", "silvana"], true)
        );
        assert_eq!(
            bound(&[], Some("cancelado"), Some(false)),
            lexemes(&["_cancelado"], true)
        );
        for (words, status, removed) in [
            (&["silv", "jo"][..], Some("ativo"), None),
            (&["jo", "ma"][..], None, None),
            (&["silv"][..], Some("ativo"), Some(true)),
            (&["1e5a"][..], Some("ativo"), None),
            (&["1e5a"][..], None, None),
            (&[][..], Some("ativo"), Some(true)),
            (&[][..], None, Some(false)),
        ] {
            assert_eq!(bound(words, status, removed), None, "{words:?}");
        }
    }

    /// The store's connections plan without JIT (see `PgStore::connect`),
    /// whatever the server's default.
    #[tokio::test]
    async fn the_store_connections_run_without_jit() {
        let url = std::env::var("TEST_DATABASE_URL")
            .expect("TEST_DATABASE_URL is not set: run ./scripts/test.sh, which starts a server");
        // JIT asked for at startup, whatever the server's default, so that
        // the store's `off` can only come from its own setting
        let mut url = url::Url::parse(&url).unwrap();
        url.query_pairs_mut().append_pair("options[jit]", "on");
        let url = url.to_string();
        let settings = crate::config::DatabaseSettings {
            url: crate::config::DatabaseUrl::parse(&url).unwrap(),
            max_connections: 2,
            connect_timeout: std::time::Duration::from_secs(10),
        };
        let store = PgStore::connect(&settings, std::sync::Arc::new(crate::clock::SystemClock))
            .await
            .unwrap();
        let mut plain = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        let theirs: String = sqlx::query_scalar("SHOW jit")
            .fetch_one(&mut plain)
            .await
            .unwrap();
        assert_eq!(theirs, "on");
        let ours: String = sqlx::query_scalar("SHOW jit")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(ours, "off");
    }

    /// A typed word is looked up among its provider's lexemes alone, as
    /// they are now: a neighbour's words never join its query nor make it
    /// a prefix, and a word no name of the provider holds any more is
    /// gone. In a database of its own on the storage tests' server
    /// (scripts/test.sh sets it).
    #[tokio::test]
    async fn a_typed_word_is_looked_up_among_its_providers_own_lexemes() {
        use crate::store::Store;
        let url = std::env::var("TEST_DATABASE_URL")
            .expect("TEST_DATABASE_URL is not set: run ./scripts/test.sh, which starts a server");
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let mut own = url::Url::parse(&url).unwrap();
        own.set_path(&name);
        let settings = crate::config::DatabaseSettings {
            url: crate::config::DatabaseUrl::parse(own.as_str()).unwrap(),
            max_connections: 2,
            connect_timeout: std::time::Duration::from_secs(10),
        };
        let store = PgStore::connect(&settings, std::sync::Arc::new(crate::clock::SystemClock))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let slug = |s: &str| crate::model::TenantSlug::parse(s).unwrap();
        let a = store
            .ensure_tenant(&slug("termos-a"), "A")
            .await
            .unwrap()
            .id;
        let b = store
            .ensure_tenant(&slug("termos-b"), "B")
            .await
            .unwrap()
            .id;
        for (id, tenant, words, tags) in [
            (1i64, a, "ana silva", "_ativo"),
            (2, b, "bia silveira", "_ativo"),
            (3, b, "caio silvio", ""),
        ] {
            sqlx::query(
                "INSERT INTO customer_search (customer_id, tenant_id, words, tags) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(tenant.0)
            .bind(words)
            .bind(tags)
            .execute(store.pool())
            .await
            .unwrap();
        }
        let terms = |tenant: TenantId| {
            let store = &store;
            async move {
                let mut found = store
                    .terms_starting(tenant, &["sil", "an"], 11)
                    .await
                    .unwrap();
                found.sort();
                found
            }
        };
        let own = |found: &[(i64, &str)]| -> Vec<(i64, String)> {
            found.iter().map(|(i, t)| (*i, (*t).to_owned())).collect()
        };
        assert_eq!(terms(a).await, own(&[(0, "silva"), (1, "ana")]));
        assert_eq!(terms(b).await, own(&[(0, "silveira"), (0, "silvio")]));
        sqlx::query("UPDATE customer_search SET words = 'ana souza' WHERE customer_id = 1")
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(terms(a).await, own(&[(1, "ana")]));
        store.pool().close().await;
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .unwrap();
    }

    /// Quotes and backslashes inside a tsquery's quoted lexeme are escaped:
    /// the text still parses, as the one lexeme it came from. Against the
    /// server the storage tests use (scripts/test.sh sets it).
    #[tokio::test]
    async fn tsquery_lexemes_hold_their_quotes_and_backslashes() {
        let url = std::env::var("TEST_DATABASE_URL")
            .expect("TEST_DATABASE_URL is not set: run ./scripts/test.sh, which starts a server");
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        for text in ["_o'brien", "_a\\b", "_x''\\'y"] {
            let q = tsquery_lexeme(text);
            let (same, other): (bool, bool) = sqlx::query_as(
                "SELECT array_to_tsvector(ARRAY[$1]) @@ $2::tsquery, \
                    array_to_tsvector(ARRAY['_o']) @@ $2::tsquery",
            )
            .bind(text)
            .bind(&q)
            .fetch_one(&mut c)
            .await
            .unwrap_or_else(|e| panic!("{q}: {e}"));
            assert!(same && !other, "{text} as {q}");
        }
        // typed words go through `to_tsquery`, which parses a quoted
        // lexeme's text again: still one query, of the same words
        let (parsed, found): (String, bool) = sqlx::query_as(
            "SELECT to_tsquery('simple', $1)::text, \
                to_tsvector('simple', 'dona o brien') @@ to_tsquery('simple', $1)",
        )
        .bind(tsquery_lexeme("o'brien"))
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert_eq!(parsed, "'o' <-> 'brien'");
        assert!(found);
    }
}
