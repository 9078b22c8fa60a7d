//! Hostile SGPs and tenants: an SGP URL aimed at the host's own network,
//! answers that never end or claim a terabyte, redirects, customers full of
//! NUL bytes, megabyte strings and wrong types, giant pages, a saved secret
//! asked to follow a new URL, and a provider filling the shared queue. Each
//! costs its own request or import, nothing else.

use sgp_import_core::model::JobOrigin;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use fake_sgp::{FakeConfig, FakeSgp, Fault};
use sgp_import_core::import::{
    ImportService, IntegrationError, IntegrationInput, Integrations, StartError,
    MAX_LISTED_ROW_ERRORS,
};
use sgp_import_core::model::JobStatus;
use sgp_import_core::outbound::OutboundPolicy;
use sgp_import_core::sealing::Sealer;
use sgp_import_core::sgp::{
    SgpAuth, SgpBaseUrl, SgpClient, SgpClientConfig, SgpError, MAX_PAGE_ITEMS,
};
use sgp_import_core::store::StoreError;
use tokio::net::TcpListener;

use crate::executor::{log_text, tenant, wait_for};
use crate::imports::{client_config, harness, harness_with, params, TERMINAL};
use crate::on_both;
use crate::support::TestDb;

on_both!(
    hostile_customers_cost_only_their_rows,
    an_oversized_answer_fails_the_import_at_once,
    a_giant_page_is_stored_in_chunks,
    a_saved_secret_does_not_follow_a_new_url,
    one_check_at_a_time_per_provider,
    a_provider_cannot_fill_the_shared_queue,
    the_error_report_reads_in_keyset_batches,
    a_page_of_too_many_items_fails_the_import_at_once,
    an_sgp_repeating_unreadable_rows_is_stopped,
    the_error_report_keeps_the_first_rows_of_an_import,
);

fn client(url: &str, config: SgpClientConfig) -> SgpClient {
    let creds = fake_sgp::Credentials::default();
    SgpClient::new(
        SgpBaseUrl::parse(url).unwrap(),
        SgpAuth::Token {
            token: sgp_import_core::secret::Secret::new(creds.token),
            app: creds.app,
        },
        config,
    )
}

/// A loopback listener that records whether anything connected to it.
async fn listener() -> (String, tokio::task::JoinHandle<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = tokio::spawn(async move {
        tokio::time::timeout(StdDuration::from_secs(2), listener.accept())
            .await
            .is_ok()
    });
    (url, accepted)
}

#[tokio::test]
async fn a_loopback_or_private_sgp_is_refused_before_any_byte_is_sent() {
    let strict = SgpClientConfig {
        outbound: OutboundPolicy::public_only(),
        ..client_config()
    };
    let (url, accepted) = listener().await;
    let port = url.rsplit(':').next().unwrap().to_owned();
    for target in [
        url.clone(),
        format!("http://localhost:{port}"),
        format!("http://[::ffff:127.0.0.1]:{port}"),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://10.0.0.1:8080".to_owned(),
    ] {
        let started = Instant::now();
        let e = client(&target, strict.clone())
            .test_connection()
            .await
            .unwrap_err();
        assert_eq!(e, SgpError::Refused, "{target}");
        assert!(
            started.elapsed() < StdDuration::from_secs(1),
            "{target} refused at once"
        );
        assert!(e.message_pt().contains("outbound.allowed_networks"));
    }
    assert!(!accepted.await.unwrap(), "nothing reached the listener");

    // the operator's setting lets a private SGP through
    let fake = FakeSgp::start(FakeConfig::new(3)).await.unwrap();
    let allowed = SgpClientConfig {
        outbound: OutboundPolicy::allowing(OutboundPolicy::parse_networks("127.0.0.0/8").unwrap()),
        ..client_config()
    };
    assert_eq!(
        client(&fake.url(), allowed).test_connection().await,
        Ok(Some(3))
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (target, accepted) = listener().await;
    let mut config = FakeConfig::new(3);
    config.hostile = Some(Fault::Redirect);
    config.redirect_to = format!("{target}/api/ura/clientes/");
    let fake = FakeSgp::start(config).await.unwrap();
    let e = client(&fake.url(), client_config())
        .test_connection()
        .await
        .unwrap_err();
    assert_eq!(e, SgpError::Redirect { status: 307 });
    assert!(!e.is_transient());
    assert!(
        e.message_pt().contains("não é seguido"),
        "{}",
        e.message_pt()
    );
    assert!(
        !accepted.await.unwrap(),
        "the token was not re-posted to the redirect's target"
    );
}

/// The error a client with a 1 MB budget gets from a fake SGP that answers
/// every request with `fault`, and how long it took.
async fn hostile_answer(fault: Fault) -> (SgpError, StdDuration) {
    let budget = SgpClientConfig {
        max_response_bytes: 1024 * 1024,
        retries: 0,
        ..client_config()
    };
    let mut config = FakeConfig::new(3);
    config.hostile = Some(fault);
    let fake = FakeSgp::start(config).await.unwrap();
    let started = Instant::now();
    let e = client(&fake.url(), budget)
        .test_connection()
        .await
        .unwrap_err();
    (e, started.elapsed())
}

#[tokio::test]
async fn answers_past_the_byte_budget_stop_there() {
    let (e, _) = hostile_answer(Fault::EndlessBody).await;
    let limit = 1024 * 1024;
    assert_eq!(
        e,
        SgpError::TooLarge {
            limit,
            declared: None
        }
    );
    assert!(
        e.message_pt().contains("mais de 1 MB"),
        "{}",
        e.message_pt()
    );

    // a declared terabyte is refused before reading (the body never comes)
    let (e, took) = hostile_answer(Fault::HugeLength).await;
    let declared = Some(1 << 40);
    assert_eq!(e, SgpError::TooLarge { limit, declared });
    assert!(took < StdDuration::from_secs(1), "{took:?}");
    assert!(e.message_pt().contains("1 TB"), "{}", e.message_pt());

    // an endless error page is read a few KB deep, no further
    let (e, _) = hostile_answer(Fault::EndlessError).await;
    assert!(
        matches!(&e, SgpError::Credentials { status: 403, detail } if detail == "sem detalhe"),
        "{e:?}"
    );
}

#[tokio::test]
async fn an_answer_of_cheap_items_is_refused_by_their_number() {
    // 200 KB of `0`s, well inside the byte budget
    let (e, _) = hostile_answer(Fault::Garbage(MAX_PAGE_ITEMS as u32 + 1)).await;
    assert_eq!(
        e,
        SgpError::TooManyItems {
            limit: MAX_PAGE_ITEMS
        }
    );
}

async fn a_page_of_too_many_items_fails_the_import_at_once(db: &TestDb) {
    let mut config = FakeConfig::new(10);
    config.hostile = Some(Fault::Garbage(MAX_PAGE_ITEMS as u32 + 1));
    let h = harness(db, config).await;
    let (status, p) = h.import(params("Itens sem fim")).await;
    assert_eq!(status, JobStatus::Failed);
    assert_eq!((p.processed, p.failed), (0, 0));
    let job = h.last_job().await;
    assert_eq!(
        job.attempt, 1,
        "not retried: the next answer would be the same"
    );
    let error = job.last_error.unwrap();
    assert!(error.contains("itens demais"), "{error}");
    assert_eq!(h.fake.requests().len(), 1, "one request, no retries");
    let errors = db
        .store
        .row_errors(h.tenant.id, job.id, 0, 10)
        .await
        .unwrap();
    assert!(errors.is_empty(), "nothing of the refused page is stored");
}

async fn an_sgp_repeating_unreadable_rows_is_stopped(db: &TestDb) {
    // every page: 100 rows that are not customers, and a trillion to come
    let mut config = FakeConfig::new(10);
    config.hostile = Some(Fault::Garbage(100));
    let h = harness(db, config).await;
    let (status, p) = h.import(params("Lixo sem fim")).await;
    assert_eq!(
        status,
        JobStatus::Completed,
        "{:?}",
        h.last_job().await.last_error
    );
    // the first page's rows fail; the second, the same again, ends the paging
    assert_eq!((p.processed, p.failed, p.created), (100, 100, 0));
    let job = h.last_job().await.id;
    let log = log_text(db, &h.tenant, job).await;
    assert!(log.contains("parece ignorar o offset"), "{log}");
    let errors = db.store.row_errors(h.tenant.id, job, 0, 200).await.unwrap();
    assert_eq!(errors.len(), 100);
    assert!(errors[0].reason.contains("não é um objeto JSON"));
}

async fn the_error_report_keeps_the_first_rows_of_an_import(db: &TestDb) {
    // every customer has a CPF with wrong check digits, 2,000 a page
    let failing = MAX_LISTED_ROW_ERRORS + 50;
    let mut config = FakeConfig::new(failing as u32);
    config.population.quirks.bad_rows_every = 1;
    config.ignore_limit = true;
    config.max_limit = 2000;
    let h = harness(db, config).await;
    let (status, p) = h.import(params("Só erros")).await;
    assert_eq!(status, JobStatus::Completed);
    assert_eq!(
        (p.processed, p.failed),
        (failing, failing),
        "every row counted"
    );
    let job = h.last_job().await.id;
    let mut after = 0;
    let mut listed = Vec::new();
    loop {
        let batch = db
            .store
            .row_errors(h.tenant.id, job, after, 1000)
            .await
            .unwrap();
        let Some(last) = batch.last() else { break };
        after = last.id;
        listed.extend(batch.into_iter().map(|e| e.row_key.unwrap()));
    }
    assert_eq!(
        listed.len() as u64,
        MAX_LISTED_ROW_ERRORS,
        "the first rows only"
    );
    assert_eq!(listed[0], "1000");
    assert_eq!(
        listed.last().unwrap(),
        &(1000 + MAX_LISTED_ROW_ERRORS - 1).to_string()
    );
    let log = log_text(db, &h.tenant, job).await;
    assert!(
        log.contains("Mais 50 clientes não importados nesta página, contados mas não listados"),
        "{log}"
    );
}

async fn hostile_customers_cost_only_their_rows(db: &TestDb) {
    let mut config = FakeConfig::new(60);
    config.population.quirks.nul_every = 4;
    config.population.quirks.huge_strings_every = 9;
    config.population.quirks.wrong_types_every = 13;
    let h = harness(db, config).await;
    let (status, p) = h.import(params("Hostil")).await;
    assert_eq!(status, JobStatus::Completed);
    // customers 8, 17, 26... (a 1 MB string) and 12, 25, 38, 51 (every
    // field of the wrong type) fail, each on its own row
    let failed: Vec<u32> = (0..60).filter(|i| i % 9 == 8 || i % 13 == 12).collect();
    assert_eq!(p.processed, 60);
    assert_eq!(p.failed, failed.len() as u64);
    assert_eq!(p.created, 60 - failed.len() as u64);

    // NUL and control characters are gone, the rest of the text kept
    let with_nul = h.expected(3);
    let stored = db
        .store
        .customer_by_key(h.tenant.id, with_nul.key.as_str())
        .await
        .unwrap()
        .expect("a customer with NUL bytes is stored");
    assert!(
        !stored.name.chars().any(char::is_control),
        "{:?}",
        stored.name
    );
    assert_eq!(
        stored.name.split_whitespace().count(),
        3,
        "{:?}",
        stored.name
    );
    assert_eq!(stored.notes.as_deref(), Some("notacomcontroles"));
    assert!(stored.emails.iter().all(|e| !e.contains('\0')));

    let job = h.last_job().await.id;
    let errors = db.store.row_errors(h.tenant.id, job, 0, 100).await.unwrap();
    assert_eq!(errors.len(), failed.len());
    for e in &errors {
        assert!(e.reason.chars().count() <= 500, "{}", e.reason);
        assert!(e.row_key.as_ref().is_none_or(|k| k.len() <= 100));
    }
    let huge = errors
        .iter()
        .find(|e| e.row_key.as_deref() == Some("1008"))
        .expect("customer 8's row error, with its key");
    assert!(huge.reason.contains("1 MB"), "{}", huge.reason);
    let wrong = errors
        .iter()
        .find(|e| e.row_key.as_deref() == Some("1012") || e.row_key.is_none())
        .expect("customer 12's row error");
    assert!(!wrong.reason.is_empty());
    let log = log_text(db, &h.tenant, job).await;
    assert!(!log.contains('\0'));
    assert!(log.len() < 200_000, "the log holds no megabyte string");
}

async fn an_oversized_answer_fails_the_import_at_once(db: &TestDb) {
    let mut config = FakeConfig::new(250);
    config.hostile = Some(Fault::EndlessBody);
    let client = SgpClientConfig {
        max_response_bytes: 256 * 1024,
        ..client_config()
    };
    let h = harness_with(db, config, client).await;
    let (status, p) = h.import(params("Sem fim")).await;
    assert_eq!(status, JobStatus::Failed);
    assert_eq!(p.processed, 0);
    let job = h.last_job().await;
    assert_eq!(
        job.attempt, 1,
        "not retried: the next answer would be as big"
    );
    let error = job.last_error.unwrap();
    assert!(error.contains("grande demais"), "{error}");
    assert_eq!(h.fake.requests().len(), 1, "one request, no retries");
}

async fn a_giant_page_is_stored_in_chunks(db: &TestDb) {
    // an SGP that ignores `limit` and sends 1,500 customers with 3
    // contracts each in one page: 34,500 customer and 45,000 contract
    // parameters, past SQLite's 32,766 a statement
    let mut config = FakeConfig::new(1500);
    config.ignore_limit = true;
    config.max_limit = 1500;
    config.population.contracts_each = Some(3);
    let h = harness(db, config).await;
    let (status, p) = h.import(params("Página gigante")).await;
    assert_eq!(
        status,
        JobStatus::Completed,
        "{:?}",
        h.last_job().await.last_error
    );
    assert_eq!((p.processed, p.created, p.failed), (1500, 1500, 0));
    assert_eq!(h.fake.pages_served(), 1);
    let last = h.expected(1499);
    let stored = db
        .store
        .customer_by_key(h.tenant.id, last.key.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.contracts.len(), 3);
    assert_eq!(
        db.store
            .tenant_overview(h.tenant.id)
            .await
            .unwrap()
            .customers,
        1500
    );
}

async fn a_saved_secret_does_not_follow_a_new_url(db: &TestDb) {
    let t = tenant(db, "prov").await;
    let sealer = Sealer::from_base64(&Sealer::generate_key()).unwrap();
    let integrations = Integrations::new(db.store.clone(), Some(sealer));
    integrations
        .save(
            t.id,
            &IntegrationInput::token("https://sgp.provedor.com.br", "app", "token-secreto-1"),
        )
        .await
        .unwrap();
    let blank = |url: &str| IntegrationInput {
        token: None,
        ..IntegrationInput::token(url, "app", "")
    };
    // another path on the same origin keeps the token
    integrations
        .save(t.id, &blank("https://sgp.provedor.com.br/admin"))
        .await
        .expect("same scheme, host and port keep the token");
    assert_eq!(
        integrations.open(t.id).await.unwrap().base_url.as_str(),
        "https://sgp.provedor.com.br"
    );
    for moved in [
        "https://evil.example",
        "http://sgp.provedor.com.br",
        "https://sgp.provedor.com.br:8443",
    ] {
        let e = integrations.save(t.id, &blank(moved)).await.unwrap_err();
        let IntegrationError::Invalid(fields) = e else {
            panic!("{moved}: {e}")
        };
        assert_eq!(fields.len(), 1);
        assert_eq!(fields[0].field, "token");
        assert!(fields[0].message.contains("mudou"), "{}", fields[0].message);
    }
    // fields past any real one are named, and so is a user HTTP Basic
    // cannot carry
    let huge = format!("https://sgp.provedor.com.br/{}", "a".repeat(100_000));
    let long_token =
        IntegrationInput::token("https://sgp.provedor.com.br", "app", "t".repeat(2_000));
    let colon = IntegrationInput {
        base_url: "https://sgp.provedor.com.br".into(),
        auth_mode: "basic".into(),
        username: Some("admin:x".into()),
        password: Some("senha-forte-1".into()),
        ..IntegrationInput::default()
    };
    for (input, field, needle) in [
        (blank(&huge), "base_url", "até 2.048 caracteres"),
        (long_token, "token", "até 1.024 caracteres"),
        (colon, "username", "não pode conter"),
    ] {
        let e = integrations.save(t.id, &input).await.unwrap_err();
        let IntegrationError::Invalid(fields) = e else {
            panic!("{field}: {e}")
        };
        assert_eq!(fields[0].field, field);
        assert!(fields[0].message.contains(needle), "{}", fields[0].message);
    }
    // nothing stored was lost or half-written
    let open = integrations.open(t.id).await.unwrap();
    assert_eq!(open.base_url.as_str(), "https://sgp.provedor.com.br");
    // with the token typed again, the new URL is saved
    integrations
        .save(
            t.id,
            &IntegrationInput::token("https://novo.provedor.com.br", "app", "token-novo-22"),
        )
        .await
        .unwrap();

    // the same for a password
    let basic = |url: &str, password: Option<&str>| IntegrationInput {
        base_url: url.into(),
        auth_mode: "basic".into(),
        username: Some("admin".into()),
        password: password.map(str::to_owned),
        ..IntegrationInput::default()
    };
    integrations
        .save(
            t.id,
            &basic("https://novo.provedor.com.br", Some("senha-forte-1")),
        )
        .await
        .unwrap();
    let view = integrations.view(t.id).await.unwrap().unwrap();
    assert_eq!(
        view.password_hint.as_deref(),
        Some("••••••••"),
        "no characters of a password are shown"
    );
    // the mask sent back (a script editing the GET answer) keeps the
    // password, and is never stored as one
    integrations
        .save(
            t.id,
            &basic("https://novo.provedor.com.br/api", Some("••••••••")),
        )
        .await
        .unwrap();
    let open = integrations.open(t.id).await.unwrap();
    assert!(
        matches!(&open.auth, SgpAuth::Basic { password, .. } if password.expose() == "senha-forte-1"),
        "the saved password stays"
    );
    let e = integrations
        .save(t.id, &basic("https://outro.example", None))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, IntegrationError::Invalid(f) if f[0].field == "password" && f[0].message.contains("mudou")),
        "{e:?}"
    );
}

async fn one_check_at_a_time_per_provider(db: &TestDb) {
    let mut config = FakeConfig::new(500);
    config.latency = StdDuration::from_millis(150);
    let h = harness(db, config).await;
    let h = &h;
    let preview = async { h.service.preview(h.tenant.id, params("Prévia")).await };
    let second = async {
        tokio::time::sleep(StdDuration::from_millis(50)).await;
        h.service.test_connection(h.tenant.id).await
    };
    let (preview, second) = tokio::join!(preview, second);
    assert_eq!(preview.unwrap().total, 500);
    let e = second.unwrap_err();
    assert!(matches!(e, StartError::Busy), "{e}");
    assert!(e.message_pt().contains("em andamento"));
    // once it ended, the provider may check again
    let test = h.service.test_connection(h.tenant.id).await.unwrap();
    assert!(test.ok);
    assert_eq!(test.customers, Some(500));
}

async fn a_provider_cannot_fill_the_shared_queue(db: &TestDb) {
    let h = harness(db, FakeConfig::new(10)).await;
    let second_store = db.second_store().await;
    let other_instance = Arc::new(
        ImportService::new(second_store, h.integrations.clone(), client_config())
            .with_max_active_per_tenant(3),
    );
    let here = Arc::new(
        ImportService::new(db.store.clone(), h.integrations.clone(), client_config())
            .with_max_active_per_tenant(3),
    );
    // one cancelled earlier, to be retried later
    let early = here
        .start(h.tenant.id, params("Cancelada"), JobOrigin::Manual)
        .await
        .unwrap()
        .id;
    db.store.cancel(h.tenant.id, early).await.unwrap();
    // ten at once, through two instances sharing the database
    let starts = (0..10)
        .map(|n| {
            let service = if n % 2 == 0 {
                here.clone()
            } else {
                other_instance.clone()
            };
            let tenant = h.tenant.id;
            tokio::spawn(async move {
                service
                    .start(tenant, params(&format!("Fila {n}")), JobOrigin::Manual)
                    .await
            })
        })
        .collect::<Vec<_>>();
    let mut queued = 0;
    for start in starts {
        match start.await.unwrap() {
            Ok(_) => queued += 1,
            Err(StartError::TooManyActive(3)) => {}
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(queued, 3, "exactly the cap was queued");
    let e = here
        .start(h.tenant.id, params("Mais uma"), JobOrigin::Manual)
        .await
        .unwrap_err();
    assert!(
        e.message_pt().contains("3 importações"),
        "{}",
        e.message_pt()
    );
    // retrying a finished one counts the same
    let e = db
        .store
        .rerun(h.tenant.id, early, Some(3))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::LimitReached(3)), "{e}");

    // another provider is not affected
    let other = tenant(db, "outro").await;
    h.integrations
        .save(
            other.id,
            &IntegrationInput::token(h.fake.url(), "sgpimport", "qualquer-token"),
        )
        .await
        .unwrap();
    here.start(other.id, params("Outro provedor"), JobOrigin::Manual)
        .await
        .unwrap();

    // when the provider's imports finish, it may queue again
    let ex = h.executor(db.store.clone(), "w1");
    let page = db
        .store
        .list_jobs(
            h.tenant.id,
            &sgp_import_core::store::JobFilter {
                statuses: None,
                origin: None,
                kind: None,
                limit: 10,
                offset: 0,
            },
        )
        .await
        .unwrap();
    for job in &page.jobs {
        wait_for(db, &h.tenant, job.id, TERMINAL).await;
    }
    ex.shutdown().await;
    here.start(h.tenant.id, params("Depois"), JobOrigin::Manual)
        .await
        .unwrap();
    assert_eq!(
        db.store.rerun(h.tenant.id, early, Some(3)).await.unwrap(),
        JobStatus::Queued
    );
}

async fn the_error_report_reads_in_keyset_batches(db: &TestDb) {
    let mut config = FakeConfig::new(900);
    config.population.quirks.bad_rows_every = 2;
    let h = harness(db, config).await;
    let (status, p) = h.import(params("Muitos erros")).await;
    assert_eq!(status, JobStatus::Completed);
    assert_eq!(p.failed, 450);
    let job = h.last_job().await.id;
    let mut after = 0;
    let mut keys = Vec::new();
    loop {
        let batch = db
            .store
            .row_errors(h.tenant.id, job, after, 100)
            .await
            .unwrap();
        let Some(last) = batch.last() else { break };
        after = last.id;
        keys.extend(batch.iter().map(|e| e.row_key.clone().unwrap()));
    }
    let want: Vec<String> = (0..900)
        .filter(|i| i % 2 == 1)
        .map(|i| (1000 + i).to_string())
        .collect();
    assert_eq!(keys, want, "every failed row once, in order");
    // another provider reads none of them
    let other = tenant(db, "outro").await;
    assert!(db
        .store
        .row_errors(other.id, job, 0, 100)
        .await
        .unwrap()
        .is_empty());
}
