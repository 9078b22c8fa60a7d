//! Scheduled syncs on both databases: a due slot becomes one import however
//! many schedulers race, a busy provider's slot is recorded as skipped, a
//! run missed during downtime runs once, and failures pause the schedule.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use sgp_import_core::import::{ImportParams, IMPORT_KIND};
use sgp_import_core::model::{
    JobOrigin, JobStatus, JobSummary, ScheduleInput, Tenant, TenantId, TenantSlug,
};
use sgp_import_core::schedule::{Scheduler, SKIP_REASON};
use sgp_import_core::store::{
    Completion, JobFilter, KindLimit, NewJob, Outcome, SlotOutcome, Store,
};

use crate::on_both;
use crate::support::TestDb;

on_both!(
    a_due_slot_becomes_one_import_with_two_schedulers_racing,
    a_slot_due_while_the_provider_is_busy_is_recorded_as_skipped,
    a_run_missed_during_downtime_runs_once,
    consecutive_failures_pause_the_schedule_and_a_success_resets_them,
    saving_again_resumes_a_paused_schedule,
    the_history_filters_by_origin_and_counts_kinds_apart,
    a_run_that_ends_just_before_the_next_slot_is_still_counted,
    a_late_failure_that_reaches_the_limit_pauses_instead_of_running,
);

async fn tenant(db: &TestDb, slug: &str) -> Tenant {
    db.store
        .ensure_tenant(&TenantSlug::parse(slug).unwrap(), slug)
        .await
        .unwrap()
}

fn daily_at_two(pause_after_failures: u32) -> ScheduleInput {
    ScheduleInput {
        active: true,
        cron: "0 2 * * *".into(),
        incremental: false,
        only_active: true,
        signup_from: None,
        signup_to: None,
        pause_after_failures,
    }
}

/// 02:00 in São Paulo on day `day` of January 2026, in UTC.
fn two_am(day: u32) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2026-01-{day:02}T05:00:00Z"))
        .unwrap()
        .with_timezone(&Utc)
}

/// Saves a daily 02:00 schedule whose first slot is 02:00 on 1 January
/// (the test clock starts at midnight UTC that day).
async fn schedule(db: &TestDb, t: TenantId, pause_after_failures: u32) {
    let view = db
        .store
        .save_schedule(t, &daily_at_two(pause_after_failures), Some(two_am(1)))
        .await
        .unwrap();
    assert_eq!(view.next_run, Some(two_am(1)));
    assert!(view.input.active);
}

fn scheduler(db: &TestDb, store: Arc<dyn Store>) -> Scheduler {
    Scheduler::new(store, db.clock.clone())
}

async fn jobs(db: &TestDb, t: TenantId, origin: Option<JobOrigin>) -> Vec<JobSummary> {
    db.store
        .list_jobs(
            t,
            &JobFilter {
                statuses: None,
                origin,
                kind: None,
                limit: 100,
                offset: 0,
            },
        )
        .await
        .unwrap()
        .jobs
}

/// Runs the provider's queued import to `outcome`, as an executor would.
async fn finish_queued(db: &TestDb, outcome: Outcome) {
    let kinds = [KindLimit {
        kind: IMPORT_KIND.into(),
        per_tenant: None,
    }];
    let claimed = db
        .store
        .claim("w", 1, &kinds, StdDuration::from_secs(60), 100)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "one queued import");
    let lease = claimed[0].lease.clone();
    match outcome {
        Outcome::Completed { result } => {
            db.store
                .complete_many(
                    &[Completion {
                        lease,
                        result,
                        log: None,
                    }],
                    100,
                )
                .await
                .unwrap();
        }
        other => {
            db.store.finish(&lease, other).await.unwrap();
        }
    }
}

async fn a_due_slot_becomes_one_import_with_two_schedulers_racing(db: &TestDb) {
    let t = tenant(db, "agendado").await.id;
    schedule(db, t, 3).await;
    let (a, b) = (
        scheduler(db, db.store.clone()),
        scheduler(db, db.second_store().await),
    );
    // not yet due
    assert_eq!(a.tick().await.unwrap().enqueued.len(), 0);
    db.clock.set(two_am(1) + Duration::seconds(3));
    let mut enqueued = 0;
    for _ in 0..5 {
        let (ra, rb) = tokio::join!(a.tick(), b.tick());
        enqueued += ra.unwrap().enqueued.len() + rb.unwrap().enqueued.len();
    }
    assert_eq!(enqueued, 1);
    let all = jobs(db, t, None).await;
    assert_eq!(all.len(), 1);
    let job = &all[0];
    assert_eq!(job.origin, JobOrigin::Scheduled);
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.name, "Sincronização agendada de 01/01/2026 02:00");
    let details = db.store.job_details(t, job.id, 10).await.unwrap();
    let params: ImportParams = serde_json::from_value(details.params).unwrap();
    assert!(params.only_active);
    assert!(!params.incremental);
    let view = db.store.schedule(t).await.unwrap().unwrap();
    assert_eq!(view.next_run, Some(two_am(2)));
    assert_eq!(view.last_run, Some(two_am(1)));
}

async fn a_slot_due_while_the_provider_is_busy_is_recorded_as_skipped(db: &TestDb) {
    let t = tenant(db, "ocupado").await.id;
    schedule(db, t, 3).await;
    db.store
        .enqueue(NewJob::new(t, IMPORT_KIND, "manual", serde_json::json!({})))
        .await
        .unwrap();
    db.clock.set(two_am(1));
    let report = scheduler(db, db.store.clone()).tick().await.unwrap();
    assert!(report.enqueued.is_empty());
    assert_eq!(report.skipped.len(), 1);
    let SlotOutcome::Skipped(skipped) = report.skipped[0].clone() else {
        panic!("skipped");
    };
    let scheduled = jobs(db, t, Some(JobOrigin::Scheduled)).await;
    assert_eq!(scheduled.len(), 1);
    assert_eq!(scheduled[0].id, skipped);
    assert_eq!(scheduled[0].status, JobStatus::Cancelled);
    assert_eq!(scheduled[0].last_error.as_deref(), Some(SKIP_REASON));
    assert!(scheduled[0].finished_at.is_some());
    let log = db.store.job_details(t, skipped, 10).await.unwrap().logs;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].message, SKIP_REASON);
    // the schedule moved on, and a skip is no failure
    let view = db.store.schedule(t).await.unwrap().unwrap();
    assert_eq!(view.next_run, Some(two_am(2)));
    assert_eq!(view.consecutive_failures, 0);
    // the manual import finishes; the next slot runs
    finish_queued(
        db,
        Outcome::Completed {
            result: serde_json::json!({}),
        },
    )
    .await;
    db.clock.set(two_am(2));
    let report = scheduler(db, db.store.clone()).tick().await.unwrap();
    assert_eq!(report.enqueued.len(), 1);
}

async fn a_run_missed_during_downtime_runs_once(db: &TestDb) {
    let t = tenant(db, "parado").await.id;
    schedule(db, t, 3).await;
    // nobody ticked for five days and a bit
    let now = two_am(6) + Duration::hours(3);
    db.clock.set(now);
    let s = scheduler(db, db.store.clone());
    assert_eq!(s.tick().await.unwrap().enqueued.len(), 1);
    assert_eq!(s.tick().await.unwrap().enqueued.len(), 0);
    assert_eq!(jobs(db, t, None).await.len(), 1);
    let view = db.store.schedule(t).await.unwrap().unwrap();
    assert_eq!(view.next_run, Some(two_am(7)), "the first slot after now");
}

async fn consecutive_failures_pause_the_schedule_and_a_success_resets_them(db: &TestDb) {
    let t = tenant(db, "falhas").await.id;
    let other = tenant(db, "outro").await.id;
    schedule(db, t, 2).await;
    schedule(db, other, 2).await;
    let s = scheduler(db, db.store.clone());
    let failed = || Outcome::Failed {
        error: "SGP fora do ar".into(),
    };
    // day 1 fails, day 2 succeeds, days 3 and 4 fail: paused after day 4
    let plan = [false, true, false, false];
    for (i, ok) in plan.into_iter().enumerate() {
        db.clock.set(two_am(i as u32 + 1));
        let report = s.tick().await.unwrap();
        assert!(report.paused.is_empty(), "day {}", i + 1);
        assert_eq!(report.enqueued.len(), 2, "day {}", i + 1);
        // the other provider's imports all succeed
        for _ in 0..2 {
            let kinds = [KindLimit {
                kind: IMPORT_KIND.into(),
                per_tenant: None,
            }];
            let claimed = db
                .store
                .claim("w", 1, &kinds, StdDuration::from_secs(60), 100)
                .await
                .unwrap();
            let lease = claimed[0].lease.clone();
            if lease.tenant == t && !ok {
                db.store.finish(&lease, failed()).await.unwrap();
            } else {
                db.store
                    .complete_many(
                        &[Completion {
                            lease,
                            result: serde_json::json!({}),
                            log: None,
                        }],
                        100,
                    )
                    .await
                    .unwrap();
            }
        }
        let view = db.store.schedule(t).await.unwrap().unwrap();
        assert!(view.input.active, "still active after day {}", i + 1);
    }
    db.clock.set(two_am(4) + Duration::hours(1));
    let report = s.tick().await.unwrap();
    assert_eq!(report.paused.len(), 1);
    assert_eq!(report.paused[0].tenant, t);
    assert_eq!(report.paused[0].failures, 2);
    let view = db.store.schedule(t).await.unwrap().unwrap();
    assert!(!view.input.active);
    assert_eq!(view.next_run, None);
    assert_eq!(view.paused_at, Some(two_am(4) + Duration::hours(1)));
    assert!(view
        .pause_reason
        .as_deref()
        .unwrap()
        .contains("Pausada após 2 falhas seguidas"));
    // counted once: further ticks neither pause again nor count more
    assert!(s.tick().await.unwrap().paused.is_empty());
    assert_eq!(
        db.store
            .schedule(t)
            .await
            .unwrap()
            .unwrap()
            .consecutive_failures,
        2
    );
    // a paused schedule starts nothing; the other provider's goes on
    db.clock.set(two_am(5));
    let report = s.tick().await.unwrap();
    assert_eq!(report.enqueued.len(), 1);
    let other_view = db.store.schedule(other).await.unwrap().unwrap();
    assert!(other_view.input.active);
    assert_eq!(other_view.consecutive_failures, 0);
}

async fn saving_again_resumes_a_paused_schedule(db: &TestDb) {
    let t = tenant(db, "retoma").await.id;
    schedule(db, t, 1).await;
    let s = scheduler(db, db.store.clone());
    db.clock.set(two_am(1));
    s.tick().await.unwrap();
    finish_queued(
        db,
        Outcome::Failed {
            error: "credenciais".into(),
        },
    )
    .await;
    assert_eq!(s.tick().await.unwrap().paused.len(), 1);
    let view = db
        .store
        .save_schedule(t, &daily_at_two(1), Some(two_am(2)))
        .await
        .unwrap();
    assert!(view.input.active);
    assert_eq!(view.consecutive_failures, 0);
    assert_eq!(view.paused_at, None);
    assert_eq!(view.pause_reason, None);
    db.clock.set(two_am(2));
    assert_eq!(s.tick().await.unwrap().enqueued.len(), 1);
}

async fn the_history_filters_by_origin_and_counts_kinds_apart(db: &TestDb) {
    let t = tenant(db, "origens").await.id;
    for (name, origin) in [
        ("a", JobOrigin::Manual),
        ("b", JobOrigin::Api),
        ("c", JobOrigin::Api),
    ] {
        db.store
            .enqueue(NewJob::new(t, "other", name, serde_json::json!({})).with_origin(origin))
            .await
            .unwrap();
    }
    let page = |origin| async move {
        db.store
            .list_jobs(
                t,
                &JobFilter {
                    statuses: Some(vec![JobStatus::Queued]),
                    origin,
                    kind: None,
                    limit: 1,
                    offset: 0,
                },
            )
            .await
            .unwrap()
    };
    let api = page(Some(JobOrigin::Api)).await;
    assert_eq!(api.total, 2);
    assert_eq!(api.jobs.len(), 1);
    assert_eq!(api.jobs[0].origin, JobOrigin::Api);
    assert_eq!(page(Some(JobOrigin::Manual)).await.total, 1);
    assert_eq!(page(Some(JobOrigin::Scheduled)).await.total, 0);
    assert_eq!(page(None).await.total, 3);

    // kinds are counted apart: deliveries never swell the imports' tabs
    db.store
        .enqueue(NewJob::new(
            t,
            IMPORT_KIND,
            "importação",
            serde_json::json!({}),
        ))
        .await
        .unwrap();
    let imports = db.store.status_counts(t, Some(IMPORT_KIND)).await.unwrap();
    assert_eq!(imports.get(JobStatus::Queued), 1);
    assert_eq!(
        db.store
            .status_counts(t, Some("other"))
            .await
            .unwrap()
            .total(),
        3
    );
    assert_eq!(db.store.status_counts(t, None).await.unwrap().total(), 4);
    let listed = db
        .store
        .list_jobs(
            t,
            &JobFilter {
                statuses: None,
                origin: None,
                kind: Some(IMPORT_KIND.into()),
                limit: 10,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.total, 1);
    assert_eq!(listed.jobs[0].name, "importação");

    // a superadmin's read over every provider, with and without an origin
    let other = tenant(db, "outro-provedor").await.id;
    db.store
        .enqueue(
            NewJob::new(other, "other", "d", serde_json::json!({})).with_origin(JobOrigin::Api),
        )
        .await
        .unwrap();
    let everywhere = |origin| async move {
        db.store
            .list_jobs_everywhere(&JobFilter {
                statuses: None,
                origin,
                kind: Some("other".into()),
                limit: 2,
                offset: 0,
            })
            .await
            .unwrap()
    };
    let all = everywhere(None).await;
    assert_eq!(all.total, 4);
    assert_eq!(all.jobs.len(), 2);
    assert_eq!(all.jobs[0].tenant_id, other, "newest first");
    let api = everywhere(Some(JobOrigin::Api)).await;
    assert_eq!(api.total, 3);
    // the tabs of an origin count that origin's jobs only
    let of = |tenant, kind, origin| async move {
        db.store
            .origin_status_counts(tenant, kind, origin)
            .await
            .unwrap()
    };
    let by_api = of(Some(t), Some("other"), JobOrigin::Api).await;
    assert_eq!(by_api.get(JobStatus::Queued), 2);
    assert_eq!(by_api.total(), 2);
    assert_eq!(of(Some(t), None, JobOrigin::Manual).await.total(), 2);
    assert_eq!(
        of(Some(t), Some(IMPORT_KIND), JobOrigin::Api).await.total(),
        0
    );
    assert_eq!(of(None, Some("other"), JobOrigin::Api).await.total(), 3);
    assert_eq!(of(Some(other), None, JobOrigin::Api).await.total(), 1);
    assert_eq!(
        db.store
            .status_counts_everywhere(Some("other"))
            .await
            .unwrap()
            .total(),
        4
    );
}

/// The previous run fails after the scheduler settled outcomes and before
/// it takes the next slot: taking the slot counts that failure before it
/// replaces the pending run, so it is not lost.
async fn a_run_that_ends_just_before_the_next_slot_is_still_counted(db: &TestDb) {
    let t = tenant(db, "entre-tiques").await.id;
    let taken = fail_between_settling_and_the_next_slot(db, t, 3).await;
    assert!(matches!(taken, Some(SlotOutcome::Enqueued(_))), "{taken:?}");
    let view = db.store.schedule(t).await.unwrap().unwrap();
    assert_eq!(view.consecutive_failures, 1, "day 1's failure is counted");
}

/// The same late failure reaches the schedule's limit: the slot pauses it
/// instead of queueing another run that would fail the same way.
async fn a_late_failure_that_reaches_the_limit_pauses_instead_of_running(db: &TestDb) {
    let t = tenant(db, "entre-tiques-pausa").await.id;
    let taken = fail_between_settling_and_the_next_slot(db, t, 1).await;
    let Some(SlotOutcome::Paused(paused)) = taken else {
        panic!("the slot should pause the schedule: {taken:?}");
    };
    assert_eq!(paused.tenant, t);
    assert_eq!(paused.failures, 1);
    assert!(!paused.reason.is_empty());
    let view = db.store.schedule(t).await.unwrap().unwrap();
    assert!(!view.input.active, "paused");
    assert_eq!(view.next_run, None);
    assert_eq!(view.last_run, Some(two_am(1)), "day 2 did not run");
    assert_eq!(view.consecutive_failures, 1);
    assert_eq!(
        jobs(db, t, Some(JobOrigin::Scheduled)).await.len(),
        1,
        "only day 1's run"
    );
    // a paused schedule has no due slot left
    assert!(db
        .store
        .due_schedules(two_am(3), 10)
        .await
        .unwrap()
        .is_empty());
}

/// Day 1's scheduled run is claimed, day 2's outcomes are settled while it
/// still runs, then it fails and day 2's slot is taken: what taking it gave.
async fn fail_between_settling_and_the_next_slot(
    db: &TestDb,
    t: TenantId,
    pause_after_failures: u32,
) -> Option<SlotOutcome> {
    use sgp_import_core::store::ScheduledRun;

    schedule(db, t, pause_after_failures).await;
    let s = scheduler(db, db.store.clone());
    db.clock.set(two_am(1));
    assert_eq!(s.tick().await.unwrap().enqueued.len(), 1);
    let kinds = [KindLimit {
        kind: IMPORT_KIND.into(),
        per_tenant: None,
    }];
    let claimed = db
        .store
        .claim("w", 1, &kinds, StdDuration::from_secs(60), 100)
        .await
        .unwrap();
    db.clock.set(two_am(2));
    assert!(db.store.settle_scheduled_runs().await.unwrap().is_empty());
    let failed = Outcome::Failed {
        error: "SGP fora do ar".into(),
    };
    db.store.finish(&claimed[0].lease, failed).await.unwrap();
    let due = db.store.due_schedules(two_am(2), 10).await.unwrap();
    assert_eq!(due.len(), 1);
    let params = ImportParams::everything("Dia 2");
    let job = NewJob::new(
        t,
        IMPORT_KIND,
        "Dia 2",
        serde_json::to_value(&params).unwrap(),
    )
    .with_origin(JobOrigin::Scheduled);
    db.store
        .take_slot(ScheduledRun {
            slot: due[0].slot,
            next: Some(two_am(3)),
            job,
            skip_reason: SKIP_REASON.into(),
        })
        .await
        .unwrap()
}
