//! Job engine benchmark: prints figures, asserts nothing (machines are
//! noisy). Run with scripts/bench.sh, which finds or starts PostgreSQL.
//!
//! For SQLite (a temporary file) and PostgreSQL (a fresh database on
//! BENCH_DATABASE_URL's server) it measures:
//! - throughput: BENCH_JOBS no-op jobs, queued in bulk, run by one executor
//!   with BENCH_SLOTS slots (no-op jobs wait on nothing, so many slots),
//!   BENCH_ROUNDS times (default 3) with the median;
//! - the same jobs spread over BENCH_PROVIDERS providers (default 1,000),
//!   whose lanes the claim takes in turn, against one provider's figure;
//! - the time of one claim behind each of those queues (200 per round);
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
use sgp_import_core::store::{Completion, JobFilter, KindLimit, NewJob, Store};
use sqlx::Connection;

mod side;

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

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    percentile(&sorted, 0.5)
}

fn executor(store: Arc<dyn Store>, slots: usize) -> Executor {
    executor_of(store, slots, "bench", Noop)
}

/// An executor as the benchmarks run it: `slots` slots, no retention sweep,
/// running `handler`'s no-op jobs as `owner`.
fn executor_of(
    store: Arc<dyn Store>,
    slots: usize,
    owner: &str,
    handler: impl JobHandler + 'static,
) -> Executor {
    let mut config = ExecutorConfig::new(owner);
    config.slots = slots;
    config.poll_interval = Duration::from_millis(200);
    config.retention = None;
    config.log_cap = 10;
    Executor::new(store, Arc::new(SystemClock), config).register(handler)
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
            // and the queue's lane, which the queueing trigger would open
            if !status.is_finished() {
                open_lanes(&mut tx, &[tenant.id.0], now).await;
            }
            tx.commit().await.unwrap();
            // what autovacuum would do after a load this size
            sqlx::query("ANALYZE jobs").execute(&mut c).await.unwrap();
        }
    }
}

/// What the queueing trigger does, for bulk loads that bypass it.
async fn open_lanes(
    tx: &mut sqlx::PgConnection,
    tenants: &[uuid::Uuid],
    due: chrono::DateTime<chrono::Utc>,
) {
    sqlx::query(
        "INSERT INTO job_lanes (tenant_id, kind, ready_at) SELECT t, 'noop', $2 FROM unnest($1::uuid[]) AS t \
         ON CONFLICT (tenant_id, kind) DO UPDATE SET ready_at = LEAST(job_lanes.ready_at, excluded.ready_at)",
    )
    .bind(tenants)
    .bind(due)
    .execute(tx)
    .await
    .unwrap();
}

/// Queues `per` no-op jobs for each of `tenants` in bulk, like
/// [`bulk_jobs`]. `together`: each provider's jobs are queued after the
/// previous provider's, so a round-robin batch touches a different part
/// of the table for each provider; else the providers' jobs arrive
/// interleaved, as they would from many admins.
async fn bulk_spread(url: &DatabaseUrl, tenants: &[Tenant], per: u64, together: bool) {
    let now = chrono::Utc::now();
    let ids: Vec<uuid::Uuid> = tenants.iter().map(|t| t.id.0).collect();
    let n = per * ids.len() as u64;
    // position of provider k's job i in arrival order: k * a + i * b.
    // Rows are inserted in that order, so the table holds them as they
    // would have arrived (left to itself, SQLite's plan interleaved the
    // providers' rows in both shapes, and PostgreSQL's grouped them).
    let (stride_provider, stride_job) = if together {
        (per as i64, 1)
    } else {
        (1, ids.len() as i64)
    };
    match url {
        DatabaseUrl::Sqlite(u) => {
            let mut c = sqlx::SqliteConnection::connect(u).await.unwrap();
            let list = serde_json::to_string(
                &ids.iter()
                    .map(|i| i.simple().to_string())
                    .collect::<Vec<_>>(),
            )
            .unwrap();
            sqlx::query(
                "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < ?1 - 1) \
                 INSERT INTO jobs (id, tenant_id, kind, name, status, run_after, created_at, updated_at) \
                 SELECT unhex(printf('%012x70009%015x', ?4 - ?5 + k * ?3 + i * ?6, k * ?3 + i * ?6)), \
                    unhex(t.value), 'noop', 'spread', 'queued', ?4, ?4 - ?5 + k * ?3 + i * ?6, ?4 \
                 FROM (SELECT key AS k, value FROM json_each(?2)) t, s \
                 ORDER BY k * ?3 + i * ?6",
            )
            .bind(per as i64)
            .bind(&list)
            .bind(stride_provider)
            .bind(now.timestamp_millis())
            .bind(n as i64)
            .bind(stride_job)
            .execute(&mut c)
            .await
            .unwrap();
        }
        DatabaseUrl::Postgres(u) => {
            let mut c = sqlx::PgConnection::connect(u).await.unwrap();
            let mut tx = c.begin().await.unwrap();
            sqlx::query("SET LOCAL session_replication_role = replica")
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query(
                "INSERT INTO jobs (id, tenant_id, kind, name, status, run_after, created_at, updated_at) \
                 SELECT (lpad(to_hex((extract(epoch FROM $3) * 1000)::bigint - $4 + s), 12, '0') \
                    || '70009' || lpad(to_hex(s), 15, '0'))::uuid, t, 'noop', 'spread', 'queued', $3, \
                    $3 - ($4 - s) * interval '1 millisecond', $3 \
                 FROM unnest($2::uuid[]) WITH ORDINALITY AS u(t, k), generate_series(0, $1 - 1) AS i, \
                    LATERAL (SELECT (k - 1) * $5 + i * $6 AS s) AS seq \
                 ORDER BY seq.s",
            )
            .bind(per as i64)
            .bind(&ids)
            .bind(now)
            .bind(n as i64)
            .bind(stride_provider)
            .bind(stride_job)
            .execute(&mut *tx)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO job_counts (tenant_id, kind, status, shard, n) \
                 SELECT t, 'noop', 'queued', 0, $2 FROM unnest($1::uuid[]) AS t \
                 ON CONFLICT (tenant_id, kind, status, shard) DO UPDATE SET n = job_counts.n + excluded.n",
            )
            .bind(&ids)
            .bind(per as i64)
            .execute(&mut *tx)
            .await
            .unwrap();
            open_lanes(&mut tx, &ids, now).await;
            tx.commit().await.unwrap();
            sqlx::query("ANALYZE jobs").execute(&mut c).await.unwrap();
        }
    }
}

/// Times `n` claims of `batch` jobs each (and completes the jobs, untimed).
async fn time_claims(store: &dyn Store, n: usize, batch: u32) -> Vec<f64> {
    let kinds = [KindLimit {
        kind: "noop".into(),
        per_tenant: None,
    }];
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let began = Instant::now();
        let got = store
            .claim("bench-claims", batch, &kinds, Duration::from_secs(60), 10)
            .await
            .unwrap();
        times.push(began.elapsed().as_secs_f64() * 1000.0);
        let done: Vec<Completion> = got
            .into_iter()
            .map(|job| Completion {
                lease: job.lease,
                result: Value::Null,
                log: None,
            })
            .collect();
        store.complete_many(&done, 10).await.unwrap();
    }
    times
}

/// Runs the queued no-op jobs with one executor until `done` no-op jobs
/// have completed in all; returns the seconds it took and the CPU seconds
/// this process spent meanwhile.
async fn drain(store: &Arc<dyn Store>, slots: usize, done: u64) -> (f64, f64) {
    let started = Instant::now();
    let cpu_before = process_cpu_secs();
    let ex = executor(store.clone(), slots).start();
    loop {
        let counts = store.status_counts_everywhere(Some("noop")).await.unwrap();
        if counts.get(JobStatus::Completed) >= done {
            break;
        }
        // the counts of 1,000 providers are a few thousand rows: polling
        // them often would weigh on the spread shapes alone
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = process_cpu_secs() - cpu_before;
    ex.shutdown().await;
    (secs, cpu)
}

/// CPU seconds (user and system) this process has used so far, from
/// `/proc/self/stat` (Linux; 0 elsewhere). On SQLite the whole engine runs
/// in this process, so CPU per job is a figure the machine's noise moves
/// less than throughput; on PostgreSQL it leaves the server's share out.
fn process_cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // fields after the command name (which may hold spaces): state is
    // the 1st, utime the 12th and stime the 13th; ticks of 1/100 s
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<f64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    (fields.get(11).unwrap_or(&0.0) + fields.get(12).unwrap_or(&0.0)) / 100.0
}

/// One shape of queue the throughput rounds run, and its figures.
struct Shape {
    label: String,
    rates: Vec<f64>,
    /// process CPU microseconds per job, each round
    cpu: Vec<f64>,
    one: Vec<f64>,
    batch: Vec<f64>,
}

impl Shape {
    fn new(label: String) -> Self {
        Shape {
            label,
            rates: Vec::new(),
            cpu: Vec::new(),
            one: Vec::new(),
            batch: Vec::new(),
        }
    }

    /// With the queue loaded: times 200 claims of one job and 20 of 512
    /// behind it, then lets the executor run the rest until `done` no-op
    /// jobs have completed in all.
    async fn round(&mut self, store: &Arc<dyn Store>, slots: usize, done: u64) {
        self.one.extend(time_claims(store.as_ref(), 200, 1).await);
        self.batch
            .extend(time_claims(store.as_ref(), 20, 512).await);
        let before = store
            .status_counts_everywhere(Some("noop"))
            .await
            .unwrap()
            .get(JobStatus::Completed);
        let (secs, cpu) = drain(store, slots, done).await;
        let ran = done.saturating_sub(before).max(1) as f64;
        self.rates.push(ran / secs);
        self.cpu.push(cpu * 1e6 / ran);
    }

    fn median(&self) -> f64 {
        median(&self.rates)
    }

    fn report(&mut self, reference: f64) {
        let shown: Vec<String> = self.rates.iter().map(|r| format!("{r:.0}")).collect();
        let cpu: Vec<String> = self.cpu.iter().map(|c| format!("{c:.0}")).collect();
        self.one.sort_by(|a, b| a.total_cmp(b));
        self.batch.sort_by(|a, b| a.total_cmp(b));
        println!(
            "- {}: {:.0} jobs/s ({}) = {:.2} x one provider's; process CPU {:.0} us/job ({}); \
             claim of one job p50 {:.2} ms, p95 {:.2} ms; of 512 jobs p50 {:.1} ms, p95 {:.1} ms",
            self.label,
            self.median(),
            shown.join(", "),
            self.median() / reference,
            median(&self.cpu),
            cpu.join(", "),
            percentile(&self.one, 0.5),
            percentile(&self.one, 0.95),
            percentile(&self.batch, 0.5),
            percentile(&self.batch, 0.95),
        );
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

    // Throughput: BENCH_JOBS jobs of one provider, then the same number
    // spread over many providers, whose lanes the claim takes in turn.
    // The two alternate round by round (the machine drifts), and each
    // round first times single claims behind the whole queue, then lets
    // the executor run the rest.
    let t = store
        .ensure_tenant(&TenantSlug::parse("bench-a").unwrap(), "Bench A")
        .await
        .unwrap();
    let rounds = env_number("BENCH_ROUNDS", 3).max(1);
    let slots = env_number("BENCH_SLOTS", 1024) as usize;
    let providers = env_number("BENCH_PROVIDERS", 1_000).max(1);
    let per = (jobs / providers).max(1);
    let mut tenants = Vec::new();
    for i in 0..providers {
        let slug = TenantSlug::parse(&format!("spread-{i:05}")).unwrap();
        tenants.push(store.ensure_tenant(&slug, "Spread").await.unwrap());
    }
    let mut shapes = [
        Shape::new(format!("{jobs} jobs of one provider")),
        Shape::new(format!(
            "{providers} providers x {per} jobs, arriving interleaved"
        )),
        Shape::new(format!(
            "{providers} providers x {per} jobs, each provider's queued together"
        )),
    ];
    let mut done = 0;
    for _ in 1..=rounds {
        for (i, shape) in shapes.iter_mut().enumerate() {
            match i {
                0 => bulk_jobs(&url, &t, jobs, JobStatus::Queued).await,
                _ => bulk_spread(&url, &tenants, per, i == 2).await,
            }
            done += if i == 0 { jobs } else { per * providers };
            shape.round(&store, slots, done).await;
        }
    }
    println!(
        "throughput, no-op jobs on {slots} slots, median of {rounds} rounds (each round's figure):"
    );
    let single = shapes[0].median();
    for shape in &mut shapes {
        shape.report(single);
    }

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
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => {}
        ["once", url] => return side::engine_run(url).await,
        ["processes", url, n] => return side::processes(url, n.parse().unwrap()).await,
        ["worker", url, i] => return side::worker(url, i.parse().unwrap()).await,
        _ => {
            eprintln!("usage: bench [once URL | processes URL N]");
            std::process::exit(2);
        }
    }
    println!("# sgp-import job engine benchmark");
    // BENCH_SKIP_SQLITE=1: PostgreSQL only, when working on its side
    if std::env::var_os("BENCH_SKIP_SQLITE").is_none() {
        let dir = tempfile_dir();
        let sqlite = DatabaseUrl::parse(&format!("sqlite://{dir}/bench.db")).unwrap();
        bench_one("SQLite", sqlite).await;
        let _ = std::fs::remove_dir_all(&dir);
    }

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
