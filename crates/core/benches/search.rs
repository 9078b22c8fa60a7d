//! Customer search benchmark: prints figures, asserts nothing (machines are
//! noisy). `cargo bench -p sgp-import-core --features server --bench search`,
//! or scripts/bench.sh, which also finds or starts PostgreSQL.
//!
//! For SQLite and PostgreSQL it loads, with plain SQL (the import is
//! measured elsewhere), BENCH_SEARCH_CUSTOMERS customers of one provider
//! (default 1,000,000) and 100 providers of 10,000, named as the fake SGP
//! names them (a few thousand distinct names: many matches per word), one
//! contract each (80 % ativo, 10 % suspenso, 10 % cancelado, 0.1 %
//! inviabilidade_tecnica), 0.5 % removed. It times the search index's
//! first refresh of the large provider, then each filter of the customers
//! page, 20 different inputs each: p50 and p95, with the number of matches
//! of the last input. Beside them, as the floor of any page, one customer
//! read by its key.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_sgp::data::Omit;
use fake_sgp::Population;
use sgp_import_core::clock::SystemClock;
use sgp_import_core::config::{DatabaseSettings, DatabaseUrl};
use sgp_import_core::model::{CustomerPage, TenantId, TenantSlug};
use sgp_import_core::store::{CustomerFilter, Store};
use sqlx::Connection;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Customer `i`'s key, name and document as the fake SGP has them.
fn person(population: &Population, i: u32) -> (String, String, String) {
    let c = population.customer(i, Omit::default());
    // stored as the import stores it: the digits
    let digits = c.cpfcnpj.chars().filter(char::is_ascii_digit).collect();
    (format!("{}", 1000 + i), c.nome, digits)
}

/// Inserts customers `from..to` of `population` for `tenant`, with a
/// contract each and 0.5 % marked removed.
async fn load(url: &DatabaseUrl, tenant: TenantId, population: &Population, from: u32, to: u32) {
    const CHUNK: u32 = 5_000;
    let now = chrono::Utc::now();
    let status = "CASE WHEN id % 1000 = 0 THEN 'inviabilidade_tecnica' \
        WHEN id % 1000 <= 100 THEN 'cancelado' WHEN id % 1000 <= 200 THEN 'suspenso' \
        ELSE 'ativo' END";
    match url {
        DatabaseUrl::Sqlite(u) => {
            let mut c = sqlx::SqliteConnection::connect(u).await.unwrap();
            let ms = now.timestamp_millis();
            for start in (from..to).step_by(CHUNK as usize) {
                let rows: Vec<_> = (start..(start + CHUNK).min(to))
                    .map(|i| {
                        let (k, n, d) = person(population, i);
                        serde_json::json!([k, n, d])
                    })
                    .collect();
                sqlx::query(
                    "INSERT INTO customers (tenant_id, sgp_key, name, cpf_cnpj, content_hash, \
                        created_at, updated_at) \
                     SELECT ?1, value ->> 0, value ->> 1, value ->> 2, 'h', ?2, ?2 \
                     FROM json_each(?3)",
                )
                .bind(tenant.0)
                .bind(ms)
                .bind(serde_json::Value::Array(rows).to_string())
                .execute(&mut c)
                .await
                .unwrap();
            }
            sqlx::query(&format!(
                "INSERT INTO contracts (tenant_id, customer_id, sgp_key, status, content_hash, \
                    created_at, updated_at) \
                 SELECT tenant_id, id, 'k' || id, {status}, 'h', created_at, updated_at \
                 FROM customers WHERE tenant_id = ?1"
            ))
            .bind(tenant.0)
            .execute(&mut c)
            .await
            .unwrap();
            sqlx::query(
                "UPDATE customers SET removed_at = ?2 WHERE tenant_id = ?1 AND id % 200 = 7",
            )
            .bind(tenant.0)
            .bind(ms)
            .execute(&mut c)
            .await
            .unwrap();
        }
        DatabaseUrl::Postgres(u) => {
            let mut c = sqlx::PgConnection::connect(u).await.unwrap();
            for start in (from..to).step_by(CHUNK as usize) {
                let (mut keys, mut names, mut docs) = (Vec::new(), Vec::new(), Vec::new());
                for i in start..(start + CHUNK).min(to) {
                    let (k, n, d) = person(population, i);
                    keys.push(k);
                    names.push(n);
                    docs.push(d);
                }
                sqlx::query(
                    "INSERT INTO customers (tenant_id, sgp_key, name, cpf_cnpj, content_hash, \
                        created_at, updated_at) \
                     SELECT $1, k, n, d, 'h', $2, $2 \
                     FROM unnest($3::text[], $4::text[], $5::text[]) AS r(k, n, d)",
                )
                .bind(tenant.0)
                .bind(now)
                .bind(&keys)
                .bind(&names)
                .bind(&docs)
                .execute(&mut c)
                .await
                .unwrap();
            }
            sqlx::query(&format!(
                "INSERT INTO contracts (tenant_id, customer_id, sgp_key, status, content_hash, \
                    created_at, updated_at) \
                 SELECT tenant_id, id, 'k' || id, {status}, 'h', created_at, updated_at \
                 FROM customers WHERE tenant_id = $1"
            ))
            .bind(tenant.0)
            .execute(&mut c)
            .await
            .unwrap();
            sqlx::query(
                "UPDATE customers SET removed_at = $2 WHERE tenant_id = $1 AND id % 200 = 7",
            )
            .bind(tenant.0)
            .bind(now)
            .execute(&mut c)
            .await
            .unwrap();
        }
    }
}

/// What the app's background work does after a bulk write this size, done
/// at once: SQLite's checkpoint (the app checkpoints passively every
/// second; a WAL of a million rows' pages slows every read until then),
/// PostgreSQL's autovacuum and autoanalyze.
async fn checkpoint(url: &DatabaseUrl) {
    match url {
        DatabaseUrl::Sqlite(u) => {
            let mut c = sqlx::SqliteConnection::connect(u).await.unwrap();
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut c)
                .await
                .unwrap();
        }
        DatabaseUrl::Postgres(u) => {
            let mut c = sqlx::PgConnection::connect(u).await.unwrap();
            sqlx::query("VACUUM ANALYZE").execute(&mut c).await.unwrap();
        }
    }
}

/// Times `filters` one after the other against `tenant_of(i)`; prints
/// p50, p95 and the last one's matches.
async fn time(
    store: &dyn Store,
    label: &str,
    filters: Vec<CustomerFilter>,
    tenant_of: &dyn Fn(usize) -> TenantId,
) {
    // BENCH_SEARCH_CASES=a,b runs only the cases whose label holds one
    if let Ok(only) = std::env::var("BENCH_SEARCH_CASES") {
        if !only.split(',').any(|o| label.contains(o.trim())) {
            return;
        }
    }
    let mut times = Vec::new();
    let mut last: Option<CustomerPage> = None;
    // the slowest input, to say which one a high p95 comes from
    let mut slowest = (0.0, None);
    let mut run = Vec::new();
    for (i, f) in filters.iter().enumerate() {
        let t = Instant::now();
        let page = store.list_customers(tenant_of(i), f).await.unwrap();
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        times.push(ms);
        run.push(ms);
        if ms > slowest.0 {
            slowest = (ms, f.search.clone().map(|s| (s, page.total)));
        }
        last = Some(page);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let last = last.unwrap();
    let matches = if last.total_exact {
        format!("{}", last.total)
    } else {
        "more than 10,000".to_owned()
    };
    println!(
        "- {label}: p50 {:.1} ms, p95 {:.1} ms ({} inputs; last: {matches} matches, {} on the page)",
        percentile(&times, 0.5),
        percentile(&times, 0.95),
        times.len(),
        last.customers.len()
    );
    if let (ms, Some((input, total))) = slowest {
        println!("  slowest: \"{input}\" {ms:.1} ms ({total} matches counted)");
    }
    // BENCH_SEARCH_EACH=1 prints every input's time, in the order run
    if std::env::var_os("BENCH_SEARCH_EACH").is_some() {
        let each: Vec<String> = filters
            .iter()
            .zip(&run)
            .map(|(f, ms)| format!("{} {ms:.1}", f.search.as_deref().unwrap_or("-")))
            .collect();
        println!("  each: {}", each.join(", "));
    }
}

fn page(search: Option<String>, status: Option<&str>, removed: Option<bool>) -> CustomerFilter {
    CustomerFilter {
        search,
        contract_status: status.map(str::to_owned),
        removed,
        limit: 20,
        offset: 0,
    }
}

/// One database: `providers` providers of `each` customers (the
/// population's customers in turn), loaded, indexed, then searched.
async fn bench_one(name: &str, url: DatabaseUrl, providers: u32, each: u32) {
    let settings = DatabaseSettings {
        url: url.clone(),
        max_connections: 8,
        connect_timeout: Duration::from_secs(10),
    };
    let store = sgp_import_core::store::connect(&settings, Arc::new(SystemClock))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let large = providers * each;
    let shape = if providers == 1 {
        format!("one provider of {each} customers")
    } else {
        format!("{providers} providers of {each} (each query a different provider)")
    };
    println!("\n## {name}: {shape}");
    let population = Population::new(large);
    let began = Instant::now();
    let mut tenants = Vec::new();
    for p in 0..providers {
        let t = store
            .ensure_tenant(&TenantSlug::parse(&format!("p{p:03}")).unwrap(), "Provedor")
            .await
            .unwrap();
        load(&url, t.id, &population, p * each, (p + 1) * each).await;
        tenants.push(t.id);
    }
    checkpoint(&url).await;
    println!(
        "loaded {large} customers in {:.0} s (plain SQL)",
        began.elapsed().as_secs_f64()
    );
    let began = Instant::now();
    let mut copied = 0;
    for t in &tenants {
        copied += store.refresh_search(*t).await.unwrap().unwrap_or(0);
    }
    let secs = began.elapsed().as_secs_f64();
    println!(
        "search index, first refresh: {copied} customers in {secs:.1} s = {:.0} customers/s",
        copied as f64 / secs
    );
    checkpoint(&url).await;
    let tenant_of = |i: usize| tenants[(i * 37) % tenants.len()];

    // inputs: 20 customers spread over the population
    let people: Vec<(String, String, String)> = (0..20u32)
        .map(|k| person(&population, k * (large / 20) + 7))
        .collect();
    let surnames = [
        "silva", "santos", "oliveira", "souza", "lima", "costa", "rocha", "dias", "nunes",
        "mendes", "gomes", "alves", "lopes", "vieira", "freitas", "ribeiro", "martins", "barbosa",
        "moreira", "machado",
    ];
    println!("customers page, page of 20:");
    let mut floor = Vec::new();
    for k in 0..20u32 {
        let index = k * (large / 20) + 7;
        let key = person(&population, index).0;
        let t = Instant::now();
        let _ = store
            .customer_by_key(tenants[(index / each) as usize], &key)
            .await
            .unwrap();
        floor.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    floor.sort_by(|a, b| a.total_cmp(b));
    println!(
        "- reference, one customer read by its key: p50 {:.2} ms, p95 {:.2} ms",
        percentile(&floor, 0.5),
        percentile(&floor, 0.95)
    );
    {
        let cases: Vec<(&str, Vec<CustomerFilter>)> = vec![
            ("first page, no filter", vec![page(None, None, None); 20]),
            (
                "whole name",
                people
                    .iter()
                    .map(|p| page(Some(p.1.to_lowercase()), None, None))
                    .collect(),
            ),
            (
                "one surname (many matches)",
                surnames
                    .iter()
                    .map(|s| page(Some((*s).to_owned()), None, None))
                    .collect(),
            ),
            (
                // a first name's matches lie together in the name order,
                // where the walk may reach them only late
                "a name's first word",
                people
                    .iter()
                    .map(|p| {
                        let first = p.1.split(' ').next().unwrap_or("").to_lowercase();
                        page(Some(first), None, None)
                    })
                    .collect(),
            ),
            (
                "first name and a surname's start",
                people
                    .iter()
                    .map(|p| {
                        let mut w = p.1.split(' ');
                        let first = w.next().unwrap_or("").to_lowercase();
                        let second: String = w.next().unwrap_or("").chars().take(3).collect();
                        page(
                            Some(format!("{first} {}", second.to_lowercase())),
                            None,
                            None,
                        )
                    })
                    .collect(),
            ),
            (
                "CPF/CNPJ prefix (5 digits)",
                people
                    .iter()
                    .map(|p| page(Some(p.2.chars().take(5).collect()), None, None))
                    .collect(),
            ),
            (
                "contract status ativo (80 %)",
                vec![page(None, Some("ativo"), None); 20],
            ),
            (
                "contract status cancelado (10 %)",
                vec![page(None, Some("cancelado"), None); 20],
            ),
            (
                "contract status inviabilidade_tecnica (0.1 %)",
                vec![page(None, Some("inviabilidade_tecnica"), None); 20],
            ),
            (
                "removed from SGP (0.5 %)",
                vec![page(None, None, Some(true)); 20],
            ),
            ("still in SGP", vec![page(None, None, Some(false)); 20]),
            (
                "surname and status cancelado",
                surnames
                    .iter()
                    .map(|s| page(Some((*s).to_owned()), Some("cancelado"), None))
                    .collect(),
            ),
            (
                "surname and status ativo",
                surnames
                    .iter()
                    .map(|s| page(Some((*s).to_owned()), Some("ativo"), None))
                    .collect(),
            ),
            (
                "first name and status suspenso",
                people
                    .iter()
                    .map(|p| {
                        let first = p.1.split(' ').next().unwrap_or("").to_lowercase();
                        page(Some(first), Some("suspenso"), None)
                    })
                    .collect(),
            ),
            (
                "surname and still in SGP",
                surnames
                    .iter()
                    .map(|s| page(Some((*s).to_owned()), None, Some(false)))
                    .collect(),
            ),
            (
                "surname and removed from SGP",
                surnames
                    .iter()
                    .map(|s| page(Some((*s).to_owned()), None, Some(true)))
                    .collect(),
            ),
            (
                "status cancelado and still in SGP",
                vec![page(None, Some("cancelado"), Some(false)); 20],
            ),
            (
                "surname, status cancelado and still in SGP",
                surnames
                    .iter()
                    .map(|s| page(Some((*s).to_owned()), Some("cancelado"), Some(false)))
                    .collect(),
            ),
        ];
        for (label, filters) in cases {
            time(store.as_ref(), label, filters, &tenant_of).await;
        }
    }
    store.close().await;
}

#[tokio::main]
async fn main() {
    let large = env_number("BENCH_SEARCH_CUSTOMERS", 1_000_000) as u32;
    println!("# sgp-import customer search benchmark (target: p95 < 50 ms per filter)");
    let all = [(1, large), (100, 10_000)];
    // BENCH_SEARCH_LARGE_ONLY=1 leaves out the 100 providers of 10,000
    let shapes = if std::env::var_os("BENCH_SEARCH_LARGE_ONLY").is_some() {
        &all[..1]
    } else {
        &all[..]
    };
    if std::env::var_os("BENCH_SKIP_SQLITE").is_none() {
        for (n, (providers, each)) in shapes.iter().enumerate() {
            let dir = std::env::temp_dir().join(format!(
                "sgp-import-bench-search-{}-{n}",
                std::process::id()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let url = DatabaseUrl::parse(&format!("sqlite://{}/search.db", dir.display())).unwrap();
            bench_one("SQLite", url, *providers, *each).await;
            // BENCH_KEEP_DATABASES=1 leaves them for EXPLAIN (removed by hand)
            if std::env::var_os("BENCH_KEEP_DATABASES").is_some() {
                println!("(kept {})", dir.display());
                continue;
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    match std::env::var("BENCH_DATABASE_URL") {
        Ok(admin) => {
            let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
            for (n, (providers, each)) in shapes.iter().enumerate() {
                let name = format!("bench_search_{}_{n}", std::process::id());
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut c)
                    .await
                    .unwrap();
                let mut url = url::Url::parse(&admin).unwrap();
                url.set_path(&name);
                let url = DatabaseUrl::parse(url.as_str()).unwrap();
                bench_one("PostgreSQL", url, *providers, *each).await;
                // BENCH_KEEP_DATABASES=1 leaves them for EXPLAIN (dropped by hand)
                if std::env::var_os("BENCH_KEEP_DATABASES").is_some() {
                    println!("(kept database {name})");
                    continue;
                }
                let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
                    .execute(&mut c)
                    .await;
            }
        }
        Err(_) => println!("\n(PostgreSQL skipped: BENCH_DATABASE_URL not set)"),
    }
}
