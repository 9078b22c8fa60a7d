//! Claiming is round-robin across providers: a provider's long queue does
//! not hold back another provider's jobs, on both databases.

use chrono::Duration;
use serde_json::json;
use sgp_import_core::model::{JobId, JobStatus, TenantId, QUEUE_POSITION_COUNTED};
use sgp_import_core::store::{ClaimedJob, JobFilter, KindLimit, NewJob, Outcome};

use crate::jobs::{enqueue, tenant, CAP, LEASE};
use crate::on_both;
use crate::support::TestDb;

on_both!(
    a_long_queue_delays_another_providers_first_job_by_one_slot_at_most,
    providers_take_turns_one_job_each,
    a_batch_takes_every_providers_first_job_before_any_second,
    lanes_with_nothing_due_do_not_hold_the_claim,
    jobs_coming_back_to_the_queue_reopen_their_lane,
    instances_claim_each_job_once_within_each_providers_limit,
    a_claim_for_many_slots_reaches_many_providers_with_one_slot_each,
);

fn kind(name: &str, per_tenant: Option<u32>) -> Vec<KindLimit> {
    vec![KindLimit {
        kind: name.into(),
        per_tenant,
    }]
}

async fn claim(db: &TestDb, max: u32, kinds: &[KindLimit]) -> Vec<ClaimedJob> {
    db.store.claim("w", max, kinds, LEASE, CAP).await.unwrap()
}

async fn complete(db: &TestDb, job: &ClaimedJob) {
    db.store
        .finish(&job.lease, Outcome::Completed { result: json!({}) })
        .await
        .unwrap();
}

/// One slot, a provider with 10,000 queued imports (its limit would let
/// it fill every slot): a second provider's first import starts at the
/// next slot turnover.
async fn a_long_queue_delays_another_providers_first_job_by_one_slot_at_most(db: &TestDb) {
    let big = tenant(db, "grande").await;
    let small = tenant(db, "pequeno").await;
    let imports = kind("import", Some(10));
    // queued through the real enqueue, eight at a time
    let mut queueing = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let (store, tenant) = (db.store.clone(), big.id);
        queueing.spawn(async move {
            for i in 0..1_250 {
                let job = NewJob::new(tenant, "import", &format!("g{worker}-{i}"), json!({}));
                store.enqueue(job).await.unwrap();
            }
        });
    }
    while let Some(done) = queueing.join_next().await {
        done.unwrap();
    }
    db.clock.advance(Duration::milliseconds(1));
    let first = claim(db, 1, &imports).await;
    assert_eq!(first[0].lease.tenant, big.id);
    // positions are counted up to a limit, not through the whole queue
    let newest = db
        .store
        .list_jobs(
            big.id,
            &JobFilter {
                statuses: Some(vec![JobStatus::Queued]),
                origin: None,
                kind: None,
                limit: 1,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(newest.total, 9_999);
    assert_eq!(
        newest.jobs[0].queue_position,
        Some(QUEUE_POSITION_COUNTED + 1)
    );
    let theirs = enqueue(db, &small, "import", "p0").await;

    complete(db, &first[0]).await;
    let next = claim(db, 1, &imports).await;
    assert_eq!(
        next[0].lease.job, theirs,
        "the next slot goes to the newcomer"
    );

    // and the long queue goes on afterwards
    complete(db, &next[0]).await;
    assert_eq!(claim(db, 1, &imports).await[0].lease.tenant, big.id);
}

/// Three providers with five jobs each, one slot: the claims go A, B, C,
/// A, B, C... whoever queued first or most.
async fn providers_take_turns_one_job_each(db: &TestDb) {
    let a = tenant(db, "prov-a").await;
    let b = tenant(db, "prov-b").await;
    let c = tenant(db, "prov-c").await;
    for t in [&a, &b, &c] {
        for i in 0..5 {
            enqueue(db, t, "noop", &format!("{i}")).await;
        }
    }
    let mut order = Vec::new();
    for _ in 0..15 {
        let got = claim(db, 1, &kind("noop", None)).await;
        assert_eq!(got.len(), 1);
        order.push(got[0].lease.tenant);
        complete(db, &got[0]).await;
    }
    let expected: Vec<TenantId> = [a.id, b.id, c.id].repeat(5);
    assert_eq!(order, expected);
    assert!(claim(db, 1, &kind("noop", None)).await.is_empty());
}

/// A batch of six from a provider with ten jobs and one with two: both of
/// the small one's, four of the big one's, each provider's oldest first.
async fn a_batch_takes_every_providers_first_job_before_any_second(db: &TestDb) {
    let big = tenant(db, "grande").await;
    let small = tenant(db, "pequeno").await;
    let mut bigs = Vec::new();
    for i in 0..10 {
        bigs.push(enqueue(db, &big, "noop", &format!("g{i}")).await);
    }
    let smalls = vec![
        enqueue(db, &small, "noop", "p0").await,
        enqueue(db, &small, "noop", "p1").await,
    ];
    let got = claim(db, 6, &kind("noop", None)).await;
    let of = |t: TenantId| -> Vec<JobId> {
        got.iter()
            .filter(|c| c.lease.tenant == t)
            .map(|c| c.lease.job)
            .collect()
    };
    assert_eq!(of(small.id), smalls);
    assert_eq!(of(big.id), bigs[..4].to_vec());

    // the next batch takes up where this one stopped
    let rest = claim(db, 100, &kind("noop", None)).await;
    let ids: Vec<JobId> = rest.iter().map(|c| c.lease.job).collect();
    assert_eq!(ids, bigs[4..].to_vec());
}

/// A hundred providers with two imports each and room for one at a time,
/// and a hundred free slots: one claim starts every provider's first
/// import. Each lane gives one job, so the claim walks more lanes than its
/// usual four passes do.
async fn a_claim_for_many_slots_reaches_many_providers_with_one_slot_each(db: &TestDb) {
    let mut firsts = Vec::new();
    for i in 0..100 {
        let t = tenant(db, &format!("prov-{i:03}")).await;
        firsts.push(enqueue(db, &t, "import", "1").await);
        enqueue(db, &t, "import", "2").await;
    }
    let imports = kind("import", Some(1));
    let mut got: Vec<JobId> = claim(db, 100, &imports)
        .await
        .iter()
        .map(|c| c.lease.job)
        .collect();
    assert_eq!(got.len(), 100, "one import for each provider");
    got.sort_by_key(|j| j.0);
    firsts.sort_by_key(|j| j.0);
    assert_eq!(got, firsts);
    // every provider is at its limit: nothing more until one finishes
    assert!(claim(db, 100, &imports).await.is_empty());
}

/// A provider whose next job waits for later (a retry's backoff, a
/// schedule), or whose queued job was cancelled, is passed over.
async fn lanes_with_nothing_due_do_not_hold_the_claim(db: &TestDb) {
    let later = tenant(db, "depois").await;
    let due = tenant(db, "agora").await;
    let mut job = NewJob::new(later.id, "noop", "later", json!({}));
    job.run_after = Some(db.clock_now() + Duration::minutes(5));
    let later_job = db.store.enqueue(job).await.unwrap().id;
    // more providers whose only job was cancelled than one pass looks at
    for i in 0..12 {
        let gone = tenant(db, &format!("cancelado-{i}")).await;
        let cancelled = enqueue(db, &gone, "noop", "x").await;
        db.store.cancel(gone.id, cancelled).await.unwrap();
    }
    let now_job = enqueue(db, &due, "noop", "now").await;

    let got = claim(db, 1, &kind("noop", None)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].lease.job, now_job);
    assert!(claim(db, 1, &kind("noop", None)).await.is_empty());

    db.clock.advance(Duration::minutes(5));
    let got = claim(db, 1, &kind("noop", None)).await;
    assert_eq!(got[0].lease.job, later_job);
}

/// A claim that empties a lane closes it; every way back into the queue
/// (retry, release, a lost worker, a rerun) opens it again.
async fn jobs_coming_back_to_the_queue_reopen_their_lane(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let id = enqueue(db, &t, "noop", "n").await;
    let noop = kind("noop", None);
    let claim_it = |what: &'static str| async move {
        let got = claim(db, 10, &kind("noop", None)).await;
        assert_eq!(got.len(), 1, "{what}: claimed again");
        assert_eq!(got[0].lease.job, id);
        got.into_iter().next().unwrap()
    };
    let job = claim_it("first").await;
    assert!(claim(db, 10, &noop).await.is_empty());

    let retry = Outcome::Retry {
        error: "503".into(),
        run_after: db.clock_now(),
    };
    db.store.finish(&job.lease, retry).await.unwrap();
    let job = claim_it("retry").await;

    db.store.release(&job.lease).await.unwrap();
    claim_it("release").await;

    db.clock.advance(Duration::seconds(61));
    assert_eq!(db.store.rescue_expired().await.unwrap().len(), 1);
    let job = claim_it("rescue").await;

    let failed = Outcome::Failed { error: "x".into() };
    db.store.finish(&job.lease, failed).await.unwrap();
    db.store.rerun(t.id, id, None).await.unwrap();
    claim_it("rerun").await;
}

/// Three instances (three pools on one database) claim and complete side
/// by side: every job runs exactly once, and no provider ever has more
/// than its limit running.
async fn instances_claim_each_job_once_within_each_providers_limit(db: &TestDb) {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    const LIMIT: u32 = 1;
    let mut all = Vec::new();
    for p in 0..30 {
        let t = tenant(db, &format!("prov-{p}")).await;
        for i in 0..6 {
            all.push(enqueue(db, &t, "import", &format!("{p}-{i}")).await);
        }
    }
    // running per provider as the instances see it: raised after a claim
    // returns, lowered before its completion is written, so it never
    // counts more than the database holds
    let running: Arc<Mutex<HashMap<TenantId, u32>>> = Arc::default();
    let runs: Arc<Mutex<Vec<JobId>>> = Arc::default();
    let mut instances = tokio::task::JoinSet::new();
    let stores = [
        db.store.clone(),
        db.second_store().await,
        db.second_store().await,
    ];
    for (n, store) in stores.into_iter().enumerate() {
        let (running, runs) = (running.clone(), runs.clone());
        let total = all.len();
        instances.spawn(async move {
            let kinds = kind("import", Some(LIMIT));
            let owner = format!("instance-{n}");
            while runs.lock().unwrap().len() < total {
                let got = store.claim(&owner, 8, &kinds, LEASE, CAP).await.unwrap();
                for job in &got {
                    let mut r = running.lock().unwrap();
                    let now = r.entry(job.lease.tenant).or_default();
                    *now += 1;
                    assert!(*now <= LIMIT, "a provider over its limit");
                }
                tokio::task::yield_now().await;
                for job in got {
                    *running.lock().unwrap().get_mut(&job.lease.tenant).unwrap() -= 1;
                    runs.lock().unwrap().push(job.lease.job);
                    let done = Outcome::Completed { result: json!({}) };
                    store.finish(&job.lease, done).await.unwrap();
                }
            }
        });
    }
    while let Some(done) = instances.join_next().await {
        done.unwrap();
    }
    let mut ran = runs.lock().unwrap().clone();
    ran.sort();
    all.sort();
    assert_eq!(ran, all, "each job ran exactly once");
}
