//! Notifications through the running app: set over REST, a finished
//! import delivered to a real webhook receiver (signed) and a real SMTP
//! listener, a test sent on request, the deliveries listed, and e-mail
//! refused when the server has no SMTP.

use std::time::{Duration, Instant};

use fake_sgp::receivers::{SmtpSink, WebhookReceiver};
use reqwest::Method;
use serde_json::{json, Value};
use sgp_import_core::notify::signature;

use crate::helpers::{spawn_app_with, As, Db, TestApp};
use crate::on_both;

const SETTINGS: &str = "/api/admin/notificacoes";

on_both!(without_smtp_email_is_refused_when_saved_and_bad_input_is_named);

mod delivered_to_a_signed_webhook_and_an_email_and_listed {
    use crate::helpers::Db;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::delivered(Db::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::delivered(Db::Postgres).await;
    }
}

async fn put(app: &TestApp, who: &As, body: Value) -> (u16, Value) {
    app.json(Method::PUT, SETTINGS, who, Some(&body.to_string()))
        .await
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn delivered(db: Db) {
    let receiver = WebhookReceiver::start([]).await.unwrap();
    let sink = SmtpSink::start().await.unwrap();
    let smtp: &'static str = Box::leak(sink.url().into_boxed_str());
    let app = spawn_app_with(
        db,
        &[
            ("SMTP_URL", smtp),
            ("SMTP_FROM", "Importador <noreply@importa.test>"),
            ("SCHEDULE_CHECK_INTERVAL_SECONDS", "1"),
            ("PUBLIC_URL", "https://importa.test"),
        ],
    )
    .await;
    let admin = app.demo_admin().await;
    let (status, saved) = put(
        &app,
        &admin,
        json!({
            "webhooks": [{"url": receiver.url("/ganchos/sgp"), "eventos": ["importacao.concluida", "importacao.falhou"]}],
            "emails": [{"endereco": "noc@demo.test", "eventos": ["importacao.concluida"]}],
            "sem_sucesso_horas": 48
        }),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    let data = &saved["data"];
    let secret = data["segredo"]
        .as_str()
        .expect("the secret, this once")
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(data["email_disponivel"], true);
    assert_eq!(data["sem_sucesso_horas"], 48);
    let webhook_id = data["webhooks"][0]["id"].as_str().unwrap().to_owned();
    assert!(data["emails"][0]["id"].is_string());
    let (_, read) = app.json(Method::GET, SETTINGS, &admin, None).await;
    assert_eq!(read["data"]["segredo_configurado"], true);
    assert!(
        read["data"].get("segredo").is_none(),
        "shown only once: {read}"
    );

    let id = app.import_and_wait(&admin, "Avisada").await;
    wait_until("the webhook delivery", || !receiver.received().is_empty()).await;
    wait_until("the e-mail", || !sink.mails().is_empty()).await;
    let hook = &receiver.received()[0];
    assert_eq!(hook.path, "/ganchos/sgp");
    let timestamp: i64 = hook
        .header("x-sgp-import-timestamp")
        .unwrap()
        .parse()
        .unwrap();
    assert!(signature::verify(
        &secret,
        timestamp,
        &hook.body,
        hook.header("x-sgp-import-signature").unwrap()
    ));
    let body: Value = serde_json::from_slice(&hook.body).unwrap();
    assert_eq!(body["evento"], "importacao.concluida");
    assert_eq!(body["importacao"]["id"], id.as_str());
    assert_eq!(body["importacao"]["nome"], "Avisada");
    assert_eq!(body["importacao"]["origem"], "api");
    assert_eq!(body["importacao"]["status"], "completed");
    assert!(body["importacao"]["criados"].as_u64().unwrap() > 0);
    assert_eq!(
        body["importacao"]["url"],
        format!("https://importa.test/dashboard/importacoes/{id}")
    );
    let mail = &sink.mails()[0];
    assert_eq!(mail.to, ["noc@demo.test"]);
    let text = mail.text();
    assert!(
        text.contains(&format!("https://importa.test/dashboard/importacoes/{id}")),
        "{text}"
    );
    assert!(text.contains("A importação \"Avisada\""), "{text}");

    // "Enviar teste" to the webhook
    let (status, test) = app
        .json(
            Method::POST,
            "/api/admin/notificacoes/testar",
            &admin,
            Some(&json!({"id": webhook_id}).to_string()),
        )
        .await;
    assert_eq!(status, 202, "{test}");
    assert_eq!(test["data"]["evento"], "teste");
    wait_until("the test delivery", || receiver.received().len() == 2).await;
    assert_eq!(
        receiver.received()[1].header("x-sgp-import-event"),
        Some("teste")
    );

    // the deliveries, newest first, each completed
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, list) = app
            .json(
                Method::GET,
                "/api/admin/notificacoes/entregas",
                &admin,
                None,
            )
            .await;
        assert_eq!(status, 200, "{list}");
        let entregas = list["data"]["entregas"].as_array().unwrap().clone();
        if entregas.len() == 3 && entregas.iter().all(|e| e["status"] == "completed") {
            assert_eq!(list["data"]["pagination"]["total"], 3);
            assert_eq!(entregas[0]["evento"], "teste");
            // a delivery is not an import: the imports' endpoints do not know it
            let delivery = entregas[0]["id"].as_str().unwrap();
            for (method, path) in [
                (
                    Method::GET,
                    format!("/api/admin/integracoes/sgp/importacoes/{delivery}"),
                ),
                (
                    Method::POST,
                    format!("/api/admin/integracoes/sgp/importacoes/{delivery}/retry"),
                ),
                (
                    Method::DELETE,
                    format!("/api/admin/integracoes/sgp/importacoes/{delivery}"),
                ),
            ] {
                let (status, answer) = app.json(method, &path, &admin, None).await;
                assert_eq!(status, 404, "{path}: {answer}");
            }
            let canais: Vec<&str> = entregas
                .iter()
                .map(|e| e["canal"].as_str().unwrap())
                .collect();
            assert!(
                canais.contains(&"email") && canais.contains(&"webhook"),
                "{canais:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries did not complete: {list}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // deliveries are not imports: the imports' list still has one job
    let (_, imports) = app
        .json(
            Method::GET,
            "/api/admin/integracoes/sgp/importacoes/lista",
            &admin,
            None,
        )
        .await;
    assert_eq!(imports["data"]["pagination"]["total"], 1, "{imports}");
    app.stop().await;
    receiver.stop();
    sink.stop();
}

async fn without_smtp_email_is_refused_when_saved_and_bad_input_is_named(app: &TestApp) {
    let admin = app.demo_admin().await;
    let (status, got) = app.json(Method::GET, SETTINGS, &admin, None).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["data"]["email_disponivel"], false);
    assert_eq!(got["data"]["segredo_configurado"], false);
    assert_eq!(
        got["data"]["eventos_disponiveis"].as_array().unwrap().len(),
        5
    );
    for (body, field, needle) in [
        (
            json!({"emails": [{"endereco": "noc@demo.test", "eventos": ["importacao.falhou"]}]}),
            "emails",
            "SMTP_URL",
        ),
        (
            json!({"webhooks": [{"url": "https://ganchos.test/x", "eventos": ["importacao.terminou"]}]}),
            "eventos",
            "Evento desconhecido",
        ),
        (
            json!({"webhooks": [{"url": "ftp://ganchos.test/x", "eventos": ["importacao.falhou"]}]}),
            "webhooks",
            "http://",
        ),
        (
            json!({"webhooks": [{"url": "https://ganchos.test/x", "eventos": []}]}),
            "webhooks",
            "ao menos um evento",
        ),
        (
            json!({"sem_sucesso_horas": 0}),
            "sem_sucesso_horas",
            "de 1 a 720",
        ),
        (
            json!({"webhook": []}),
            "webhook",
            "Campo desconhecido `webhook`",
        ),
        (
            json!({"webhooks": [{"url": "https://ganchos.test/x", "evento": ["importacao.falhou"]}]}),
            "webhooks[0].evento",
            "os aceitos aqui são",
        ),
    ] {
        let (status, answer) = put(app, &admin, body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(needle),
            "{body}: {answer}"
        );
    }
    // a misspelt field leaves what is stored as it was
    let hook =
        json!({"webhooks": [{"url": "https://ganchos.test/x", "eventos": ["importacao.falhou"]}]});
    let (status, saved) = put(app, &admin, hook).await;
    assert_eq!(status, 200, "{saved}");
    let (status, _) = put(app, &admin, json!({"webhook": []})).await;
    assert_eq!(status, 422);
    // a field given twice, beside an answer-only one, is refused too (the
    // last `webhooks` would otherwise have won)
    let twice = r#"{"segredo_configurado": true, "webhooks": [{"url": "https://ganchos.test/y",
        "eventos": ["importacao.falhou"]}], "webhooks": []}"#;
    let (status, answer) = app.json(Method::PUT, SETTINGS, &admin, Some(twice)).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["field"], "webhooks", "{answer}");
    let (_, read) = app.json(Method::GET, SETTINGS, &admin, None).await;
    assert_eq!(
        read["data"]["webhooks"].as_array().unwrap().len(),
        1,
        "{read}"
    );
    // the answer sent back as it came is a valid body
    let (status, again) = put(app, &admin, read["data"].clone()).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["data"]["webhooks"].as_array().unwrap().len(), 1);
    let (status, missing) = app
        .json(
            Method::POST,
            "/api/admin/notificacoes/testar",
            &admin,
            Some(&json!({"id": uuid::Uuid::new_v4()}).to_string()),
        )
        .await;
    assert_eq!(status, 404, "{missing}");
}
