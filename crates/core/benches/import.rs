//! Import benchmark: prints figures, asserts nothing (machines are noisy).
//! `cargo bench -p sgp-import-core --features server --bench import`, or
//! scripts/bench.sh, which also finds or starts PostgreSQL.
//!
//! A fake SGP in this process serves BENCH_CUSTOMERS customers (default
//! 100,000) with no latency. For SQLite and PostgreSQL it measures:
//! - the fetch limit: every page fetched and parsed, nothing stored;
//! - the insert limit: the same number of plain customer rows inserted
//!   100 per transaction;
//! - the import itself, through the executor, into an empty database;
//! - a second import of the same data (every customer unchanged);
//! - the database side alone: pages fetched ahead off the clock, then
//!   stored one transaction per page as the job does.
//!
//! Each phase prints its peak RSS (the peak is reset between phases). The
//! import into an empty database is then repeated BENCH_ROUNDS times
//! (default 3) in fresh databases, and the median printed: single runs on
//! a busy 2-core machine vary by a fifth. BENCH_SKIP_SQLITE=1 skips SQLite.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_sgp::{FakeConfig, FakeSgp};
use serde_json::json;
use sgp_import_core::clock::SystemClock;
use sgp_import_core::config::{DatabaseSettings, DatabaseUrl};
use sgp_import_core::import::{
    ImportJob, ImportParams, ImportService, IntegrationInput, Integrations,
};
use sgp_import_core::jobs::{Executor, ExecutorConfig};
use sgp_import_core::model::{JobStatus, TenantId, TenantSlug};
use sgp_import_core::sealing::Sealer;
use sgp_import_core::secret::Secret;
use sgp_import_core::sgp::{
    parse_page, CustomerQuery, SgpAuth, SgpBaseUrl, SgpClient, SgpClientConfig,
};
use sgp_import_core::store::{CustomerFilter, Store};
use sqlx::Connection;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resets the kernel's peak-RSS mark for this process. The kernel resets
/// it to the current RSS, which still holds what earlier phases freed but
/// the allocator kept (the PostgreSQL phases showed 133-171 MB that way,
/// against 32 MB for the same import run alone), so that memory is handed
/// back first.
fn reset_peak() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap memory to the system; it
    // touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak RSS since the last reset, in MB.
fn peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn client(fake: &FakeSgp) -> SgpClient {
    let creds = fake.config().credentials;
    SgpClient::new(
        SgpBaseUrl::parse(&fake.url()).unwrap(),
        SgpAuth::Token {
            token: Secret::new(creds.token),
            app: creds.app,
        },
        sgp_config(),
    )
}

/// The client's settings, with loopback allowed: the fake SGP listens on
/// 127.0.0.1, which the outbound policy refuses by default.
fn sgp_config() -> SgpClientConfig {
    SgpClientConfig {
        outbound: sgp_import_core::outbound::OutboundPolicy::public_only().with_loopback(),
        ..SgpClientConfig::default()
    }
}

async fn fetch_only(fake: &FakeSgp) -> (u64, u64, f64) {
    let client = client(fake);
    let started = Instant::now();
    let (mut pages, mut customers, mut offset) = (0u64, 0u64, 0u64);
    loop {
        let query = CustomerQuery {
            offset,
            limit: 100,
            ..CustomerQuery::default()
        };
        let page = client.customers(&query, |_| {}).await.unwrap();
        if page.received == 0 {
            break;
        }
        pages += 1;
        customers += page.received as u64;
        offset += page.received as u64;
    }
    (pages, customers, started.elapsed().as_secs_f64())
}

/// The client's parsing alone: pages fetched 20 at a time off the clock,
/// then parsed (best of three passes per batch, as CPU time barely
/// varies). Batches keep the bodies from inflating the process's RSS.
async fn parse_only(fake: &FakeSgp) -> (u64, f64) {
    let creds = fake.config().credentials;
    let http = reqwest::Client::new();
    let url = format!("{}/api/ura/clientes/", fake.url().trim_end_matches('/'));
    let (mut offset, mut secs, mut done) = (0u64, 0.0, false);
    while !done {
        let mut bodies = Vec::new();
        while bodies.len() < 20 {
            let body = http
                .post(&url)
                .form(&[
                    ("offset", offset.to_string()),
                    ("limit", "100".to_owned()),
                    ("omitir_titulos", "1".to_owned()),
                    ("token", creds.token.clone()),
                    ("app", creds.app.clone()),
                ])
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let n = parse_page(&body).unwrap().received as u64;
            if n == 0 {
                done = true;
                break;
            }
            offset += n;
            bodies.push(body);
        }
        secs += (0..3)
            .map(|_| {
                let started = Instant::now();
                for body in &bodies {
                    std::hint::black_box(parse_page(body).unwrap());
                }
                started.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
    }
    (offset, secs)
}

/// Plain rows, 100 per transaction: what the database can take at best.
async fn insert_only(url: &DatabaseUrl, tenant: TenantId, n: u64) -> f64 {
    let started = Instant::now();
    match url {
        DatabaseUrl::Sqlite(u) => {
            let mut c = sqlx::SqliteConnection::connect(u).await.unwrap();
            for start in (0..n).step_by(100) {
                let rows: Vec<serde_json::Value> = (start..(start + 100).min(n))
                    .map(|i| json!({"k": format!("plain-{i}"), "n": format!("CLIENTE {i}")}))
                    .collect();
                let mut tx = c.begin().await.unwrap();
                sqlx::query(
                    "INSERT INTO customers (tenant_id, sgp_key, name, content_hash, created_at, \
                        updated_at) \
                     SELECT ?1, value ->> 'k', value ->> 'n', 'h', 0, 0 FROM json_each(?2)",
                )
                .bind(tenant.0)
                .bind(serde_json::Value::Array(rows).to_string())
                .execute(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
            }
        }
        DatabaseUrl::Postgres(u) => {
            let mut c = sqlx::PgConnection::connect(u).await.unwrap();
            for start in (0..n).step_by(100) {
                let rows: Vec<serde_json::Value> = (start..(start + 100).min(n))
                    .map(|i| json!({"k": format!("plain-{i}"), "n": format!("CLIENTE {i}")}))
                    .collect();
                let mut tx = c.begin().await.unwrap();
                sqlx::query(
                    "INSERT INTO customers (tenant_id, sgp_key, name, content_hash, created_at, \
                        updated_at) \
                     SELECT $1, r.k, r.n, 'h', now(), now() \
                     FROM jsonb_to_recordset($2::jsonb) AS r(k text, n text)",
                )
                .bind(tenant.0)
                .bind(serde_json::Value::Array(rows))
                .execute(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
            }
        }
    }
    started.elapsed().as_secs_f64()
}

/// Pages a transaction in the store-only phase: as many as the import job
/// fetches ahead of its writes (`AHEAD_CUSTOMERS` in `import/job.rs`).
const PAGES_A_WRITE: usize = 16;

/// Pages fetched ahead (100 at a time, off the clock), then stored
/// `PAGES_A_WRITE` pages a transaction as the job does with a fast SGP:
/// the database side of an import without the network.
async fn store_only(store: &Arc<dyn Store>, fake: &FakeSgp, tenant: TenantId) -> (u64, f64) {
    let client = client(fake);
    store
        .enqueue(sgp_import_core::store::NewJob::new(
            tenant,
            "store_only",
            "store only",
            json!({}),
        ))
        .await
        .unwrap();
    let kinds = [sgp_import_core::store::KindLimit {
        kind: "store_only".into(),
        per_tenant: None,
    }];
    let job = store
        .claim("bench", 1, &kinds, Duration::from_secs(600), 100)
        .await
        .unwrap()
        .remove(0);
    let (mut stored, mut secs, mut offset) = (0u64, 0.0, 0u64);
    loop {
        let mut pages = Vec::new();
        while pages.len() < 100 {
            let query = CustomerQuery {
                offset,
                limit: 100,
                ..CustomerQuery::default()
            };
            let page = client.customers(&query, |_| {}).await.unwrap();
            if page.received == 0 {
                break;
            }
            offset += page.received as u64;
            pages.push(page);
        }
        if pages.is_empty() {
            return (stored, secs);
        }
        let started = Instant::now();
        // as the import stores them when SGP answers faster than the
        // database
        let mut pages = pages.into_iter().peekable();
        while pages.peek().is_some() {
            let customers: Vec<_> = pages
                .by_ref()
                .take(PAGES_A_WRITE)
                .flat_map(|page| page.customers)
                .filter_map(Result::ok)
                .map(sgp_import_core::store::HashedCustomer::new)
                .collect();
            stored += customers.len() as u64;
            let progress = sgp_import_core::model::JobProgress::default();
            let checkpoint = json!({ "offset": stored });
            store
                .import_page(&sgp_import_core::store::PageWrite {
                    lease: &job.lease,
                    offset: stored,
                    customers: &customers,
                    errors: &[],
                    errors_listed: 0,
                    progress: &progress,
                    checkpoint: &checkpoint,
                    log: None,
                    log_cap: 100,
                    track_seen: true,
                })
                .await
                .unwrap();
        }
        secs += started.elapsed().as_secs_f64();
    }
}

async fn import(
    store: &Arc<dyn Store>,
    service: &ImportService,
    integrations: &Arc<Integrations>,
    tenant: TenantId,
    name: &str,
) -> (f64, sgp_import_core::model::JobProgress) {
    let mut config = ExecutorConfig::new("bench");
    config.poll_interval = Duration::from_millis(100);
    config.retention = None;
    let ex = Executor::new(store.clone(), Arc::new(SystemClock), config)
        .register(ImportJob::new(integrations.clone(), sgp_config()))
        .start();
    let params = ImportParams::everything(name);
    let started = Instant::now();
    let job = service
        .start(tenant, params, sgp_import_core::model::JobOrigin::Manual)
        .await
        .unwrap();
    let summary = loop {
        let s = store.job_details(tenant, job.id, 0).await.unwrap().summary;
        if s.status.is_finished() {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let secs = started.elapsed().as_secs_f64();
    ex.shutdown().await;
    assert_eq!(
        summary.status,
        JobStatus::Completed,
        "{:?}",
        summary.last_error
    );
    (secs, summary.progress)
}

/// A migrated database with a provider whose integration points at the fake.
async fn setup(
    url: DatabaseUrl,
    fake: &FakeSgp,
) -> (Arc<dyn Store>, Arc<Integrations>, ImportService, TenantId) {
    let settings = DatabaseSettings {
        url,
        max_connections: 8,
        connect_timeout: Duration::from_secs(10),
    };
    let store = sgp_import_core::store::connect(&settings, Arc::new(SystemClock))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let sealer = Sealer::from_base64(&Sealer::generate_key()).unwrap();
    let integrations = Arc::new(Integrations::new(store.clone(), Some(sealer)));
    let service = ImportService::new(store.clone(), integrations.clone(), sgp_config());
    let t = store
        .ensure_tenant(&TenantSlug::parse("bench").unwrap(), "Bench")
        .await
        .unwrap();
    let creds = fake.config().credentials;
    integrations
        .save(
            t.id,
            &IntegrationInput::token(fake.url(), creds.app, creds.token),
        )
        .await
        .unwrap();
    (store, integrations, service, t.id)
}

/// All phases on one database; returns the import's customers/s.
async fn bench_one(name: &str, url: DatabaseUrl, fake: &FakeSgp, customers: u64) -> f64 {
    println!("\n## {name}");
    let (store, integrations, service, tenant) = setup(url.clone(), fake).await;

    reset_peak();
    let (pages, fetched, secs) = fetch_only(fake).await;
    println!(
        "fetch only: {pages} pages, {fetched} customers in {secs:.2} s = {:.0} pages/s ({:.0} customers/s); peak RSS {:.0} MB",
        pages as f64 / secs,
        fetched as f64 / secs,
        peak_mb()
    );

    let plain = store
        .ensure_tenant(&TenantSlug::parse("plain").unwrap(), "Plain")
        .await
        .unwrap();
    reset_peak();
    let secs = insert_only(&url, plain.id, customers).await;
    println!(
        "insert only: {customers} plain rows, 100 per transaction, in {secs:.2} s = {:.0} rows/s",
        customers as f64 / secs
    );

    reset_peak();
    let (secs, p) = import(&store, &service, &integrations, tenant, "primeira").await;
    let import_rate = p.processed as f64 / secs;
    println!(
        "import: {} customers ({} created) in {secs:.2} s = {:.0} customers/s; peak RSS {:.0} MB",
        p.processed,
        p.created,
        p.processed as f64 / secs,
        peak_mb()
    );
    reset_peak();
    let (secs, p) = import(&store, &service, &integrations, tenant, "segunda").await;
    println!(
        "re-import: {} customers ({} unchanged) in {secs:.2} s = {:.0} customers/s; peak RSS {:.0} MB",
        p.processed,
        p.unchanged,
        p.processed as f64 / secs,
        peak_mb()
    );
    customers_page(&store, tenant).await;
    let only = store
        .ensure_tenant(&TenantSlug::parse("store-only").unwrap(), "Store only")
        .await
        .unwrap();
    reset_peak();
    let (n, secs) = store_only(&store, fake, only.id).await;
    println!(
        "store only: {n} customers stored {PAGES_A_WRITE} pages a transaction (fetched ahead) in {secs:.2} s = {:.0} customers/s; peak RSS {:.0} MB",
        n as f64 / secs,
        peak_mb()
    );

    let (parsed, secs) = parse_only(fake).await;
    println!(
        "parse only: {parsed} customers parsed from fetched pages in {secs:.2} s = {:.0} customers/s",
        parsed as f64 / secs
    );

    store.close().await;
    import_rate
}

/// The customers page's queries over the imported provider, after the
/// search index's refresh that follows an import (timed: it runs off the
/// import's path, after it). The search benchmark (`--bench search`)
/// measures them at a million customers.
async fn customers_page(store: &Arc<dyn Store>, tenant: TenantId) {
    let began = Instant::now();
    let copied = store.refresh_search(tenant).await.unwrap().unwrap_or(0);
    let secs = began.elapsed().as_secs_f64();
    println!(
        "search index refresh after the imports: {copied} customers in {secs:.2} s = {:.0} customers/s",
        copied as f64 / secs
    );
    let first = store
        .list_customers(
            tenant,
            &CustomerFilter {
                limit: 1,
                ..CustomerFilter::default()
            },
        )
        .await
        .unwrap();
    let someone = &first.customers[0];
    let surname = someone
        .name
        .split_whitespace()
        .last()
        .unwrap_or("a")
        .to_owned();
    let doc: String = someone
        .cpf_cnpj
        .clone()
        .unwrap_or_default()
        .chars()
        .take(6)
        .collect();
    for (label, search, status) in [
        ("first page, no filter", None, None),
        ("name search", Some(surname), None),
        ("CPF/CNPJ prefix", Some(doc), None),
        ("contract status ativo", None, Some("ativo".to_owned())),
    ] {
        let filter = CustomerFilter {
            search,
            contract_status: status,
            removed: None,
            limit: 20,
            offset: 0,
        };
        let mut times = Vec::new();
        let mut total = 0;
        for _ in 0..5 {
            let t = Instant::now();
            total = store.list_customers(tenant, &filter).await.unwrap().total;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "customers page, {label}: {total} matches, median {:.1} ms (5 runs)",
            times[2]
        );
    }
}

/// Only the import, into an empty database.
async fn import_only(url: DatabaseUrl, fake: &FakeSgp) -> f64 {
    let (store, integrations, service, tenant) = setup(url, fake).await;
    let (secs, p) = import(&store, &service, &integrations, tenant, "rodada").await;
    store.close().await;
    p.processed as f64 / secs
}

fn summary(name: &str, rates: &mut [f64]) {
    let shown: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
    rates.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{name}: import into an empty database, {} rounds: {} customers/s; median {:.0}",
        rates.len(),
        shown.join(", "),
        rates[rates.len() / 2]
    );
}

#[tokio::main]
async fn main() {
    let customers = env_number("BENCH_CUSTOMERS", 100_000);
    println!("# sgp-import import benchmark ({customers} fake customers, no latency)");
    let fake = FakeSgp::start(FakeConfig::new(customers as u32))
        .await
        .unwrap();

    let dir = std::env::temp_dir().join(format!("sgp-import-bench-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rounds = env_number("BENCH_ROUNDS", 3).max(1);
    let sqlite =
        |n: u64| DatabaseUrl::parse(&format!("sqlite://{}/import-{n}.db", dir.display())).unwrap();
    // BENCH_SKIP_SQLITE=1 measures PostgreSQL alone, for A/B runs of its store
    let mut sqlite_rates = Vec::new();
    if std::env::var_os("BENCH_SKIP_SQLITE").is_none() {
        // BENCH_IMPORT_ONLY=1 runs only the imports (for a profiler)
        let first = if std::env::var_os("BENCH_IMPORT_ONLY").is_some() {
            1
        } else {
            sqlite_rates.push(bench_one("SQLite", sqlite(1), &fake, customers).await);
            2
        };
        for n in first..=rounds {
            sqlite_rates.push(import_only(sqlite(n), &fake).await);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut pg_rates = Vec::new();

    match std::env::var("BENCH_DATABASE_URL") {
        Ok(admin) => {
            let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
            for n in 1..=rounds {
                let name = format!("bench_import_{}_{n}", std::process::id());
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut c)
                    .await
                    .unwrap();
                let mut url = url::Url::parse(&admin).unwrap();
                url.set_path(&name);
                let url = DatabaseUrl::parse(url.as_str()).unwrap();
                pg_rates.push(
                    if n == 1 && std::env::var_os("BENCH_IMPORT_ONLY").is_none() {
                        bench_one("PostgreSQL", url, &fake, customers).await
                    } else {
                        import_only(url, &fake).await
                    },
                );
                let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
                    .execute(&mut c)
                    .await;
            }
        }
        Err(_) => {
            println!("\n(PostgreSQL skipped: BENCH_DATABASE_URL not set; scripts/bench.sh sets it)")
        }
    }
    println!();
    if !sqlite_rates.is_empty() {
        summary("SQLite", &mut sqlite_rates);
    }
    if !pg_rates.is_empty() {
        summary("PostgreSQL", &mut pg_rates);
    }
    fake.stop().await;
}
