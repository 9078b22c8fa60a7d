//! Job engine benchmark: prints figures, asserts nothing (machines are
//! noisy). Run with scripts/bench.sh, which finds or starts PostgreSQL.
//!
//! For SQLite (a temporary file) and PostgreSQL (a fresh database on
//! BENCH_DATABASE_URL's server) it measures:
//! - throughput: BENCH_JOBS no-op jobs, queued in bulk, run by one executor
//!   with BENCH_SLOTS slots (no-op jobs wait on nothing, so many slots),
//!   BENCH_ROUNDS times (default 3) with the median;
//! - enqueue-to-start latency of jobs enqueued one by one to an idle executor;
//! - the dashboard's queries (one page of a tab + all tab counts) with
//!   BENCH_HISTORY finished jobs in the history.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{json, Value};
use sgp_import_core::clock::SystemClock;
use sgp_import_core::config::{DatabaseSettings, DatabaseUrl};
use sgp_import_core::jobs::{Executor, ExecutorConfig, JobContext, JobError, JobHandler};
use sgp_import_core::model::{JobStatus, Tenant, TenantSlug};
use sgp_import_core::store::{JobFilter, NewJob, Store};
use sqlx::Connection;

struct Noop;

#[async_trait]
impl JobHandler for Noop {
    fn kind(&self) -> &'static str {
        "noop"
    }
    async fn run(&self, _ctx: JobContext) -> Result<Value, JobError> {
        Ok(Value::Null)
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn executor(store: Arc<dyn Store>, slots: usize) -> Executor {
    let mut config = ExecutorConfig::new("bench");
    config.slots = slots;
    config.poll_interval = Duration::from_millis(200);
    config.retention = None;
    config.log_cap = 10;
    Executor::new(store, Arc::new(SystemClock), config).register(Noop)
}

/// Inserts `n` jobs in bulk with SQL (the bench measures running them, not
/// inserting them), with the given status and time-ordered ids as
/// `JobId::new` makes them.
async fn bulk_jobs(url: &DatabaseUrl, tenant: &Tenant, n: u64, status: JobStatus) {
    let now = chrono::Utc::now();
    let finished_at = status.is_finished().then_some(now);
    match url {
        DatabaseUrl::Sqlite(u) => {
            let mut c = sqlx::SqliteConnection::connect(u).await.unwrap();
            sqlx::query(
                "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?1) \
                 INSERT INTO jobs (id, tenant_id, kind, name, status, run_after, created_at, \
                    updated_at, finished_at) \
                 SELECT unhex(printf('%012x70008%015x', ?4 - (?1 - i), i)), ?2, 'noop', 'bench ' || i, \
                    ?3, ?4, ?4 - (?1 - i), ?4, ?5 FROM s",
            )
            .bind(n as i64)
            .bind(tenant.id.0)
            .bind(status.as_str())
            .bind(now.timestamp_millis())
            .bind(finished_at.map(|t| t.timestamp_millis()))
            .execute(&mut c)
            .await
            .unwrap();
        }
        DatabaseUrl::Postgres(u) => {
            let mut c = sqlx::PgConnection::connect(u).await.unwrap();
            let mut tx = c.begin().await.unwrap();
            // A bulk load: the per-row counter trigger would rewrite one
            // counter row a million times in one transaction, so it is off
            // for this load and the counts are added in one step.
            sqlx::query("SET LOCAL session_replication_role = replica")
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query(
                "INSERT INTO jobs (id, tenant_id, kind, name, status, run_after, created_at, \
                    updated_at, finished_at) \
                 SELECT (lpad(to_hex((extract(epoch FROM $4) * 1000)::bigint - ($1 - i)), 12, '0') \
                    || '70008' || lpad(to_hex(i), 15, '0'))::uuid, $2, 'noop', 'bench ' || i, $3, $4, \
                    $4 - ($1 - i) * interval '1 millisecond', $4, $5 \
                 FROM generate_series(1, $1) AS i",
            )
            .bind(n as i64)
            .bind(tenant.id.0)
            .bind(status.as_str())
            .bind(now)
            .bind(finished_at)
            .execute(&mut *tx)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO job_counts (tenant_id, kind, status, shard, n) VALUES ($1, 'noop', $2, 0, $3) \
                 ON CONFLICT (tenant_id, kind, status, shard) DO UPDATE SET n = job_counts.n + excluded.n",
            )
            .bind(tenant.id.0)
            .bind(status.as_str())
            .bind(n as i64)
            .execute(&mut *tx)
            .await
            .unwrap();
            tx.commit().await.unwrap();
            // what autovacuum would do after a load this size
            sqlx::query("ANALYZE jobs").execute(&mut c).await.unwrap();
        }
    }
}

async fn wait_completed(store: &dyn Store, tenant: &Tenant, n: u64) {
    loop {
        if store
            .status_counts(tenant.id, None)
            .await
            .unwrap()
            .get(JobStatus::Completed)
            >= n
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn bench_one(name: &str, url: DatabaseUrl) {
    let jobs = env_number("BENCH_JOBS", 100_000);
    let history = env_number("BENCH_HISTORY", 1_000_000);
    let settings = DatabaseSettings {
        url: url.clone(),
        max_connections: 16,
        connect_timeout: Duration::from_secs(10),
    };
    let store = sgp_import_core::store::connect(&settings, Arc::new(SystemClock))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    println!("\n## {name}");

    // throughput: several rounds, since one run on a busy 2-core machine
    // can be off by a fifth either way
    let t = store
        .ensure_tenant(&TenantSlug::parse("bench-a").unwrap(), "Bench A")
        .await
        .unwrap();
    let rounds = env_number("BENCH_ROUNDS", 3).max(1);
    let slots = env_number("BENCH_SLOTS", 1024) as usize;
    let mut rates = Vec::new();
    for round in 1..=rounds {
        bulk_jobs(&url, &t, jobs, JobStatus::Queued).await;
        let started = Instant::now();
        let ex = executor(store.clone(), slots).start();
        wait_completed(store.as_ref(), &t, jobs * round).await;
        let secs = started.elapsed().as_secs_f64();
        ex.shutdown().await;
        rates.push(jobs as f64 / secs);
    }
    let shown: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
    rates.sort_by(|a, b| a.total_cmp(b));
    println!(
        "throughput: {jobs} no-op jobs on {slots} slots, {rounds} rounds: {} jobs/s; median {:.0} jobs/s",
        shown.join(", "),
        percentile(&rates, 0.5)
    );

    // enqueue-to-start latency, one job at a time to an idle executor
    let t = store
        .ensure_tenant(&TenantSlug::parse("bench-b").unwrap(), "Bench B")
        .await
        .unwrap();
    let ex = executor(store.clone(), 8).start();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let samples = 300;
    let mut enqueue_secs = 0.0;
    for _ in 0..samples {
        let began = Instant::now();
        store
            .enqueue(NewJob::new(t.id, "noop", "latency", json!({})))
            .await
            .unwrap();
        enqueue_secs += began.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    wait_completed(store.as_ref(), &t, samples).await;
    ex.shutdown().await;
    let page = store
        .list_jobs(
            t.id,
            &JobFilter {
                statuses: None,
                origin: None,
                kind: None,
                limit: samples as u32,
                offset: 0,
            },
        )
        .await
        .unwrap();
    let mut latency: Vec<f64> = page
        .jobs
        .iter()
        .filter_map(|j| {
            j.started_at
                .map(|s| (s - j.created_at).num_microseconds().unwrap_or(0) as f64 / 1000.0)
        })
        .collect();
    latency.sort_by(|a, b| a.total_cmp(b));
    println!(
        "enqueue: {:.2} ms per job; enqueue-to-start latency: p50 {:.1} ms, p95 {:.1} ms ({} jobs)",
        enqueue_secs * 1000.0 / samples as f64,
        percentile(&latency, 0.5),
        percentile(&latency, 0.95),
        latency.len()
    );

    // dashboard queries over a large history
    let t = store
        .ensure_tenant(&TenantSlug::parse("bench-c").unwrap(), "Bench C")
        .await
        .unwrap();
    let load = Instant::now();
    bulk_jobs(&url, &t, history, JobStatus::Completed).await;
    bulk_jobs(&url, &t, 20, JobStatus::Queued).await;
    println!(
        "history: {history} finished jobs loaded in {:.1} s",
        load.elapsed().as_secs_f64()
    );
    let mut times = Vec::new();
    for round in 0..60u64 {
        let tab = round % 3;
        let status = [
            None,
            Some(vec![JobStatus::Completed]),
            Some(vec![JobStatus::Queued]),
        ][tab as usize]
            .clone();
        // deeper pages of the big tabs; the small queued tab has one page
        let offset = if tab == 2 { 0 } else { (round % 5) * 10 };
        let began = Instant::now();
        let page = store
            .list_jobs(
                t.id,
                &JobFilter {
                    statuses: status,
                    origin: None,
                    kind: None,
                    limit: 10,
                    offset,
                },
            )
            .await
            .unwrap();
        let counts = store.status_counts(t.id, None).await.unwrap();
        times.push(began.elapsed().as_secs_f64() * 1000.0);
        assert!(!page.jobs.is_empty() && counts.total() >= history);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "dashboard (one page of a tab + all tab counts, {history} jobs): p50 {:.1} ms, p95 {:.1} ms",
        percentile(&times, 0.5),
        percentile(&times, 0.95)
    );
    store.close().await;
}

#[tokio::main]
async fn main() {
    println!("# sgp-import job engine benchmark");
    let dir = tempfile_dir();
    let sqlite = DatabaseUrl::parse(&format!("sqlite://{dir}/bench.db")).unwrap();
    bench_one("SQLite", sqlite).await;
    let _ = std::fs::remove_dir_all(&dir);

    match std::env::var("BENCH_DATABASE_URL") {
        Ok(admin) => {
            let name = format!("bench_{}", std::process::id());
            let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut c)
                .await
                .unwrap();
            let mut url = url::Url::parse(&admin).unwrap();
            url.set_path(&name);
            bench_one("PostgreSQL", DatabaseUrl::parse(url.as_str()).unwrap()).await;
            let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
                .execute(&mut c)
                .await;
        }
        Err(_) => {
            println!("\n(PostgreSQL skipped: BENCH_DATABASE_URL not set; scripts/bench.sh sets it)")
        }
    }
}

fn tempfile_dir() -> String {
    let dir = std::env::temp_dir().join(format!("sgp-import-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.display().to_string()
}
