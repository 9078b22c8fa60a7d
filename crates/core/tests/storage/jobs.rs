//! The job queue's storage contract, on both databases.

use std::time::Duration as StdDuration;

use chrono::Duration;
use serde_json::json;
use sgp_import_core::model::{
    IllegalTransition, JobEvent, JobId, JobProgress, JobStatus, LogLevel, Tenant, TenantSlug,
};
use sgp_import_core::store::jobs::LOST_WORKER_NO_ATTEMPTS;
use sgp_import_core::store::{
    ClaimedJob, Completion, Entity, JobFilter, KindLimit, NewJob, Outcome, StoreError,
};

use crate::on_both;
use crate::support::TestDb;

on_both!(
    enqueued_jobs_wait_in_fifo_order_with_positions_per_provider,
    claim_takes_oldest_runnable_jobs_up_to_the_batch_size,
    claim_honours_run_after,
    per_provider_limit_holds_and_queue_moves_on,
    heartbeat_extends_the_lease_and_reports_cancel,
    progress_and_checkpoint_survive_a_new_attempt,
    outcomes_end_the_attempt,
    retry_waits_out_its_backoff,
    stale_attempt_is_fenced_off_after_rescue,
    rescue_fails_jobs_without_attempts_and_ends_cancelling_ones,
    cancel_in_every_state,
    cancel_wins_over_a_late_completion,
    rerun_queues_failed_and_cancelled_jobs_only,
    release_returns_the_attempt,
    list_filters_paginates_and_counts_per_provider,
    log_is_capped_keeping_head_and_tail,
    purge_removes_only_old_finished_jobs,
    batched_completions_skip_stale_attempts_and_honour_cancel,
    deleting_a_provider_removes_its_jobs_logs_and_counts,
);

pub(crate) const LEASE: StdDuration = StdDuration::from_secs(60);
/// The log cap the storage tests claim with.
pub(crate) const CAP: u32 = 2_000;

fn import_limit(n: u32) -> Vec<KindLimit> {
    vec![KindLimit {
        kind: "import".into(),
        per_tenant: Some(n),
    }]
}

fn free(kind: &str) -> Vec<KindLimit> {
    vec![KindLimit {
        kind: kind.into(),
        per_tenant: None,
    }]
}

pub(crate) async fn tenant(db: &TestDb, slug: &str) -> Tenant {
    db.store
        .ensure_tenant(&TenantSlug::parse(slug).unwrap(), slug)
        .await
        .unwrap()
}

/// Enqueues a job, one millisecond after the previous, so order is exact.
pub(crate) async fn enqueue(db: &TestDb, t: &Tenant, kind: &str, name: &str) -> JobId {
    db.clock.advance(Duration::milliseconds(1));
    let job = NewJob::new(t.id, kind, name, json!({"name": name}));
    db.store.enqueue(job).await.unwrap().id
}

async fn claim_one(db: &TestDb, kinds: &[KindLimit]) -> ClaimedJob {
    let mut claimed = db
        .store
        .claim("worker-a", 1, kinds, LEASE, CAP)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "expected one job to claim");
    claimed.remove(0)
}

async fn status_of(db: &TestDb, t: &Tenant, job: JobId) -> JobStatus {
    db.store
        .job_details(t.id, job, 0)
        .await
        .unwrap()
        .summary
        .status
}

async fn enqueued_jobs_wait_in_fifo_order_with_positions_per_provider(db: &TestDb) {
    let a = tenant(db, "prov-a").await;
    let b = tenant(db, "prov-b").await;
    let a1 = enqueue(db, &a, "import", "a1").await;
    let b1 = enqueue(db, &b, "import", "b1").await;
    let a2 = enqueue(db, &a, "import", "a2").await;
    let a3 = enqueue(db, &a, "import", "a3").await;

    let details = db.store.job_details(a.id, a2, 10).await.unwrap();
    let s = &details.summary;
    assert_eq!(
        (s.status, s.attempt, s.max_attempts),
        (JobStatus::Queued, 0, 5)
    );
    assert_eq!(s.name, "a2");
    assert_eq!(details.params, json!({"name": "a2"}));
    assert_eq!(s.tenant_id, a.id);

    let page = db
        .store
        .list_jobs(
            a.id,
            &JobFilter {
                statuses: None,
                origin: None,
                kind: None,
                limit: 10,
                offset: 0,
            },
        )
        .await
        .unwrap();
    let order: Vec<(JobId, Option<u64>)> =
        page.jobs.iter().map(|j| (j.id, j.queue_position)).collect();
    assert_eq!(
        order,
        vec![(a3, Some(3)), (a2, Some(2)), (a1, Some(1))],
        "newest first"
    );
    let b_page = db
        .store
        .list_jobs(
            b.id,
            &JobFilter {
                statuses: None,
                origin: None,
                kind: None,
                limit: 10,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(b_page.jobs[0].id, b1);
    assert_eq!(b_page.jobs[0].queue_position, Some(1));

    // once the first runs, the others move up
    claim_one(db, &import_limit(1)).await;
    let s = db.store.job_details(a.id, a2, 0).await.unwrap().summary;
    assert_eq!(s.queue_position, Some(1));
    let s = db.store.job_details(a.id, a1, 0).await.unwrap().summary;
    assert_eq!((s.status, s.queue_position), (JobStatus::Running, None));
}

async fn claim_takes_oldest_runnable_jobs_up_to_the_batch_size(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(enqueue(db, &t, "noop", &format!("n{i}")).await);
    }
    enqueue(db, &t, "other", "x").await;
    let claimed = db
        .store
        .claim("w1", 3, &free("noop"), LEASE, CAP)
        .await
        .unwrap();
    let got: Vec<JobId> = claimed.iter().map(|c| c.lease.job).collect();
    assert_eq!(got, ids[..3].to_vec());
    for c in &claimed {
        assert_eq!((c.attempt, c.lease.owner.as_str()), (1, "w1"));
        assert_eq!(c.kind, "noop");
        assert!(c.checkpoint.is_none());
    }
    let s = db.store.job_details(t.id, ids[0], 0).await.unwrap().summary;
    assert_eq!(s.status, JobStatus::Running);
    assert_eq!(s.lease_owner.as_deref(), Some("w1"));
    assert_eq!(s.started_at, Some(db.clock_now()));

    let rest = db
        .store
        .claim("w2", 10, &free("noop"), LEASE, CAP)
        .await
        .unwrap();
    assert_eq!(rest.len(), 2, "only the noop jobs left");
    assert!(db
        .store
        .claim("w2", 10, &free("noop"), LEASE, CAP)
        .await
        .unwrap()
        .is_empty());
}

async fn claim_honours_run_after(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let mut job = NewJob::new(t.id, "noop", "later", json!({}));
    job.run_after = Some(db.clock_now() + Duration::minutes(5));
    db.store.enqueue(job).await.unwrap();
    assert!(db
        .store
        .claim("w", 10, &free("noop"), LEASE, CAP)
        .await
        .unwrap()
        .is_empty());
    db.clock.advance(Duration::minutes(5));
    assert_eq!(
        db.store
            .claim("w", 10, &free("noop"), LEASE, CAP)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn per_provider_limit_holds_and_queue_moves_on(db: &TestDb) {
    let a = tenant(db, "prov-a").await;
    let b = tenant(db, "prov-b").await;
    let a1 = enqueue(db, &a, "import", "a1").await;
    let a2 = enqueue(db, &a, "import", "a2").await;
    let b1 = enqueue(db, &b, "import", "b1").await;
    let n1 = enqueue(db, &a, "noop", "n1").await;

    let mut kinds = import_limit(1);
    kinds.extend(free("noop"));
    let claimed = db.store.claim("w", 10, &kinds, LEASE, CAP).await.unwrap();
    let mut got: Vec<JobId> = claimed.iter().map(|c| c.lease.job).collect();
    got.sort();
    let mut want = vec![a1, b1, n1];
    want.sort();
    assert_eq!(
        got, want,
        "one import per provider; the unlimited kind is not held back"
    );
    assert!(db
        .store
        .claim("w", 10, &kinds, LEASE, CAP)
        .await
        .unwrap()
        .is_empty());

    let lease_a1 = claimed
        .iter()
        .find(|c| c.lease.job == a1)
        .unwrap()
        .lease
        .clone();
    db.store
        .finish(&lease_a1, Outcome::Completed { result: json!({}) })
        .await
        .unwrap();
    let next = claim_one(db, &kinds).await;
    assert_eq!(next.lease.job, a2);

    // a limit of 2 lets two run side by side
    let c = tenant(db, "prov-c").await;
    for i in 0..3 {
        enqueue(db, &c, "import", &format!("c{i}")).await;
    }
    let claimed = db
        .store
        .claim("w", 10, &import_limit(2), LEASE, CAP)
        .await
        .unwrap();
    assert_eq!(claimed.iter().filter(|j| j.lease.tenant == c.id).count(), 2);
}

async fn heartbeat_extends_the_lease_and_reports_cancel(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let id = enqueue(db, &t, "import", "i").await;
    let job = claim_one(db, &import_limit(1)).await;
    db.clock.advance(Duration::seconds(50));
    let hb = db.store.heartbeat(&job.lease, LEASE).await.unwrap();
    assert!(!hb.cancel_requested);
    // 50 s later the original lease would have expired; the renewed one not
    db.clock.advance(Duration::seconds(50));
    assert!(db.store.rescue_expired().await.unwrap().is_empty());

    assert_eq!(
        db.store.cancel(t.id, id).await.unwrap(),
        JobStatus::Cancelling
    );
    let hb = db.store.heartbeat(&job.lease, LEASE).await.unwrap();
    assert!(hb.cancel_requested);

    let mut stale = job.lease.clone();
    stale.fence += 1;
    assert!(matches!(
        db.store.heartbeat(&stale, LEASE).await,
        Err(StoreError::LeaseLost(j)) if j == id
    ));
}

async fn progress_and_checkpoint_survive_a_new_attempt(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let id = enqueue(db, &t, "import", "i").await;
    let job = claim_one(db, &import_limit(1)).await;
    let progress = JobProgress {
        total_estimated: Some(1000),
        processed: 300,
        created: 250,
        updated: 30,
        unchanged: 15,
        failed: 5,
        percent: 30.0,
        eta_seconds: Some(70),
        message: Some("Página 3 de 10".into()),
    };
    db.store
        .save_progress(&job.lease, &progress, Some(&json!({"offset": 300})))
        .await
        .unwrap();
    // progress without a checkpoint keeps the last checkpoint
    let later = JobProgress {
        processed: 320,
        ..progress.clone()
    };
    db.store
        .save_progress(&job.lease, &later, None)
        .await
        .unwrap();
    let s = db.store.job_details(t.id, id, 0).await.unwrap().summary;
    assert_eq!(s.progress, later);

    db.clock.advance(Duration::seconds(61));
    db.store.rescue_expired().await.unwrap();
    let again = claim_one(db, &import_limit(1)).await;
    assert_eq!(again.lease.job, id);
    assert_eq!(again.attempt, 2);
    assert_eq!(again.checkpoint, Some(json!({"offset": 300})));
    assert_eq!(again.progress, later);
}

async fn outcomes_end_the_attempt(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let done = enqueue(db, &t, "noop", "done").await;
    let bad = enqueue(db, &t, "noop", "bad").await;
    let c1 = claim_one(db, &free("noop")).await;
    let c2 = claim_one(db, &free("noop")).await;
    db.clock.advance(Duration::seconds(3));
    let st = db
        .store
        .finish(
            &c1.lease,
            Outcome::Completed {
                result: json!({"criados": 10}),
            },
        )
        .await
        .unwrap();
    assert_eq!(st, JobStatus::Completed);
    let st = db
        .store
        .finish(
            &c2.lease,
            Outcome::Failed {
                error: "Credenciais inválidas".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(st, JobStatus::Failed);

    let d = db.store.job_details(t.id, done, 0).await.unwrap();
    assert_eq!(d.result, Some(json!({"criados": 10})));
    assert_eq!(d.summary.finished_at, Some(db.clock_now()));
    let f = db.store.job_details(t.id, bad, 0).await.unwrap().summary;
    assert_eq!(f.last_error.as_deref(), Some("Credenciais inválidas"));
    assert!(f.finished_at.is_some());

    // a finished attempt cannot be finished again
    assert!(matches!(
        db.store
            .finish(&c1.lease, Outcome::Completed { result: json!({}) })
            .await,
        Err(StoreError::LeaseLost(_))
    ));
    // Stopped is only for jobs asked to cancel
    let n = enqueue(db, &t, "noop", "n").await;
    let c3 = claim_one(db, &free("noop")).await;
    assert!(db.store.finish(&c3.lease, Outcome::Stopped).await.is_err());
    assert_eq!(status_of(db, &t, n).await, JobStatus::Running);
}

async fn retry_waits_out_its_backoff(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let id = enqueue(db, &t, "import", "i").await;
    let job = claim_one(db, &import_limit(1)).await;
    let at = db.clock_now() + Duration::seconds(30);
    let st = db
        .store
        .finish(
            &job.lease,
            Outcome::Retry {
                error: "HTTP 503".into(),
                run_after: at,
            },
        )
        .await
        .unwrap();
    assert_eq!(st, JobStatus::Retrying);
    let s = db.store.job_details(t.id, id, 0).await.unwrap().summary;
    assert_eq!(
        (s.run_after, s.finished_at, s.queue_position),
        (at, None, Some(1))
    );
    assert_eq!(s.last_error.as_deref(), Some("HTTP 503"));

    assert!(db
        .store
        .claim("w", 1, &import_limit(1), LEASE, CAP)
        .await
        .unwrap()
        .is_empty());
    db.clock.advance(Duration::seconds(30));
    let again = claim_one(db, &import_limit(1)).await;
    assert_eq!((again.lease.job, again.attempt), (id, 2));
}

async fn stale_attempt_is_fenced_off_after_rescue(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let id = enqueue(db, &t, "import", "i").await;
    let first = claim_one(db, &import_limit(1)).await;
    db.clock.advance(Duration::seconds(61));
    let rescued = db.store.rescue_expired().await.unwrap();
    assert_eq!(rescued.len(), 1);
    assert_eq!((rescued[0].job, rescued[0].status), (id, JobStatus::Queued));
    assert_eq!(rescued[0].owner.as_deref(), Some("worker-a"));

    let second = db
        .store
        .claim("worker-b", 1, &import_limit(1), LEASE, CAP)
        .await
        .unwrap();
    let second = &second[0];
    assert_ne!(second.lease.fence, first.lease.fence);

    // the first worker wakes up late: every write it tries is refused
    let p = JobProgress::default();
    assert!(matches!(
        db.store
            .save_progress(&first.lease, &p, Some(&json!({"offset": 999})))
            .await,
        Err(StoreError::LeaseLost(_))
    ));
    assert!(matches!(
        db.store
            .finish(&first.lease, Outcome::Completed { result: json!({}) })
            .await,
        Err(StoreError::LeaseLost(_))
    ));
    assert!(db.store.heartbeat(&first.lease, LEASE).await.is_err());
    assert!(db.store.release(&first.lease).await.is_err());

    let st = db
        .store
        .finish(
            &second.lease,
            Outcome::Completed {
                result: json!({"ok": true}),
            },
        )
        .await
        .unwrap();
    assert_eq!(st, JobStatus::Completed);
    let d = db.store.job_details(t.id, id, 0).await.unwrap();
    assert_eq!(d.result, Some(json!({"ok": true})));
    assert_eq!(d.summary.lease_owner.as_deref(), Some("worker-b"));
}

async fn rescue_fails_jobs_without_attempts_and_ends_cancelling_ones(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let mut last = NewJob::new(t.id, "noop", "last", json!({}));
    last.max_attempts = 1;
    let last_id = last.id;
    db.store.enqueue(last).await.unwrap();
    let cancelling = enqueue(db, &t, "noop", "c").await;
    db.store
        .claim("w", 2, &free("noop"), LEASE, CAP)
        .await
        .unwrap();
    db.store.cancel(t.id, cancelling).await.unwrap();
    db.clock.advance(Duration::seconds(61));
    let mut rescued = db.store.rescue_expired().await.unwrap();
    rescued.sort_by_key(|r| r.status);
    let states: Vec<JobStatus> = rescued.iter().map(|r| r.status).collect();
    assert_eq!(states, vec![JobStatus::Failed, JobStatus::Cancelled]);
    let f = db
        .store
        .job_details(t.id, last_id, 0)
        .await
        .unwrap()
        .summary;
    assert_eq!(f.last_error.as_deref(), Some(LOST_WORKER_NO_ATTEMPTS));
    assert!(f.finished_at.is_some());
}

async fn cancel_in_every_state(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let other = tenant(db, "other").await;

    let queued = enqueue(db, &t, "noop", "q").await;
    assert_eq!(
        db.store.cancel(t.id, queued).await.unwrap(),
        JobStatus::Cancelled
    );
    let s = db.store.job_details(t.id, queued, 0).await.unwrap().summary;
    assert!(s.finished_at.is_some() && s.cancel_requested_at.is_some());

    let retrying = enqueue(db, &t, "noop", "r").await;
    let c = claim_one(db, &free("noop")).await;
    let later = db.clock_now() + Duration::minutes(1);
    db.store
        .finish(
            &c.lease,
            Outcome::Retry {
                error: "x".into(),
                run_after: later,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        db.store.cancel(t.id, retrying).await.unwrap(),
        JobStatus::Cancelled
    );

    let running = enqueue(db, &t, "noop", "run").await;
    let c = claim_one(db, &free("noop")).await;
    assert_eq!(
        db.store.cancel(t.id, running).await.unwrap(),
        JobStatus::Cancelling
    );
    let again = db.store.cancel(t.id, running).await.unwrap_err();
    assert!(matches!(
        again,
        StoreError::IllegalTransition(IllegalTransition {
            from: JobStatus::Cancelling,
            ..
        })
    ));
    assert_eq!(
        db.store.finish(&c.lease, Outcome::Stopped).await.unwrap(),
        JobStatus::Cancelled
    );

    let completed = enqueue(db, &t, "noop", "done").await;
    let c = claim_one(db, &free("noop")).await;
    db.store
        .finish(&c.lease, Outcome::Completed { result: json!({}) })
        .await
        .unwrap();
    let failed = enqueue(db, &t, "noop", "failed").await;
    let c = claim_one(db, &free("noop")).await;
    db.store
        .finish(&c.lease, Outcome::Failed { error: "x".into() })
        .await
        .unwrap();
    for (job, status) in [
        (completed, JobStatus::Completed),
        (failed, JobStatus::Failed),
        (queued, JobStatus::Cancelled),
    ] {
        let err = db.store.cancel(t.id, job).await.unwrap_err();
        assert!(
            matches!(err, StoreError::IllegalTransition(IllegalTransition { from, event: JobEvent::RequestCancel }) if from == status),
            "{err:?}"
        );
        assert_eq!(status_of(db, &t, job).await, status, "unchanged");
    }

    // another provider's job, or no job at all: not found
    assert!(matches!(
        db.store.cancel(other.id, completed).await,
        Err(StoreError::NotFound(Entity::Job))
    ));
    assert!(matches!(
        db.store.cancel(t.id, JobId::new()).await,
        Err(StoreError::NotFound(Entity::Job))
    ));
}

async fn cancel_wins_over_a_late_completion(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let id = enqueue(db, &t, "noop", "n").await;
    let c = claim_one(db, &free("noop")).await;
    db.store.cancel(t.id, id).await.unwrap();
    let st = db
        .store
        .finish(
            &c.lease,
            Outcome::Completed {
                result: json!({"late": true}),
            },
        )
        .await
        .unwrap();
    assert_eq!(st, JobStatus::Cancelled);
}

async fn rerun_queues_failed_and_cancelled_jobs_only(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let id = enqueue(db, &t, "noop", "n").await;
    let c = claim_one(db, &free("noop")).await;
    db.store
        .finish(&c.lease, Outcome::Failed { error: "x".into() })
        .await
        .unwrap();
    assert_eq!(
        db.store.rerun(t.id, id, None).await.unwrap(),
        JobStatus::Queued
    );
    let s = db.store.job_details(t.id, id, 0).await.unwrap().summary;
    assert_eq!((s.attempt, s.finished_at), (0, None));
    let again = claim_one(db, &free("noop")).await;
    assert_eq!(again.attempt, 1);
    assert!(
        again.lease.fence > c.lease.fence,
        "fencing survives a rerun"
    );
    let err = db.store.rerun(t.id, id, None).await.unwrap_err();
    assert!(matches!(err, StoreError::IllegalTransition(_)));
    db.store
        .finish(&again.lease, Outcome::Completed { result: json!({}) })
        .await
        .unwrap();
    assert!(matches!(
        db.store.rerun(t.id, id, None).await,
        Err(StoreError::IllegalTransition(_))
    ));
}

async fn release_returns_the_attempt(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let id = enqueue(db, &t, "noop", "n").await;
    let c = claim_one(db, &free("noop")).await;
    assert_eq!(db.store.release(&c.lease).await.unwrap(), JobStatus::Queued);
    let s = db.store.job_details(t.id, id, 0).await.unwrap().summary;
    assert_eq!((s.status, s.attempt), (JobStatus::Queued, 0));
    assert_eq!(claim_one(db, &free("noop")).await.attempt, 1);
}

async fn list_filters_paginates_and_counts_per_provider(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let other = tenant(db, "other").await;
    for i in 0..25 {
        enqueue(db, &t, "noop", &format!("j{i:02}")).await;
    }
    let claimed = db
        .store
        .claim("w", 5, &free("noop"), LEASE, CAP)
        .await
        .unwrap();
    enqueue(db, &other, "noop", "x").await;
    for c in claimed.iter().take(3) {
        db.store
            .finish(&c.lease, Outcome::Completed { result: json!({}) })
            .await
            .unwrap();
    }
    let counts = db.store.status_counts(t.id, None).await.unwrap();
    assert_eq!(counts.get(JobStatus::Queued), 20);
    assert_eq!(counts.get(JobStatus::Running), 2);
    assert_eq!(counts.get(JobStatus::Completed), 3);
    assert_eq!(counts.total(), 25);
    assert_eq!(
        db.store
            .status_counts(other.id, None)
            .await
            .unwrap()
            .total(),
        1
    );

    let filter = |statuses: Option<Vec<JobStatus>>, limit, offset| JobFilter {
        statuses,
        origin: None,
        kind: None,
        limit,
        offset,
    };
    let page = db
        .store
        .list_jobs(t.id, &filter(None, 10, 0))
        .await
        .unwrap();
    assert_eq!((page.jobs.len(), page.total), (10, 25));
    assert_eq!(page.jobs[0].name, "j24");
    let last = db
        .store
        .list_jobs(t.id, &filter(None, 10, 20))
        .await
        .unwrap();
    assert_eq!(last.jobs.len(), 5);
    assert_eq!(last.jobs[4].name, "j00");
    let done = db
        .store
        .list_jobs(t.id, &filter(Some(vec![JobStatus::Completed]), 10, 0))
        .await
        .unwrap();
    assert_eq!(done.total, 3);
    assert!(done.jobs.iter().all(|j| j.status == JobStatus::Completed));
    let active = db
        .store
        .list_jobs(
            t.id,
            &filter(Some(vec![JobStatus::Queued, JobStatus::Running]), 100, 0),
        )
        .await
        .unwrap();
    assert_eq!((active.total, active.jobs.len()), (22, 22));
    // jobs of another provider are invisible
    assert!(db
        .store
        .list_jobs(other.id, &filter(None, 100, 0))
        .await
        .unwrap()
        .jobs
        .iter()
        .all(|j| j.tenant_id == other.id));
    let some_job = page.jobs[0].id;
    assert!(matches!(
        db.store.job_details(other.id, some_job, 10).await,
        Err(StoreError::NotFound(Entity::Job))
    ));
}

async fn log_is_capped_keeping_head_and_tail(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let id = enqueue(db, &t, "noop", "chatty").await;
    for i in 0..200 {
        let level = if i == 199 {
            LogLevel::Error
        } else {
            LogLevel::Info
        };
        db.store
            .append_log(id, level, &format!("linha {i}"), 150)
            .await
            .unwrap();
    }
    let d = db.store.job_details(t.id, id, 1000).await.unwrap();
    assert_eq!(d.logs.len(), 150);
    assert_eq!(d.logs_omitted, 50);
    assert_eq!(d.logs[0].message, "linha 0");
    assert_eq!(d.logs[99].message, "linha 99");
    assert_eq!(d.logs[100].message, "linha 150");
    assert_eq!(d.logs[149].message, "linha 199");
    assert_eq!(d.logs[149].level, LogLevel::Error);
    // the newest lines when asked for fewer
    let d = db.store.job_details(t.id, id, 2).await.unwrap();
    let last: Vec<&str> = d.logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(last, ["linha 198", "linha 199"]);
    // a huge message is clipped
    db.store
        .append_log(id, LogLevel::Warn, &"x".repeat(10_000), 150)
        .await
        .unwrap();
    let d = db.store.job_details(t.id, id, 1).await.unwrap();
    assert!(d.logs[0].message.chars().count() <= 2001);
    assert!(matches!(
        db.store
            .append_log(JobId::new(), LogLevel::Info, "x", 10)
            .await,
        Err(StoreError::NotFound(Entity::Job))
    ));
    // the lines a claim and a batched completion write obey the cap too
    let claimed = db
        .store
        .claim("w", 1, &free("noop"), LEASE, 150)
        .await
        .unwrap();
    let d = db.store.job_details(t.id, id, 1000).await.unwrap();
    assert_eq!((d.logs.len(), d.logs_omitted), (150, 52));
    let done = Completion {
        lease: claimed[0].lease.clone(),
        result: json!({}),
        log: Some("Concluído.".into()),
    };
    db.store.complete_many(&[done], 150).await.unwrap();
    let d = db.store.job_details(t.id, id, 1000).await.unwrap();
    assert_eq!(d.logs.len(), 150);
    assert_eq!(d.logs_omitted, 53);
    assert_eq!(d.logs[0].message, "linha 0");
    let tail: Vec<&str> = d.logs[147..].iter().map(|l| l.message.as_str()).collect();
    assert_eq!(tail[1..], ["Tentativa 1 de 5 iniciada em w.", "Concluído."]);
}

async fn purge_removes_only_old_finished_jobs(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let old = enqueue(db, &t, "noop", "old").await;
    let c = claim_one(db, &free("noop")).await;
    db.store
        .append_log(old, LogLevel::Info, "x", 10)
        .await
        .unwrap();
    db.store
        .finish(&c.lease, Outcome::Completed { result: json!({}) })
        .await
        .unwrap();
    db.clock.advance(Duration::days(40));
    let recent = enqueue(db, &t, "noop", "recent").await;
    let c = claim_one(db, &free("noop")).await;
    db.store
        .finish(&c.lease, Outcome::Failed { error: "x".into() })
        .await
        .unwrap();
    let waiting = enqueue(db, &t, "noop", "waiting").await;

    let cutoff = db.clock_now() - Duration::days(30);
    assert!(db.rows_with("job_logs", "job_id", old.0).await > 0);
    assert_eq!(db.store.purge_finished(cutoff).await.unwrap(), 1);
    assert_eq!(
        db.rows_with("job_logs", "job_id", old.0).await,
        0,
        "its log goes too"
    );
    assert!(matches!(
        db.store.job_details(t.id, old, 10).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(status_of(db, &t, recent).await, JobStatus::Failed);
    assert_eq!(status_of(db, &t, waiting).await, JobStatus::Queued);
    let counts = db.store.status_counts(t.id, None).await.unwrap();
    assert_eq!(counts.get(JobStatus::Completed), 0);
    assert_eq!(counts.total(), 2);
}

async fn deleting_a_provider_removes_its_jobs_logs_and_counts(db: &TestDb) {
    let gone = tenant(db, "gone").await;
    let kept = tenant(db, "kept").await;
    let job = enqueue(db, &gone, "noop", "a").await;
    let other = enqueue(db, &kept, "noop", "b").await;
    claim_one(db, &free("noop")).await;
    db.store
        .append_log(other, LogLevel::Info, "fica", CAP)
        .await
        .unwrap();
    db.delete_tenant(gone.id).await;
    assert_eq!(db.rows_with("jobs", "tenant_id", gone.id.0).await, 0);
    assert_eq!(db.rows_with("job_logs", "job_id", job.0).await, 0);
    assert_eq!(db.rows_with("job_logs", "job_id", other.0).await, 1);
    assert_eq!(
        db.store.status_counts(gone.id, None).await.unwrap().total(),
        0
    );
    assert_eq!(
        db.store.status_counts(kept.id, None).await.unwrap().total(),
        1
    );
}

async fn batched_completions_skip_stale_attempts_and_honour_cancel(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let ok = enqueue(db, &t, "noop", "ok").await;
    let stale = enqueue(db, &t, "noop", "stale").await;
    let cancelled = enqueue(db, &t, "noop", "cancelled").await;
    let claimed = db
        .store
        .claim("w", 3, &free("noop"), LEASE, CAP)
        .await
        .unwrap();
    db.store.cancel(t.id, cancelled).await.unwrap();
    let done: Vec<Completion> = claimed
        .iter()
        .map(|c| {
            let mut lease = c.lease.clone();
            if c.lease.job == stale {
                lease.fence += 1; // not the current attempt
            }
            Completion {
                lease,
                result: json!({"job": c.name}),
                log: Some("Concluído.".into()),
            }
        })
        .collect();
    let mut recorded = db.store.complete_many(&done, 100).await.unwrap();
    recorded.sort();
    let mut want = vec![
        (ok, JobStatus::Completed),
        (cancelled, JobStatus::Cancelled),
    ];
    want.sort();
    assert_eq!(recorded, want);
    assert_eq!(status_of(db, &t, stale).await, JobStatus::Running);
    let d = db.store.job_details(t.id, ok, 10).await.unwrap();
    assert_eq!(d.result, Some(json!({"job": "ok"})));
    assert_eq!(d.logs.last().unwrap().message, "Concluído.");
    let stale_log = db.store.job_details(t.id, stale, 10).await.unwrap().logs;
    assert_eq!(
        stale_log
            .iter()
            .map(|l| l.message.as_str())
            .collect::<Vec<_>>(),
        ["Tentativa 1 de 5 iniciada em w."],
        "a stale attempt's completion writes no line"
    );

    db.store
        .append_logs(
            &[
                (ok, LogLevel::Info, "um".into()),
                (JobId::new(), LogLevel::Info, "job inexistente".into()),
                (stale, LogLevel::Warn, "dois".into()),
            ],
            100,
        )
        .await
        .unwrap();
    let d = db.store.job_details(t.id, stale, 10).await.unwrap();
    assert_eq!(d.logs.last().unwrap().message, "dois");
}
