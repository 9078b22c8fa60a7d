//! Customer search: how the customers page finds a provider's customers,
//! and the search index that large providers are read from.
//!
//! A provider of up to [`LIVE_MAX`] customers is read straight from
//! `customers`: its rows are few enough to filter in memory, and the list
//! is always current. A larger provider is read from `customer_search`,
//! filled off the import's path by [`SearchIndex::refresh_search`] (the
//! migration `20261206000001_customer_search.sql` says why). There a query
//! first looks for a filter with few matches (a CPF/CNPJ prefix, rare
//! words, the removed ones, a rare contract status; the name's words, the
//! status and the removed flag given together are one query of the word
//! index, which holds each customer's statuses and removed mark as tags
//! beside the words and intersects them itself): when one has at most
//! [`CUSTOMER_COUNT_CAP`] matches, those are filtered and sorted whole, and
//! the count is exact. When every filter matches many, the page walks the
//! index in the list's order until it has its rows, and the count stops at
//! the cap ("mais de 10.000").
//!
//! The list's order is the folded name (`words`, see
//! [`crate::text::search_words`]) then the id: accents and case do not
//! move a name away from its letter, and the names whose first word
//! starts with a typed word lie together, one range of the order.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::imports::{CustomerFilter, CustomerSearch as Typed};
use super::StoreError;
use crate::model::{CustomerPage, StoredCustomer, TenantId, CUSTOMER_COUNT_CAP};

/// The most customers a provider may have and still be searched in
/// memory, always current. At 10,000 that took 20 to 90 ms a page (the
/// rows read, folded and sorted for every page); from 2,000 up the index
/// answers in a few milliseconds.
pub(crate) const LIVE_MAX: u64 = 2_000;

/// How far before its start a refresh's successor reads again: an import
/// page stamps its rows before it commits, and one that committed after a
/// refresh read the table must still be read by the next.
pub(crate) const OVERLAP_MS: i64 = 60_000;

/// The most customers a provider whose index was never built yet is read
/// in memory with (slower, but better than an empty list).
pub(crate) const LIVE_FALLBACK_MAX: u64 = 20_000;

/// The fewest indexed customers a provider needs for its name searches to
/// go through the word index (see [`list`]).
pub(crate) const WORD_INDEX_MIN: u64 = 50_000;

/// How many entries of the order a walk reads before it gives up on
/// finding its page that way: matches spread through the order (a
/// surname) fill a page within a few hundred; matches gathered in one
/// stretch of it (a first name) are read as ranges instead (see
/// [`Statement::merged`]).
pub(crate) const WALK_FIRST: i64 = 20_000;

/// Customers copied per refresh statement (and transaction, so SQLite's
/// writer is never held long).
pub(crate) const REFRESH_CHUNK: i64 = 2_000;

/// What the search index needs from storage; every [`super::Store`] has it.
#[async_trait]
pub trait SearchIndex: Send + Sync {
    /// Providers whose customers changed since their last refresh.
    async fn search_dirty(&self) -> Result<Vec<TenantId>, StoreError>;

    /// Copies the provider's customers changed since its last refresh into
    /// the search index. Returns how many, or `None` when it did nothing
    /// because an import of the provider is running (its pages would
    /// compete with the refresh for the database; it runs after).
    async fn refresh_search(&self, tenant: TenantId) -> Result<Option<u64>, StoreError>;
}

/// The statements a backend runs for [`list`]; the flow is the same on
/// both databases.
#[async_trait]
pub(crate) trait SearchQueries: Send + Sync {
    type Dialect: Dialect;

    /// The provider's customers, counted up to `bound`.
    async fn provider_size(&self, tenant: TenantId, bound: u64) -> Result<u64, StoreError>;

    /// Every customer of a small provider, with whether it has a contract
    /// in `status` (false when `None`).
    async fn live_rows(
        &self,
        tenant: TenantId,
        status: Option<&str>,
    ) -> Result<Vec<LiveRow>, StoreError>;

    /// When the provider's search index was last brought up to date, and
    /// how many of its customers it held then.
    async fn index_state(
        &self,
        tenant: TenantId,
    ) -> Result<(Option<DateTime<Utc>>, u64), StoreError>;

    /// Whether the provider's are the only customers in the search index
    /// (then its word indexes need not be checked against the provider).
    async fn index_alone(&self, tenant: TenantId) -> Result<bool, StoreError>;

    /// For each of `words`, up to `limit` whole words of the word index
    /// that start with it, in no particular order: rows of (the word's
    /// position in `words`, a whole word), read by [`terms_starting_sql`] (see
    /// [`word_terms`]). Provider `tenant`'s words where the database keeps
    /// them apart (PostgreSQL), every provider's otherwise.
    async fn terms_starting(
        &self,
        tenant: TenantId,
        words: &[&str],
        limit: usize,
    ) -> Result<Vec<(i64, String)>, StoreError>;

    /// The ids a [`Statement`] selects (as column `id`).
    async fn ids(&self, tenant: TenantId, sql: &str, args: &[Arg]) -> Result<Vec<i64>, StoreError>;

    /// The same in any order (a source's matches, up to 10,001).
    async fn id_set(
        &self,
        tenant: TenantId,
        sql: &str,
        args: &[Arg],
    ) -> Result<Vec<i64>, StoreError> {
        self.ids(tenant, sql, args).await
    }

    /// For a backend that reads the word index's few matches with their
    /// rows (words, CPF/CNPJ, tags), to filter and sort them in memory:
    /// `source`'s, when it is the word index's. `None`: the source's ids
    /// are read, and looked up again.
    async fn index_rows(
        &self,
        _tenant: TenantId,
        _source: &Source<'_>,
        _wanted: &Wanted,
    ) -> Result<Option<IndexRows>, StoreError> {
        Ok(None)
    }

    /// The number a [`Statement::capped_count`] counts (column `n`).
    async fn count(&self, tenant: TenantId, sql: &str, args: &[Arg]) -> Result<u64, StoreError>;

    /// These customers with their contracts, in this order.
    async fn customers(
        &self,
        tenant: TenantId,
        ids: &[i64],
    ) -> Result<Vec<StoredCustomer>, StoreError>;
}

/// The customers page's query (see the module's description).
pub(crate) async fn list<Q: SearchQueries>(
    store: &Q,
    tenant: TenantId,
    filter: &CustomerFilter,
) -> Result<CustomerPage, StoreError> {
    let wanted = Wanted::of(filter);
    let (limit, offset) = (filter.limit, filter.offset);
    let page = |customers, total, total_exact| CustomerPage {
        customers,
        total,
        total_exact,
        limit,
        offset,
        search_refreshed_at: None,
        from_search_index: false,
    };
    if wanted.impossible() {
        return Ok(page(Vec::new(), 0, true));
    }
    let mut live = store.provider_size(tenant, LIVE_MAX + 1).await? <= LIVE_MAX;
    let (refreshed, indexed) = if live {
        (None, 0)
    } else {
        store.index_state(tenant).await?
    };
    if refreshed.is_none() && !live {
        // Never indexed yet (it grew past LIVE_MAX in an import that is
        // still running, or the index is new): read live while that costs
        // little, rather than show an empty list until the refresh
        live = store.provider_size(tenant, LIVE_FALLBACK_MAX + 1).await? <= LIVE_FALLBACK_MAX;
    }
    if live {
        let rows = store.live_rows(tenant, wanted.status.as_deref()).await?;
        let (ids, total) = live_page(rows, &wanted, limit, offset);
        return Ok(page(store.customers(tenant, &ids).await?, total, true));
    }
    let mut wanted = wanted;
    // The word index holds every provider's names: for a provider with
    // few of them, most of a common word's matches are other providers',
    // and walking the provider's own names is quicker
    wanted.use_word_index = indexed >= WORD_INDEX_MIN;
    if wanted.index_source().is_some() {
        wanted.index_alone = store.index_alone(tenant).await?;
    }
    if let Some(words) = wanted.indexed_words() {
        let words: Vec<String> = words.into_iter().map(str::to_owned).collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        wanted.terms = word_terms(store, tenant, &words).await?;
    }
    let (mut within, mut each_past_cap) = find_few(store, tenant, &wanted).await?;
    if wanted.index_alone && within.is_none() && !store.index_alone(tenant).await? {
        // another provider's rows came into the index meanwhile: their
        // matches may have been taken for the provider's, past the cap
        wanted.index_alone = false;
        (within, each_past_cap) = find_few(store, tenant, &wanted).await?;
    }
    let sources = wanted.sources();
    let found = match within {
        Some(Within::Ids(ids, rest)) => {
            let mut st = Statement::<Q::Dialect>::new();
            let sql = st.ordered(&rest, Some(ids), None);
            Found::all(store.ids(tenant, &sql, &st.args).await?, limit, offset)
        }
        Some(Within::Rows(rows)) => {
            let (ids, total) = live_page(rows, &wanted, limit, offset);
            Found {
                ids,
                total,
                exact: true,
            }
        }
        None => {
            let ids = page_of_many(store, tenant, &wanted, limit, offset).await?;
            // a lone filter whose own index found more than the cap is
            // the whole query: counting again would find the same
            let counted = if each_past_cap && wanted.counted_already() {
                CUSTOMER_COUNT_CAP + 1
            } else {
                // several filters, each with many matches, may have few
                // together: counted among the first source's matches (an
                // index lookup each) rather than along the whole order
                let mut st = Statement::<Q::Dialect>::new();
                let sql = st.capped_count(&wanted, sources.first());
                store.count(tenant, &sql, &st.args).await?
            };
            Found::walked(ids, counted)
        }
    };
    let mut out = page(
        store.customers(tenant, &found.ids).await?,
        found.total,
        found.exact,
    );
    out.search_refreshed_at = refreshed;
    out.from_search_index = true;
    Ok(out)
}

/// The word index's matches of a source, read with their rows.
pub(crate) enum IndexRows {
    /// At most the cap: all of them.
    Few(Vec<LiveRow>),
    /// More than the cap.
    PastCap,
}

/// For each typed word that starts at most [`MAX_TERMS`] whole words of
/// the word index, those words: both word indexes find a prefix by
/// gathering every word it starts into one list before the query runs,
/// where whole words are read as they are, skipping ahead ("alves" with
/// `cancelado` at 1,000,000: 14 ms as a prefix, 3 ms as the one word it
/// starts on SQLite; 21 and 10 ms on PostgreSQL).
async fn word_terms<Q: SearchQueries>(
    store: &Q,
    tenant: TenantId,
    words: &[&str],
) -> Result<Terms, StoreError> {
    let shortest = Q::Dialect::shortest_looked_up();
    let looked_up: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| w.len() >= shortest)
        .collect();
    if looked_up.is_empty() {
        return Ok(Terms::new());
    }
    // one statement for all the words: each is a round trip otherwise,
    // on every list of a large provider
    let found = store
        .terms_starting(tenant, &looked_up, MAX_TERMS + 1)
        .await?;
    Ok(terms_found(&looked_up, found))
}

/// The [`Terms`] of `words` from the rows [`SearchQueries::terms_starting`]
/// read: a word that starts more than [`MAX_TERMS`] whole words is left
/// out (looked up as a prefix), one that starts none is kept with none.
pub(crate) fn terms_found(words: &[&str], found: Vec<(i64, String)>) -> Terms {
    let mut each: Vec<Vec<String>> = vec![Vec::new(); words.len()];
    for (i, term) in found {
        if let Some(list) = usize::try_from(i).ok().and_then(|i| each.get_mut(i)) {
            list.push(term);
        }
    }
    words
        .iter()
        .zip(each)
        .filter(|(_, terms)| terms.len() <= MAX_TERMS)
        .map(|(w, mut terms)| {
            // (read in any order: `limit` only tells "more than MAX_TERMS")
            terms.sort_unstable();
            ((*w).to_owned(), terms)
        })
        .collect()
}

/// The statement of [`SearchQueries::terms_starting`] over `vocabulary`
/// (a table, or an aliased subquery, of the index's whole words, column
/// `term`) for `words` typed
/// words: each word binds the start and the end of its range (see
/// [`word_range_end`]), in turn from the first placeholder. Unordered:
/// any `limit` of a word's whole words tell whether it starts more than
/// `limit - 1`.
pub(crate) fn terms_starting_sql<D: Dialect>(
    vocabulary: &str,
    words: usize,
    limit: usize,
) -> String {
    (0..words)
        .map(|i| {
            let (from, to) = (D::param(2 * i + 1), D::param(2 * i + 2));
            format!(
                "SELECT {i} AS i, term FROM (SELECT term FROM {vocabulary} \
                 WHERE term >= {from} AND term < {to} LIMIT {limit}) t{i}"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// A source's few matches (at most the cap), all of them.
enum Within {
    /// Their ids, and what remains to check of the list's filters.
    Ids(Vec<i64>, Wanted),
    /// Their rows of the search index, to filter and sort in memory.
    Rows(Vec<LiveRow>),
}

/// The matches of `wanted`, whole, from the first of its sources that has
/// at most the cap of them; and whether every source read found more
/// customers than the cap.
async fn find_few<Q: SearchQueries>(
    store: &Q,
    tenant: TenantId,
    wanted: &Wanted,
) -> Result<(Option<Within>, bool), StoreError> {
    let mut within = None;
    let mut each_past_cap = true;
    for source in &wanted.sources() {
        let mut st = Statement::<Q::Dialect>::new();
        st.alone = wanted.index_alone;
        match store.index_rows(tenant, source, wanted).await? {
            Some(IndexRows::Few(rows)) => {
                within = Some(Within::Rows(rows));
                break;
            }
            Some(IndexRows::PastCap) => continue,
            None => {}
        }
        // a status gives one row per contract, the others one per customer
        let contracts = matches!(source, Source::Status(_));
        let per_customer = if contracts {
            Q::Dialect::status_rows_per_customer()
        } else {
            1
        };
        let bound = per_customer * (CUSTOMER_COUNT_CAP + 1);
        let sql = st.source(source, bound);
        let mut ids = store.id_set(tenant, &sql, &st.args).await?;
        let whole = (ids.len() as u64) < bound;
        if contracts {
            ids.sort_unstable();
            ids.dedup();
        }
        if ids.len() as u64 <= CUSTOMER_COUNT_CAP {
            if whole {
                within = Some(Within::Ids(ids, wanted.without(source)));
                break;
            }
            // as many rows as read, yet few customers: not known either way
            each_past_cap = false;
        }
    }
    Ok((within, each_past_cap))
}

/// One page of a query whose every source found more than the cap. Its
/// matches spread through the order (a surname) fill the page within the
/// order's first [`WALK_FIRST`] entries. Otherwise, when the matches whose
/// first word starts with no typed word are few (a first name: "thiago"
/// in "ana thiago"), the rest lie in one range of the order per typed
/// word: those ranges and the few are merged. Failing both, the order is
/// walked until the page is full.
async fn page_of_many<Q: SearchQueries>(
    store: &Q,
    tenant: TenantId,
    wanted: &Wanted,
    limit: u32,
    offset: u64,
) -> Result<Vec<i64>, StoreError> {
    if let Some(words) = wanted.indexed_words() {
        // (a page past the walk's end cannot be within it)
        if offset.saturating_add(u64::from(limit)) <= WALK_FIRST as u64 {
            let mut st = Statement::<Q::Dialect>::new();
            let sql = st.short_walk(wanted, limit, offset);
            let ids = store.ids(tenant, &sql, &st.args).await?;
            if ids.len() == limit as usize {
                return Ok(ids);
            }
        }
        let mut st = Statement::<Q::Dialect>::new();
        st.alone = wanted.index_alone;
        let sql = st.rest_source(&words, &wanted.terms, CUSTOMER_COUNT_CAP + 1);
        let rest = store.id_set(tenant, &sql, &st.args).await?;
        if rest.len() as u64 <= CUSTOMER_COUNT_CAP {
            let mut st = Statement::<Q::Dialect>::new();
            let sql = st.merged(wanted, &range_words(&words), rest, limit, offset);
            return store.ids(tenant, &sql, &st.args).await;
        }
    }
    let mut st = Statement::<Q::Dialect>::new();
    let sql = st.ordered(wanted, None, Some((limit, offset)));
    store.ids(tenant, &sql, &st.args).await
}

/// The typed words whose ranges of the order hold every match outside
/// the rest: one of the indexed words matches only the first word of such
/// a match, so the range of one-letter words is never needed, nor that of
/// a word another typed word starts (its range lies within the other's).
pub(crate) fn range_words<'a>(words: &[&'a str]) -> Vec<&'a str> {
    let mut out: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| !words.iter().any(|o| o.len() < w.len() && w.starts_with(o)))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Puts `found` (fetched by id, in any order) in the order of `ids`.
pub(crate) fn in_order(ids: &[i64], found: Vec<StoredCustomer>) -> Vec<StoredCustomer> {
    let mut by_id: std::collections::HashMap<i64, StoredCustomer> =
        found.into_iter().map(|c| (c.id, c)).collect();
    ids.iter().filter_map(|id| by_id.remove(id)).collect()
}

/// A list request as the queries take it.
#[derive(Clone, Debug)]
pub(crate) struct Wanted {
    /// Folded words that must each start a word of the name; `Some(empty)`
    /// when the admin typed only characters that are never searched.
    pub words: Option<Vec<String>>,
    /// The start of the CPF/CNPJ digits.
    pub doc: Option<String>,
    pub status: Option<String>,
    pub removed: Option<bool>,
    /// Whether name words may be looked up in the word index.
    pub use_word_index: bool,
    /// Whether the provider is alone in the search index.
    pub index_alone: bool,
    /// The whole words of the index that typed words start, where the
    /// backend looked them up (see [`word_terms`]).
    pub terms: Terms,
}

/// The most whole words a typed word is looked up as (see
/// [`word_terms`]); past them, as a prefix.
pub(crate) const MAX_TERMS: usize = 16;

/// Typed words with the whole words of the index that each starts (see
/// [`word_terms`]).
pub(crate) type Terms = std::collections::HashMap<String, Vec<String>>;

impl Default for Wanted {
    fn default() -> Self {
        Wanted {
            words: None,
            doc: None,
            status: None,
            removed: None,
            use_word_index: true,
            index_alone: false,
            terms: Terms::new(),
        }
    }
}

impl Wanted {
    pub fn of(filter: &CustomerFilter) -> Self {
        let (words, doc) = match filter.search() {
            Some(Typed::Words(w)) => (Some(w), None),
            Some(Typed::Document(d)) => (None, Some(d)),
            None => (None, None),
        };
        Wanted {
            words,
            doc,
            status: filter.contract_status.clone(),
            removed: filter.removed,
            ..Wanted::default()
        }
    }

    /// Whether nothing can match (a search of punctuation only).
    pub fn impossible(&self) -> bool {
        self.words.as_ref().is_some_and(Vec::is_empty)
    }

    /// The sources of few matches to try, cheapest first.
    pub fn sources(&self) -> Vec<Source<'_>> {
        let mut out = Vec::new();
        if let Some(d) = &self.doc {
            out.push(Source::Doc(d));
        }
        let index = self.index_source();
        let (status_in, removed_in) = match &index {
            Some(Source::Index {
                status, removed, ..
            }) => (status.is_some(), removed.is_some()),
            _ => (false, false),
        };
        out.extend(index);
        // (with the word index's, their matches are a superset of its)
        if self.removed == Some(true) && !removed_in {
            out.push(Source::Removed);
        }
        if let Some(s) = self.status.as_deref().filter(|_| !status_in) {
            out.push(Source::Status(s));
        }
        out
    }

    /// The word index's source: the name's words of two letters or more
    /// (a one-letter prefix would merge most of the index; it keeps two-
    /// and three-letter prefixes of its own), with the status and the
    /// removed flag, whose tags it holds too and intersects itself (a
    /// surname and a status each match many customers, together few);
    /// or the status and the removed flag together. A status or the
    /// removed flag alone is read from the contracts or customers, always
    /// current.
    pub fn index_source(&self) -> Option<Source<'_>> {
        if !self.use_word_index {
            return None;
        }
        let words: Vec<&str> = self
            .words
            .iter()
            .flatten()
            .filter(|w| w.len() >= 2)
            .map(String::as_str)
            .collect();
        // a stored status's name, [a-z_], is a tag of the index; any
        // other text (none, or the removed mark's own name) is left to
        // the contracts (none has it)
        let status = self.status.as_deref().filter(|s| {
            !s.is_empty()
                && status_tag(s) != REMOVED_TAG
                && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        });
        if words.is_empty() && (status.is_none() || self.removed.is_none()) {
            return None;
        }
        Some(Source::Index {
            words,
            terms: &self.terms,
            status,
            removed: self.removed,
        })
    }

    /// The typed words the word indexes are asked for, if they are.
    fn indexed_words(&self) -> Option<Vec<&str>> {
        match self.index_source() {
            Some(Source::Index { words, .. }) if !words.is_empty() => Some(words),
            _ => None,
        }
    }

    /// `self` less the filters `source` answers exactly: a status or the
    /// removed flag read from the contracts or customers needs no second
    /// look at the row's tags (which are as of the index's last refresh),
    /// nor do those the word index answered. The name's words are always
    /// checked again, on the row's words (cheap, and the same matching on
    /// both databases).
    fn without(&self, source: &Source<'_>) -> Wanted {
        let mut out = self.clone();
        match source {
            Source::Doc(_) => out.doc = None,
            Source::Removed => out.removed = None,
            Source::Status(_) => out.status = None,
            Source::Index {
                status, removed, ..
            } => {
                if status.is_some() {
                    out.status = None;
                }
                if removed.is_some() {
                    out.removed = None;
                }
            }
        }
        out
    }

    /// Whether the list's one filter is a contract status or the removed
    /// flag (checked on the contracts and customers themselves).
    pub fn lone_flag(&self) -> bool {
        self.filters() == 1 && (self.status.is_some() || self.removed.is_some())
    }

    /// How many filters there are.
    fn filters(&self) -> usize {
        usize::from(self.words.is_some())
            + usize::from(self.doc.is_some())
            + usize::from(self.status.is_some())
            + usize::from(self.removed.is_some())
    }

    /// Whether, every source having found more than the cap, the matches
    /// are known to be more than the cap: one source that answers every
    /// filter whole (the word index's, when no typed word has one letter).
    pub fn counted_already(&self) -> bool {
        let whole = |s: &Source<'_>| match s {
            Source::Index { words, .. } => {
                self.words.as_ref().is_none_or(|w| w.len() == words.len())
            }
            // a status's rows are contracts: `list` counts the distinct
            // customers among them before it trusts them past the cap
            _ => self.filters() == 1,
        };
        matches!(&self.sources()[..], [only] if whole(only))
    }

    /// Whether a live row (a small provider's) matches.
    pub fn matches(&self, row: &LiveRow) -> bool {
        self.words
            .as_ref()
            .is_none_or(|w| crate::text::words_match(&row.words, w))
            && self.doc.as_ref().is_none_or(|d| {
                row.doc
                    .as_deref()
                    .is_some_and(|doc| doc.starts_with(d.as_str()))
            })
            && (self.status.is_none() || row.has_status)
            && self.removed.is_none_or(|r| r == row.removed)
    }
}

/// Where a list may find its few matches.
#[derive(Clone, Debug)]
pub(crate) enum Source<'a> {
    Doc(&'a str),
    /// From the word index: names with a word starting with each of
    /// `words`, with a contract in `status` when given, removed or not
    /// when `removed` is given.
    Index {
        words: Vec<&'a str>,
        terms: &'a Terms,
        status: Option<&'a str>,
        removed: Option<bool>,
    },
    Removed,
    Status(&'a str),
}

/// A small provider's customer as the in-memory filter needs it.
#[derive(Clone, Debug)]
pub(crate) struct LiveRow {
    pub id: i64,
    /// The folded name: what is searched, and the list's order.
    pub words: String,
    pub doc: Option<String>,
    pub removed: bool,
    pub has_status: bool,
}

/// A small provider's rows from one JSON array of `[id, name, document,
/// removed, has_status]` (flags as 0/1 or booleans).
pub(crate) fn live_rows_from_json(json: &str) -> Result<Vec<LiveRow>, StoreError> {
    type Raw = (
        i64,
        String,
        Option<String>,
        serde_json::Value,
        serde_json::Value,
    );
    let raw: Vec<Raw> = serde_json::from_str(json)
        .map_err(|e| StoreError::Corrupt(format!("customer search rows: {e}")))?;
    let flag = |v: &serde_json::Value| v.as_bool().unwrap_or_else(|| v.as_i64() == Some(1));
    Ok(raw
        .into_iter()
        .map(|(id, name, doc, removed, has_status)| LiveRow {
            id,
            words: crate::text::search_words(&name),
            doc,
            removed: flag(&removed),
            has_status: flag(&has_status),
        })
        .collect())
}

/// Index rows from one JSON array of `[id, words, doc, tags]`; a row
/// `has_status` when its tags have `status`.
pub(crate) fn index_rows_from_json(
    json: &str,
    status: Option<&str>,
) -> Result<Vec<LiveRow>, StoreError> {
    type Raw = (i64, String, Option<String>, String);
    let raw: Vec<Raw> = serde_json::from_str(json)
        .map_err(|e| StoreError::Corrupt(format!("customer search rows: {e}")))?;
    let wanted = status.map(status_tag);
    Ok(raw
        .into_iter()
        .map(|(id, words, doc, tags)| {
            let has = |tag: &str| tags.split(' ').any(|t| t == tag);
            LiveRow {
                id,
                removed: has(REMOVED_TAG),
                has_status: wanted.as_deref().is_some_and(has),
                words,
                doc,
            }
        })
        .collect())
}

/// The ids of a small provider's page, in the list's order (folded name,
/// then id), and the exact number of matches.
pub(crate) fn live_page(
    mut rows: Vec<LiveRow>,
    wanted: &Wanted,
    limit: u32,
    offset: u64,
) -> (Vec<i64>, u64) {
    rows.retain(|r| wanted.matches(r));
    rows.sort_by(|a, b| a.words.cmp(&b.words).then(a.id.cmp(&b.id)));
    let total = rows.len() as u64;
    let ids = rows
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(limit as usize)
        .map(|r| r.id)
        .collect();
    (ids, total)
}

/// The bound end of a CPF/CNPJ prefix range: the digits sort before ':',
/// so `doc >= prefix AND doc < prefix || ':'` is "starts with prefix" on
/// an ordinary index, on both databases.
pub(crate) fn doc_range_end(prefix: &str) -> String {
    format!("{prefix}:")
}

/// The bound end of the range of folded names starting with `word`: the
/// folded names hold [a-z0-9 ], all before '{'.
pub(crate) fn word_range_end(word: &str) -> String {
    format!("{word}{{")
}

/// The word index's token for customers with a contract in `status` (a
/// stored status name, [a-z_]): '_' and the name. No typed word starts
/// with '_' (they are folded to [a-z0-9]), so a name's prefix never
/// matches a tag (the migration `20261209000001_customer_search_tags.sql`).
pub(crate) fn status_tag(status: &str) -> String {
    format!("_{status}")
}

/// The word index's token for customers SGP no longer has (no contract
/// status is named `removido`).
pub(crate) const REMOVED_TAG: &str = "_removido";

/// A word index query as a dialect binds it: the name's words, and the
/// tags when it asks for them apart.
pub(crate) struct IndexQuery {
    pub words: Option<String>,
    pub tags: Option<String>,
}

/// A value bound into a search statement.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
    Ids(Vec<i64>),
}

/// What differs between the two databases in a search statement.
pub(crate) trait Dialect {
    /// The placeholder of the `n`th parameter (1-based).
    fn param(n: usize) -> String;
    /// `column IN (the ids bound as parameter n)`.
    fn in_ids(column: &str, n: usize) -> String;
    /// After `FROM customers`: the hint to read the removed ones through
    /// their partial index.
    fn removed_index() -> &'static str;
    /// After `FROM customer_search s`: the hint to find rows by their ids
    /// (a `within` list) rather than walk the provider's order.
    fn by_id_only() -> &'static str;
    /// The list's order for a few rows found by id: sorted, not walked.
    fn sort_few() -> &'static str;
    /// Where the text bound as `p` starts in `text` (1-based; 0: nowhere).
    fn position(text: &str, p: &str) -> String;
    /// Whether customer `s` has a contract in the status bound as `p`.
    fn has_status(p: &str) -> String;
    /// How many rows per customer a contract status's source is read
    /// for. Its rows are contracts; more distinct customers among them
    /// than the cap spare the count, which otherwise checks the matches
    /// one by one up to the cap.
    fn status_rows_per_customer() -> u64;
    /// The word index's query for names with a word starting with each of
    /// `words` ([a-z0-9] only, so nothing needs quoting).
    fn words_query(words: &[&str], terms: &Terms) -> String;
    /// The texts of the word index's query for `Source::Index` (at least
    /// one word, the status or `removed` true: something to find). Tags
    /// are tokens of the index too (see [`status_tag`]).
    fn index_query(
        words: &[&str],
        terms: &Terms,
        status: Option<&str>,
        removed: Option<bool>,
    ) -> IndexQuery;
    /// The ids (as `id`) of provider `t`'s customers the word index finds
    /// for an [`IndexQuery`] whose texts are bound as `words` and `tags`;
    /// `alone`: no other provider's are in it.
    fn index_in(t: &str, words: Option<&str>, tags: Option<&str>, alone: bool) -> String;
    /// The same from the index of the words after the first.
    fn rest_words_in(t: &str, q: &str, alone: bool) -> String;
    /// The shortest typed word worth looking up as the whole words it
    /// starts (see [`word_terms`]).
    fn shortest_looked_up() -> usize;
}

/// A statement under construction with its arguments; the tenant is
/// always parameter 1.
pub(crate) struct Statement<D> {
    pub args: Vec<Arg>,
    /// Whether the provider is alone in the search index, for the word
    /// index's sources (set where their count decides the plan).
    pub alone: bool,
    /// How the conditions read a row's tags.
    tags: &'static str,
    dialect: std::marker::PhantomData<D>,
}

/// A row's tags, read from the row.
const TAGS_OF_ROW: &str = "s.tags";

/// A row's tags looked up by its id: for a walk of the order's index,
/// whose entries hold no tags. Reading them with every entry walked made
/// the walk read the table too (20,000 rows: 60 ms on SQLite for a page
/// of a surname and a status); looked up, they are read for the entries
/// whose words match.
const TAGS_LOOKED_UP: &str =
    "(SELECT t.tags FROM customer_search t WHERE t.customer_id = s.customer_id)";

impl<D: Dialect> Statement<D> {
    pub fn new() -> Self {
        Statement {
            args: Vec::new(),
            alone: false,
            tags: TAGS_OF_ROW,
            dialect: std::marker::PhantomData,
        }
    }

    /// Binds `arg` and returns its placeholder.
    pub fn bind(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        D::param(self.args.len() + 1)
    }

    /// Binds the word index's query for these words and tags (see
    /// [`Dialect::index_query`]) and returns the placeholders of its words'
    /// part and its tags' part, where it has them.
    pub fn bind_index_query(
        &mut self,
        words: &[&str],
        terms: &Terms,
        status: Option<&str>,
        removed: Option<bool>,
    ) -> (Option<String>, Option<String>) {
        let q = D::index_query(words, terms, status, removed);
        let w = q.words.map(|w| self.bind(Arg::Text(w)));
        let g = q.tags.map(|g| self.bind(Arg::Text(g)));
        (w, g)
    }

    fn bind_ids(&mut self, column: &str, ids: Vec<i64>) -> String {
        self.args.push(Arg::Ids(ids));
        D::in_ids(column, self.args.len() + 1)
    }

    /// The conditions on `customer_search s` for `wanted`, restricted to `within` when given.
    pub fn conditions(&mut self, wanted: &Wanted, within: Option<Vec<i64>>) -> String {
        let mut sql = format!("s.tenant_id = {}", D::param(1));
        if let Some(ids) = within {
            sql += &format!(" AND {}", self.bind_ids("s.customer_id", ids));
        }
        for word in wanted.words.iter().flatten() {
            // the words hold [a-z0-9] and single spaces only: no escaping
            let p = self.bind(Arg::Text(format!("% {word}%")));
            sql += &format!(" AND (' ' || s.words) LIKE {p}");
        }
        if let Some(d) = &wanted.doc {
            let from = self.bind(Arg::Text(d.clone()));
            let to = self.bind(Arg::Text(doc_range_end(d)));
            sql += &format!(" AND s.doc >= {from} AND s.doc < {to}");
        }
        // A status or the removed flag used alone is checked on the
        // contracts and customers themselves, always current. Given with
        // other filters they are checked on the row's tags, as the name on
        // its words: the index as of its last refresh (the page says
        // when); the two lookups a row took half of a list of two
        // filters' 6,000 matches (27 of 55 ms on PostgreSQL at 1,000,000).
        if wanted.lone_flag() {
            if let Some(status) = &wanted.status {
                let p = self.bind(Arg::Text(status.clone()));
                sql += &format!(" AND {}", D::has_status(&p));
            }
            if let Some(removed) = wanted.removed {
                // EXISTS rather than a join: PostgreSQL hashed every
                // customer of the table for the join (110 ms), where the
                // anti-join reads the partial index of the removed ones
                let not = if removed { "" } else { "NOT " };
                sql += &format!(
                    " AND {not}EXISTS (SELECT 1 FROM customers c WHERE c.id = s.customer_id \
                     AND c.tenant_id = s.tenant_id AND c.removed_at IS NOT NULL)"
                );
            }
            return sql;
        }
        if let Some(status) = &wanted.status {
            let p = self.bind(Arg::Text(format!(" {} ", status_tag(status))));
            let tags = format!("' ' || {} || ' '", self.tags);
            sql += &format!(" AND {} > 0", D::position(&tags, &p));
        }
        if let Some(removed) = wanted.removed {
            let p = self.bind(Arg::Text(format!(" {REMOVED_TAG} ")));
            let tags = format!("' ' || {} || ' '", self.tags);
            let cmp = if removed { ">" } else { "=" };
            sql += &format!(" AND {} {cmp} 0", D::position(&tags, &p));
        }
        sql
    }

    /// The ids matching `wanted` in the list's order: all of them (few,
    /// `within` a source's matches) or one page.
    pub fn ordered(
        &mut self,
        wanted: &Wanted,
        within: Option<Vec<i64>>,
        page: Option<(u32, u64)>,
    ) -> String {
        let (hint, order) = if within.is_some() {
            (D::by_id_only(), D::sort_few())
        } else {
            ("", "s.words, s.customer_id")
        };
        let cond = self.conditions(wanted, within);
        let mut sql = format!(
            "SELECT s.customer_id AS id FROM customer_search s {hint} WHERE {cond} \
             ORDER BY {order}"
        );
        if let Some((limit, offset)) = page {
            sql += &self.window(limit, offset);
        }
        sql
    }

    /// ` LIMIT .. OFFSET ..` for a page.
    fn window(&mut self, limit: u32, offset: u64) -> String {
        let l = self.bind(Arg::Int(i64::from(limit)));
        let o = self.bind(Arg::Int(i64::try_from(offset).unwrap_or(i64::MAX)));
        format!(" LIMIT {l} OFFSET {o}")
    }

    /// One page of `wanted` among the first [`WALK_FIRST`] entries of the
    /// order (short: the page is whole only if it is full).
    pub fn short_walk(&mut self, wanted: &Wanted, limit: u32, offset: u64) -> String {
        let t = D::param(1);
        // the columns the conditions read, so PostgreSQL reads the index
        // alone (the tags are looked up)
        let doc = if wanted.doc.is_some() { ", doc" } else { "" };
        self.tags = TAGS_LOOKED_UP;
        let first = self.bind(Arg::Int(WALK_FIRST));
        let cond = self.conditions(wanted, None);
        format!(
            "SELECT s.customer_id AS id FROM (SELECT customer_id, tenant_id, words{doc}                 FROM customer_search WHERE tenant_id = {t} ORDER BY words, customer_id                 LIMIT {first}) s              WHERE {cond} ORDER BY s.words, s.customer_id{}",
            self.window(limit, offset)
        )
    }

    /// Up to `bound` ids of the customers whose words after the first
    /// start with each of `words`.
    pub fn rest_source(&mut self, words: &[&str], terms: &Terms, bound: u64) -> String {
        let t = D::param(1);
        let q = self.bind(Arg::Text(D::words_query(words, terms)));
        format!("{} LIMIT {bound}", D::rest_words_in(&t, &q, self.alone))
    }

    /// One page of `wanted`'s matches, given those of them whose words
    /// after the first match every indexed word (`rest`, few). Every other
    /// match has a first word that starts with one of `ranges` (see
    /// [`range_words`]): it lies in that word's range of the order. Each
    /// range is read in order up to the page's end, and `rest` sorted,
    /// and they are merged.
    pub fn merged(
        &mut self,
        wanted: &Wanted,
        ranges: &[&str],
        rest: Vec<i64>,
        limit: u32,
        offset: u64,
    ) -> String {
        let end = i64::try_from(offset.saturating_add(u64::from(limit))).unwrap_or(i64::MAX);
        let mut parts = Vec::new();
        for word in ranges {
            let cond = self.conditions(wanted, None);
            let from = self.bind(Arg::Text((*word).to_owned()));
            let to = self.bind(Arg::Text(word_range_end(word)));
            let n = self.bind(Arg::Int(end));
            parts.push(format!(
                "SELECT * FROM (SELECT s.customer_id AS id, s.words AS w FROM customer_search s                  WHERE {cond} AND s.words >= {from} AND s.words < {to}                  ORDER BY s.words, s.customer_id LIMIT {n}) r"
            ));
        }
        let cond = self.conditions(wanted, Some(rest));
        let n = self.bind(Arg::Int(end));
        parts.push(format!(
            "SELECT * FROM (SELECT s.customer_id AS id, s.words AS w FROM customer_search s {}              WHERE {cond} ORDER BY {} LIMIT {n}) r",
            D::by_id_only(),
            D::sort_few()
        ));
        format!(
            "SELECT id FROM ({}) m ORDER BY w, id{}",
            parts.join(" UNION "),
            self.window(limit, offset)
        )
    }

    /// The matches of `wanted`, counted up to the cap plus one, among the
    /// matches of `among` (one of its sources) when given.
    pub fn capped_count(&mut self, wanted: &Wanted, among: Option<&Source<'_>>) -> String {
        let mut cond = self.conditions(wanted, None);
        let mut hint = "";
        if let Some(source) = among {
            let inner = self.source_matches(source);
            cond += &format!(" AND s.customer_id IN ({inner})");
            hint = D::by_id_only();
        }
        format!(
            "SELECT count(*) AS n FROM (SELECT 1 FROM customer_search s {hint} WHERE {cond} \
             LIMIT {}) m",
            CUSTOMER_COUNT_CAP + 1
        )
    }

    /// Every id of the provider's that a source matches, as `id`.
    fn source_matches(&mut self, source: &Source<'_>) -> String {
        let t = D::param(1);
        match source {
            Source::Index {
                words,
                terms,
                status,
                removed,
            } => {
                let (w, g) = self.bind_index_query(words, terms, *status, *removed);
                D::index_in(&t, w.as_deref(), g.as_deref(), self.alone)
            }
            Source::Doc(d) => {
                let from = self.bind(Arg::Text((*d).to_owned()));
                let to = self.bind(Arg::Text(doc_range_end(d)));
                format!(
                    "SELECT customer_id AS id FROM customer_search WHERE tenant_id = {t} \
                     AND doc >= {from} AND doc < {to}"
                )
            }
            Source::Removed => format!(
                "SELECT id FROM customers {} WHERE tenant_id = {t} AND removed_at IS NOT NULL",
                D::removed_index()
            ),
            Source::Status(st) => {
                // No DISTINCT (a customer with two such contracts comes
                // twice, which only counts it twice towards the cap): with
                // it, PostgreSQL's cached plan for the statement hashed
                // every contract of the status, 230 ms for a rare one
                let p = self.bind(Arg::Text((*st).to_owned()));
                format!(
                    "SELECT customer_id AS id FROM contracts \
                     WHERE tenant_id = {t} AND status = {p}"
                )
            }
        }
    }

    /// Up to `bound` ids of a source's matches.
    pub fn source(&mut self, source: &Source<'_>, bound: u64) -> String {
        format!("{} LIMIT {bound}", self.source_matches(source))
    }
}

/// What a large provider's list found: the page's ids and the count.
pub(crate) struct Found {
    pub ids: Vec<i64>,
    pub total: u64,
    pub exact: bool,
}

impl Found {
    /// All the matches (few), of which the page is a window.
    pub fn all(ids: Vec<i64>, limit: u32, offset: u64) -> Self {
        let total = ids.len() as u64;
        let ids = ids
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(limit as usize)
            .collect();
        Found {
            ids,
            total,
            exact: true,
        }
    }

    /// One page of many matches, counted up to the cap plus one.
    pub fn walked(ids: Vec<i64>, counted: u64) -> Self {
        Found {
            ids,
            total: counted,
            exact: counted <= CUSTOMER_COUNT_CAP,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, name: &str, doc: Option<&str>, removed: bool, has_status: bool) -> LiveRow {
        LiveRow {
            id,
            words: crate::text::search_words(name),
            doc: doc.map(str::to_owned),
            removed,
            has_status,
        }
    }

    fn filter(search: &str) -> CustomerFilter {
        CustomerFilter {
            search: Some(search.to_owned()),
            ..CustomerFilter::default()
        }
    }

    #[test]
    fn ranges_are_read_for_the_shortest_of_each_prefix_only() {
        assert_eq!(range_words(&["thiago", "li"]), ["li", "thiago"]);
        // "an" starts "ana": every "ana..." name is in the range of "an"
        assert_eq!(range_words(&["ana", "an", "ana"]), ["an"]);
        assert_eq!(range_words(&["maria"]), ["maria"]);
    }

    #[test]
    fn each_typed_word_gets_its_own_whole_words_or_none_past_the_most() {
        let many: Vec<(i64, String)> = (0..=MAX_TERMS).map(|k| (1, format!("sa{k:02}"))).collect();
        let mut found = vec![(0, "silvana".to_owned()), (0, "silva".to_owned())];
        found.extend(many);
        let terms = terms_found(&["silv", "sa", "zzzz"], found);
        // in order, whatever order they were read in
        assert_eq!(terms["silv"], ["silva", "silvana"]);
        // past the most: left out, looked up as a prefix
        assert!(!terms.contains_key("sa"));
        // none: kept as none (the dialects then look the word up as a
        // prefix, which finds nothing the vocabulary lacks)
        assert_eq!(terms["zzzz"], Vec::<String>::new());
        assert_eq!(terms.len(), 2);
    }

    #[test]
    fn small_providers_filter_sort_and_page_in_memory() {
        let rows = vec![
            row(3, "JOÃO SILVA", Some("12345678901"), false, true),
            row(1, "ANA SOUZA", Some("98765432100"), true, false),
            row(2, "JOÃO SILVA", None, false, false),
            row(4, "MARIA DA SILVA", Some("12399999999"), false, true),
            // by the folded name: among the A's, not after every Z
            row(5, "ÁLVARO LIMA", None, false, false),
        ];
        let all = Wanted::default();
        assert_eq!(
            live_page(rows.clone(), &all, 10, 0),
            (vec![5, 1, 2, 3, 4], 5)
        );
        assert_eq!(live_page(rows.clone(), &all, 2, 1), (vec![1, 2], 5));
        let joao = Wanted::of(&filter("joao sil"));
        assert_eq!(live_page(rows.clone(), &joao, 10, 0), (vec![2, 3], 2));
        let doc = Wanted::of(&filter("123.4"));
        assert_eq!(live_page(rows.clone(), &doc, 10, 0), (vec![3], 1));
        let active = Wanted {
            status: Some("ativo".into()),
            removed: Some(false),
            ..Wanted::default()
        };
        assert_eq!(live_page(rows.clone(), &active, 10, 0), (vec![3, 4], 2));
        let nothing = Wanted::of(&filter("%"));
        assert!(nothing.impossible());
    }

    #[test]
    fn sources_skip_one_letter_words_and_come_cheapest_first() {
        let w = Wanted {
            words: Some(vec!["d".into(), "silva".into()]),
            removed: Some(true),
            status: Some("ativo".into()),
            ..Wanted::default()
        };
        let kinds: Vec<String> = w
            .sources()
            .iter()
            .map(|s| {
                format!("{s:?}")
                    .split([' ', '('])
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        // the status and the removed flag are asked of the word index
        // with the words
        assert_eq!(kinds, ["Index"]);
        match &w.sources()[0] {
            Source::Index {
                words,
                status,
                removed,
                ..
            } => {
                assert_eq!(words, &["silva"]);
                assert_eq!((*status, *removed), (Some("ativo"), Some(true)));
            }
            other => panic!("{other:?}"),
        }
        // without words, the two flags together only
        let flags = Wanted {
            status: Some("ativo".into()),
            removed: Some(false),
            ..Wanted::default()
        };
        assert!(matches!(
            &flags.sources()[..],
            [Source::Index { words, status: Some("ativo"), removed: Some(false), .. }]
                if words.is_empty()
        ));
        let removed_alone = Wanted {
            removed: Some(true),
            ..Wanted::default()
        };
        assert!(matches!(&removed_alone.sources()[..], [Source::Removed]));
        let short = Wanted {
            words: Some(vec!["d".into()]),
            ..Wanted::default()
        };
        assert!(short.sources().is_empty());
        let short_with_status = Wanted {
            status: Some("ativo".into()),
            ..short
        };
        assert!(matches!(
            &short_with_status.sources()[..],
            [Source::Status("ativo")]
        ));
        let few_with_flags = Wanted {
            use_word_index: false,
            ..flags
        };
        assert!(matches!(
            &few_with_flags.sources()[..],
            [Source::Status("ativo")]
        ));
        let few_indexed = Wanted {
            words: Some(vec!["silva".into()]),
            use_word_index: false,
            ..Wanted::default()
        };
        assert!(few_indexed.sources().is_empty());
        assert!(!few_indexed.counted_already());
    }

    #[test]
    fn only_a_lone_filter_answered_whole_by_its_source_skips_the_count() {
        let words = |w: &[&str]| Wanted {
            words: Some(w.iter().map(|s| s.to_string()).collect()),
            ..Wanted::default()
        };
        assert!(!Wanted::default().counted_already(), "no filter: counted");
        assert!(words(&["silva"]).counted_already());
        assert!(words(&["da", "silva"]).counted_already());
        assert!(
            !words(&["d", "silva"]).counted_already(),
            "'d' is not in the source"
        );
        let removed = |r| Wanted {
            removed: Some(r),
            ..Wanted::default()
        };
        assert!(removed(true).counted_already());
        let status = Wanted {
            status: Some("ativo".into()),
            ..Wanted::default()
        };
        assert!(
            status.counted_already(),
            "once `list` saw more distinct customers than the cap"
        );
        assert!(!removed(false).counted_already(), "no source");
        let both = Wanted {
            status: Some("ativo".into()),
            ..words(&["silva"])
        };
        assert!(both.counted_already(), "the word index has the status");
        let three = Wanted {
            removed: Some(false),
            ..both.clone()
        };
        assert!(three.counted_already(), "and the removed flag");
        let with_doc = Wanted {
            doc: Some("123".into()),
            ..both.clone()
        };
        assert!(!with_doc.counted_already());
        // text no stored status has stays out of the word index's query
        let odd = Wanted {
            status: Some("x\" OR \"y".into()),
            ..words(&["silva"])
        };
        assert!(matches!(
            &odd.sources()[..],
            [Source::Index { status: None, .. }, Source::Status(_)]
        ));
        assert!(!odd.counted_already());
        for odd in ["", "removido"] {
            let w = Wanted {
                status: Some(odd.into()),
                ..words(&["silva"])
            };
            assert!(
                matches!(&w.sources()[..], [Source::Index { status: None, .. }, Source::Status(s)] if *s == odd),
                "{odd:?}"
            );
        }
        let short_words = Wanted {
            status: Some("ativo".into()),
            ..words(&["d", "silva"])
        };
        assert!(!short_words.counted_already());
    }

    #[test]
    fn a_count_past_the_cap_is_not_exact() {
        assert!(Found::walked(vec![1], CUSTOMER_COUNT_CAP).exact);
        assert!(!Found::walked(vec![1], CUSTOMER_COUNT_CAP + 1).exact);
        let f = Found::all((1..=30).collect(), 10, 25);
        assert_eq!(
            (f.ids, f.total, f.exact),
            (vec![26, 27, 28, 29, 30], 30, true)
        );
    }
}
