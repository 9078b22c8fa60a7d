//! Customer search: small providers straight from their customers, larger
//! ones (more than 2,000) through the search index that the indexer fills
//! after their imports. Every filter of the customers page must give
//! the same customers, in the same order, as filtering the whole list.

use serde_json::Value;
use sgp_import_core::import::{SearchIndexer, IMPORT_KIND};
use sgp_import_core::model::{JobStatus, StoredCustomer, TenantId, CUSTOMER_COUNT_CAP};
use sgp_import_core::store::{Completion, CustomerFilter, KindLimit};
use sgp_import_core::text::{search_words, words_match};

use crate::imports::{harness, params, Harness};
use crate::jobs::{enqueue, tenant, CAP, LEASE};
use crate::on_both;
use crate::support::{Raw, TestDb};
use fake_sgp::FakeConfig;

on_both!(
    a_large_provider_is_listed_from_the_search_index,
    the_index_waits_for_the_providers_running_import,
    filters_with_many_matches_each_and_few_together_are_counted_exactly,
    a_bulk_change_leaves_the_planner_statistics_current,
    a_status_is_counted_in_customers_not_contracts,
    a_first_names_many_matches_are_paged_in_order,
    a_name_and_a_status_are_found_together_by_the_word_index,
    counts_past_the_cap_follow_the_index_and_stay_the_providers_own,
    a_removal_reaches_the_search_index,
    a_provider_among_larger_ones_is_refreshed_whole_in_chunks,
);

/// Past the most customers a provider is searched in memory with, and
/// past the count's cap.
const LARGE: u32 = 10_100;

fn filter(search: Option<&str>, status: Option<&str>, removed: Option<bool>) -> CustomerFilter {
    CustomerFilter {
        search: search.map(str::to_owned),
        contract_status: status.map(str::to_owned),
        removed,
        limit: 20_000,
        offset: 0,
    }
}

fn ids(customers: &[StoredCustomer]) -> Vec<i64> {
    customers.iter().map(|c| c.id).collect()
}

/// Imports and waits for the end with more patience than
/// `Harness::import`: 10,000 customers, twice, on a machine that runs the
/// whole suite at once.
async fn import_large(h: &Harness<'_>, name: &str) -> JobStatus {
    let ex = h.executor(h.db.store.clone(), "w1");
    let id = h.start(params(name)).await;
    let mut status = JobStatus::Queued;
    for _ in 0..1200 {
        status = h.summary(id).await.status;
        if status.is_finished() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    ex.shutdown().await;
    status
}

fn words_of(text: &str) -> Vec<String> {
    search_words(text).split(' ').map(str::to_owned).collect()
}

async fn a_large_provider_is_listed_from_the_search_index(db: &TestDb) {
    let h = harness(db, FakeConfig::new(LARGE)).await;
    assert_eq!(import_large(&h, "Grande").await, JobStatus::Completed);
    let store = &db.store;
    let t = h.tenant.id;
    let list = |f: CustomerFilter| async move { store.list_customers(t, &f).await.unwrap() };

    // until the index is first built, a provider this size is read live
    let before = list(filter(None, None, None)).await;
    assert!(!before.from_search_index);
    assert_eq!((before.total, before.total_exact), (u64::from(LARGE), true));
    assert_eq!(store.search_dirty().await.unwrap(), vec![t]);

    let copied = SearchIndexer::new(store.clone()).tick().await.unwrap();
    assert_eq!(copied, u64::from(LARGE));
    assert!(store.search_dirty().await.unwrap().is_empty());

    // everyone, by folded name then id (JOÃO before JOSÉ), counted up to
    // the cap
    let all = list(filter(None, None, None)).await;
    assert!(all.search_refreshed_at.is_some());
    assert_eq!(all.customers.len(), LARGE as usize);
    assert_eq!(
        (all.total, all.total_exact),
        (CUSTOMER_COUNT_CAP + 1, false)
    );
    let mut order: Vec<(String, i64)> = all
        .customers
        .iter()
        .map(|c| (search_words(&c.name), c.id))
        .collect();
    order.sort();
    assert_eq!(
        order.iter().map(|(_, id)| *id).collect::<Vec<_>>(),
        ids(&all.customers)
    );
    // a page is a window of that order
    let mut window = filter(None, None, None);
    (window.limit, window.offset) = (10, 30);
    assert_eq!(
        ids(&list(window).await.customers),
        ids(&all.customers[30..40])
    );

    // each filter gives what filtering everyone gives, exactly counted
    let expect = |keep: &dyn Fn(&StoredCustomer) -> bool| -> Vec<i64> {
        all.customers
            .iter()
            .filter(|c| keep(c))
            .map(|c| c.id)
            .collect()
    };
    let someone = all.customers[LARGE as usize / 2].clone();
    let doc = someone.cpf_cnpj.clone().expect("the fake gives documents");
    let status = someone
        .contracts
        .first()
        .map(|k| k.status.clone())
        .unwrap_or_else(|| "suspenso".to_owned());
    let cases: Vec<(CustomerFilter, Vec<i64>)> = vec![
        // a whole name (few matches: the word index narrows)
        (
            filter(Some(&someone.name.to_lowercase()), None, None),
            expect(&|c| words_match(&search_words(&c.name), &words_of(&someone.name))),
        ),
        // two-letter words narrow nothing: the name index is walked
        (
            filter(Some("ma"), None, None),
            expect(&|c| words_match(&search_words(&c.name), &words_of("ma"))),
        ),
        // accents and case do not matter
        (
            filter(Some("JOAO"), None, None),
            expect(&|c| words_match(&search_words(&c.name), &words_of("joão"))),
        ),
        // the start of the CPF/CNPJ, typed with punctuation
        (
            filter(Some(&format!("{}.{}", &doc[..3], &doc[3..5])), None, None),
            expect(&|c| {
                c.cpf_cnpj
                    .as_deref()
                    .is_some_and(|d| d.starts_with(&doc[..5]))
            }),
        ),
        // a contract status, alone and with words
        (
            filter(None, Some(&status), None),
            expect(&|c| c.contracts.iter().any(|k| k.status == status)),
        ),
        (
            filter(Some("silva"), Some(&status), None),
            expect(&|c| {
                words_match(&search_words(&c.name), &words_of("silva"))
                    && c.contracts.iter().any(|k| k.status == status)
            }),
        ),
        // nobody has left SGP yet
        (filter(None, None, Some(true)), Vec::new()),
    ];
    for (f, expected) in cases {
        let got = list(f.clone()).await;
        assert!(!expected.is_empty() || f.removed == Some(true), "{f:?}");
        assert_eq!(ids(&got.customers), expected, "{f:?}");
        assert_eq!(got.total, expected.len() as u64, "{f:?}");
        assert!(got.total_exact, "{f:?}");
    }
    let still = list(filter(None, None, Some(false))).await;
    assert_eq!(ids(&still.customers), ids(&all.customers));
    assert!(!still.total_exact);
    assert_eq!(list(filter(Some("%"), None, None)).await.total, 0);

    // another provider sees none of them
    let other = tenant(db, "outro").await;
    let theirs = store
        .list_customers(other.id, &filter(None, None, None))
        .await
        .unwrap();
    assert_eq!((theirs.total, theirs.from_search_index), (0, false));

    // the next import: new customers are listed after the next tick;
    // customers that left are listed as removed at once (read live)
    h.fake.update(|c| {
        c.population.added_per_revision = 3;
        c.population.gone = vec![2, 4];
    });
    h.fake.set_revision(1);
    assert_eq!(import_large(&h, "De novo").await, JobStatus::Completed);
    let removed = list(filter(None, None, Some(true))).await;
    let mut gone: Vec<String> = removed
        .customers
        .iter()
        .map(|c| c.sgp_key.clone())
        .collect();
    gone.sort();
    let mut left = vec![h.expected(2).key, h.expected(4).key];
    left.sort();
    assert_eq!(gone, left);
    assert_eq!(store.search_dirty().await.unwrap(), vec![t]);
    SearchIndexer::new(store.clone()).tick().await.unwrap();
    let after = list(filter(None, None, None)).await;
    assert_eq!(after.customers.len(), LARGE as usize + 3);
    let newcomer = h.expected(LARGE);
    let found = list(filter(Some(&newcomer.name), None, None)).await;
    assert!(
        found.customers.iter().any(|c| c.sgp_key == newcomer.key),
        "a customer added by the second import is found by name"
    );
}

async fn the_index_waits_for_the_providers_running_import(db: &TestDb) {
    let h = harness(db, FakeConfig::new(30)).await;
    assert_eq!(h.import(params("Pequeno")).await.0, JobStatus::Completed);
    let store = &db.store;
    let t = h.tenant.id;
    assert_eq!(store.search_dirty().await.unwrap(), vec![t]);

    // an import of the provider is running: the refresh waits for it
    enqueue(db, &h.tenant, IMPORT_KIND, "Rodando").await;
    let kinds = [KindLimit {
        kind: IMPORT_KIND.into(),
        per_tenant: None,
    }];
    let running = store.claim("w", 1, &kinds, LEASE, CAP).await.unwrap();
    assert_eq!(running.len(), 1);
    assert_eq!(store.refresh_search(t).await.unwrap(), None);
    assert_eq!(store.search_dirty().await.unwrap(), vec![t]);

    let done = Completion {
        lease: running[0].lease.clone(),
        result: Value::Null,
        log: None,
    };
    store.complete_many(&[done], CAP).await.unwrap();
    // a small provider is listed from its customers: nothing to copy, and
    // its list stays current without the index
    assert_eq!(store.refresh_search(t).await.unwrap(), Some(0));
    assert!(store.search_dirty().await.unwrap().is_empty());
    let page = store
        .list_customers(t, &filter(None, None, None))
        .await
        .unwrap();
    assert_eq!((page.total, page.total_exact), (30, true));
    assert!(!page.from_search_index && page.search_refreshed_at.is_none());
}

/// 25,050 customers named MARIA SOUZA and 25,050 named JOSE SOUZA (past
/// the 50,000 from which names go through the word index), all of the
/// JOSEs and five MARIAs removed: "maria" and "removed" each match more
/// than the cap, together five.
async fn filters_with_many_matches_each_and_few_together_are_counted_exactly(db: &TestDb) {
    let t = tenant(db, "muitos").await;
    let n = 25_050i64;
    let rows = "customers (tenant_id, sgp_key, name, cpf_cnpj, content_hash, created_at, \
        updated_at, removed_at)";
    match db.raw() {
        Raw::Sqlite(pool) => {
            sqlx::query(&format!(
                "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?2 * 2) \
                 INSERT INTO {rows} \
                 SELECT ?1, 'k' || i, CASE WHEN i <= ?2 THEN 'MARIA SOUZA' ELSE 'JOSE SOUZA' END, \
                    NULL, 'h', 0, 0, CASE WHEN i > ?2 OR i % 5000 = 0 THEN 1 END FROM s"
            ))
            .bind(t.id.0)
            .bind(n)
            .execute(pool)
            .await
            .unwrap();
        }
        Raw::Postgres(pool) => {
            sqlx::query(&format!(
                "INSERT INTO {rows} \
                 SELECT $1, 'k' || i, CASE WHEN i <= $2 THEN 'MARIA SOUZA' ELSE 'JOSE SOUZA' END, \
                    NULL, 'h', now(), now(), CASE WHEN i > $2 OR i % 5000 = 0 THEN now() END \
                 FROM generate_series(1, $2 * 2) AS i"
            ))
            .bind(t.id.0)
            .bind(n)
            .execute(pool)
            .await
            .unwrap();
        }
    }
    let store = &db.store;
    assert!(store.refresh_search(t.id).await.unwrap().unwrap() >= 2 * n as u64);
    let removed_marias = store
        .list_customers(t.id, &filter(Some("maria"), None, Some(true)))
        .await
        .unwrap();
    let keys: Vec<&str> = removed_marias
        .customers
        .iter()
        .map(|c| c.sgp_key.as_str())
        .collect();
    assert_eq!(keys, ["k5000", "k10000", "k15000", "k20000", "k25000"]);
    assert_eq!(
        (removed_marias.total, removed_marias.total_exact),
        (5, true)
    );
    // many matches together: the name index is walked, counted to the cap
    let kept = store
        .list_customers(t.id, &filter(Some("souza"), None, Some(false)))
        .await
        .unwrap();
    let keys: Vec<&str> = kept.customers.iter().map(|c| c.sgp_key.as_str()).collect();
    let first: Vec<String> = (1..=20).map(|i| format!("k{i}")).collect();
    assert_eq!(keys[..20], first[..]);
    assert_eq!(
        (kept.total, kept.total_exact),
        (CUSTOMER_COUNT_CAP + 1, false)
    );
    // each alone: more than the cap, not counted further
    for f in [
        filter(Some("maria"), None, None),
        filter(None, None, Some(true)),
        filter(Some("souza"), None, Some(true)),
    ] {
        let page = store.list_customers(t.id, &f).await.unwrap();
        assert_eq!(
            (page.total, page.total_exact),
            (CUSTOMER_COUNT_CAP + 1, false),
            "{f:?}"
        );
    }
}

/// `n` customers of `tenant` straight into the table, keys `{prefix}{i}`.
async fn insert_customers(db: &TestDb, tenant: uuid::Uuid, prefix: &str, n: i64) {
    let rows = "customers (tenant_id, sgp_key, name, content_hash, created_at, updated_at)";
    match db.raw() {
        Raw::Sqlite(pool) => sqlx::query(&format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?3) \
             INSERT INTO {rows} SELECT ?1, ?2 || i, 'CLIENTE ' || i, 'h', 0, 0 FROM s"
        ))
        .bind(tenant)
        .bind(prefix)
        .bind(n)
        .execute(pool)
        .await
        .map(drop),
        Raw::Postgres(pool) => sqlx::query(&format!(
            "INSERT INTO {rows} SELECT $1, $2 || i, 'CLIENTE ' || i, 'h', now(), now() \
             FROM generate_series(1, $3) AS i"
        ))
        .bind(tenant)
        .bind(prefix)
        .bind(n)
        .execute(pool)
        .await
        .map(drop),
    }
    .unwrap();
}

/// A provider of 2,500 customers beside one of 12,000: its refresh (on
/// SQLite, through its own keys, since it is under a quarter of the
/// table) copies every customer across chunks of 2,000, and later only
/// the ones that changed.
async fn a_provider_among_larger_ones_is_refreshed_whole_in_chunks(db: &TestDb) {
    let store = &db.store;
    let large = tenant(db, "grande").await;
    insert_customers(db, large.id.0, "g", 12_000).await;
    let small = tenant(db, "pequeno").await;
    insert_customers(db, small.id.0, "p", 2_500).await;
    assert_eq!(store.refresh_search(small.id).await.unwrap(), Some(2_500));
    assert_eq!(store.refresh_search(large.id).await.unwrap(), Some(12_000));
    // the key that sorts last ("p999") is there, and searchable
    let found = store
        .list_customers(small.id, &filter(Some("cliente 999"), None, None))
        .await
        .unwrap();
    assert!(found.customers.iter().any(|c| c.sgp_key == "p999"));

    // one customer renamed: the next refresh copies it
    db.clock.advance(chrono::Duration::seconds(5));
    let id = store
        .customer_by_key(small.id, "p2500")
        .await
        .unwrap()
        .unwrap()
        .id;
    change_and_refresh(
        db,
        small.id,
        "UPDATE customers SET name = 'RENOMEADO' WHERE id = ?",
        id,
    )
    .await;
    let renamed = store
        .list_customers(small.id, &filter(Some("renomeado"), None, None))
        .await
        .unwrap();
    assert_eq!(ids(&renamed.customers), vec![id]);
}

/// The planner's row count of `table` (PostgreSQL; -1 before any ANALYZE).
async fn planner_rows(db: &TestDb, table: &str) -> Option<f32> {
    match db.raw() {
        Raw::Sqlite(_) => None,
        Raw::Postgres(pool) => Some(
            sqlx::query_scalar("SELECT reltuples FROM pg_class WHERE oid = $1::regclass")
                .bind(table)
                .fetch_one(pool)
                .await
                .unwrap(),
        ),
    }
}

/// Waits until PostgreSQL's statistics system has heard of `n` changes to
/// `table` since it was last analysed (a connection reports within a
/// second of its transaction).
async fn wait_reported(db: &TestDb, table: &str, n: i64) {
    let Raw::Postgres(pool) = db.raw() else {
        return;
    };
    for _ in 0..300 {
        let seen: i64 = sqlx::query_scalar(
            "SELECT COALESCE((SELECT n_mod_since_analyze FROM pg_stat_user_tables \
             WHERE relid = $1::regclass), 0)",
        )
        .bind(table)
        .fetch_one(pool)
        .await
        .unwrap();
        if seen >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{n} changes to {table} never reported");
}

/// A first import fills tables the planner still believes empty, and the
/// customers page planned on that belief took seconds (PostgreSQL): the
/// refresh after a bulk change analyses them, and only then. SQLite keeps
/// no statistics (its statements are written for that).
async fn a_bulk_change_leaves_the_planner_statistics_current(db: &TestDb) {
    let store = &db.store;
    if let Raw::Postgres(pool) = db.raw() {
        // autovacuum, which also counts a table's rows, would otherwise
        // run at moments of its own between these steps (it did, on a
        // busy run of the suite)
        for table in ["customers", "contracts", "customer_search"] {
            sqlx::query(&format!(
                "ALTER TABLE {table} SET (autovacuum_enabled = false)"
            ))
            .execute(pool)
            .await
            .unwrap();
        }
    }
    // a small provider, listed from its customers
    let small = tenant(db, "pequeno").await;
    insert_customers(db, small.id.0, "p", 300).await;
    wait_reported(db, "customers", 300).await;
    assert_eq!(store.refresh_search(small.id).await.unwrap(), Some(0));
    if let Some(rows) = planner_rows(db, "customers").await {
        assert_eq!(
            rows, 300.0,
            "analysed after 300 customers into an empty table"
        );
        assert_eq!(planner_rows(db, "customer_search").await, Some(-1.0));
    }
    // a large one, copied into the search index by the refresh
    let large = tenant(db, "grande").await;
    insert_customers(db, large.id.0, "g", 2_500).await;
    wait_reported(db, "customers", 2_500).await;
    assert_eq!(store.refresh_search(large.id).await.unwrap(), Some(2_500));
    if let Some(rows) = planner_rows(db, "customers").await {
        assert_eq!(rows, 2_800.0);
        assert_eq!(planner_rows(db, "customer_search").await, Some(2_500.0));
    }
    // a hundred more rows in a table of 2,800 is below autoanalyze's own
    // threshold (50 + 10 %): left to autovacuum
    insert_customers(db, small.id.0, "q", 100).await;
    wait_reported(db, "customers", 100).await;
    assert_eq!(store.refresh_search(small.id).await.unwrap(), Some(0));
    if let Some(rows) = planner_rows(db, "customers").await {
        assert_eq!(rows, 2_800.0);
    }
}

/// `each` contracts in `status` for every customer of `tenant` whose id is
/// a multiple of `every`.
async fn add_contracts(db: &TestDb, tenant: uuid::Uuid, status: &str, every: i64, each: i64) {
    let rows = "contracts (tenant_id, customer_id, sgp_key, status, content_hash, created_at, \
        updated_at)";
    match db.raw() {
        Raw::Sqlite(pool) => sqlx::query(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?4) \
             INSERT INTO {rows} SELECT c.tenant_id, c.id, ?2 || c.id || '-' || n.i, ?2, 'h', 0, 0 \
             FROM customers c CROSS JOIN n WHERE c.tenant_id = ?1 AND c.id % ?3 = 0"
        ))
        .bind(tenant)
        .bind(status)
        .bind(every)
        .bind(each)
        .execute(pool)
        .await
        .map(drop),
        Raw::Postgres(pool) => sqlx::query(&format!(
            "INSERT INTO {rows} SELECT c.tenant_id, c.id, $2 || c.id || '-' || n, $2, 'h', \
                now(), now() \
             FROM customers c CROSS JOIN generate_series(1, $4) AS n \
             WHERE c.tenant_id = $1 AND c.id % $3 = 0"
        ))
        .bind(tenant)
        .bind(status)
        .bind(every)
        .bind(each)
        .execute(pool)
        .await
        .map(drop),
    }
    .unwrap();
}

/// A status's source gives one row per contract. Past the cap in
/// customers the count is skipped ("mais de 10.000"); customers with
/// several contracts in the status are counted once, whether their rows
/// fit in what the source reads or not.
async fn a_status_is_counted_in_customers_not_contracts(db: &TestDb) {
    let store = &db.store;
    let t = tenant(db, "status").await;
    insert_customers(db, t.id.0, "c", 10_100).await;
    let ids: Vec<i64> = match db.raw() {
        Raw::Sqlite(pool) => sqlx::query_scalar("SELECT id FROM customers WHERE tenant_id = ?1")
            .bind(t.id.0)
            .fetch_all(pool)
            .await
            .unwrap(),
        Raw::Postgres(pool) => sqlx::query_scalar("SELECT id FROM customers WHERE tenant_id = $1")
            .bind(t.id.0)
            .fetch_all(pool)
            .await
            .unwrap(),
    };
    let multiples = |every: i64| ids.iter().filter(|id| *id % every == 0).count() as u64;
    // every customer once: more customers than the cap
    add_contracts(db, t.id.0, "cancelado", 1, 1).await;
    // half of them twice: more rows than the cap, half as many customers
    add_contracts(db, t.id.0, "suspenso", 2, 2).await;
    // a fifth eleven times: more rows than the source reads, few customers
    add_contracts(db, t.id.0, "inviabilidade_tecnica", 5, 11).await;
    assert!(store.refresh_search(t.id).await.unwrap().unwrap() >= 10_100);

    let list = |status: &'static str| async move {
        let mut f = filter(None, Some(status), None);
        f.limit = 20;
        store.list_customers(t.id, &f).await.unwrap()
    };
    let all = list("cancelado").await;
    assert!(all.from_search_index);
    assert_eq!(
        (all.total, all.total_exact, all.customers.len()),
        (CUSTOMER_COUNT_CAP + 1, false, 20)
    );
    let twice = list("suspenso").await;
    assert_eq!((twice.total, twice.total_exact), (multiples(2), true));
    assert!(twice.customers.iter().all(|c| c.id % 2 == 0));
    let many = list("inviabilidade_tecnica").await;
    assert!(multiples(5) * 11 > 2 * (CUSTOMER_COUNT_CAP + 1));
    assert_eq!((many.total, many.total_exact), (multiples(5), true));
    // the page is the first 20 by name, each customer once
    let mut seen: Vec<i64> = many.customers.iter().map(|c| c.id).collect();
    seen.dedup();
    assert_eq!(seen.len(), 20);
}

/// `n` customers of `tenant` named `name`, keys `{prefix}{i}`.
async fn insert_named(db: &TestDb, tenant: uuid::Uuid, prefix: &str, name: &str, n: i64) {
    let rows = "customers (tenant_id, sgp_key, name, content_hash, created_at, updated_at)";
    match db.raw() {
        Raw::Sqlite(pool) => sqlx::query(&format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?3) \
             INSERT INTO {rows} SELECT ?1, ?2 || i, ?4, 'h', 0, 0 FROM s"
        ))
        .bind(tenant)
        .bind(prefix)
        .bind(n)
        .bind(name)
        .execute(pool)
        .await
        .map(drop),
        Raw::Postgres(pool) => sqlx::query(&format!(
            "INSERT INTO {rows} SELECT $1, $2 || i, $4, 'h', now(), now() \
             FROM generate_series(1, $3) AS i"
        ))
        .bind(tenant)
        .bind(prefix)
        .bind(n)
        .bind(name)
        .execute(pool)
        .await
        .map(drop),
    }
    .unwrap();
}

/// A first name's matches lie together in the list's order, after
/// everything that sorts before them, with a few others elsewhere ("ana
/// thiago" for "thiago"); a surname's are spread through it. Each kind,
/// and each way the page is found (a short walk of the order, the first
/// word's range merged with the few others, the whole walk), gives the
/// window of the filtered, ordered list.
async fn a_first_names_many_matches_are_paged_in_order(db: &TestDb) {
    let t = tenant(db, "nomes").await;
    // past the 50,000 from which names go through the word index
    for (prefix, name, n) in [
        ("a", "ANA SOUZA", 30_000),
        ("b", "BRUNO COSTA", 10_000),
        ("t", "THIAGO LIMA", 12_000),
        ("n", "ANA THIAGO", 30),
        ("v", "ÁLVARO THIAGO", 10),
        ("z", "ZÉ THIAGO", 5),
    ] {
        insert_named(db, t.id.0, prefix, name, n).await;
    }
    let store = &db.store;
    assert!(store.refresh_search(t.id).await.unwrap().unwrap() >= 52_045);
    let (order, _, _) = order_and_tags(db, t.id).await;
    let cases = [
        // the first 20,000 of the order hold 10 (ÁLVARO): the range of
        // "thiago" and the 45 others
        ("thiago", None, None, vec![0, 30, 12_035]),
        ("thiago li", None, None, vec![0, 11_990]),
        // spread: found by the short walk
        ("souza", None, None, vec![0, 100]),
        // 12,000 after the first word, none near the order's start: walked
        ("lima", None, None, vec![0, 11_990]),
        // a one-letter word has no range of its own: 40 matches, counted
        ("thiago a", None, None, vec![0, 20]),
        // "an" starts "ana": its range holds the other's; a page past the
        // short walk's end
        ("an ana", None, None, vec![0, 19_990]),
    ];
    // alone in the index (SQLite then trusts its word indexes' rows as
    // the provider's), then beside another provider with the same names
    let none = Default::default();
    for_each_page(db, t.id, &order, &[], &none, &cases).await;
    let other = tenant(db, "outro").await;
    insert_named(db, other.id.0, "o", "ANA THIAGO LIMA SOUZA", 2_100).await;
    assert_eq!(store.refresh_search(other.id).await.unwrap(), Some(2_100));
    for_each_page(db, t.id, &order, &[], &none, &cases).await;
}

/// The provider's (folded name, id) in the list's order, its contracts'
/// (customer id, status), and the ids of its removed customers.
async fn order_and_tags(
    db: &TestDb,
    t: sgp_import_core::model::TenantId,
) -> (
    Vec<(String, i64)>,
    Vec<(i64, String)>,
    std::collections::HashSet<i64>,
) {
    type Customer = (i64, String, bool);
    let (customers, contracts): (Vec<Customer>, Vec<(i64, String)>) = match db.raw() {
        Raw::Sqlite(pool) => (
            sqlx::query_as(
                "SELECT id, name, removed_at IS NOT NULL FROM customers WHERE tenant_id = ?",
            )
            .bind(t.0)
            .fetch_all(pool)
            .await
            .unwrap(),
            sqlx::query_as("SELECT customer_id, status FROM contracts WHERE tenant_id = ?")
                .bind(t.0)
                .fetch_all(pool)
                .await
                .unwrap(),
        ),
        Raw::Postgres(pool) => (
            sqlx::query_as(
                "SELECT id, name, removed_at IS NOT NULL FROM customers WHERE tenant_id = $1",
            )
            .bind(t.0)
            .fetch_all(pool)
            .await
            .unwrap(),
            sqlx::query_as("SELECT customer_id, status FROM contracts WHERE tenant_id = $1")
                .bind(t.0)
                .fetch_all(pool)
                .await
                .unwrap(),
        ),
    };
    let mut order: Vec<(String, i64)> = customers
        .iter()
        .map(|(id, name, _)| (search_words(name), *id))
        .collect();
    order.sort();
    let removed = customers
        .iter()
        .filter(|(_, _, gone)| *gone)
        .map(|(id, _, _)| *id)
        .collect();
    (order, contracts, removed)
}

/// Runs `sql` (with `?` placeholders) on either database.
async fn execute(db: &TestDb, sql: &str, id: i64) {
    match db.raw() {
        Raw::Sqlite(pool) => sqlx::query(sql).bind(id).execute(pool).await.map(drop),
        Raw::Postgres(pool) => sqlx::query(&sql.replace('?', "$1"))
            .bind(id)
            .execute(pool)
            .await
            .map(drop),
    }
    .unwrap();
}

/// A name, a contract status and the removed flag are asked of the word
/// index together: 53,240 customers (past the 50,000 from which names go
/// through it), every one with an `ativo` contract, a tenth also
/// `cancelado`, a thousandth two `inviabilidade_tecnica` ones, one in
/// seven removed; some named with a word that is also a status's name.
/// Each combination gives the window of the filtered, ordered list,
/// counted exactly up to the cap.
async fn a_name_and_a_status_are_found_together_by_the_word_index(db: &TestDb) {
    let t = tenant(db, "situacoes").await;
    for (prefix, name, n) in [
        ("a", "ANA SOUZA", 30_000),
        ("b", "BRUNO SOUZA", 22_000),
        ("c", "CARLA ATIVO", 100),
        // "souza" starts two whole words (SQLite asks for either)
        ("d", "DORA SOUZAS", 500),
        // a word PostgreSQL's parser splits ("1e5" and "a")
        ("e", "LOJA 1E5A", 40),
    ] {
        insert_named(db, t.id.0, prefix, name, n).await;
    }
    // "mari" starts more whole words than SQLite looks a prefix up as
    for letter in 'a'..='t' {
        let name = format!("ROSA MARI{}", letter.to_ascii_uppercase());
        insert_named(db, t.id.0, &format!("r{letter}"), &name, 30).await;
    }
    add_contracts(db, t.id.0, "ativo", 1, 1).await;
    add_contracts(db, t.id.0, "cancelado", 10, 1).await;
    add_contracts(db, t.id.0, "inviabilidade_tecnica", 1000, 2).await;
    let removed_at = match db.raw() {
        Raw::Sqlite(_) => "1",
        Raw::Postgres(_) => "now()",
    };
    execute(
        db,
        &format!("UPDATE customers SET removed_at = {removed_at} WHERE id % 7 = ?"),
        3,
    )
    .await;
    let store = &db.store;
    assert!(store.refresh_search(t.id).await.unwrap().unwrap() >= 53_240);
    let (order, contracts, removed) = order_and_tags(db, t.id).await;
    let cases: Vec<Case> = vec![
        // 65,000 and 5,200 matches, 5,200 together
        ("souza", Some("cancelado"), None, vec![0, 5_000]),
        // more than the cap together: not counted further
        ("souza", Some("ativo"), None, vec![0, 100]),
        ("an souza", Some("cancelado"), None, vec![0, 2_990]),
        ("ana", Some("inviabilidade_tecnica"), None, vec![0]),
        // a word that is a status's name finds names only
        ("ativo", None, None, vec![0, 80]),
        ("ativo", Some("ativo"), None, vec![0]),
        ("carla", Some("cancelado"), None, vec![0]),
        ("souza", Some("suspenso"), None, vec![0]),
        // a one-letter word is not in the word index's query
        ("b souza", Some("cancelado"), None, vec![0, 2_000]),
        ("dora souza", Some("cancelado"), None, vec![0, 40]),
        ("mari", Some("cancelado"), None, vec![0, 40]),
        ("1e5a", Some("ativo"), None, vec![0]),
        ("loja 1e5", Some("ativo"), Some(false), vec![0]),
        ("rosa mari", None, Some(false), vec![0, 500]),
        // with the removed flag, or only the flags
        ("souza", None, Some(true), vec![0, 7_400]),
        ("souza", None, Some(false), vec![0]),
        ("souza", Some("cancelado"), Some(false), vec![0, 4_400]),
        ("bruno", Some("cancelado"), Some(true), vec![0, 300]),
        ("", Some("cancelado"), Some(true), vec![0, 700]),
        ("", Some("cancelado"), Some(false), vec![0]),
        ("", Some("inviabilidade_tecnica"), Some(false), vec![0]),
    ];
    for_each_page(db, t.id, &order, &contracts, &removed, &cases).await;

    // a contract that changes status changes its customer (its content
    // hash covers its contracts): the next refresh finds it
    let bruno = order
        .iter()
        .find(|(words, id)| words.starts_with("bruno") && id % 10 != 0 && id % 7 != 3)
        .unwrap()
        .1;
    // (PostgreSQL's rows were stamped by its own clock, not the test's:
    // it copies them all again)
    change_and_refresh(
        db,
        t.id,
        "UPDATE contracts SET status = 'suspenso' WHERE customer_id = ?",
        bruno,
    )
    .await;
    let (order, contracts, removed) = order_and_tags(db, t.id).await;
    let changed: Vec<Case> = vec![
        ("bruno", Some("suspenso"), None, vec![0]),
        ("bruno", Some("suspenso"), Some(false), vec![0]),
        ("souza", Some("cancelado"), None, vec![0, 5_000]),
    ];
    for_each_page(db, t.id, &order, &contracts, &removed, &changed).await;
    let page = store
        .list_customers(t.id, &filter(Some("bruno"), Some("suspenso"), None))
        .await
        .unwrap();
    assert_eq!(ids(&page.customers), [bruno]);

    // a rename reaches the index: the new words, alone and joined to the
    // customer's statuses, and not the old ones
    change_and_refresh(
        db,
        t.id,
        "UPDATE customers SET name = 'BRUNO XAVIERZ' WHERE id = ?",
        bruno,
    )
    .await;
    for (typed, status) in [("xavierz", None), ("bruno xavierz", Some("suspenso"))] {
        let page = store
            .list_customers(t.id, &filter(Some(typed), status, None))
            .await
            .unwrap();
        assert_eq!(ids(&page.customers), [bruno], "{typed} {status:?}");
    }
    let page = store
        .list_customers(t.id, &filter(Some("souza"), Some("suspenso"), None))
        .await
        .unwrap();
    assert!(page.customers.is_empty(), "{:?}", ids(&page.customers));

    // beside another provider whose customers match the same lists
    let other = tenant(db, "vizinho").await;
    insert_named(db, other.id.0, "o", "ANA SOUZA", 2_100).await;
    add_contracts(db, other.id.0, "cancelado", 1, 1).await;
    // (its ids come after the first provider's)
    let last = order.iter().map(|(_, id)| *id).max().unwrap();
    execute(
        db,
        &format!("UPDATE customers SET removed_at = {removed_at} WHERE id > ? AND id % 2 = 0"),
        last,
    )
    .await;
    assert_eq!(store.refresh_search(other.id).await.unwrap(), Some(2_100));
    let (order, contracts, removed) = order_and_tags(db, t.id).await;
    for_each_page(db, t.id, &order, &contracts, &removed, &cases).await;
}

/// Whether a list has more matches than the cap is known, for a query
/// whose one word (with a status or not) many customers hold, without
/// reading them (from the counts of the word index's lexemes on
/// PostgreSQL). It stays true to the index as statuses and names change
/// and providers come and go: a count that fell under the cap is exact
/// again, customers removed from SGP are left out of "still in SGP"
/// however many hold its word, and a neighbour's customers never count
/// as the provider's.
async fn counts_past_the_cap_follow_the_index_and_stay_the_providers_own(db: &TestDb) {
    let t = tenant(db, "contagens").await;
    // past the 50,000 from which names go through the word index
    for (prefix, name, n) in [("a", "ANA SOUZA", 39_000), ("b", "BRUNO SOUZA", 12_000)] {
        insert_named(db, t.id.0, prefix, name, n).await;
    }
    add_contracts(db, t.id.0, "ativo", 1, 1).await;
    let store = &db.store;
    assert_eq!(store.refresh_search(t.id).await.unwrap(), Some(51_000));
    lexeme_counts_agree(db).await;
    let (order, contracts, removed) = order_and_tags(db, t.id).await;
    let last = order.iter().map(|(_, id)| *id).max().unwrap();
    let cases: Vec<Case> = vec![
        ("souza", Some("ativo"), None, vec![0]),
        ("bruno", Some("ativo"), None, vec![0]),
        ("", Some("ativo"), None, vec![0]),
        ("bruno souza", None, None, vec![0]),
        ("bruno b", Some("ativo"), None, vec![0]),
    ];
    for_each_page(db, t.id, &order, &contracts, &removed, &cases).await;

    // a neighbour with more than the cap of the same name and status
    let other = tenant(db, "vizinha").await;
    insert_named(db, other.id.0, "o", "BRUNO SOUZA", 10_500).await;
    add_contracts(db, other.id.0, "ativo", 1, 1).await;
    assert_eq!(store.refresh_search(other.id).await.unwrap(), Some(10_500));
    // seven in eight of the provider's `ativo` contracts suspended: 1,500
    // "bruno" with `ativo` left, and 6,375 in all
    changes_and_refresh(
        db,
        t.id,
        "UPDATE contracts SET status = 'suspenso' WHERE customer_id <= ? \
            AND customer_id % 8 <> 0",
        "<=",
        last,
    )
    .await;
    lexeme_counts_agree(db).await;
    let (order, contracts, removed) = order_and_tags(db, t.id).await;
    let changed: Vec<Case> = vec![
        ("bruno", Some("ativo"), None, vec![0, 1_480]),
        ("bruno b", Some("ativo"), None, vec![0]),
        ("souza", Some("ativo"), None, vec![0, 6_360]),
        ("", Some("ativo"), None, vec![0]),
        ("bruno", Some("suspenso"), None, vec![0]),
        ("bruno", None, None, vec![0]),
    ];
    for_each_page(db, t.id, &order, &contracts, &removed, &changed).await;

    // renamed: "souza" held by 39,000, "costa" by 12,000
    changes_and_refresh(
        db,
        t.id,
        "UPDATE customers SET name = 'BRUNO COSTA' WHERE id <= ? AND name = 'BRUNO SOUZA'",
        "<=",
        last,
    )
    .await;
    lexeme_counts_agree(db).await;
    let (order, contracts, removed) = order_and_tags(db, t.id).await;
    let renamed: Vec<Case> = vec![
        ("costa", None, None, vec![0]),
        ("costa", Some("ativo"), None, vec![0]),
        ("souza", Some("ativo"), None, vec![0, 4_860]),
        ("bruno souza", None, None, vec![0]),
    ];
    for_each_page(db, t.id, &order, &contracts, &removed, &renamed).await;

    // 36,000 of the 39,000 "ana souza" removed: "souza" still in SGP is
    // 3,000, however many hold the word
    let removed_at = match db.raw() {
        Raw::Sqlite(_) => "1",
        Raw::Postgres(_) => "now()",
    };
    changes_and_refresh(
        db,
        t.id,
        &format!(
            "UPDATE customers SET removed_at = {removed_at} WHERE id <= ? \
                AND name = 'ANA SOUZA' AND id % 13 <> 0"
        ),
        "<=",
        last,
    )
    .await;
    lexeme_counts_agree(db).await;
    let (order, contracts, removed) = order_and_tags(db, t.id).await;
    let kept: Vec<Case> = vec![
        ("souza", None, Some(false), vec![0, 2_980]),
        ("ana", Some("ativo"), Some(false), vec![0]),
        ("", Some("ativo"), Some(false), vec![0]),
        ("costa", None, Some(false), vec![0]),
        ("souza", None, Some(true), vec![0]),
    ];
    for_each_page(db, t.id, &order, &contracts, &removed, &kept).await;

    db.delete_tenant(other.id).await;
    lexeme_counts_agree(db).await;
    for_each_page(db, t.id, &order, &contracts, &removed, &kept).await;
}

/// On PostgreSQL, the counts of the word index's lexemes its triggers
/// keep (`customer_search_lexemes`) are those of the rows, counted again.
async fn lexeme_counts_agree(db: &TestDb) {
    let Raw::Postgres(pool) = db.raw() else {
        return;
    };
    let (kept, differ): (i64, i64) = sqlx::query_as(
        "WITH recount AS (SELECT s.tenant_id, x.lexeme COLLATE \"C\" AS lexeme, \
                count(*) AS customers \
            FROM customer_search s, \
                unnest(customer_search_lexemes_of(s.words, s.tags, s.status_words)) AS x (lexeme) \
            GROUP BY 1, 2) \
         SELECT (SELECT count(*) FROM customer_search_lexemes), \
            (SELECT count(*) FROM ((SELECT * FROM recount EXCEPT ALL \
                    SELECT * FROM customer_search_lexemes) \
                UNION ALL (SELECT * FROM customer_search_lexemes EXCEPT ALL \
                    SELECT * FROM recount)) d)",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(kept > 0);
    assert_eq!(differ, 0, "counts differing from the rows, of {kept}");
}

/// Runs `sql` (one `?`, customer `id`), stamps the customer as changed
/// now, and refreshes the provider's search index, which copies it.
async fn change_and_refresh(db: &TestDb, tenant: TenantId, sql: &str, id: i64) {
    changes_and_refresh(db, tenant, sql, "=", id).await;
}

/// Runs `sql` (one `?`, `id`), stamps the customers whose id is `op`
/// (`=`, `<=`) `id` as changed now, and refreshes the provider's search
/// index, which copies them.
async fn changes_and_refresh(db: &TestDb, tenant: TenantId, sql: &str, op: &str, id: i64) {
    execute(db, sql, id).await;
    let now = db.clock_now();
    match db.raw() {
        Raw::Sqlite(pool) => sqlx::query(&format!(
            "UPDATE customers SET updated_at = ?2 WHERE id {op} ?1"
        ))
        .bind(id)
        .bind(now.timestamp_millis())
        .execute(pool)
        .await
        .map(drop),
        Raw::Postgres(pool) => sqlx::query(&format!(
            "UPDATE customers SET updated_at = $2 WHERE id {op} $1"
        ))
        .bind(id)
        .bind(now)
        .execute(pool)
        .await
        .map(drop),
    }
    .unwrap();
    assert!(db.store.refresh_search(tenant).await.unwrap().unwrap() >= 1);
}

/// A customer leaves SGP in the import's removal sweep, not in a page:
/// the sweep marks the provider for the search index, whose next refresh
/// copies the customers removed since its last one with their tag.
async fn a_removal_reaches_the_search_index(db: &TestDb) {
    let mut config = FakeConfig::new(2_100);
    config.population.contracts_each = Some(1);
    let h = harness(db, config).await;
    assert_eq!(h.import(params("Todos")).await.0, JobStatus::Completed);
    let store = &db.store;
    let t = h.tenant.id;
    assert_eq!(store.refresh_search(t).await.unwrap(), Some(2_100));
    assert!(store.search_dirty().await.unwrap().is_empty());

    h.fake.update(|c| c.population.gone = vec![7]);
    assert_eq!(h.import(params("Um saiu")).await.0, JobStatus::Completed);
    assert_eq!(store.search_dirty().await.unwrap(), vec![t]);
    assert!(store.refresh_search(t).await.unwrap().unwrap() >= 1);
    let tags = |key: String| async move {
        let id = store.customer_by_key(t, &key).await.unwrap().unwrap().id;
        let sql = "SELECT tags FROM customer_search WHERE customer_id = ?";
        let tags: String = match db.raw() {
            Raw::Sqlite(pool) => sqlx::query_scalar(sql)
                .bind(id)
                .fetch_one(pool)
                .await
                .unwrap(),
            Raw::Postgres(pool) => sqlx::query_scalar(&sql.replace('?', "$1"))
                .bind(id)
                .fetch_one(pool)
                .await
                .unwrap(),
        };
        tags.split(' ').map(str::to_owned).collect::<Vec<_>>()
    };
    let gone = tags(h.expected(7).key.to_string()).await;
    assert!(gone.contains(&"_removido".to_owned()), "{gone:?}");
    assert!(
        gone.iter().any(|t| t != "_removido"),
        "its status: {gone:?}"
    );
    let kept = tags(h.expected(8).key.to_string()).await;
    assert!(!kept.contains(&"_removido".to_owned()), "{kept:?}");
}

/// A list to check: what is typed ("" for nothing), the contract status,
/// the removed flag, and the offsets of pages of 20 to check.
type Case<'a> = (&'a str, Option<&'a str>, Option<bool>, Vec<u64>);

/// Checks each page of `cases` against `order`, the provider's (folded
/// name, id) sorted, its `contracts` (customer id, status) and the ids of
/// its `removed` customers.
async fn for_each_page(
    db: &TestDb,
    t: sgp_import_core::model::TenantId,
    order: &[(String, i64)],
    contracts: &[(i64, String)],
    removed: &std::collections::HashSet<i64>,
    cases: &[Case<'_>],
) {
    let store = &db.store;
    for (typed, status, gone, offsets) in cases {
        let (typed, status, gone) = (*typed, *status, *gone);
        let wanted = words_of(typed);
        let with_status: std::collections::HashSet<i64> = contracts
            .iter()
            .filter(|(_, s)| Some(s.as_str()) == status)
            .map(|(id, _)| *id)
            .collect();
        let matches: Vec<i64> = order
            .iter()
            .filter(|(words, id)| {
                (typed.is_empty() || words_match(words, &wanted))
                    && (status.is_none() || with_status.contains(id))
                    && gone.is_none_or(|g| g == removed.contains(id))
            })
            .map(|(_, id)| *id)
            .collect();
        let total = matches.len() as u64;
        let counted = if total > CUSTOMER_COUNT_CAP {
            (CUSTOMER_COUNT_CAP + 1, false)
        } else {
            (total, true)
        };
        for &offset in offsets {
            let mut f = filter(Some(typed).filter(|t| !t.is_empty()), status, gone);
            (f.limit, f.offset) = (20, offset);
            let page = store.list_customers(t, &f).await.unwrap();
            assert!(page.from_search_index);
            let start = (offset as usize).min(matches.len());
            let end = (offset as usize + 20).min(matches.len());
            assert_eq!(
                ids(&page.customers),
                matches[start..end],
                "{typed:?} {status:?} {gone:?} from {offset}"
            );
            assert_eq!(
                (page.total, page.total_exact),
                counted,
                "{typed:?} {status:?} {gone:?}"
            );
        }
    }
}

/// PostgreSQL learns "more than the cap" for one word (with a status, or
/// still in SGP) from the count of its lexeme, not from the rows: with the
/// counts set past the cap over a provider of 2,100 customers, the page
/// says "mais de 10.000" however few rows hold the word, less the removed
/// ones for "still in SGP", and never from a neighbour's count. (The
/// other tests give the same totals whether or not the counts are read:
/// past the cap, the rows say so too.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_tells_past_the_cap_from_the_lexeme_counts() {
    let db = crate::support::postgres().await;
    let Raw::Postgres(pool) = db.raw() else {
        unreachable!()
    };
    let t = tenant(&db, "contada").await;
    let other = tenant(&db, "vizinha").await;
    insert_named(&db, t.id.0, "a", "ANA SOUZA", 2_100).await;
    add_contracts(&db, t.id.0, "ativo", 1, 1).await;
    assert_eq!(db.store.refresh_search(t.id).await.unwrap(), Some(2_100));
    lexeme_counts_agree(&db).await;
    // as if past the 50,000 from which names go through the word index
    sqlx::query("UPDATE customer_search_state SET indexed = 50000 WHERE tenant_id = $1")
        .bind(t.id.0)
        .execute(pool)
        .await
        .unwrap();
    let set = |tenant: uuid::Uuid, lexeme: &'static str, n: i64| async move {
        sqlx::query(
            "INSERT INTO customer_search_lexemes (tenant_id, lexeme, customers) \
             VALUES ($1, $2, $3) ON CONFLICT (tenant_id, lexeme) \
                DO UPDATE SET customers = excluded.customers",
        )
        .bind(tenant)
        .bind(lexeme)
        .bind(n)
        .execute(pool)
        .await
        .unwrap();
    };
    let total = |search: &'static str, status: Option<&'static str>, gone: Option<bool>| {
        let store = db.store.clone();
        async move {
            let mut f = filter(Some(search), status, gone);
            f.limit = 20;
            let page = store.list_customers(t.id, &f).await.unwrap();
            assert!(page.from_search_index);
            assert_eq!(page.customers.len(), 20, "{search} {status:?} {gone:?}");
            (page.total, page.total_exact)
        }
    };
    let past = (CUSTOMER_COUNT_CAP + 1, false);
    let exact = (2_100, true);
    // the neighbour's counts are its own
    set(other.id.0, "souza", 50_000).await;
    set(other.id.0, "_ativo:souza", 50_000).await;
    assert_eq!(total("souza", None, None).await, exact);
    assert_eq!(total("souza", Some("ativo"), None).await, exact);

    set(t.id.0, "souza", 20_000).await;
    assert_eq!(total("souza", None, None).await, past);
    // a prefix of the word, looked up as the lexemes it starts
    assert_eq!(total("souz", None, None).await, past);
    // the word with a status is its own lexeme
    assert_eq!(total("souza", Some("ativo"), None).await, exact);
    set(t.id.0, "_ativo:souza", 10_001).await;
    assert_eq!(total("souza", Some("ativo"), None).await, past);
    // still in SGP: less every removed customer
    set(t.id.0, "_removido", 15_000).await;
    assert_eq!(total("souza", None, Some(false)).await, exact);
    set(t.id.0, "_removido", 5_000).await;
    assert_eq!(total("souza", None, Some(false)).await, past);
    // two words hold no one lexeme of both
    assert_eq!(total("ana souza", None, None).await, exact);
    db.finish().await;
}

/// Two transactions changing one provider's indexed rows, each in two
/// statements whose lexemes the other's change in the opposite order: the
/// second waits for the first to commit (its provider's lexeme lock)
/// instead of taking a count the first wants next, which PostgreSQL ended
/// as a deadlock. Another provider's changes never wait. The counts agree
/// with the rows after, and a TRUNCATE of the rows empties them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_changes_one_providers_counts_one_transaction_at_a_time() {
    use sqlx::Connection;
    let db = crate::support::postgres().await;
    let Raw::Postgres(pool) = db.raw() else {
        unreachable!()
    };
    let t = tenant(&db, "uma").await;
    let other = tenant(&db, "outra").await;
    for (id, tenant, words) in [
        (1, t.id.0, "um"),
        (2, t.id.0, "dois"),
        (3, t.id.0, "tres"),
        (4, t.id.0, "quatro"),
        (5, other.id.0, "cinco"),
    ] {
        sqlx::query(
            "INSERT INTO customer_search (customer_id, tenant_id, words, tags) \
             VALUES ($1, $2, $3, '')",
        )
        .bind(id as i64)
        .bind(tenant)
        .bind(words)
        .execute(pool)
        .await
        .unwrap();
    }
    let rename = "UPDATE customer_search SET words = $2 WHERE customer_id = $1";
    let mut first = pool.acquire().await.unwrap().detach();
    let mut second = pool.acquire().await.unwrap().detach();
    let second_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut second)
        .await
        .unwrap();
    let mut tx1 = first.begin().await.unwrap();
    sqlx::query(rename)
        .bind(1i64)
        .bind("alfa")
        .execute(&mut *tx1)
        .await
        .unwrap();
    let (began_tx, mut began_rx) = tokio::sync::oneshot::channel::<()>();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let other_side = tokio::spawn(async move {
        let mut tx2 = second.begin().await?;
        sqlx::query(rename)
            .bind(2i64)
            .bind("beta")
            .execute(&mut *tx2)
            .await?;
        let _ = began_tx.send(());
        let _ = go_rx.await;
        sqlx::query(rename)
            .bind(4i64)
            .bind("alfa")
            .execute(&mut *tx2)
            .await?;
        tx2.commit().await
    });
    // the second's first statement returns, or waits for a lock
    let mut waited = false;
    for _ in 0..200 {
        if began_rx.try_recv().is_ok() {
            break;
        }
        waited = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $1 AND NOT granted \
                AND locktype = 'advisory')",
        )
        .bind(second_pid)
        .fetch_one(pool)
        .await
        .unwrap();
        if waited {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(waited, "the second transaction did not wait for the first");
    // (bounded: a lock wider than one provider's would hang here)
    let within = std::time::Duration::from_secs(30);
    // another provider's change meanwhile
    let neighbour = sqlx::query(rename).bind(5i64).bind("gama").execute(pool);
    tokio::time::timeout(within, neighbour)
        .await
        .expect("another provider's change waited")
        .unwrap();
    let _ = go_tx.send(());
    let last = sqlx::query(rename)
        .bind(3i64)
        .bind("beta")
        .execute(&mut *tx1);
    tokio::time::timeout(within, last).await.unwrap().unwrap();
    tx1.commit().await.unwrap();
    tokio::time::timeout(within, other_side)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    lexeme_counts_agree(&db).await;
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT lexeme, customers FROM customer_search_lexemes WHERE tenant_id = $1 \
         ORDER BY lexeme",
    )
    .bind(t.id.0)
    .fetch_all(pool)
    .await
    .unwrap();
    let counts: Vec<(&str, i64)> = counts.iter().map(|(l, n)| (l.as_str(), *n)).collect();
    assert_eq!(counts, [("alfa", 2), ("beta", 2)]);
    drop(first);
    // a TRUNCATE changes no row one by one: the counts go with the rows
    sqlx::query("TRUNCATE customer_search")
        .execute(pool)
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM customer_search_lexemes")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
    db.finish().await;
}
