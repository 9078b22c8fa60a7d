//! Notifications on both databases, against a real webhook receiver and a
//! real SMTP listener: each event announced once to the targets that want
//! it, webhooks signed and retried, private addresses refused, e-mail
//! delivered, the silence alert fired once per silence, and the secret
//! shown only when made.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use base64::Engine;
use chrono::Duration;
use fake_sgp::receivers::{Answer, SmtpSink, WebhookReceiver};
use serde_json::{json, Value};
use sgp_import_core::config::SmtpSettings;
use sgp_import_core::import::IMPORT_KIND;
use sgp_import_core::jobs::{Executor, ExecutorConfig, ExecutorHandle, RetryPolicy};
use sgp_import_core::model::{
    Channel, JobId, JobStatus, NotificationEvent as Ev, NotificationInput, ScheduleInput, TenantId,
    TenantSlug,
};
use sgp_import_core::notify::signature;
use sgp_import_core::notify::{Announcer, DeliveryJob, Mailer, NotificationService, NotifyError};
use sgp_import_core::outbound::OutboundPolicy;
use sgp_import_core::schedule::Scheduler;
use sgp_import_core::sealing::Sealer;
use sgp_import_core::secret::Secret;
use sgp_import_core::store::{
    Announcement, Completion, JobFilter, KindLimit, NewJob, Outcome, Store,
};

use crate::on_both;
use crate::support::TestDb;

on_both!(
    a_finished_import_is_announced_once_to_the_targets_that_want_it,
    a_webhook_is_signed_and_retried_after_a_500_and_a_dropped_connection,
    a_private_webhook_address_is_refused_by_default,
    an_email_reaches_the_smtp_server_with_subject_and_recipient,
    the_silence_alert_fires_once_and_again_only_after_a_success,
    a_paused_schedule_is_announced_once,
    the_signing_secret_is_shown_only_when_made,
    one_providers_deliveries_do_not_hold_up_anothers,
    tests_are_capped_per_hour,
);

fn sealer() -> Sealer {
    Sealer::from_base64(&Sealer::generate_key()).unwrap()
}

fn service(
    db: &TestDb,
    sealer: &Sealer,
    policy: OutboundPolicy,
    email: bool,
) -> NotificationService {
    NotificationService::new(
        db.store.clone(),
        db.clock.clone(),
        Some(sealer.clone()),
        policy,
        email,
        None,
    )
}

fn loopback() -> OutboundPolicy {
    OutboundPolicy::public_only().with_loopback()
}

async fn tenant(db: &TestDb, slug: &str) -> TenantId {
    db.store
        .ensure_tenant(
            &TenantSlug::parse(slug).unwrap(),
            &format!("Provedor {slug}"),
        )
        .await
        .unwrap()
        .id
}

fn input(webhooks: &[(&str, &[Ev])], emails: &[(&str, &[Ev])]) -> NotificationInput {
    let own = |list: &[(&str, &[Ev])]| {
        list.iter()
            .map(|(a, e)| (a.to_string(), e.to_vec()))
            .collect()
    };
    NotificationInput {
        webhooks: own(webhooks),
        emails: own(emails),
        no_success_hours: None,
        rotate_secret: false,
    }
}

async fn deliveries(db: &TestDb, t: TenantId) -> Vec<sgp_import_core::model::JobSummary> {
    db.store
        .list_jobs(
            t,
            &JobFilter {
                statuses: None,
                origin: None,
                kind: Some(sgp_import_core::notify::NOTIFICATION_KIND.into()),
                limit: 100,
                offset: 0,
            },
        )
        .await
        .unwrap()
        .jobs
}

/// Queues an import and runs it to `outcome`, as an executor would.
async fn finished_import(db: &TestDb, t: TenantId, outcome: Outcome) -> JobId {
    let job = db
        .store
        .enqueue(NewJob::new(t, IMPORT_KIND, "Noturna", json!({})))
        .await
        .unwrap();
    let kinds = [KindLimit {
        kind: IMPORT_KIND.into(),
        per_tenant: None,
    }];
    let claimed = db
        .store
        .claim("w", 10, &kinds, StdDuration::from_secs(60), 100)
        .await
        .unwrap();
    let lease = claimed
        .into_iter()
        .find(|c| c.lease.job == job.id)
        .unwrap()
        .lease;
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
    job.id
}

fn announcer(db: &TestDb, store: Arc<dyn Store>) -> Announcer {
    Announcer::new(store, db.clock.clone(), None)
}

/// An executor running only deliveries, with retries a second apart.
fn delivery_executor(
    db: &TestDb,
    sealer: &Sealer,
    policy: OutboundPolicy,
    mailer: Option<Arc<Mailer>>,
) -> ExecutorHandle {
    let mut config = ExecutorConfig::new("entregas");
    config.poll_interval = StdDuration::from_millis(20);
    config.heartbeat = StdDuration::from_millis(200);
    config.retention = None;
    let job = DeliveryJob::new(
        db.store.clone(),
        db.clock.clone(),
        Some(sealer.clone()),
        policy,
        mailer,
    )
    .with_retry_policy(RetryPolicy {
        base: StdDuration::from_secs(1),
        max: StdDuration::from_secs(1),
        jitter: 0.0,
    });
    Executor::new(db.store.clone(), db.clock.clone(), config)
        .register(job)
        .start()
}

/// Waits (moving the test clock on, so backoffs pass) until the job ends.
async fn wait_finished(db: &TestDb, t: TenantId, job: JobId) -> sgp_import_core::model::JobSummary {
    for _ in 0..400 {
        let s = db.store.job_details(t, job, 50).await.unwrap().summary;
        if s.status.is_finished() {
            return s;
        }
        db.clock.advance(Duration::seconds(2));
        tokio::time::sleep(StdDuration::from_millis(25)).await;
    }
    panic!("delivery {job} did not finish");
}

async fn a_finished_import_is_announced_once_to_the_targets_that_want_it(db: &TestDb) {
    let t = tenant(db, "avisos").await;
    let quiet = tenant(db, "quieto").await;
    let sealer = sealer();
    service(db, &sealer, loopback(), true)
        .save(
            t,
            input(
                &[(
                    "http://127.0.0.1:9/ganchos",
                    &[Ev::ImportCompleted, Ev::ImportCancelled],
                )],
                &[("noc@avisos.net.br", &[Ev::ImportFailed])],
            ),
        )
        .await
        .unwrap();
    finished_import(db, t, Outcome::Completed { result: json!({}) }).await;
    finished_import(db, quiet, Outcome::Completed { result: json!({}) }).await;
    let (a, b) = (
        announcer(db, db.store.clone()),
        announcer(db, db.second_store().await),
    );
    let (ra, rb) = tokio::join!(a.tick(), b.tick());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(
        ra.announced + rb.announced,
        2,
        "each import once, targets or not"
    );
    assert_eq!(ra.deliveries + rb.deliveries, 1);
    assert_eq!(a.tick().await.unwrap().announced, 0);
    let sent = deliveries(db, t).await;
    assert_eq!(sent.len(), 1);
    let params = db.store.job_details(t, sent[0].id, 0).await.unwrap().params;
    assert_eq!(params["channel"], "Webhook");
    assert_eq!(params["body"]["evento"], "importacao.concluida");
    assert_eq!(params["body"]["importacao"]["nome"], "Noturna");
    assert_eq!(params["body"]["importacao"]["origem"], "manual");
    assert!(deliveries(db, quiet).await.is_empty());

    // a failure goes to the e-mail, which wants failures only
    finished_import(
        db,
        t,
        Outcome::Failed {
            error: "SGP fora do ar".into(),
        },
    )
    .await;
    assert_eq!(a.tick().await.unwrap().deliveries, 1);
    let sent = deliveries(db, t).await;
    let params = db.store.job_details(t, sent[0].id, 0).await.unwrap().params;
    assert_eq!(params["channel"], "Email");
    assert_eq!(params["address"], "noc@avisos.net.br");
    assert_eq!(params["body"]["importacao"]["mensagem"], "SGP fora do ar");
    // deliveries are not imports: the imports' counts do not see them
    let imports = db.store.status_counts(t, Some(IMPORT_KIND)).await.unwrap();
    assert_eq!(imports.total(), 2);

    // the failed import run again ends again, and that ending is announced
    let failed = db
        .store
        .list_jobs(
            t,
            &JobFilter {
                statuses: Some(vec![JobStatus::Failed]),
                origin: None,
                kind: Some(IMPORT_KIND.into()),
                limit: 1,
                offset: 0,
            },
        )
        .await
        .unwrap()
        .jobs[0]
        .id;
    db.store.rerun(t, failed, None).await.unwrap();
    assert!(
        !db.store
            .announce(&Announcement::Job(failed), &[])
            .await
            .unwrap(),
        "a job run again waits for its new ending"
    );
    let kinds = [KindLimit {
        kind: IMPORT_KIND.into(),
        per_tenant: None,
    }];
    let lease = db
        .store
        .claim("w", 1, &kinds, StdDuration::from_secs(60), 100)
        .await
        .unwrap()
        .remove(0)
        .lease;
    assert_eq!(lease.job, failed);
    db.store
        .finish(
            &lease,
            Outcome::Failed {
                error: "de novo".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(a.tick().await.unwrap().deliveries, 1);
}

async fn a_webhook_is_signed_and_retried_after_a_500_and_a_dropped_connection(db: &TestDb) {
    let receiver = WebhookReceiver::start([Answer::Status(500), Answer::Drop])
        .await
        .unwrap();
    let t = tenant(db, "assinado").await;
    let sealer = sealer();
    let settings = service(db, &sealer, loopback(), false)
        .save(
            t,
            input(&[(&receiver.url("/sgp"), &[Ev::ImportCompleted])], &[]),
        )
        .await
        .unwrap();
    let secret = settings
        .new_secret
        .expect("the first webhook makes a secret");
    finished_import(
        db,
        t,
        Outcome::Completed {
            result: json!({"ok": 1}),
        },
    )
    .await;
    announcer(db, db.store.clone()).tick().await.unwrap();
    let executor = delivery_executor(db, &sealer, loopback(), None);
    let job = deliveries(db, t).await[0].id;
    let done = wait_finished(db, t, job).await;
    executor.shutdown().await;
    assert_eq!(done.status, JobStatus::Completed, "{:?}", done.last_error);
    assert_eq!(done.attempt, 3, "500, dropped, then 200");
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    let last = &got[2];
    assert_eq!(last.path, "/sgp");
    assert_eq!(last.header("content-type"), Some("application/json"));
    assert_eq!(
        last.header("x-sgp-import-event"),
        Some("importacao.concluida")
    );
    assert_eq!(
        last.header("x-sgp-import-delivery"),
        Some(job.to_string().as_str())
    );
    let timestamp: i64 = last
        .header("x-sgp-import-timestamp")
        .unwrap()
        .parse()
        .unwrap();
    let signed = last.header("x-sgp-import-signature").unwrap();
    assert!(signature::verify(&secret, timestamp, &last.body, signed));
    assert!(!signature::verify(
        "whsec_outro",
        timestamp,
        &last.body,
        signed
    ));
    let body: Value = serde_json::from_slice(&last.body).unwrap();
    assert_eq!(body["evento"], "importacao.concluida");
    assert_eq!(body["provedor"]["slug"], "assinado");
    assert!(body["enviado_em"].is_string());
    // the same delivery id on every attempt, for the receiver to drop repeats
    assert!(got
        .iter()
        .all(|r| r.header("x-sgp-import-delivery") == last.header("x-sgp-import-delivery")));
    let log = db.store.job_details(t, job, 50).await.unwrap().logs;
    assert!(
        log.iter().any(|l| l.message.contains("HTTP 500")),
        "{log:?}"
    );
    receiver.stop();
}

async fn a_private_webhook_address_is_refused_by_default(db: &TestDb) {
    let receiver = WebhookReceiver::start([]).await.unwrap();
    let t = tenant(db, "privado").await;
    let sealer = sealer();
    let public_only = service(db, &sealer, OutboundPolicy::public_only(), false);
    for url in [
        receiver.url("/x"),
        "http://10.1.2.3/x".to_owned(),
        "http://169.254.169.254/".to_owned(),
    ] {
        match public_only
            .save(t, input(&[(&url, &[Ev::ImportCompleted])], &[]))
            .await
        {
            Err(NotifyError::Invalid(e)) => {
                assert_eq!(e[0].field, "webhooks");
                assert!(e[0].message.contains("rede privada"), "{}", e[0].message);
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    // a name is resolved when sending: "localhost" is saved, then refused
    let url = format!("http://localhost:{}/x", receiver.port());
    public_only
        .save(t, input(&[(&url, &[Ev::ImportCompleted])], &[]))
        .await
        .unwrap();
    finished_import(db, t, Outcome::Completed { result: json!({}) }).await;
    announcer(db, db.store.clone()).tick().await.unwrap();
    let executor = delivery_executor(db, &sealer, OutboundPolicy::public_only(), None);
    let job = deliveries(db, t).await[0].id;
    let done = wait_finished(db, t, job).await;
    executor.shutdown().await;
    assert_eq!(done.status, JobStatus::Failed);
    assert_eq!(done.attempt, 1, "a refusal is not retried");
    assert!(done
        .last_error
        .unwrap()
        .contains("OUTBOUND_ALLOWED_NETWORKS"));
    assert!(
        receiver.received().is_empty(),
        "nothing reached the private address"
    );
    receiver.stop();
}

/// `=?utf-8?b?...?=` words decoded, as a mail reader shows a subject.
fn decode_subject(raw: &str) -> String {
    raw.split_whitespace()
        .map(|word| {
            let inner = word
                .strip_prefix("=?utf-8?b?")
                .or_else(|| word.strip_prefix("=?UTF-8?B?"))
                .and_then(|w| w.strip_suffix("?="));
            match inner {
                Some(b64) => {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .unwrap();
                    format!("{} ", String::from_utf8(bytes).unwrap())
                }
                None => format!("{word} "),
            }
        })
        .collect::<String>()
        .trim()
        .to_owned()
}

async fn an_email_reaches_the_smtp_server_with_subject_and_recipient(db: &TestDb) {
    let sink = SmtpSink::start().await.unwrap();
    let t = tenant(db, "correio").await;
    let sealer = sealer();
    let mailer = Mailer::new(&SmtpSettings {
        url: Secret::new(sink.url()),
        from: "Importador <noreply@importa.net.br>".into(),
    })
    .unwrap();
    let notifications = service(db, &sealer, loopback(), true);
    // an address the mailer could not send to is refused when saved
    for bad in ["ana@correio..net.br", "a..b@correio.net.br"] {
        let refused = notifications
            .save(t, input(&[], &[(bad, &[Ev::ImportCompleted])]))
            .await;
        assert!(
            matches!(&refused, Err(NotifyError::Invalid(e)) if e[0].field == "emails"),
            "{bad}: {refused:?}"
        );
    }
    let saved = notifications
        .save(
            t,
            input(&[], &[("NOC@Correio.net.br", &[Ev::ImportCompleted])]),
        )
        .await
        .unwrap();
    assert_eq!(saved.targets[0].address, "noc@correio.net.br");
    assert!(saved.new_secret.is_none(), "no webhook, no secret");
    finished_import(db, t, Outcome::Completed { result: json!({}) }).await;
    announcer(db, db.store.clone()).tick().await.unwrap();
    // and "Enviar teste" to the same address
    let test = notifications
        .send_test(t, saved.targets[0].id)
        .await
        .unwrap();
    let executor = delivery_executor(db, &sealer, loopback(), Some(Arc::new(mailer)));
    for job in deliveries(db, t).await {
        let done = wait_finished(db, t, job.id).await;
        assert_eq!(done.status, JobStatus::Completed, "{:?}", done.last_error);
    }
    executor.shutdown().await;
    let mails = sink.mails();
    assert_eq!(mails.len(), 2);
    let subjects: Vec<String> = mails
        .iter()
        .map(|m| decode_subject(&m.header("subject").unwrap()))
        .collect();
    assert!(
        subjects.contains(&"[Provedor correio] Importação concluída: Noturna".to_owned()),
        "{subjects:?}"
    );
    assert!(
        subjects.contains(&"[Provedor correio] Teste de notificação".to_owned()),
        "{subjects:?}"
    );
    for m in &mails {
        assert_eq!(m.to, ["noc@correio.net.br"]);
        assert_eq!(m.from, "noreply@importa.net.br");
    }
    assert!(deliveries(db, t).await.iter().any(|d| d.id == test.job.id));
    // without SMTP the e-mail option is refused when saved, not later
    match service(db, &sealer, loopback(), false)
        .save(
            t,
            input(&[], &[("noc@correio.net.br", &[Ev::ImportFailed])]),
        )
        .await
    {
        Err(NotifyError::Invalid(e)) => assert!(e[0].message.contains("SMTP_URL")),
        other => panic!("{other:?}"),
    }
    sink.stop();
}

async fn the_silence_alert_fires_once_and_again_only_after_a_success(db: &TestDb) {
    let t = tenant(db, "silencio").await;
    let sealer = sealer();
    let mut settings = input(&[("http://127.0.0.1:9/x", &[Ev::NoSuccess])], &[]);
    settings.no_success_hours = Some(2);
    service(db, &sealer, loopback(), false)
        .save(t, settings)
        .await
        .unwrap();
    let a = announcer(db, db.store.clone());
    let t0 = db.clock_now();
    let mut alerts = 0;
    let tick_at = |offset: Duration| {
        db.clock.set(t0 + offset);
        async { a.tick().await.unwrap().deliveries }
    };
    alerts += tick_at(Duration::hours(1)).await;
    assert_eq!(alerts, 0, "not silent long enough yet");
    alerts += tick_at(Duration::hours(2) + Duration::seconds(1)).await;
    assert_eq!(alerts, 1);
    for minutes in [1, 2, 60, 180] {
        alerts += tick_at(Duration::hours(2) + Duration::minutes(minutes)).await;
    }
    assert_eq!(alerts, 1, "one alert per silence, not one per tick");
    db.clock.set(t0 + Duration::hours(6));
    finished_import(db, t, Outcome::Completed { result: json!({}) }).await;
    alerts += tick_at(Duration::hours(7)).await;
    assert_eq!(alerts, 1, "a success an hour ago");
    alerts += tick_at(Duration::hours(8) + Duration::seconds(1)).await;
    assert_eq!(alerts, 2, "silent again for two hours after the success");
    let sent = deliveries(db, t).await;
    let params = db.store.job_details(t, sent[0].id, 0).await.unwrap().params;
    assert_eq!(params["body"]["evento"], "sem_sucesso");
    assert_eq!(params["body"]["sem_sucesso"]["horas"], 2);
}

async fn a_paused_schedule_is_announced_once(db: &TestDb) {
    let t = tenant(db, "pausa").await;
    let sealer = sealer();
    service(db, &sealer, loopback(), false)
        .save(
            t,
            input(&[("http://127.0.0.1:9/x", &[Ev::SchedulePaused])], &[]),
        )
        .await
        .unwrap();
    let first = db.clock_now() + Duration::hours(5);
    db.store
        .save_schedule(
            t,
            &ScheduleInput {
                active: true,
                cron: "0 2 * * *".into(),
                pause_after_failures: 1,
                ..ScheduleInput::default()
            },
            Some(first),
        )
        .await
        .unwrap();
    db.clock.set(first);
    let scheduler = Scheduler::new(db.store.clone(), db.clock.clone());
    scheduler.tick().await.unwrap();
    let kinds = [KindLimit {
        kind: IMPORT_KIND.into(),
        per_tenant: None,
    }];
    let lease = db
        .store
        .claim("w", 1, &kinds, StdDuration::from_secs(60), 100)
        .await
        .unwrap()
        .remove(0)
        .lease;
    db.store
        .finish(
            &lease,
            Outcome::Failed {
                error: "credenciais".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(scheduler.tick().await.unwrap().paused.len(), 1);
    let a = announcer(db, db.store.clone());
    let first_tick = a.tick().await.unwrap();
    // the failed import itself is announced too (nobody wants it here)
    assert_eq!(first_tick.deliveries, 1);
    assert_eq!(a.tick().await.unwrap().announced, 0);
    let sent = deliveries(db, t).await;
    let params = db.store.job_details(t, sent[0].id, 0).await.unwrap().params;
    assert_eq!(params["body"]["evento"], "agendamento.pausado");
    assert!(params["body"]["agendamento"]["motivo"]
        .as_str()
        .unwrap()
        .contains("Pausada após 1 falhas"));
}

async fn the_signing_secret_is_shown_only_when_made(db: &TestDb) {
    let t = tenant(db, "segredo").await;
    let sealer = sealer();
    let s = service(db, &sealer, loopback(), false);
    let hook = input(&[("https://ganchos.net.br/sgp", &[Ev::ImportFailed])], &[]);
    let first = s.save(t, hook.clone()).await.unwrap();
    let secret = first.new_secret.clone().unwrap();
    assert!(first.has_secret);
    let read = s.get(t).await.unwrap();
    assert!(read.has_secret && read.new_secret.is_none());
    let again = s.save(t, hook.clone()).await.unwrap();
    assert!(again.new_secret.is_none());
    assert_eq!(
        again.targets[0].id, first.targets[0].id,
        "a kept target keeps its id"
    );
    let mut rotate = hook.clone();
    rotate.rotate_secret = true;
    let rotated = s.save(t, rotate).await.unwrap().new_secret.unwrap();
    assert_ne!(rotated, secret);
    // stored sealed, never in clear
    let record = db.store.notifications(t).await.unwrap();
    let sealed = record.secret_sealed.unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains(&rotated));
    assert_eq!(
        sealer.open(t, "webhook_secret", &sealed).unwrap().expose(),
        rotated
    );
    // every event named; no event is an error naming the target
    match s
        .save(t, input(&[("https://ganchos.net.br/b", &[])], &[]))
        .await
    {
        Err(NotifyError::Invalid(e)) => assert!(e[0].message.contains("ao menos um evento")),
        other => panic!("{other:?}"),
    }
    assert_eq!(record.targets[0].channel, Channel::Webhook);
}

async fn one_providers_deliveries_do_not_hold_up_anothers(db: &TestDb) {
    use sgp_import_core::jobs::JobHandler;
    use sgp_import_core::notify::service::MAX_PENDING_DELIVERIES;

    let (noisy, quiet) = (tenant(db, "barulhento").await, tenant(db, "calmo").await);
    let sealer = sealer();
    let s = service(db, &sealer, loopback(), false);
    let hook = input(&[("https://ganchos.test/x", &[Ev::ImportFailed])], &[]);
    let noisy_target = s.save(noisy, hook.clone()).await.unwrap().targets[0].id;
    let quiet_target = s.save(quiet, hook).await.unwrap().targets[0].id;
    // tests on demand are capped per provider
    for _ in 0..MAX_PENDING_DELIVERIES {
        s.send_test(noisy, noisy_target).await.unwrap();
    }
    match s.send_test(noisy, noisy_target).await {
        Err(NotifyError::TooManyPending(n)) => assert_eq!(n, MAX_PENDING_DELIVERIES),
        other => panic!("{other:?}"),
    }
    db.clock.advance(Duration::seconds(1));
    s.send_test(quiet, quiet_target).await.unwrap();
    // deliveries are claimed one per provider at a time: the quiet
    // provider's single one goes out beside the noisy one's first
    let job = DeliveryJob::new(db.store.clone(), db.clock.clone(), None, loopback(), None);
    let kinds = [KindLimit {
        kind: sgp_import_core::notify::NOTIFICATION_KIND.into(),
        per_tenant: job.per_tenant_limit(),
    }];
    let claimed = db
        .store
        .claim("w", 2, &kinds, StdDuration::from_secs(60), 100)
        .await
        .unwrap();
    let tenants: Vec<TenantId> = claimed.iter().map(|c| c.lease.tenant).collect();
    assert_eq!(tenants.len(), 2);
    assert!(
        tenants.contains(&noisy) && tenants.contains(&quiet),
        "{tenants:?}"
    );
}

/// Tests go to addresses an admin typed, e-mails through the operator's
/// SMTP server: a provider gets so many an hour, delivered or not, and
/// another provider's are its own.
async fn tests_are_capped_per_hour(db: &TestDb) {
    use sgp_import_core::notify::service::MAX_TESTS_AN_HOUR;

    let (busy, other) = (tenant(db, "insistente").await, tenant(db, "outro").await);
    let sealer = sealer();
    let s = service(db, &sealer, loopback(), false);
    let hook = input(&[("https://ganchos.test/x", &[Ev::ImportFailed])], &[]);
    let busy_target = s.save(busy, hook.clone()).await.unwrap().targets[0].id;
    let other_target = s.save(other, hook).await.unwrap().targets[0].id;
    for _ in 0..MAX_TESTS_AN_HOUR {
        let sent = s.send_test(busy, busy_target).await.unwrap();
        // none stays pending: the pending cap is not what refuses below
        db.store.cancel(busy, sent.job.id).await.unwrap();
        db.clock.advance(Duration::seconds(10));
    }
    db.clock.advance(Duration::minutes(10));
    match s.send_test(busy, busy_target).await {
        Err(NotifyError::TooManyTests { retry_after }) => {
            // the hour's first test leaves the window 45 minutes from now
            assert_eq!(retry_after.as_secs(), 45 * 60, "{retry_after:?}");
        }
        other => panic!("{other:?}"),
    }
    s.send_test(other, other_target).await.unwrap();
    db.clock.advance(Duration::minutes(45));
    let sent = s
        .send_test(busy, busy_target)
        .await
        .expect("the first test left the hour");
    db.store.cancel(busy, sent.job.id).await.unwrap();
    // two requests that raced past the count: 32 tests in the hour, so
    // the next one waits for the three oldest (sent 10, 20 and 30 s after
    // the first) to leave, not for the oldest alone
    for _ in 0..2 {
        let name = format!("{} → https://ganchos.test/x", Ev::Test.label());
        let raced = NewJob::new(
            busy,
            sgp_import_core::notify::NOTIFICATION_KIND,
            &name,
            json!({}),
        );
        let raced = db.store.enqueue(raced).await.unwrap();
        db.store.cancel(busy, raced.id).await.unwrap();
    }
    match s.send_test(busy, busy_target).await {
        Err(NotifyError::TooManyTests { retry_after }) => {
            assert_eq!(retry_after.as_secs(), 30, "{retry_after:?}");
        }
        other => panic!("{other:?}"),
    }
}
