//! kill -9 in the middle of a job: a second process finishes it from its
//! checkpoint. The worker processes are this test binary run again with
//! SGP_STEPS_WORKER set (see `worker_process`), against real databases.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};
use sgp_import_core::clock::SystemClock;
use sgp_import_core::config::{DatabaseSettings, DatabaseUrl};
use sgp_import_core::jobs::{Executor, ExecutorConfig, JobContext, JobError, JobHandler};
use sgp_import_core::model::{JobId, JobProgress, JobStatus, Tenant, TenantSlug};
use sgp_import_core::store::NewJob;

use crate::on_both;
use crate::support::TestDb;

on_both!(a_sigkilled_worker_is_replaced_and_the_job_resumes);

/// A "steps" job: `steps` steps of STEP_MS each, a checkpoint after each.
struct Steps {
    step: Duration,
}

#[async_trait]
impl JobHandler for Steps {
    fn kind(&self) -> &'static str {
        "steps"
    }

    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        let total = ctx.params()["steps"].as_u64().unwrap_or(10);
        let from = ctx
            .checkpoint()
            .and_then(|c| c["next"].as_u64())
            .unwrap_or(0);
        for step in from..total {
            if ctx.is_cancelled() {
                return Err(JobError::Cancelled);
            }
            tokio::time::sleep(self.step).await;
            let progress = JobProgress {
                total_estimated: Some(total),
                processed: step + 1,
                ..Default::default()
            };
            ctx.save_progress(&progress, Some(&json!({"next": step + 1})))
                .await
                .map_err(|e| JobError::Retryable(e.to_string()))?;
        }
        Ok(json!({"started_from": from, "steps": total}))
    }
}

/// Not a test: the body of the worker processes. Run without
/// SGP_STEPS_WORKER (as every normal run does) it returns at once.
#[test]
fn worker_process() {
    let Ok(url) = std::env::var("SGP_STEPS_WORKER") else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let settings = DatabaseSettings {
            url: DatabaseUrl::parse(&url).unwrap(),
            max_connections: 4,
            connect_timeout: Duration::from_secs(10),
        };
        let store = sgp_import_core::store::connect(&settings, Arc::new(SystemClock))
            .await
            .unwrap();
        let mut config = ExecutorConfig::new(std::env::var("WORKER_NAME").unwrap());
        config.poll_interval = Duration::from_millis(50);
        config.heartbeat = Duration::from_millis(200);
        config.lease = Duration::from_secs(1);
        config.rescue_interval = Duration::from_millis(200);
        config.retention = None;
        let _executor = Executor::new(store, Arc::new(SystemClock), config)
            .register(Steps {
                step: Duration::from_millis(100),
            })
            .start();
        // Runs until the test kills this process.
        tokio::time::sleep(Duration::from_secs(120)).await;
    });
}

fn spawn_worker(db: &TestDb, name: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash::worker_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SGP_STEPS_WORKER", db.url.expose())
        .env("WORKER_NAME", name)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn next_step(db: &TestDb, t: &Tenant, job: JobId) -> (JobStatus, u64, u32) {
    let s = db.store.job_details(t.id, job, 0).await.unwrap().summary;
    (s.status, s.progress.processed, s.attempt)
}

async fn a_sigkilled_worker_is_replaced_and_the_job_resumes(db: &TestDb) {
    let t = db
        .store
        .ensure_tenant(&TenantSlug::parse("prov").unwrap(), "Prov")
        .await
        .unwrap();
    let job = NewJob::new(t.id, "steps", "passos", json!({"steps": 20}));
    let id = job.id;
    db.store.enqueue(job).await.unwrap();

    let mut first = spawn_worker(db, "w1");
    let mut reached = 0;
    for _ in 0..300 {
        let (_, processed, _) = next_step(db, &t, id).await;
        reached = processed;
        if processed >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reached >= 4, "the first worker never got going");
    first.kill().unwrap(); // SIGKILL: no release, no outcome
    first.wait().unwrap();
    let (status, at_kill, _) = next_step(db, &t, id).await;
    assert_eq!(status, JobStatus::Running, "nobody has noticed yet");

    let mut second = spawn_worker(db, "w2");
    let mut done = false;
    for _ in 0..600 {
        if next_step(db, &t, id).await.0 == JobStatus::Completed {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.kill().unwrap();
    second.wait().unwrap();
    assert!(done, "the second worker did not finish the job");

    let d = db.store.job_details(t.id, id, 100).await.unwrap();
    assert_eq!(d.summary.attempt, 2);
    assert_eq!(d.summary.lease_owner.as_deref(), Some("w2"));
    let started_from = d.result.as_ref().unwrap()["started_from"].as_u64().unwrap();
    assert!(
        started_from >= at_kill && started_from > 0,
        "resumed from the checkpoint ({started_from}), at least where the first stopped ({at_kill})"
    );
    assert_eq!(d.summary.progress.processed, 20);
    let log: Vec<&str> = d.logs.iter().map(|l| l.message.as_str()).collect();
    assert!(
        log.iter()
            .any(|m| m.contains("O processo w1 parou de responder")),
        "{log:?}"
    );
}
