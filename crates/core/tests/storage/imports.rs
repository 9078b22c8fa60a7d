//! The SGP import end to end: the real client over HTTP against the fake
//! SGP, the real executor, and each database.

use sgp_import_core::model::JobOrigin;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{Duration, NaiveDate};
use fake_sgp::data::Omit;
use fake_sgp::{FakeConfig, FakeSgp, Fault};
use sgp_import_core::import::{
    ImportJob, ImportParams, ImportService, IntegrationInput, Integrations, StartError,
};
use sgp_import_core::jobs::{Executor, ExecutorConfig, ExecutorHandle, RetryPolicy};
use sgp_import_core::model::{JobId, JobProgress, JobStatus, StoredCustomer, Tenant};
use sgp_import_core::outbound::OutboundPolicy;
use sgp_import_core::sealing::Sealer;
use sgp_import_core::sgp::{SgpClientConfig, SgpCustomer};
use sgp_import_core::store::jobs::PURGE_ROWS;
use sgp_import_core::store::{CustomerFilter, Store};

use crate::executor::{log_text, tenant, wait_for, wait_progress};
use crate::on_both;
use crate::support::{Raw, TestDb};

on_both!(
    imports_every_customer_with_every_field_mapped,
    reimport_is_idempotent_and_counts_changes_exactly,
    incremental_import_fetches_only_what_changed,
    an_evening_imports_changes_are_fetched_the_next_time,
    filters_are_honoured,
    survives_every_quirk_and_keeps_failed_rows,
    stops_when_sgp_ignores_the_offset,
    transient_faults_are_retried_and_logged,
    a_page_that_keeps_failing_retries_the_job_from_its_checkpoint,
    wrong_credentials_fail_fast_without_retries,
    a_wrong_url_fails_with_a_clear_message,
    cancel_stops_at_a_page_boundary,
    a_crash_between_pages_resumes_and_stores_everyone_once,
    pages_that_wait_for_the_database_are_stored_together,
    preview_counts_new_and_existing_without_writing,
    secrets_are_sealed_and_never_in_params_or_logs,
    purging_an_import_keeps_its_customers,
    deleting_a_provider_removes_its_customers_contracts_and_changes,
    basic_auth_imports_and_a_wrong_password_fails_fast,
    a_stale_attempt_cannot_write_a_page,
    pages_of_two_providers_interleaved_keep_each_contract_and_change_with_its_customer,
    a_stored_contract_listed_under_a_new_customer_moves_to_it,
    two_imports_writing_the_same_new_customers_at_once_store_each_once,
    the_customers_list_searches_filters_and_pages,
);

pub(crate) const TERMINAL: &[JobStatus] = &[
    JobStatus::Completed,
    JobStatus::Failed,
    JobStatus::Cancelled,
];

pub(crate) fn client_config() -> SgpClientConfig {
    SgpClientConfig {
        timeout: StdDuration::from_millis(700),
        connect_timeout: StdDuration::from_millis(500),
        retries: 5,
        retry: RetryPolicy {
            base: StdDuration::from_millis(5),
            max: StdDuration::from_millis(20),
            jitter: 0.0,
        },
        // the fake SGP listens on loopback
        outbound: OutboundPolicy::public_only().with_loopback(),
        ..SgpClientConfig::default()
    }
}

pub(crate) struct Harness<'a> {
    pub db: &'a TestDb,
    pub fake: FakeSgp,
    pub tenant: Tenant,
    pub integrations: Arc<Integrations>,
    pub service: ImportService,
    pub client: SgpClientConfig,
}

pub(crate) async fn harness(db: &TestDb, config: FakeConfig) -> Harness<'_> {
    harness_with(db, config, client_config()).await
}

/// A harness whose service and executors use this client configuration.
pub(crate) async fn harness_with(
    db: &TestDb,
    config: FakeConfig,
    client: SgpClientConfig,
) -> Harness<'_> {
    let fake = FakeSgp::start(config).await.unwrap();
    let tenant = tenant(db, "prov").await;
    let sealer = Sealer::from_base64(&Sealer::generate_key()).unwrap();
    let integrations = Arc::new(Integrations::new(db.store.clone(), Some(sealer)));
    let h = Harness {
        db,
        tenant,
        service: ImportService::new(db.store.clone(), integrations.clone(), client.clone()),
        integrations,
        fake,
        client,
    };
    h.connect_with_token(&h.fake.config().credentials.token)
        .await;
    h
}

pub(crate) fn params(name: &str) -> ImportParams {
    ImportParams::everything(name)
}

impl Harness<'_> {
    pub(crate) async fn connect_with_token(&self, token: &str) {
        self.connect(&self.fake.url(), token).await;
    }

    pub(crate) async fn connect(&self, url: &str, token: &str) {
        let creds = self.fake.config().credentials;
        self.integrations
            .save(
                self.tenant.id,
                &IntegrationInput::token(url, creds.app, token),
            )
            .await
            .unwrap();
    }

    pub(crate) fn executor(&self, store: Arc<dyn Store>, owner: &str) -> ExecutorHandle {
        let mut c = ExecutorConfig::new(owner);
        c.slots = 2;
        c.poll_interval = StdDuration::from_millis(20);
        c.heartbeat = StdDuration::from_millis(50);
        c.lease = StdDuration::from_secs(60);
        c.rescue_interval = StdDuration::from_millis(50);
        c.retention = None;
        c.retry = RetryPolicy {
            base: StdDuration::from_secs(10),
            max: StdDuration::from_secs(60),
            jitter: 0.0,
        };
        Executor::new(store, self.db.clock.clone(), c)
            .register(ImportJob::new(
                self.integrations.clone(),
                self.client.clone(),
            ))
            .start()
    }

    pub(crate) async fn start(&self, params: ImportParams) -> JobId {
        self.db.clock.advance(Duration::milliseconds(1));
        self.service
            .start(self.tenant.id, params, JobOrigin::Manual)
            .await
            .unwrap()
            .id
    }

    /// Runs an import to its end with a fresh executor.
    pub(crate) async fn import(&self, params: ImportParams) -> (JobStatus, JobProgress) {
        let ex = self.executor(self.db.store.clone(), "w1");
        let id = self.start(params).await;
        let status = wait_for(self.db, &self.tenant, id, TERMINAL).await;
        ex.shutdown().await;
        (status, self.summary(id).await.progress)
    }

    pub(crate) async fn summary(&self, id: JobId) -> sgp_import_core::model::JobSummary {
        self.db
            .store
            .job_details(self.tenant.id, id, 0)
            .await
            .unwrap()
            .summary
    }

    /// The newest job of the provider.
    pub(crate) async fn last_job(&self) -> sgp_import_core::model::JobSummary {
        let filter = sgp_import_core::store::JobFilter {
            statuses: None,
            origin: None,
            kind: None,
            limit: 1,
            offset: 0,
        };
        let page = self.db.store.list_jobs(self.tenant.id, &filter).await;
        page.unwrap().jobs.remove(0)
    }

    pub(crate) async fn customers(&self) -> u64 {
        self.db
            .store
            .tenant_overview(self.tenant.id)
            .await
            .unwrap()
            .customers
    }

    /// Customer `i` as the fake sends it, parsed by the real client code.
    pub(crate) fn expected(&self, i: u32) -> SgpCustomer {
        let omit = Omit {
            invoices: true,
            ..Omit::default()
        };
        let json = serde_json::to_value(self.fake.config().population.customer(i, omit)).unwrap();
        SgpCustomer::from_json(&json).unwrap()
    }

    pub(crate) fn offsets_requested(&self, offset: u64) -> usize {
        self.fake
            .requests()
            .iter()
            .filter(|r| r.offset == Some(offset))
            .count()
    }
}

fn date(d: Option<NaiveDate>) -> Option<String> {
    d.map(|d| d.format("%Y-%m-%d").to_string())
}

fn assert_same(stored: &StoredCustomer, want: &SgpCustomer) {
    assert_eq!(stored.sgp_key, want.key);
    assert_eq!(stored.sgp_id, want.sgp_id);
    assert_eq!(stored.name, want.name);
    assert_eq!(stored.cpf_cnpj, want.document);
    assert_eq!(stored.person_type, want.person_type);
    assert_eq!(stored.signup_date, date(want.signup_date));
    assert_eq!(stored.notes, want.notes);
    let a = &want.address;
    assert_eq!(
        (
            &stored.street,
            &stored.number,
            &stored.complement,
            &stored.district
        ),
        (&a.street, &a.number, &a.complement, &a.district)
    );
    assert_eq!(
        (&stored.city, &stored.state, &stored.zip),
        (&a.city, &a.state, &a.zip)
    );
    assert_eq!(
        (&stored.latitude, &stored.longitude),
        (&a.latitude, &a.longitude)
    );
    assert_eq!(stored.emails, want.emails);
    assert_eq!(stored.phones, want.phones);
    let mut contracts = want.contracts.clone();
    contracts.sort_by(|x, y| x.key.cmp(&y.key));
    assert_eq!(stored.contracts.len(), contracts.len());
    for (s, w) in stored.contracts.iter().zip(&contracts) {
        assert_eq!(s.sgp_key, w.key);
        assert_eq!(s.status, w.status.as_str());
        assert_eq!(s.status_raw, w.status_raw);
        assert_eq!(s.signup_date, date(w.signup_date));
        assert_eq!(
            serde_json::to_value(&s.services).unwrap(),
            serde_json::to_value(&w.services).unwrap()
        );
    }
}

async fn imports_every_customer_with_every_field_mapped(db: &TestDb) {
    let h = harness(db, FakeConfig::new(250)).await;
    let (status, p) = h.import(params("Primeira")).await;
    assert_eq!(status, JobStatus::Completed);
    assert_eq!(
        (p.processed, p.created, p.updated, p.unchanged, p.failed),
        (250, 250, 0, 0, 0)
    );
    assert_eq!(p.total_estimated, Some(250));
    assert_eq!(p.percent, 100.0);
    assert_eq!(
        p.message.as_deref(),
        Some("Concluída: 250 clientes — 250 novos, 0 atualizados, 0 sem mudança, 0 com erro")
    );
    let overview = db.store.tenant_overview(h.tenant.id).await.unwrap();
    assert_eq!(overview.customers, 250);
    let contracts: usize = (0..250).map(|i| h.expected(i).contracts.len()).sum();
    assert_eq!(overview.contracts, contracts as u64);
    // a person, a company, with and without contracts and notes
    let mut kinds = std::collections::HashSet::new();
    for i in 0..250 {
        let want = h.expected(i);
        let stored = db
            .store
            .customer_by_key(h.tenant.id, &want.key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("customer {} missing", want.key));
        assert_same(&stored, &want);
        kinds.insert((
            want.person_type.clone(),
            want.contracts.len().min(2),
            want.notes.is_some(),
        ));
    }
    assert!(kinds.len() >= 6, "the sample covers the shapes: {kinds:?}");
    let job = h.last_job().await.id;
    let log = log_text(db, &h.tenant, job).await;
    for expected in [
        "Importação iniciada de http://127.0.0.1",
        "Importação concluída: 250 clientes processados — 250 novos",
    ] {
        assert!(log.contains(expected), "{expected:?} not in:\n{log}");
    }
    // the last page alone ("Página 3 (clientes 201–250 ...") or stored
    // with the pages that waited for it ("Páginas 2–3 (clientes 101–250")
    assert!(
        log.lines().any(|l| l.starts_with("Página")
            && l.contains("–250 de 250): ")
            && l.ends_with(" novos, 0 atualizados, 0 sem mudança.")),
        "{log}"
    );
}

async fn reimport_is_idempotent_and_counts_changes_exactly(db: &TestDb) {
    let mut config = FakeConfig::new(250);
    config.population.added_per_revision = 7;
    let h = harness(db, config).await;
    h.import(params("Primeira")).await;
    let (_, again) = h.import(params("Segunda")).await;
    assert_eq!(
        (again.created, again.updated, again.unchanged, again.failed),
        (0, 0, 250, 0)
    );

    h.fake.set_revision(1);
    let changed = h.fake.config().population.changed_in(1) as u64;
    assert!(changed > 0);
    let (_, third) = h.import(params("Terceira")).await;
    assert_eq!(third.processed, 257);
    assert_eq!(
        (third.created, third.updated, third.unchanged),
        (7, changed, 250 - changed)
    );
    assert_eq!(h.customers().await, 257);
    // a changed customer carries its new data
    let i = (0..250).find(|i| (i + 1) % 10 == 0).unwrap();
    let want = h.expected(i);
    let stored = db
        .store
        .customer_by_key(h.tenant.id, &want.key)
        .await
        .unwrap()
        .unwrap();
    assert_same(&stored, &want);
}

async fn incremental_import_fetches_only_what_changed(db: &TestDb) {
    let mut config = FakeConfig::new(250);
    config.population.added_per_revision = 3;
    let h = harness(db, config).await;
    let mut full = params("Completa");
    full.incremental = true; // no earlier import: everything
    let (_, first) = h.import(full).await;
    assert_eq!(first.created, 250);

    h.fake.set_revision(1);
    db.clock.advance(Duration::hours(1));
    let before = h.fake.requests().len();
    let mut inc = params("Incremental");
    inc.incremental = true;
    let (status, p) = h.import(inc).await;
    assert_eq!(status, JobStatus::Completed);
    let changed = h.fake.config().population.changed_in(1) as u64;
    assert_eq!(
        (p.processed, p.created, p.updated, p.unchanged),
        (changed + 3, 3, changed, 0)
    );
    let asked = &h.fake.requests()[before..];
    assert_eq!(asked.len(), 1, "one page was enough: {asked:?}");
    assert!(
        asked.iter().all(|r| r.offset.unwrap_or(0) < 100),
        "one page was enough"
    );
}

/// An import that ended at 22:30 in Brasília (01:30 UTC, the next day):
/// the next incremental import still asks SGP for that evening's changes.
async fn an_evening_imports_changes_are_fetched_the_next_time(db: &TestDb) {
    use chrono::TimeZone;
    let mut config = FakeConfig::new(120);
    config.population.revision_dates = vec![NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()];
    let h = harness(db, config).await;
    db.clock
        .set(chrono::Utc.with_ymd_and_hms(2026, 12, 2, 1, 30, 0).unwrap());
    let (status, _) = h.import(params("Completa")).await;
    assert_eq!(status, JobStatus::Completed);

    // later that evening in SGP (still 1 December there) customers change
    h.fake.set_revision(1);
    db.clock.advance(Duration::minutes(20));
    let mut inc = params("Incremental");
    inc.incremental = true;
    let (status, p) = h.import(inc).await;
    assert_eq!(status, JobStatus::Completed);
    let changed = h.fake.config().population.changed_in(1) as u64;
    assert!(changed > 0);
    assert_eq!((p.processed, p.updated), (changed, changed));
}

async fn filters_are_honoured(db: &TestDb) {
    let h = harness(db, FakeConfig::new(400)).await;
    let population = h.fake.config().population;
    let mut active = params("Ativos de 2018 a 2020");
    active.only_active = true;
    active.signup_from = NaiveDate::from_ymd_opt(2018, 1, 1);
    active.signup_to = NaiveDate::from_ymd_opt(2020, 12, 31);
    let expected = (0..400)
        .filter(|i| {
            let f = population.facts(*i);
            f.has_contract_status(1)
                && f.signup >= active.signup_from.unwrap()
                && f.signup <= active.signup_to.unwrap()
        })
        .count() as u64;
    assert!(expected > 10 && expected < 200);
    let (status, p) = h.import(active).await;
    assert_eq!(status, JobStatus::Completed);
    assert_eq!((p.processed, p.created), (expected, expected));
    assert_eq!(h.customers().await, expected);
}

async fn survives_every_quirk_and_keeps_failed_rows(db: &TestDb) {
    let mut config = FakeConfig::new(250);
    config.omit_pagination = true;
    config.population.quirks.alternate_shapes = true;
    config.population.quirks.missing_ids_every = 10;
    config.population.quirks.bad_rows_every = 25;
    let h = harness(db, config).await;
    let (status, p) = h.import(params("Peculiar")).await;
    assert_eq!(status, JobStatus::Completed);
    assert_eq!((p.processed, p.created, p.failed), (250, 240, 10));
    assert_eq!(p.total_estimated, None, "SGP did not say");
    // a customer without id is keyed by its document; shapes normalised
    let nameless = h.expected(10);
    assert!(nameless.key.starts_with("doc:"), "{}", nameless.key);
    let stored = db
        .store
        .customer_by_key(h.tenant.id, &nameless.key)
        .await
        .unwrap()
        .unwrap();
    assert_same(&stored, &nameless);
    let with_contract = (0..250)
        .filter(|i| i % 25 != 24)
        .map(|i| h.expected(i))
        .find(|c| !c.contracts.is_empty())
        .unwrap();
    let stored = db
        .store
        .customer_by_key(h.tenant.id, &with_contract.key)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(stored.contracts[0].status, "desconhecido");
    assert_same(&stored, &with_contract);

    let job = h.last_job().await.id;
    let errors = db.store.row_errors(h.tenant.id, job, 0, 100).await.unwrap();
    assert_eq!(errors.len(), 10);
    assert_eq!(errors[0].row_key.as_deref(), Some("1024"));
    assert!(errors[0].reason.contains("dígitos verificadores"));
    assert_eq!(errors[0].page_offset, Some(0));
    assert_eq!(errors[9].row_key.as_deref(), Some("1249"));
    let log = log_text(db, &h.tenant, job).await;
    assert!(log.contains("Cliente 1024 não importado: CPF/CNPJ com dígitos verificadores"));
}

async fn stops_when_sgp_ignores_the_offset(db: &TestDb) {
    let mut config = FakeConfig::new(250);
    config.ignore_offset = true;
    let h = harness(db, config).await;
    let (status, p) = h.import(params("Offset ignorado")).await;
    assert_eq!(status, JobStatus::Completed);
    assert_eq!((p.processed, p.created), (100, 100));
    assert_eq!(h.customers().await, 100);
    assert!(h.fake.requests().len() <= 3, "no endless loop");
    let job = h.last_job().await.id;
    assert!(log_text(db, &h.tenant, job)
        .await
        .contains("parece ignorar o offset"));
}

async fn transient_faults_are_retried_and_logged(db: &TestDb) {
    let mut config = FakeConfig::new(250);
    config.hang = StdDuration::from_secs(5);
    let h = harness(db, config).await;
    h.fake.push_page_faults(
        100,
        [
            Fault::Status(503),
            Fault::Drop,
            Fault::Malformed,
            Fault::Hang,
            Fault::Status(502),
        ],
    );
    let (status, p) = h.import(params("Instável")).await;
    assert_eq!(status, JobStatus::Completed);
    assert_eq!((p.processed, p.created), (250, 250));
    assert_eq!(h.offsets_requested(100), 6);
    let job = h.last_job().await.id;
    let log = log_text(db, &h.tenant, job).await;
    assert_eq!(log.matches("Nova tentativa").count(), 5, "{log}");
    for what in [
        "HTTP 503",
        "encerrou a conexão antes de terminar a resposta",
        "fora do formato esperado",
        "não respondeu em",
        "HTTP 502",
    ] {
        assert!(log.contains(what), "{what:?} not in:\n{log}");
    }
}

async fn a_page_that_keeps_failing_retries_the_job_from_its_checkpoint(db: &TestDb) {
    let h = harness(db, FakeConfig::new(250)).await;
    h.fake.push_page_faults(200, [Fault::Status(503); 6]);
    let ex = h.executor(db.store.clone(), "w1");
    let id = h.start(params("Retomada")).await;
    wait_for(db, &h.tenant, id, &[JobStatus::Retrying]).await;
    let s = h.summary(id).await;
    assert_eq!(s.progress.processed, 200, "two pages kept");
    assert!(s.last_error.unwrap().contains("HTTP 503"));
    db.clock.advance(Duration::seconds(11));
    wait_for(db, &h.tenant, id, TERMINAL).await;
    ex.shutdown().await;
    let s = h.summary(id).await;
    assert_eq!(s.status, JobStatus::Completed);
    assert_eq!(s.attempt, 2);
    assert_eq!((s.progress.processed, s.progress.created), (250, 250));
    assert_eq!(h.offsets_requested(0), 1, "resumed, not restarted");
    assert_eq!(h.customers().await, 250);
}

async fn wrong_credentials_fail_fast_without_retries(db: &TestDb) {
    let h = harness(db, FakeConfig::new(250)).await;
    h.connect_with_token("token-errado-123").await;
    let (status, p) = h.import(params("Errada")).await;
    assert_eq!(status, JobStatus::Failed);
    assert_eq!(p.processed, 0);
    assert_eq!(h.fake.requests().len(), 1, "no retry can fix credentials");
    let job = h.last_job().await;
    assert_eq!(job.attempt, 1);
    let error = job.last_error.unwrap();
    assert!(
        error.contains("O SGP recusou as credenciais")
            && error.contains("Credenciais de autenticação incorretas"),
        "{error}"
    );
}

async fn a_wrong_url_fails_with_a_clear_message(db: &TestDb) {
    let h = harness(db, FakeConfig::new(10)).await;
    let token = h.fake.config().credentials.token;
    h.connect(&format!("{}/sistema", h.fake.url()), &token)
        .await;
    let (status, _) = h.import(params("URL errada")).await;
    assert_eq!(status, JobStatus::Failed);
    let job = h.last_job().await;
    assert!(job
        .last_error
        .unwrap()
        .contains("não respondeu como um SGP (HTTP 404)"));
    assert_eq!(job.attempt, 1);
}

async fn cancel_stops_at_a_page_boundary(db: &TestDb) {
    let mut config = FakeConfig::new(3000);
    config.latency = StdDuration::from_millis(40);
    let h = harness(db, config).await;
    let ex = h.executor(db.store.clone(), "w1");
    let id = h.start(params("Longa")).await;
    wait_progress(db, &h.tenant, id, 300).await;
    db.store.cancel(h.tenant.id, id).await.unwrap();
    let status = wait_for(db, &h.tenant, id, TERMINAL).await;
    ex.shutdown().await;
    assert_eq!(status, JobStatus::Cancelled);
    let p = h.summary(id).await.progress;
    assert!(p.processed < 3000, "stopped early: {}", p.processed);
    assert_eq!(p.processed % 100, 0, "whole pages only");
    assert_eq!(h.customers().await, p.processed, "no half-written page");
    assert!(log_text(db, &h.tenant, id)
        .await
        .contains("Importação interrompida a pedido"));
}

async fn a_crash_between_pages_resumes_and_stores_everyone_once(db: &TestDb) {
    let mut config = FakeConfig::new(1500);
    config.latency = StdDuration::from_millis(30);
    let h = harness(db, config).await;
    let first = h.executor(db.store.clone(), "w1");
    let id = h.start(params("Interrompida")).await;
    wait_progress(db, &h.tenant, id, 300).await;
    first.abort().await; // as kill -9: no release, no outcome
    db.clock.advance(Duration::seconds(61));
    let second = h.executor(db.second_store().await, "w2");
    let status = wait_for(db, &h.tenant, id, TERMINAL).await;
    second.shutdown().await;
    assert_eq!(status, JobStatus::Completed);
    let s = h.summary(id).await;
    assert_eq!(s.attempt, 2);
    assert_eq!(
        (s.progress.processed, s.progress.created, s.progress.failed),
        (1500, 1500, 0)
    );
    assert_eq!(h.customers().await, 1500);
    assert_eq!(h.offsets_requested(0), 1, "the second attempt resumed");
    // the change history went with each page: every customer once
    let changes = db
        .store
        .job_changes(h.tenant.id, id, None, 1, 0)
        .await
        .unwrap();
    assert_eq!(
        changes.counts.by_kind,
        vec![(sgp_import_core::model::ChangeKind::CustomerCreated, 1500)]
    );
    let log = log_text(db, &h.tenant, id).await;
    assert!(log.contains("Retomando do cliente"), "{log}");
}

/// While the database is busy the fetcher runs ahead (a bounded number of
/// pages, then it stops asking SGP); the pages that waited are stored
/// together, one transaction, and the log names them: every page once.
async fn pages_that_wait_for_the_database_are_stored_together(db: &TestDb) {
    // more pages than the fetcher may run ahead (16)
    let mut config = FakeConfig::new(4000);
    config.latency = StdDuration::from_millis(20);
    // bad rows on pages 7, 14, 21...: each keeps its own page's offset
    config.population.quirks.bad_rows_every = 700;
    let h = harness(db, config).await;
    let ex = h.executor(db.store.clone(), "w1");
    let id = h.start(params("Em lotes")).await;
    wait_progress(db, &h.tenant, id, 300).await;
    let lock = db.block_writes("customers").await;
    let asked = || (0..40).filter(|p| h.offsets_requested(p * 100) > 0).count();
    let mut before = asked();
    loop {
        tokio::time::sleep(StdDuration::from_millis(300)).await;
        let now = asked();
        if now == before {
            break;
        }
        before = now;
    }
    lock.release().await;
    let status = wait_for(db, &h.tenant, id, TERMINAL).await;
    ex.shutdown().await;
    assert_eq!(status, JobStatus::Completed);
    assert!(
        before < 40,
        "the fetcher stopped ahead of the writes: {before} pages asked"
    );
    let p = h.summary(id).await.progress;
    assert_eq!((p.processed, p.created, p.failed), (4000, 3995, 5));
    assert_eq!(h.customers().await, 3995);
    let errors = db.store.row_errors(h.tenant.id, id, 0, 10).await.unwrap();
    let places: Vec<_> = errors
        .iter()
        .map(|e| (e.row_key.clone(), e.page_offset))
        .collect();
    let expected: Vec<_> = [699u64, 1399, 2099, 2799, 3499]
        .iter()
        .map(|i| (Some((1000 + i).to_string()), Some(i / 100 * 100)))
        .collect();
    assert_eq!(places, expected);
    let log = log_text(db, &h.tenant, id).await;
    let mut covered = Vec::new();
    for line in log.lines() {
        let Some(numbers) = line
            .strip_prefix("Páginas ")
            .or_else(|| line.strip_prefix("Página "))
            .and_then(|rest| rest.split_once(" (clientes"))
            .map(|(numbers, _)| numbers)
        else {
            continue;
        };
        let (first, last) = numbers.split_once('–').unwrap_or((numbers, numbers));
        covered.extend(first.parse::<u32>().unwrap()..=last.parse::<u32>().unwrap());
    }
    assert_eq!(covered, (1..=40).collect::<Vec<_>>(), "{log}");
    assert!(
        log.lines().any(|l| l.starts_with("Páginas ")),
        "the pages that waited went together:\n{log}"
    );
}

async fn preview_counts_new_and_existing_without_writing(db: &TestDb) {
    let h = harness(db, FakeConfig::new(250)).await;
    let before = h.service.preview(h.tenant.id, params("")).await.unwrap();
    assert_eq!(
        (before.total, before.new, before.existing, before.exact),
        (250, 250, 0, true)
    );
    assert_eq!(h.customers().await, 0, "a preview writes nothing");

    let mut some = params("Até 2019");
    some.signup_to = NaiveDate::from_ymd_opt(2019, 12, 31);
    let (_, p) = h.import(some).await;
    let after = h.service.preview(h.tenant.id, params("")).await.unwrap();
    assert_eq!(
        (after.total, after.existing, after.new),
        (250, p.created, 250 - p.created)
    );

    let mut reversed = params("Datas trocadas");
    reversed.signup_from = NaiveDate::from_ymd_opt(2024, 1, 1);
    reversed.signup_to = NaiveDate::from_ymd_opt(2023, 1, 1);
    match h.service.preview(h.tenant.id, reversed).await {
        Err(StartError::Invalid(errors)) => assert_eq!(errors[0].field, "data_cadastro_fim"),
        other => panic!("expected a field error, got {other:?}"),
    }
}

async fn secrets_are_sealed_and_never_in_params_or_logs(db: &TestDb) {
    let h = harness(db, FakeConfig::new(30)).await;
    let token = h.fake.config().credentials.token;
    let view = h.integrations.view(h.tenant.id).await.unwrap().unwrap();
    assert_eq!(
        view.token_hint.as_deref(),
        Some(format!("••••{}", &token[token.len() - 4..]).as_str())
    );
    let sealed: Vec<u8> = match db.raw() {
        Raw::Sqlite(pool) => sqlx::query_scalar("SELECT token_encrypted FROM sgp_integrations")
            .fetch_one(pool)
            .await
            .unwrap(),
        Raw::Postgres(pool) => sqlx::query_scalar("SELECT token_encrypted FROM sgp_integrations")
            .fetch_one(pool)
            .await
            .unwrap(),
    };
    assert!(!String::from_utf8_lossy(&sealed).contains(&token));
    let (status, _) = h.import(params("Segura")).await;
    assert_eq!(status, JobStatus::Completed);
    let job = h.last_job().await.id;
    let d = db.store.job_details(h.tenant.id, job, 1000).await.unwrap();
    assert!(!d.params.to_string().contains(&token));
    assert!(!log_text(db, &h.tenant, job).await.contains(&token));
    // a secret left empty keeps the saved one
    h.integrations
        .save(
            h.tenant.id,
            &IntegrationInput::token(h.fake.url(), h.fake.config().credentials.app, String::new()),
        )
        .await
        .unwrap();
    let (status, _) = h.import(params("Ainda segura")).await;
    assert_eq!(status, JobStatus::Completed);
}

async fn purging_an_import_keeps_its_customers(db: &TestDb) {
    let h = harness(db, FakeConfig::new(120)).await;
    let (status, _) = h.import(params("Antiga")).await;
    assert_eq!(status, JobStatus::Completed);
    let job = h.last_job().await.id;
    assert!(db.rows_with("customers", "last_job_id", job.0).await > 0);
    assert_eq!(db.rows_with("import_changes", "job_id", job.0).await, 120);
    // more change rows and log lines than one purge statement takes, so
    // its dependents go over several
    let extra = 2 * PURGE_ROWS + 5;
    pad_job(db, h.tenant.id.0, job.0, extra).await;
    assert_eq!(
        db.rows_with("import_changes", "job_id", job.0).await,
        120 + extra
    );
    let purged = db
        .store
        .purge_finished(db.clock_now() + Duration::days(1))
        .await
        .unwrap();
    assert_eq!(purged, 1);
    assert_eq!(h.customers().await, 120, "customers outlive their import");
    assert_eq!(db.rows_with("customers", "last_job_id", job.0).await, 0);
    assert_eq!(db.rows_with("import_row_errors", "job_id", job.0).await, 0);
    assert_eq!(db.rows_with("job_logs", "job_id", job.0).await, 0);
    assert_eq!(
        db.rows_with("import_changes", "job_id", job.0).await,
        0,
        "the change history goes with its import"
    );
}

/// `n` more change rows and log lines for `job`, straight into the tables.
async fn pad_job(db: &TestDb, tenant: uuid::Uuid, job: uuid::Uuid, n: i64) {
    let changes = "import_changes (tenant_id, job_id, customer_id, kind, created_at)";
    let logs = "job_logs (job_id, tenant_id, logged_at, level, message)";
    match db.raw() {
        Raw::Sqlite(pool) => {
            for sql in [
                format!(
                    "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?3) \
                     INSERT INTO {changes} SELECT ?1, ?2, i, 'updated', 0 FROM s"
                ),
                format!(
                    "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?3) \
                     INSERT INTO {logs} SELECT ?2, ?1, 0, 'info', 'linha ' || i FROM s"
                ),
            ] {
                sqlx::query(&sql)
                    .bind(tenant)
                    .bind(job)
                    .bind(n)
                    .execute(pool)
                    .await
                    .unwrap();
            }
        }
        Raw::Postgres(pool) => {
            for sql in [
                format!(
                    "INSERT INTO {changes} SELECT $1, $2, i, 'updated', now() \
                     FROM generate_series(1, $3) AS i"
                ),
                format!(
                    "INSERT INTO {logs} SELECT $2, $1, now(), 'info', 'linha ' || i \
                     FROM generate_series(1, $3) AS i"
                ),
            ] {
                sqlx::query(&sql)
                    .bind(tenant)
                    .bind(job)
                    .bind(n)
                    .execute(pool)
                    .await
                    .unwrap();
            }
        }
    }
}

/// On PostgreSQL the imported rows carry no per-row foreign-key checks
/// (they cost half of the page's inserts); triggers on the parents do what
/// the keys' cascades did. The same outcome on both databases.
async fn deleting_a_provider_removes_its_customers_contracts_and_changes(db: &TestDb) {
    let h = harness(db, FakeConfig::new(60)).await;
    let (status, _) = h.import(params("Some")).await;
    assert_eq!(status, JobStatus::Completed);
    let job = h.last_job().await.id;
    let kept = tenant(db, "fica").await;
    let other = db
        .store
        .enqueue(sgp_import_core::store::NewJob::new(
            kept.id,
            "noop",
            "outra",
            serde_json::json!({}),
        ))
        .await
        .unwrap();
    assert_eq!(
        db.rows_with("customers", "tenant_id", h.tenant.id.0).await,
        60
    );
    assert!(db.rows_with("contracts", "tenant_id", h.tenant.id.0).await >= 60);
    assert_eq!(db.rows_with("import_changes", "job_id", job.0).await, 60);

    db.delete_tenant(h.tenant.id).await;
    for table in ["customers", "contracts", "import_changes", "jobs"] {
        assert_eq!(
            db.rows_with(table, "tenant_id", h.tenant.id.0).await,
            0,
            "{table} of the removed provider"
        );
    }
    assert_eq!(
        db.rows_with("jobs", "id", other.id.0).await,
        1,
        "others stay"
    );
}

async fn basic_auth_imports_and_a_wrong_password_fails_fast(db: &TestDb) {
    let h = harness(db, FakeConfig::new(150)).await;
    let creds = h.fake.config().credentials;
    let basic = |password: &str| IntegrationInput {
        base_url: format!("{}/admin/", h.fake.url()),
        auth_mode: "basic".into(),
        username: Some(creds.user.clone()),
        password: Some(password.into()),
        ..IntegrationInput::default()
    };
    let view = h
        .integrations
        .save(h.tenant.id, &basic(&creds.password))
        .await
        .unwrap();
    assert_eq!(view.base_url, h.fake.url(), "the /admin/ suffix is dropped");
    assert_eq!(view.auth_mode, "basic");
    assert!(view.password_hint.unwrap().starts_with("••••"));
    let test = h.service.test_connection(h.tenant.id).await.unwrap();
    assert!(test.ok, "{}", test.message);
    assert_eq!(test.customers, Some(150));
    let (status, p) = h.import(params("Usuário e senha")).await;
    assert_eq!(status, JobStatus::Completed);
    assert_eq!(p.created, 150);

    h.integrations
        .save(h.tenant.id, &basic("senha-errada"))
        .await
        .unwrap();
    let test = h.service.test_connection(h.tenant.id).await.unwrap();
    assert!(!test.ok);
    assert!(
        test.message.contains("recusou as credenciais"),
        "{}",
        test.message
    );
    let stored = h.integrations.view(h.tenant.id).await.unwrap().unwrap();
    assert_eq!(stored.last_test_ok, Some(false));
    let before = h.fake.requests().len();
    let (status, _) = h.import(params("Senha errada")).await;
    assert_eq!(status, JobStatus::Failed);
    assert_eq!(h.fake.requests().len(), before + 1, "no retries");
}

/// One page stored straight through the store, as the import job would.
async fn write_page(
    store: &dyn Store,
    lease: &sgp_import_core::store::Lease,
    customers: &[sgp_import_core::store::HashedCustomer],
) -> Result<sgp_import_core::store::PageCounts, sgp_import_core::store::StoreError> {
    store
        .import_page(&sgp_import_core::store::PageWrite {
            lease,
            offset: 0,
            customers,
            errors: &[],
            errors_listed: 0,
            progress: &JobProgress::default(),
            checkpoint: &serde_json::Value::Null,
            log: None,
            log_cap: 100,
            track_seen: true,
        })
        .await
}

async fn a_stale_attempt_cannot_write_a_page(db: &TestDb) {
    use sgp_import_core::store::{HashedCustomer, KindLimit, NewJob, StoreError};
    let h = harness(db, FakeConfig::new(5)).await;
    let customers: Vec<HashedCustomer> =
        (0..5).map(|i| HashedCustomer::new(h.expected(i))).collect();
    db.store
        .enqueue(NewJob::new(
            h.tenant.id,
            "sgp_import",
            "x",
            serde_json::json!({}),
        ))
        .await
        .unwrap();
    let kinds = [KindLimit {
        kind: "sgp_import".into(),
        per_tenant: Some(1),
    }];
    let lease = StdDuration::from_secs(60);
    let first = db
        .store
        .claim("w1", 1, &kinds, lease, 100)
        .await
        .unwrap()
        .remove(0);
    db.clock.advance(Duration::seconds(61));
    db.store.rescue_expired().await.unwrap();
    let second = db
        .store
        .claim("w2", 1, &kinds, lease, 100)
        .await
        .unwrap()
        .remove(0);
    assert!(matches!(
        write_page(db.store.as_ref(), &first.lease, &customers).await,
        Err(StoreError::LeaseLost(_))
    ));
    assert_eq!(h.customers().await, 0, "the stale attempt wrote nothing");
    let counts = write_page(db.store.as_ref(), &second.lease, &customers)
        .await
        .unwrap();
    assert_eq!(counts.created, 5);
    assert_eq!(h.customers().await, 5);
}

/// SQLite numbers new customers itself (after the highest id) instead of
/// reading the ids back: pages of two providers written in turn, a page
/// mixing stored, changed and new customers, and each contract and change
/// row must still land on its own customer.
async fn pages_of_two_providers_interleaved_keep_each_contract_and_change_with_its_customer(
    db: &TestDb,
) {
    use sgp_import_core::model::ChangeKind;
    let h = harness(db, FakeConfig::new(12)).await;
    let other = tenant(db, "outro").await;
    let jobs = leases(db, &[&h.tenant, &other]).await;
    let lease_of = |t: &Tenant| jobs.iter().find(|l| l.tenant == t.id).unwrap();
    let write = |t: &Tenant, customers: Vec<SgpCustomer>| {
        let customers = hashed(customers);
        let lease = lease_of(t).clone();
        let store = db.store.clone();
        async move {
            write_page(store.as_ref(), &lease, &customers)
                .await
                .unwrap()
        }
    };
    // the other provider's customers carry the same keys, with names of
    // their own
    let theirs = |i: u32| {
        let mut c = h.expected(i);
        c.name = format!("Outro {}", c.name);
        c
    };
    let ours: Vec<SgpCustomer> = (0..12).map(|i| h.expected(i)).collect();
    write(&h.tenant, ours[0..4].to_vec()).await;
    write(&other, (0..6).map(theirs).collect()).await;
    // stored and unchanged (3), stored and changed (2), new (4..9)
    let mut changed = ours[2].clone();
    changed.name = format!("{} Segundo", changed.name);
    let mut page = vec![ours[3].clone(), changed.clone()];
    page.extend_from_slice(&ours[4..9]);
    let counts = write(&h.tenant, page).await;
    assert_eq!(
        (counts.created, counts.updated, counts.unchanged),
        (5, 1, 1)
    );
    write(&other, (6..12).map(theirs).collect()).await;
    write(&h.tenant, ours[9..12].to_vec()).await;

    let mut ids = std::collections::HashSet::new();
    for (t, i) in (0..12).flat_map(|i| [(&h.tenant, i), (&other, i)]) {
        let want = if t.id == other.id {
            theirs(i)
        } else if i == 2 {
            changed.clone()
        } else {
            ours[i as usize].clone()
        };
        let stored = db
            .store
            .customer_by_key(t.id, &want.key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("customer {} of {} missing", want.key, t.slug));
        assert_same(&stored, &want);
        assert!(ids.insert(stored.id), "id {} given twice", stored.id);
        let history = db
            .store
            .customer_history(t.id, stored.id, 10, 0)
            .await
            .unwrap();
        // one `cliente_criado` per customer: a change row given another
        // customer's id leaves one without and another with two
        let created = history
            .changes
            .iter()
            .filter(|c| c.kind == ChangeKind::CustomerCreated)
            .count();
        assert_eq!(created, 1, "{} of {}: {history:?}", want.key, t.slug);
    }
}

/// Customers as the import job hands them to the store.
fn hashed(customers: Vec<SgpCustomer>) -> Vec<sgp_import_core::store::HashedCustomer> {
    customers
        .into_iter()
        .map(sgp_import_core::store::HashedCustomer::new)
        .collect()
}

/// One claimed import job for each entry of `tenants` (a provider may come
/// more than once), for pages written straight through the store.
async fn leases(db: &TestDb, tenants: &[&Tenant]) -> Vec<sgp_import_core::store::Lease> {
    use sgp_import_core::store::{KindLimit, NewJob};
    for t in tenants {
        db.store
            .enqueue(NewJob::new(t.id, "sgp_import", "x", serde_json::json!({})))
            .await
            .unwrap();
    }
    let n = tenants.len() as u32;
    let kinds = [KindLimit {
        kind: "sgp_import".into(),
        per_tenant: Some(n),
    }];
    let jobs = db
        .store
        .claim("w", n, &kinds, StdDuration::from_secs(60), 100)
        .await
        .unwrap();
    assert_eq!(jobs.len(), tenants.len());
    jobs.into_iter().map(|j| j.lease).collect()
}

/// On PostgreSQL a page inserts the customers its lookup did not find, and
/// their contracts, without `ON CONFLICT`; a stored contract that SGP now
/// lists under a new customer fails that insert, and the page is written
/// again as upserts. The contract moves, on both databases.
async fn a_stored_contract_listed_under_a_new_customer_moves_to_it(db: &TestDb) {
    let h = harness(db, FakeConfig::new(20)).await;
    let lease = leases(db, &[&h.tenant]).await.remove(0);
    let mut with_contract = (0..20)
        .map(|i| h.expected(i))
        .filter(|c| !c.contracts.is_empty());
    let first = with_contract.next().expect("a customer with a contract");
    let mut second = with_contract.next().expect("another one");
    let moved = first.contracts[0].clone();
    write_page(db.store.as_ref(), &lease, &hashed(vec![first.clone()]))
        .await
        .unwrap();
    second.contracts = vec![moved.clone()];
    let counts = write_page(db.store.as_ref(), &lease, &hashed(vec![second.clone()]))
        .await
        .unwrap();
    assert_eq!((counts.created, counts.updated), (1, 0));
    let contracts_of = |key: String| async move {
        let stored = db
            .store
            .customer_by_key(h.tenant.id, &key)
            .await
            .unwrap()
            .unwrap();
        let mut keys: Vec<String> = stored.contracts.into_iter().map(|k| k.sgp_key).collect();
        keys.sort();
        keys
    };
    assert_eq!(
        contracts_of(second.key.to_string()).await,
        vec![moved.key.clone()]
    );
    let mut left: Vec<String> = first.contracts[1..].iter().map(|k| k.key.clone()).collect();
    left.sort();
    assert_eq!(contracts_of(first.key.to_string()).await, left);
}

/// Two imports of one provider writing the same new customers at once: on
/// PostgreSQL the plain insert of the one that comes second meets the
/// other's rows, and its page is written again as upserts. Every customer
/// is stored once, created by one import and found unchanged by the other.
async fn two_imports_writing_the_same_new_customers_at_once_store_each_once(db: &TestDb) {
    let h = harness(db, FakeConfig::new(300)).await;
    let jobs = leases(db, &[&h.tenant, &h.tenant]).await;
    let customers = hashed((0..300).map(|i| h.expected(i)).collect());
    let store = db.store.as_ref();
    let (a, b) = tokio::join!(
        write_page(store, &jobs[0], &customers),
        write_page(store, &jobs[1], &customers)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        (a.created + b.created, a.unchanged + b.unchanged),
        (300, 300)
    );
    assert_eq!(h.customers().await, 300);
    assert_eq!(
        db.rows_with("import_changes", "tenant_id", h.tenant.id.0)
            .await,
        300,
        "one `cliente_criado` a customer"
    );
}

async fn the_customers_list_searches_filters_and_pages(db: &TestDb) {
    let h = harness(db, FakeConfig::new(120)).await;
    assert_eq!(h.import(params("Lista")).await.0, JobStatus::Completed);
    let store = &db.store;
    let list = |search: Option<&str>, status: Option<&str>, limit: u32, offset: u64| {
        let filter = CustomerFilter {
            search: search.map(str::to_owned),
            contract_status: status.map(str::to_owned),
            removed: None,
            limit,
            offset,
        };
        let tenant = h.tenant.id;
        async move { store.list_customers(tenant, &filter).await.unwrap() }
    };
    let all = list(None, None, 500, 0).await;
    assert_eq!(all.total as usize, all.customers.len());
    // alphabetical, case and accents ignored (JOÃO before JOSÉ)
    let names: Vec<String> = all
        .customers
        .iter()
        .map(|c| sgp_import_core::text::search_words(&c.name))
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "by the folded name");
    // pages are windows of the same order
    let page2 = list(None, None, 10, 10).await;
    assert_eq!(page2.total, all.total);
    assert_eq!(page2.customers, all.customers[10..20].to_vec());
    assert!(all.customers.iter().any(|c| !c.contracts.is_empty()));

    // by part of the name, case-insensitive
    let someone = all
        .customers
        .iter()
        .find(|c| c.cpf_cnpj.is_some())
        .expect("a customer with a document");
    let surname = someone
        .name
        .split_whitespace()
        .last()
        .unwrap()
        .to_lowercase();
    let found = list(Some(&surname), None, 500, 0).await;
    assert!(found.customers.iter().any(|c| c.id == someone.id));
    assert!(found
        .customers
        .iter()
        .all(|c| c.name.to_lowercase().contains(&surname)));
    // by the start of the CPF/CNPJ, punctuation ignored
    let doc = someone.cpf_cnpj.clone().unwrap();
    let typed = format!("{}.{}", &doc[..3], &doc[3..6]);
    let by_doc = list(Some(&typed), None, 500, 0).await;
    assert!(by_doc.customers.iter().any(|c| c.id == someone.id));
    assert!(by_doc.customers.iter().all(|c| c
        .cpf_cnpj
        .as_deref()
        .unwrap_or("")
        .starts_with(&doc[..6])));
    // LIKE wildcards typed by the admin are literal
    assert_eq!(list(Some("%"), None, 500, 0).await.total, 0);

    // contract status
    let active = list(None, Some("ativo"), 500, 0).await;
    let expected = all
        .customers
        .iter()
        .filter(|c| c.contracts.iter().any(|k| k.status == "ativo"))
        .count();
    assert!(expected > 0);
    assert_eq!(active.total as usize, expected);

    // another provider sees none of them
    let other = tenant(db, "outro").await;
    let filter = CustomerFilter {
        limit: 10,
        ..CustomerFilter::default()
    };
    assert_eq!(
        store.list_customers(other.id, &filter).await.unwrap().total,
        0
    );
}
