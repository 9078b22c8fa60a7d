//! The engine beside its peer, graphile-worker (scripts/bench.sh runs the
//! two alternately on one PostgreSQL cluster), and several app processes
//! sharing one PostgreSQL queue.
//!
//! - `bench once URL`: BENCH_JOBS no-op jobs of one provider queued in bulk
//!   into the (fresh) database at URL, run by one executor until all have
//!   completed; prints one line with the rate.
//! - `bench processes URL N`: the same jobs run by N processes of this
//!   binary (`bench worker URL I`), each with its own executor and pool.
//!   Each process counts the jobs its handler ran and stores them when told
//!   to stop; the parent then checks that every job ran exactly once.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::Value;
use sgp_import_core::clock::SystemClock;
use sgp_import_core::config::{DatabaseSettings, DatabaseUrl};
use sgp_import_core::jobs::{JobContext, JobError, JobHandler};
use sgp_import_core::model::{JobStatus, TenantSlug};
use sgp_import_core::store::Store;
use sqlx::Connection;
use tokio::io::AsyncReadExt;

use super::{bulk_jobs, drain, env_number, executor_of};

async fn store(url: &DatabaseUrl, connections: u32) -> Arc<dyn Store> {
    let settings = DatabaseSettings {
        url: url.clone(),
        max_connections: connections,
        connect_timeout: Duration::from_secs(10),
    };
    sgp_import_core::store::connect(&settings, Arc::new(SystemClock))
        .await
        .unwrap()
}

/// Migrates the database at `url` and queues BENCH_JOBS no-op jobs of one
/// provider in bulk; returns the store and the number queued.
async fn loaded(url: &DatabaseUrl) -> (Arc<dyn Store>, u64) {
    let jobs = env_number("BENCH_JOBS", 100_000);
    let store = store(url, 16).await;
    store.migrate().await.unwrap();
    let tenant = store
        .ensure_tenant(&TenantSlug::parse("side").unwrap(), "Side by side")
        .await
        .unwrap();
    bulk_jobs(url, &tenant, jobs, JobStatus::Queued).await;
    (store, jobs)
}

pub async fn engine_run(url: &str) {
    let url = DatabaseUrl::parse(url).unwrap();
    let slots = env_number("BENCH_SLOTS", 1024) as usize;
    let (store, jobs) = loaded(&url).await;
    let (secs, _) = drain(&store, slots, jobs).await;
    store.close().await;
    println!(
        "engine: {jobs} jobs in {secs:.2} s = {:.0} jobs/s",
        jobs as f64 / secs
    );
}

pub async fn processes(url: &str, n: usize) {
    let parsed = DatabaseUrl::parse(url).unwrap();
    let DatabaseUrl::Postgres(admin) = &parsed else {
        panic!("several processes share a PostgreSQL queue; got {url}");
    };
    let (store, jobs) = loaded(&parsed).await;
    let mut c = sqlx::PgConnection::connect(admin).await.unwrap();
    sqlx::query("CREATE TABLE bench_runs (job_id uuid NOT NULL, process int NOT NULL)")
        .execute(&mut c)
        .await
        .unwrap();

    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let mut children: Vec<_> = (0..n)
        .map(|i| {
            tokio::process::Command::new(&exe)
                .args(["worker", url, &i.to_string()])
                .stdin(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    loop {
        let counts = store.status_counts_everywhere(Some("noop")).await.unwrap();
        if counts.get(JobStatus::Completed) >= jobs {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    for child in &mut children {
        // closing its stdin tells the worker to stop and store its runs
        drop(child.stdin.take());
    }
    for child in &mut children {
        assert!(child.wait().await.unwrap().success(), "a worker failed");
    }

    let (runs, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT job_id) FROM bench_runs")
            .fetch_one(&mut c)
            .await
            .unwrap();
    let shares: Vec<(i32, i64)> = sqlx::query_as(
        "SELECT process, count(*) FROM bench_runs GROUP BY process ORDER BY process",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    store.close().await;
    let shares: Vec<String> = shares.iter().map(|(_, k)| k.to_string()).collect();
    let verdict = if runs as u64 == jobs && distinct as u64 == jobs {
        "each ran exactly once"
    } else {
        "NOT exactly once"
    };
    println!(
        "{n} processes: {jobs} jobs in {secs:.2} s = {:.0} jobs/s; runs counted {runs} for \
         {distinct} distinct jobs: {verdict}; per process {}",
        jobs as f64 / secs,
        shares.join(" + ")
    );
    if verdict != "each ran exactly once" {
        std::process::exit(1);
    }
}

/// A no-op handler that remembers which jobs it ran.
struct Counting(Arc<Mutex<Vec<uuid::Uuid>>>);

#[async_trait]
impl JobHandler for Counting {
    fn kind(&self) -> &'static str {
        "noop"
    }
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let id = ctx.lease().job.0;
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(id);
        Ok(Value::Null)
    }
}

pub async fn worker(url: &str, index: i32) {
    let parsed = DatabaseUrl::parse(url).unwrap();
    let slots = env_number("BENCH_SLOTS", 1024) as usize;
    let store = store(&parsed, 8).await;
    let ran = Arc::new(Mutex::new(Vec::new()));
    let owner = format!("bench-process-{index}");
    let ex = executor_of(store.clone(), slots, &owner, Counting(ran.clone())).start();
    let mut rest = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut rest).await;
    ex.shutdown().await;
    store.close().await;

    let ids = std::mem::take(&mut *ran.lock().unwrap_or_else(|e| e.into_inner()));
    let DatabaseUrl::Postgres(u) = &parsed else {
        unreachable!("processes() checked the URL")
    };
    let mut c = sqlx::PgConnection::connect(u).await.unwrap();
    sqlx::query("INSERT INTO bench_runs (job_id, process) SELECT unnest($1::uuid[]), $2")
        .bind(&ids)
        .bind(index)
        .execute(&mut c)
        .await
        .unwrap();
}
