//! What imports change, end to end against the fake SGP on each database:
//! customers that left SGP are marked (and unmarked when they return),
//! the removal guard holds and is confirmed, and every kind of change is
//! recorded exactly once per import.

use fake_sgp::FakeConfig;
use sgp_import_core::import::{ImportOutcome, ImportParams};
use sgp_import_core::model::{ChangeKind, JobId, JobStatus};
use sgp_import_core::store::{CustomerFilter, StoreError};

use crate::executor::{log_text, wait_for};
use crate::imports::{harness, params, Harness, TERMINAL};
use crate::on_both;
use crate::support::{Raw, TestDb};

on_both!(
    every_kind_of_change_is_recorded_once_and_none_when_nothing_changed,
    customers_that_left_are_marked_and_unmarked_when_they_return,
    the_guard_marks_at_the_limit_and_holds_above_it_until_confirmed,
    filtered_and_incremental_imports_never_mark,
    a_customers_history_lists_its_changes_newest_first,
    rows_that_fail_keep_their_customer_and_contracts,
    an_import_cut_short_marks_nothing_and_cannot_be_confirmed,
    a_rerun_whose_earlier_keys_were_dropped_marks_nothing,
    an_attempt_resumed_after_its_sweep_only_finishes,
    a_sweep_asked_to_stop_marks_nothing,
    an_unreadable_checkpoint_fails_instead_of_starting_over,
);

/// Changes per kind of job `id`.
async fn counts(h: &Harness<'_>, id: JobId) -> Vec<(ChangeKind, u64)> {
    h.db.store
        .job_changes(h.tenant.id, id, None, 100, 0)
        .await
        .unwrap()
        .counts
        .by_kind
}

/// Imports every customer and gives the job's id.
async fn import(h: &Harness<'_>, p: ImportParams) -> JobId {
    let (status, _) = h.import(p).await;
    assert_eq!(status, JobStatus::Completed);
    h.last_job().await.id
}

async fn outcome(h: &Harness<'_>, id: JobId) -> ImportOutcome {
    let d = h.db.store.job_details(h.tenant.id, id, 0).await.unwrap();
    serde_json::from_value(d.result.unwrap()).unwrap()
}

/// The result rewrite and log line of a confirmation, as the app's
/// service does them.
fn confirmed(
    result: Option<serde_json::Value>,
    r: &sgp_import_core::store::Removal,
) -> (serde_json::Value, String) {
    let o: ImportOutcome = serde_json::from_value(result.unwrap()).unwrap();
    let line = format!("Confirmadas: {} clientes.", r.customers);
    (serde_json::to_value(o.confirmed(r)).unwrap(), line)
}

async fn removed_customers(h: &Harness<'_>) -> Vec<String> {
    let filter = CustomerFilter {
        removed: Some(true),
        limit: 100,
        ..CustomerFilter::default()
    };
    let page =
        h.db.store
            .list_customers(h.tenant.id, &filter)
            .await
            .unwrap();
    let mut keys: Vec<String> = page.customers.into_iter().map(|c| c.sgp_key).collect();
    keys.sort();
    keys
}

async fn every_kind_of_change_is_recorded_once_and_none_when_nothing_changed(db: &TestDb) {
    let mut config = FakeConfig::new(50);
    config.population.contracts_each = Some(1);
    let h = harness(db, config).await;
    let first = import(&h, params("Primeira")).await;
    assert_eq!(
        counts(&h, first).await,
        vec![(ChangeKind::CustomerCreated, 50)]
    );

    let again = import(&h, params("Sem mudança")).await;
    assert_eq!(
        counts(&h, again).await,
        vec![],
        "an unchanged import records nothing"
    );

    // revision 1 flips the first contract's status and the mobile number
    // of customers 9, 19, 29, 39, 49; customers 24 and 49 change plan;
    // customers 3 and 4 leave (4 %, under the guard)
    h.fake.set_revision(1);
    h.fake.update(|c| {
        c.population.plan_shift_every = 25;
        c.population.gone = vec![3, 4];
    });
    let third = import(&h, params("Mudanças")).await;
    assert_eq!(
        counts(&h, third).await,
        vec![
            (ChangeKind::CustomerRemoved, 2),
            (ChangeKind::ContractStatus, 5),
            (ChangeKind::Plan, 2),
            (ChangeKind::Details, 5),
        ]
    );
    let page = db
        .store
        .job_changes(h.tenant.id, third, Some(ChangeKind::ContractStatus), 10, 0)
        .await
        .unwrap();
    assert_eq!(page.total, 5);
    for c in &page.changes {
        // active ↔ suspended, named on both sides
        assert!(c.old_value.is_some() && c.new_value.is_some(), "{c:?}");
        assert_ne!(c.old_value, c.new_value);
        assert!(c.contract_key.is_some());
    }
    let details = db
        .store
        .job_changes(h.tenant.id, third, Some(ChangeKind::Details), 10, 0)
        .await
        .unwrap();
    assert!(details
        .changes
        .iter()
        .all(|c| c.new_value.as_deref() == Some("contatos")));
    assert!(page
        .counts
        .summary_pt()
        .unwrap()
        .contains("2 mudaram de plano"));

    // the two come back, then every customer gains a contract, then loses it
    h.fake.update(|c| c.population.gone.clear());
    let back = import(&h, params("Voltaram")).await;
    assert_eq!(
        counts(&h, back).await,
        vec![(ChangeKind::CustomerReturned, 2)]
    );
    h.fake.update(|c| c.population.contracts_each = Some(2));
    let added = import(&h, params("Contratos novos")).await;
    assert_eq!(
        counts(&h, added).await,
        vec![(ChangeKind::ContractAdded, 50)]
    );
    // half the provider's contracts leaving is over the guard: held, then
    // confirmed
    h.fake.update(|c| c.population.contracts_each = Some(1));
    let dropped = import(&h, params("Contratos encerrados")).await;
    let o = outcome(&h, dropped).await;
    assert_eq!(
        (o.removal_pending, o.contracts_pending),
        (Some(0), Some(50))
    );
    assert_eq!(counts(&h, dropped).await, vec![]);
    let edit = confirmed;
    db.store
        .confirm_removals(h.tenant.id, dropped, &edit)
        .await
        .unwrap();
    assert_eq!(
        counts(&h, dropped).await,
        vec![(ChangeKind::ContractRemoved, 50)]
    );
    assert_eq!(outcome(&h, dropped).await.removed_contracts, 50);
    let last = import(&h, params("Nada")).await;
    assert_eq!(counts(&h, last).await, vec![]);
}

async fn customers_that_left_are_marked_and_unmarked_when_they_return(db: &TestDb) {
    let mut config = FakeConfig::new(40);
    config.population.contracts_each = Some(1);
    let h = harness(db, config).await;
    import(&h, params("Todos")).await;
    assert_eq!(removed_customers(&h).await, Vec::<String>::new());

    h.fake.update(|c| c.population.gone = vec![7]);
    let id = import(&h, params("Um saiu")).await;
    let key = h.expected(7).key;
    assert_eq!(removed_customers(&h).await, vec![key.clone()]);
    let o = outcome(&h, id).await;
    assert_eq!(
        (o.removed, o.removed_contracts, o.removal_pending),
        (1, 1, None)
    );
    let stored = db
        .store
        .customer_by_key(h.tenant.id, &key)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.removed_at.is_some(), "marked, never deleted");
    assert!(stored.contracts.iter().all(|k| k.removed_at.is_some()));
    assert_eq!(h.customers().await, 40);
    let present = CustomerFilter {
        removed: Some(false),
        limit: 100,
        ..CustomerFilter::default()
    };
    let listed = db
        .store
        .list_customers(h.tenant.id, &present)
        .await
        .unwrap();
    assert_eq!(listed.total, 39);
    assert!(log_text(db, &h.tenant, id)
        .await
        .contains("marcados como removidos: 1 clientes e 1 contratos"));

    // an import with nothing new marks nothing more
    let again = import(&h, params("Igual")).await;
    assert_eq!(outcome(&h, again).await.removed, 0);

    h.fake.update(|c| c.population.gone.clear());
    import(&h, params("Voltou")).await;
    assert_eq!(removed_customers(&h).await, Vec::<String>::new());
    let stored = db
        .store
        .customer_by_key(h.tenant.id, &key)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.removed_at.is_none());
    assert!(stored.contracts.iter().all(|k| k.removed_at.is_none()));

    // what the dashboard's charts read: each import with what it did
    let since = chrono::DateTime::from_timestamp(0, 0).unwrap();
    let finished = db
        .store
        .finished_imports(h.tenant.id, sgp_import_core::import::IMPORT_KIND, since)
        .await
        .unwrap();
    assert_eq!(finished.len(), 4);
    assert!(finished.iter().all(|f| f.status == JobStatus::Completed));
    let sum = |f: fn(&sgp_import_core::store::FinishedImport) -> u64| -> u64 {
        finished.iter().map(f).sum()
    };
    assert_eq!(
        (sum(|f| f.created), sum(|f| f.removed), sum(|f| f.returned)),
        (40, 1, 1)
    );
    let later = finished.last().unwrap().finished_at + chrono::Duration::milliseconds(1);
    assert!(db
        .store
        .finished_imports(h.tenant.id, sgp_import_core::import::IMPORT_KIND, later)
        .await
        .unwrap()
        .is_empty());
}

async fn the_guard_marks_at_the_limit_and_holds_above_it_until_confirmed(db: &TestDb) {
    let h = harness(db, FakeConfig::new(20)).await;
    import(&h, params("Todos")).await;

    // 2 of 20 is 10 %: not more than the limit, marked
    h.fake.update(|c| c.population.gone = vec![0, 1]);
    let at_limit = import(&h, params("No limite")).await;
    assert_eq!(outcome(&h, at_limit).await.removed, 2);
    h.fake.update(|c| c.population.gone.clear());
    import(&h, params("Voltaram")).await;

    // 3 of 20 is 15 %: held, nothing marked, the log says why
    h.fake.update(|c| c.population.gone = vec![0, 1, 2]);
    let held = import(&h, params("Acima")).await;
    let o = outcome(&h, held).await;
    assert_eq!((o.removed, o.removal_pending), (0, Some(3)));
    assert_eq!(removed_customers(&h).await, Vec::<String>::new());
    assert!(log_text(db, &h.tenant, held)
        .await
        .contains("mais que o limite de 10 %"));

    // the admin confirms: the three are marked and the result says so
    let edit = confirmed;
    let done = db
        .store
        .confirm_removals(h.tenant.id, held, &edit)
        .await
        .unwrap();
    assert_eq!((done.customers, done.marked), (3, true));
    assert_eq!(removed_customers(&h).await.len(), 3);
    // its log line is written with the marks
    assert!(log_text(db, &h.tenant, held)
        .await
        .contains("Confirmadas: 3 clientes."));
    let o = outcome(&h, held).await;
    assert_eq!((o.removed, o.removal_pending), (3, None));
    assert_eq!(
        counts(&h, held).await,
        vec![(ChangeKind::CustomerRemoved, 3)]
    );
    // once only
    assert!(matches!(
        db.store.confirm_removals(h.tenant.id, held, &edit).await,
        Err(StoreError::NotAllowed(_))
    ));

    // not while an import of the provider waits or runs: it may be seeing
    // the very customers this would mark
    h.fake.update(|c| c.population.gone = (0..6).collect());
    let held_again = import(&h, params("Acima de novo")).await;
    // 3 of the 17 left (0, 1 and 2 are marked already)
    assert_eq!(outcome(&h, held_again).await.removal_pending, Some(3));
    let queued = h.start(params("Na fila")).await;
    assert!(matches!(
        db.store
            .confirm_removals(h.tenant.id, held_again, &edit)
            .await,
        Err(StoreError::NotAllowed(_))
    ));
    db.store.cancel(h.tenant.id, queued).await.unwrap();
    let done = db
        .store
        .confirm_removals(h.tenant.id, held_again, &edit)
        .await
        .unwrap();
    assert_eq!(done.customers, 3);

    // a held removal is stale once a newer import completed
    h.fake.update(|c| c.population.gone = (0..10).collect());
    let stale = import(&h, params("Metade")).await;
    // 4 of the 14 left
    assert_eq!(outcome(&h, stale).await.removal_pending, Some(4));
    import(&h, params("Depois")).await;
    assert!(matches!(
        db.store.confirm_removals(h.tenant.id, stale, &edit).await,
        Err(StoreError::NotAllowed(_))
    ));
    // another provider cannot confirm it
    let other = crate::executor::tenant(db, "outro").await;
    assert!(matches!(
        db.store.confirm_removals(other.id, held, &edit).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn filtered_and_incremental_imports_never_mark(db: &TestDb) {
    let h = harness(db, FakeConfig::new(30)).await;
    import(&h, params("Todos")).await;
    h.fake.update(|c| c.population.gone = vec![5]);
    let only_active = import(
        &h,
        ImportParams {
            only_active: true,
            ..params("Só ativos")
        },
    )
    .await;
    let incremental = import(
        &h,
        ImportParams {
            incremental: true,
            ..params("Incremental")
        },
    )
    .await;
    assert_eq!(removed_customers(&h).await, Vec::<String>::new());
    for id in [only_active, incremental] {
        let o = outcome(&h, id).await;
        assert_eq!((o.removed, o.removal_pending), (0, None));
        assert!(!counts(&h, id)
            .await
            .iter()
            .any(|(k, _)| *k == ChangeKind::CustomerRemoved));
    }
    // the complete one still does
    import(&h, params("Completa")).await;
    assert_eq!(removed_customers(&h).await, vec![h.expected(5).key]);
}

async fn a_customers_history_lists_its_changes_newest_first(db: &TestDb) {
    let mut config = FakeConfig::new(20);
    config.population.contracts_each = Some(1);
    let h = harness(db, config).await;
    import(&h, params("Primeira")).await;
    h.fake.set_revision(1);
    import(&h, params("Segunda")).await;
    // customer 9 changed in revision 1
    let key = h.expected(9).key;
    let customer = db
        .store
        .customer_by_key(h.tenant.id, &key)
        .await
        .unwrap()
        .unwrap();
    let history = db
        .store
        .customer_history(h.tenant.id, customer.id, 10, 0)
        .await
        .unwrap();
    let kinds: Vec<ChangeKind> = history.changes.iter().map(|c| c.kind).collect();
    assert_eq!(history.total, 3);
    assert_eq!(kinds.last(), Some(&ChangeKind::CustomerCreated));
    assert!(kinds.contains(&ChangeKind::ContractStatus));
    assert!(kinds.contains(&ChangeKind::Details));
    assert!(history.changes.iter().all(|c| c.customer_key == key));
    let other = crate::executor::tenant(db, "outro").await;
    assert!(matches!(
        db.store
            .customer_history(other.id, customer.id, 10, 0)
            .await,
        Err(StoreError::NotFound(_))
    ));
}

async fn rows_that_fail_keep_their_customer_and_contracts(db: &TestDb) {
    let mut config = FakeConfig::new(30);
    config.population.contracts_each = Some(1);
    let h = harness(db, config).await;
    import(&h, params("Todos")).await;
    let keys: Vec<String> = [0, 9, 19, 29]
        .map(|i| h.expected(i).key.to_string())
        .to_vec();
    // customers 9, 19 and 29 now come with a CPF that fails; 0 left; 8, 18
    // and 28 change (so the contracts are checked too)
    h.fake.set_revision(2);
    h.fake.update(|c| {
        c.population.quirks.bad_rows_every = 10;
        c.population.gone = vec![0];
    });
    let id = import(&h, params("Com erros")).await;
    assert_eq!(h.summary(id).await.progress.failed, 3);
    assert_eq!(removed_customers(&h).await, vec![keys[0].clone()]);
    for (i, key) in [9, 19, 29].iter().zip(&keys[1..]) {
        let c = db
            .store
            .customer_by_key(h.tenant.id, key)
            .await
            .unwrap()
            .unwrap();
        assert!(c.removed_at.is_none(), "customer {i}");
        assert!(
            c.contracts.iter().all(|k| k.removed_at.is_none()),
            "the contracts of customer {i} were not seen, yet SGP has them"
        );
    }
    assert_eq!(outcome(&h, id).await.removed_contracts, 1);
}

async fn an_import_cut_short_marks_nothing_and_cannot_be_confirmed(db: &TestDb) {
    let h = harness(db, FakeConfig::new(250)).await;
    import(&h, params("Todos")).await;
    // SGP ignores the offset: the import stops after the first page
    h.fake.update(|c| c.ignore_offset = true);
    let id = import(&h, params("Cortada")).await;
    let o = outcome(&h, id).await;
    assert_eq!((o.removed, o.removal_pending), (0, None));
    assert_eq!(removed_customers(&h).await, Vec::<String>::new());
    assert!(log_text(db, &h.tenant, id)
        .await
        .contains("não foram verificados"));
    // the verdict is saved with the keys' removal: a resumed attempt
    // would only finish, not read SGP again
    let saved = db.store.job_details(h.tenant.id, id, 0).await.unwrap();
    let checkpoint = saved.checkpoint.unwrap();
    assert_eq!(
        (&checkpoint["truncated"], &checkpoint["swept"]),
        (&serde_json::json!(true), &serde_json::json!(true)),
        "{checkpoint}"
    );
    assert!(matches!(
        db.store.confirm_removals(h.tenant.id, id, &confirmed).await,
        Err(StoreError::NotAllowed(_))
    ));
    assert_eq!(removed_customers(&h).await, Vec::<String>::new());
}

/// A complete import that failed part-way keeps its pages' keys only
/// while nothing else sweeps: once another import completes, they are
/// dropped. Run again, it resumes after those pages, and must not take
/// their customers for ones that left SGP.
async fn a_rerun_whose_earlier_keys_were_dropped_marks_nothing(db: &TestDb) {
    let h = harness(db, FakeConfig::new(250)).await;
    import(&h, params("Todos")).await;
    // the third page is refused for good: two pages stored, then failed
    h.fake.push_page_faults(200, [fake_sgp::Fault::Status(401)]);
    let (status, _) = h.import(params("Interrompida")).await;
    assert_eq!(status, JobStatus::Failed);
    let failed = h.last_job().await.id;
    assert!(db.store.seen_pages(h.tenant.id, failed).await.unwrap() > 0);
    import(&h, params("Outra")).await;
    assert_eq!(db.store.seen_pages(h.tenant.id, failed).await.unwrap(), 0);

    db.store.rerun(h.tenant.id, failed, None).await.unwrap();
    let ex = h.executor(db.store.clone(), "w2");
    assert_eq!(
        wait_for(db, &h.tenant, failed, TERMINAL).await,
        JobStatus::Completed
    );
    ex.shutdown().await;
    let o = outcome(&h, failed).await;
    assert_eq!((o.removed, o.removal_pending), (0, None), "{o:?}");
    assert_eq!(removed_customers(&h).await, Vec::<String>::new());
    assert!(log_text(db, &h.tenant, failed)
        .await
        .contains("não estão mais registradas"));
}

/// An attempt that dies after its sweep committed, before its completion,
/// is taken again: it finishes from the saved sweep without asking SGP
/// again (which would store an empty page past the end, and keys that
/// a confirmation could take for a held removal).
async fn an_attempt_resumed_after_its_sweep_only_finishes(db: &TestDb) {
    let h = harness(db, FakeConfig::new(150)).await;
    let id = import(&h, params("Primeira")).await;
    let pages = outcome(&h, id).await.pages;
    // as the rescuer leaves it: queued again, the checkpoint kept
    let requeue = "UPDATE jobs SET status = 'queued', finished_at = NULL, result = NULL \
                   WHERE id = $1";
    match db.raw() {
        Raw::Sqlite(pool) => sqlx::query(requeue)
            .bind(id.0)
            .execute(pool)
            .await
            .map(drop),
        Raw::Postgres(pool) => sqlx::query(requeue)
            .bind(id.0)
            .execute(pool)
            .await
            .map(drop),
    }
    .unwrap();
    let served = h.fake.pages_served();
    let ex = h.executor(db.store.clone(), "w2");
    assert_eq!(
        wait_for(db, &h.tenant, id, TERMINAL).await,
        JobStatus::Completed
    );
    ex.shutdown().await;
    assert_eq!(h.fake.pages_served(), served, "SGP was not asked again");
    assert_eq!(outcome(&h, id).await.pages, pages);
    assert_eq!(db.store.seen_pages(h.tenant.id, id).await.unwrap(), 0);
    assert!(log_text(db, &h.tenant, id)
        .await
        .contains("a leitura do SGP já havia terminado"));
}

/// The sweep is fenced on a running job: once a cancel is asked for, it
/// is refused (and marks nothing) even before the attempt has heard.
async fn a_sweep_asked_to_stop_marks_nothing(db: &TestDb) {
    use sgp_import_core::store::{KindLimit, RemovalSweep};

    let h = harness(db, FakeConfig::new(30)).await;
    import(&h, params("Primeira")).await;
    let id = h.start(params("Cancelada")).await;
    let kinds = [KindLimit {
        kind: sgp_import_core::import::IMPORT_KIND.into(),
        per_tenant: None,
    }];
    let claimed = db
        .store
        .claim("w", 1, &kinds, std::time::Duration::from_secs(60), 100)
        .await
        .unwrap();
    let lease = &claimed[0].lease;
    assert_eq!(lease.job, id);
    db.store.cancel(h.tenant.id, id).await.unwrap();
    let checkpoint = |_: &sgp_import_core::store::Removal| serde_json::json!({});
    let sweep = RemovalSweep {
        lease,
        max_percent: 100,
        rewritten: 0,
        created: 0,
        seen: Some(0),
        checkpoint: &checkpoint,
    };
    // it saw none of the 30, and 100 % may go: only the cancel holds it
    assert!(matches!(
        db.store.sweep_removals(&sweep).await,
        Err(StoreError::CancelRequested(j)) if j == id
    ));
    assert_eq!(removed_customers(&h).await, Vec::<String>::new());
}

/// A checkpoint the import cannot read (a manual edit, a bug) would have
/// restarted from the first page with the stored counts kept: the job
/// fails instead, saying so, and SGP is not read.
async fn an_unreadable_checkpoint_fails_instead_of_starting_over(db: &TestDb) {
    let h = harness(db, FakeConfig::new(30)).await;
    let id = h.start(params("Estragada")).await;
    let spoil = "UPDATE jobs SET checkpoint = '{\"offset\": \"meio\"}', processed = 20 \
                 WHERE id = $1";
    match db.raw() {
        Raw::Sqlite(pool) => sqlx::query(spoil).bind(id.0).execute(pool).await.map(drop),
        Raw::Postgres(pool) => sqlx::query(spoil).bind(id.0).execute(pool).await.map(drop),
    }
    .unwrap();
    let ex = h.executor(db.store.clone(), "w1");
    assert_eq!(
        wait_for(db, &h.tenant, id, TERMINAL).await,
        JobStatus::Failed
    );
    ex.shutdown().await;
    let s = h.summary(id).await;
    assert!(
        s.last_error
            .as_deref()
            .unwrap()
            .contains("ponto de retomada"),
        "{:?}",
        s.last_error
    );
    assert_eq!(s.progress.processed, 20);
    assert_eq!(h.fake.pages_served(), 0);
}
