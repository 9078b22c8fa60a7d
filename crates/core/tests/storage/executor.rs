//! The executor against real databases: outcomes, retries with an injected
//! clock, timeout, panic, cancel, shutdown, crash recovery, limits, and two
//! executors sharing one queue.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::Duration;
use serde_json::{json, Value};
use sgp_import_core::jobs::{
    Executor, ExecutorConfig, ExecutorHandle, JobContext, JobError, JobHandler, RetryPolicy,
};
use sgp_import_core::model::{JobId, JobProgress, JobStatus, Tenant, TenantId, TenantSlug};
use sgp_import_core::store::{NewJob, Store};

use crate::on_both;
use crate::support::TestDb;

on_both!(
    runs_queued_jobs_to_completion,
    retryable_errors_back_off_by_the_clock_then_succeed,
    fatal_errors_and_exhausted_retries_fail,
    a_job_past_its_timeout_is_timed_out,
    a_panic_is_recorded_as_a_failure,
    cancel_stops_a_running_job_at_a_safe_point,
    shutdown_releases_and_another_executor_resumes_from_the_checkpoint,
    a_crashed_executors_job_is_rescued_and_resumed,
    one_import_per_provider_at_a_time,
    two_executors_run_every_job_exactly_once,
    closing_the_store_does_not_wait_for_a_listening_executor,
    a_database_blip_costs_no_attempt,
);

fn config(owner: &str) -> ExecutorConfig {
    let mut c = ExecutorConfig::new(owner);
    c.slots = 4;
    c.poll_interval = StdDuration::from_millis(20);
    c.heartbeat = StdDuration::from_millis(50);
    c.lease = StdDuration::from_secs(60);
    c.rescue_interval = StdDuration::from_millis(50);
    c.shutdown_grace = StdDuration::from_secs(5);
    c.retry = RetryPolicy {
        base: StdDuration::from_secs(10),
        max: StdDuration::from_secs(600),
        jitter: 0.0,
    };
    c.retention = None;
    c
}

fn start(
    db: &TestDb,
    store: Arc<dyn Store>,
    config: ExecutorConfig,
    handlers: Vec<Box<dyn Fn(Executor) -> Executor>>,
) -> ExecutorHandle {
    let mut ex = Executor::new(store, db.clock.clone(), config);
    for h in handlers {
        ex = h(ex);
    }
    let _ = db;
    ex.start()
}

pub(crate) async fn tenant(db: &TestDb, slug: &str) -> Tenant {
    db.store
        .ensure_tenant(&TenantSlug::parse(slug).unwrap(), slug)
        .await
        .unwrap()
}

async fn enqueue(db: &TestDb, t: &Tenant, kind: &str, params: Value, max_attempts: u32) -> JobId {
    db.clock.advance(Duration::milliseconds(1));
    let mut job = NewJob::new(t.id, kind, kind, params);
    job.max_attempts = max_attempts;
    db.store.enqueue(job).await.unwrap().id
}

/// Waits (real time) until the job is in one of `statuses`.
pub(crate) async fn wait_for(
    db: &TestDb,
    t: &Tenant,
    job: JobId,
    statuses: &[JobStatus],
) -> JobStatus {
    for _ in 0..400 {
        let s = db
            .store
            .job_details(t.id, job, 0)
            .await
            .unwrap()
            .summary
            .status;
        if statuses.contains(&s) {
            return s;
        }
        tokio::time::sleep(StdDuration::from_millis(25)).await;
    }
    let s = db.store.job_details(t.id, job, 0).await.unwrap().summary;
    panic!("job {job} never reached {statuses:?}; it is {:?}", s);
}

/// Waits (real time) until the job has saved at least `n` steps.
pub(crate) async fn wait_progress(db: &TestDb, t: &Tenant, job: JobId, n: u64) {
    for _ in 0..400 {
        let s = db.store.job_details(t.id, job, 0).await.unwrap().summary;
        if s.progress.processed >= n {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(25)).await;
    }
    panic!("job {job} never saved {n} steps");
}

pub(crate) async fn log_text(db: &TestDb, t: &Tenant, job: JobId) -> String {
    let d = db.store.job_details(t.id, job, 1000).await.unwrap();
    d.logs
        .iter()
        .map(|l| l.message.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Counts runs per job; completes at once.
#[derive(Clone, Default)]
struct Noop(Arc<Mutex<HashMap<JobId, u32>>>);

#[async_trait]
impl JobHandler for Noop {
    fn kind(&self) -> &'static str {
        "noop"
    }
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        *self.0.lock().unwrap().entry(ctx.lease().job).or_default() += 1;
        Ok(json!({"ok": true}))
    }
}

/// Behaves as its parameters say: `fail_until` attempts fail retryably,
/// `fatal`, `sleep_ms`, `panic`.
struct Scripted;

#[async_trait]
impl JobHandler for Scripted {
    fn kind(&self) -> &'static str {
        "scripted"
    }
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let p = ctx.params().clone();
        if p["panic"].as_bool() == Some(true) {
            panic!("boom");
        }
        if let Some(ms) = p["sleep_ms"].as_u64() {
            tokio::time::sleep(StdDuration::from_millis(ms)).await;
        }
        if p["fatal"].as_bool() == Some(true) {
            return Err(JobError::Fatal("Credenciais incorretas".into()));
        }
        if ctx.job().attempt <= p["fail_until"].as_u64().unwrap_or(0) as u32 {
            return Err(JobError::Retryable("SGP respondeu 503".into()));
        }
        Ok(json!({"attempt": ctx.job().attempt}))
    }
}

/// Ten steps of 100 ms, saving a checkpoint after each; records which
/// steps ran, and stops at a step boundary when cancelled.
#[derive(Clone, Default)]
struct Steps {
    done: Arc<Mutex<Vec<u64>>>,
    started_from: Arc<Mutex<Vec<u64>>>,
}

#[async_trait]
impl JobHandler for Steps {
    fn kind(&self) -> &'static str {
        "steps"
    }
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let from = ctx
            .checkpoint()
            .and_then(|c| c["next"].as_u64())
            .unwrap_or(0);
        self.started_from.lock().unwrap().push(from);
        for step in from..10 {
            if ctx.is_cancelled() {
                return Err(JobError::Cancelled);
            }
            tokio::time::sleep(StdDuration::from_millis(100)).await;
            let progress = JobProgress {
                total_estimated: Some(10),
                processed: step + 1,
                percent: (step + 1) as f32 * 10.0,
                ..Default::default()
            };
            ctx.save_progress(&progress, Some(&json!({"next": step + 1})))
                .await
                .map_err(|e| JobError::Retryable(e.to_string()))?;
            self.done.lock().unwrap().push(step);
        }
        Ok(json!({"steps": 10}))
    }
}

/// Tracks the most jobs of each provider running at once.
#[derive(Clone, Default)]
struct Limited {
    now: Arc<Mutex<HashMap<TenantId, u32>>>,
    peak: Arc<Mutex<HashMap<TenantId, u32>>>,
    overlap: Arc<AtomicU32>,
}

#[async_trait]
impl JobHandler for Limited {
    fn kind(&self) -> &'static str {
        "import"
    }
    fn per_tenant_limit(&self) -> Option<u32> {
        Some(1)
    }
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let tenant = ctx.lease().tenant;
        {
            let mut now = self.now.lock().unwrap();
            let n = now.entry(tenant).or_default();
            *n += 1;
            let mine = *n;
            let mut peak = self.peak.lock().unwrap();
            let p = peak.entry(tenant).or_default();
            *p = (*p).max(mine);
            if now.values().filter(|v| **v > 0).count() > 1 {
                self.overlap.fetch_add(1, Ordering::SeqCst);
            }
        }
        tokio::time::sleep(StdDuration::from_millis(250)).await;
        *self.now.lock().unwrap().get_mut(&tenant).unwrap() -= 1;
        Ok(json!({}))
    }
}

fn with<H: JobHandler + Clone>(h: &H) -> Box<dyn Fn(Executor) -> Executor> {
    let h = h.clone();
    Box::new(move |ex| ex.register(h.clone()))
}

fn scripted() -> Box<dyn Fn(Executor) -> Executor> {
    Box::new(|ex| ex.register(Scripted))
}

async fn runs_queued_jobs_to_completion(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let noop = Noop::default();
    let ex = start(db, db.store.clone(), config("w1"), vec![with(&noop)]);
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(enqueue(db, &t, "noop", json!({}), 3).await);
    }
    for id in &ids {
        wait_for(db, &t, *id, &[JobStatus::Completed]).await;
    }
    ex.shutdown().await;
    let d = db.store.job_details(t.id, ids[0], 100).await.unwrap();
    assert_eq!(d.result, Some(json!({"ok": true})));
    assert_eq!(d.summary.lease_owner.as_deref(), Some("w1"));
    let log = log_text(db, &t, ids[0]).await;
    assert!(log.contains("Tentativa 1 de 3 iniciada em w1."), "{log}");
    assert!(log.contains("Concluído."), "{log}");
    assert!(noop.0.lock().unwrap().values().all(|n| *n == 1));
}

async fn retryable_errors_back_off_by_the_clock_then_succeed(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let ex = start(db, db.store.clone(), config("w1"), vec![scripted()]);
    let id = enqueue(db, &t, "scripted", json!({"fail_until": 2}), 5).await;
    wait_for(db, &t, id, &[JobStatus::Retrying]).await;
    let s = db.store.job_details(t.id, id, 0).await.unwrap().summary;
    // first backoff: base 10 s, no jitter, from the injected clock
    assert_eq!(s.run_after - db.clock_now(), Duration::seconds(10));
    assert_eq!(s.last_error.as_deref(), Some("SGP respondeu 503"));
    tokio::time::sleep(StdDuration::from_millis(200)).await;
    assert_eq!(
        db.store
            .job_details(t.id, id, 0)
            .await
            .unwrap()
            .summary
            .status,
        JobStatus::Retrying,
        "waits for the clock"
    );
    db.clock.advance(Duration::seconds(10));
    // second failure doubles the delay
    let mut second_backoff = None;
    for _ in 0..400 {
        let s = db.store.job_details(t.id, id, 0).await.unwrap().summary;
        if s.attempt == 2 && s.status == JobStatus::Retrying {
            second_backoff = Some(s.run_after - db.clock_now());
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(25)).await;
    }
    assert_eq!(second_backoff, Some(Duration::seconds(20)));
    db.clock.advance(Duration::seconds(20));
    wait_for(db, &t, id, &[JobStatus::Completed]).await;
    ex.shutdown().await;
    let d = db.store.job_details(t.id, id, 100).await.unwrap();
    assert_eq!(d.summary.attempt, 3);
    assert_eq!(d.result, Some(json!({"attempt": 3})));
    let log = log_text(db, &t, id).await;
    assert!(
        log.contains("SGP respondeu 503 Nova tentativa em 10 s."),
        "{log}"
    );
    assert!(log.contains("Nova tentativa em 20 s."), "{log}");
}

async fn fatal_errors_and_exhausted_retries_fail(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let ex = start(db, db.store.clone(), config("w1"), vec![scripted()]);
    let fatal = enqueue(db, &t, "scripted", json!({"fatal": true}), 5).await;
    let flaky = enqueue(db, &t, "scripted", json!({"fail_until": 9}), 2).await;
    wait_for(db, &t, fatal, &[JobStatus::Failed]).await;
    let s = db.store.job_details(t.id, fatal, 0).await.unwrap().summary;
    assert_eq!(
        (s.attempt, s.last_error.as_deref()),
        (1, Some("Credenciais incorretas"))
    );
    wait_for(db, &t, flaky, &[JobStatus::Retrying]).await;
    db.clock.advance(Duration::seconds(10));
    wait_for(db, &t, flaky, &[JobStatus::Failed]).await;
    ex.shutdown().await;
    assert_eq!(
        db.store
            .job_details(t.id, flaky, 0)
            .await
            .unwrap()
            .summary
            .attempt,
        2
    );
    assert!(log_text(db, &t, flaky)
        .await
        .contains("Não restam tentativas (2 de 2)."));
}

async fn a_job_past_its_timeout_is_timed_out(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let mut c = config("w1");
    c.job_timeout = StdDuration::from_millis(200);
    let ex = start(db, db.store.clone(), c, vec![scripted()]);
    let id = enqueue(db, &t, "scripted", json!({"sleep_ms": 30_000}), 1).await;
    wait_for(db, &t, id, &[JobStatus::Failed]).await;
    ex.shutdown().await;
    let s = db.store.job_details(t.id, id, 0).await.unwrap().summary;
    assert_eq!(
        s.last_error.as_deref(),
        Some("Tempo limite de 200 ms excedido.")
    );
}

async fn a_panic_is_recorded_as_a_failure(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let ex = start(db, db.store.clone(), config("w1"), vec![scripted()]);
    let id = enqueue(db, &t, "scripted", json!({"panic": true}), 5).await;
    wait_for(db, &t, id, &[JobStatus::Failed]).await;
    // the executor survives and runs the next job
    let next = enqueue(db, &t, "scripted", json!({}), 5).await;
    wait_for(db, &t, next, &[JobStatus::Completed]).await;
    ex.shutdown().await;
    let s = db.store.job_details(t.id, id, 0).await.unwrap().summary;
    assert_eq!(
        s.last_error.as_deref(),
        Some("Erro interno no job (detalhes no log do servidor).")
    );
}

async fn cancel_stops_a_running_job_at_a_safe_point(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let steps = Steps::default();
    let ex = start(db, db.store.clone(), config("w1"), vec![with(&steps)]);
    let id = enqueue(db, &t, "steps", json!({}), 3).await;
    wait_progress(db, &t, id, 2).await;
    assert_eq!(
        db.store.cancel(t.id, id).await.unwrap(),
        JobStatus::Cancelling
    );
    wait_for(db, &t, id, &[JobStatus::Cancelled]).await;
    ex.shutdown().await;
    let done = steps.done.lock().unwrap().len();
    assert!(done > 0 && done < 10, "stopped part-way: {done} steps");
    let log = log_text(db, &t, id).await;
    assert!(log.contains("Cancelamento solicitado"), "{log}");
    assert!(log.contains("Cancelado."), "{log}");
}

async fn shutdown_releases_and_another_executor_resumes_from_the_checkpoint(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let steps = Steps::default();
    let mut c = config("w1");
    c.shutdown_grace = StdDuration::from_millis(50);
    let first = start(db, db.store.clone(), c, vec![with(&steps)]);
    let id = enqueue(db, &t, "steps", json!({}), 3).await;
    wait_progress(db, &t, id, 3).await;
    first.shutdown().await;
    let s = db.store.job_details(t.id, id, 0).await.unwrap().summary;
    assert_eq!(
        (s.status, s.attempt),
        (JobStatus::Queued, 0),
        "released without using an attempt"
    );

    let second = start(
        db,
        db.second_store().await,
        config("w2"),
        vec![with(&steps)],
    );
    wait_for(db, &t, id, &[JobStatus::Completed]).await;
    second.shutdown().await;
    let from = steps.started_from.lock().unwrap().clone();
    assert_eq!(from.len(), 2);
    assert!(
        from[0] == 0 && from[1] > 0,
        "resumed from the checkpoint: {from:?}"
    );
    let mut done = steps.done.lock().unwrap().clone();
    done.sort();
    assert_eq!(done, (0..10).collect::<Vec<_>>(), "every step once");
    assert!(log_text(db, &t, id).await.contains("Servidor encerrando"));
}

async fn a_crashed_executors_job_is_rescued_and_resumed(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let steps = Steps::default();
    let first = start(db, db.store.clone(), config("w1"), vec![with(&steps)]);
    let id = enqueue(db, &t, "steps", json!({}), 3).await;
    wait_progress(db, &t, id, 3).await;
    first.abort().await; // no release, no outcome: as kill -9
    let s = db.store.job_details(t.id, id, 0).await.unwrap().summary;
    assert_eq!(s.status, JobStatus::Running);

    let second = start(
        db,
        db.second_store().await,
        config("w2"),
        vec![with(&steps)],
    );
    tokio::time::sleep(StdDuration::from_millis(200)).await;
    assert_eq!(
        db.store
            .job_details(t.id, id, 0)
            .await
            .unwrap()
            .summary
            .status,
        JobStatus::Running,
        "not rescued while the lease is valid"
    );
    db.clock.advance(Duration::seconds(61));
    wait_for(db, &t, id, &[JobStatus::Completed]).await;
    second.shutdown().await;
    let d = db.store.job_details(t.id, id, 100).await.unwrap();
    assert_eq!(d.summary.attempt, 2);
    assert_eq!(d.summary.lease_owner.as_deref(), Some("w2"));
    let from = steps.started_from.lock().unwrap().clone();
    assert!(from[1] > 0, "resumed from the checkpoint: {from:?}");
    let mut done = steps.done.lock().unwrap().clone();
    done.sort();
    done.dedup();
    assert_eq!(done, (0..10).collect::<Vec<_>>());
    assert!(log_text(db, &t, id)
        .await
        .contains("O processo w1 parou de responder"));
}

async fn one_import_per_provider_at_a_time(db: &TestDb) {
    let a = tenant(db, "prov-a").await;
    let b = tenant(db, "prov-b").await;
    let limited = Limited::default();
    let ex = start(db, db.store.clone(), config("w1"), vec![with(&limited)]);
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(enqueue(db, &a, "import", json!({}), 3).await);
    }
    let other = enqueue(db, &b, "import", json!({}), 3).await;
    // while a's first runs, the others wait with their positions
    wait_for(db, &a, ids[0], &[JobStatus::Running]).await;
    let waiting = db.store.job_details(a.id, ids[3], 0).await.unwrap().summary;
    assert_eq!(
        (waiting.status, waiting.queue_position),
        (JobStatus::Queued, Some(3))
    );
    for id in &ids {
        wait_for(db, &a, *id, &[JobStatus::Completed]).await;
    }
    wait_for(db, &b, other, &[JobStatus::Completed]).await;
    ex.shutdown().await;
    let peak = limited.peak.lock().unwrap().clone();
    assert_eq!(
        (peak[&a.id], peak[&b.id]),
        (1, 1),
        "one import per provider at a time"
    );
    assert!(
        limited.overlap.load(Ordering::SeqCst) > 0,
        "providers are not held up by each other"
    );
}

async fn two_executors_run_every_job_exactly_once(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let noop = Noop::default();
    let mut ids = Vec::new();
    for _ in 0..500 {
        ids.push(enqueue(db, &t, "noop", json!({}), 3).await);
    }
    let a = start(db, db.store.clone(), config("a"), vec![with(&noop)]);
    let b = start(db, db.second_store().await, config("b"), vec![with(&noop)]);
    for _ in 0..600 {
        if db
            .store
            .status_counts(t.id, None)
            .await
            .unwrap()
            .get(JobStatus::Completed)
            == 500
        {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    a.shutdown().await;
    b.shutdown().await;
    let counts = db.store.status_counts(t.id, None).await.unwrap();
    assert_eq!(counts.get(JobStatus::Completed), 500, "{counts:?}");
    let runs = noop.0.lock().unwrap();
    assert_eq!(runs.len(), 500);
    assert!(runs.values().all(|n| *n == 1), "a job ran twice");
    assert!(ids.iter().all(|id| runs.contains_key(id)));
}

/// `close()` must return while something waits for wake-ups (on Postgres
/// the LISTEN connection is a pool connection; holding it kept `close()`
/// waiting forever).
async fn closing_the_store_does_not_wait_for_a_listening_executor(db: &TestDb) {
    let store = db.second_store().await;
    let mut wakeups = store.wakeups().await.unwrap();
    let waiter = tokio::spawn(async move {
        loop {
            wakeups.wait().await;
        }
    });
    // let the waiter park on the listener
    tokio::time::sleep(StdDuration::from_millis(200)).await;
    tokio::time::timeout(StdDuration::from_secs(10), store.close())
        .await
        .expect("close() returned while a listener was waiting");
    waiter.abort();
}

/// Finishes when told to.
struct Gated(Arc<tokio::sync::Notify>);

#[async_trait]
impl JobHandler for Gated {
    fn kind(&self) -> &'static str {
        "gated"
    }
    async fn run(&self, _ctx: JobContext) -> Result<Value, JobError> {
        self.0.notified().await;
        Ok(json!({"ok": true}))
    }
}

/// The database goes away for a few seconds just as a job finishes (on
/// PostgreSQL it refuses connections and drops the open ones; on SQLite
/// another process holds the write lock). The outcome is recorded when it
/// comes back: the job, on its only attempt, completes.
async fn a_database_blip_costs_no_attempt(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let gate = Arc::new(tokio::sync::Notify::new());
    let handler_gate = gate.clone();
    let mut c = config("w1");
    c.lease = StdDuration::from_secs(30);
    let ex = start(
        db,
        db.store.clone(),
        c,
        vec![Box::new(move |e: Executor| {
            e.register(Gated(handler_gate.clone()))
        })],
    );
    let id = enqueue(db, &t, "gated", json!({}), 1).await;
    wait_for(db, &t, id, &[JobStatus::Running]).await;
    tokio::join!(db.outage(StdDuration::from_secs(3)), async {
        tokio::time::sleep(StdDuration::from_millis(300)).await;
        gate.notify_one();
    });
    let mut status = JobStatus::Running;
    for _ in 0..600 {
        if let Ok(d) = db.store.job_details(t.id, id, 0).await {
            status = d.summary.status;
            if status.is_finished() {
                break;
            }
        }
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    ex.shutdown().await;
    let s = db.store.job_details(t.id, id, 0).await.unwrap().summary;
    assert_eq!(status, JobStatus::Completed, "{:?}", s.last_error);
    assert_eq!(s.attempt, 1);
}
