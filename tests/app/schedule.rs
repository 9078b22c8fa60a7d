//! Automatic syncs through the running app: set over REST with named
//! errors, run by the server itself at the slot, and every import's origin
//! in the answers and the list filter.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{As, TestApp};
use crate::on_both;

const SCHEDULE: &str = "/api/admin/integracoes/sgp/agendamento";
const LIST: &str = "/api/admin/integracoes/sgp/importacoes/lista";

/// Every minute allowed, looked for every second: a slot runs within a
/// minute of the test setting it.
const FAST: &[(&str, &str)] = &[
    ("SCHEDULE_MIN_INTERVAL_MINUTES", "1"),
    ("SCHEDULE_CHECK_INTERVAL_SECONDS", "1"),
];

macro_rules! on_both_fast {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            use crate::helpers::{spawn_app_with, Db};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = spawn_app_with(Db::Sqlite, super::FAST).await;
                super::$name(&app).await;
                app.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let app = spawn_app_with(Db::Postgres, super::FAST).await;
                super::$name(&app).await;
                app.stop().await;
            }
        }
    )+};
}

on_both!(schedules_are_checked_before_anything_is_saved);
on_both_fast!(a_saved_schedule_is_run_by_the_server_and_every_import_says_where_it_came_from);

async fn put(app: &TestApp, who: &As, body: Value) -> (u16, Value) {
    app.json(Method::PUT, SCHEDULE, who, Some(&body.to_string()))
        .await
}

fn error_of(answer: &Value) -> (&str, &str) {
    (
        answer["field"].as_str().unwrap_or_default(),
        answer["error"].as_str().unwrap_or_default(),
    )
}

async fn schedules_are_checked_before_anything_is_saved(app: &TestApp) {
    let admin = app.demo_admin().await;
    let (status, got) = app.json(Method::GET, SCHEDULE, &admin, None).await;
    assert_eq!(status, 200, "{got}");
    let data = &got["data"];
    assert_eq!(data["ativo"], false);
    assert_eq!(data["cron"], "0 2 * * *");
    assert_eq!(data["somente_alteracoes"], true);
    assert_eq!(data["pausar_apos_falhas"], 3);
    assert_eq!(data["proxima_execucao"], Value::Null);
    assert_eq!(data["fuso_horario"], "America/Sao_Paulo");
    assert_eq!(data["intervalo_minimo_minutos"], 15);

    for (body, field, needle) in [
        (
            json!({"ativo": true, "cron": "0 2 * *"}),
            "cron",
            "tem 4 campos",
        ),
        (
            json!({"ativo": true, "cron": "0 25 * * *"}),
            "cron",
            "inválida",
        ),
        (
            json!({"ativo": true, "cron": "*/5 * * * *"}),
            "cron",
            "mínimo",
        ),
        (
            json!({"ativo": true, "cron": "0 2 * * *", "pausar_apos_falhas": 0}),
            "pausar_apos_falhas",
            "de 1 a 100",
        ),
        (
            json!({"ativo": true, "cron": "0 2 * * *",
                   "data_cadastro_inicio": "2025-02-01", "data_cadastro_fim": "2025-01-01"}),
            "data_cadastro_fim",
            "anterior",
        ),
    ] {
        let (status, answer) = put(app, &admin, body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
        let (f, message) = error_of(&answer);
        assert_eq!(f, field, "{body}: {answer}");
        assert!(message.contains(needle), "{body}: {message}");
    }
    // nothing was saved by the refusals
    let (_, got) = app.json(Method::GET, SCHEDULE, &admin, None).await;
    assert_eq!(got["data"]["ativo"], false);
    // the answer, edited and sent back, is a valid body (its answer-only
    // fields ignored); a field neither takes is named
    let mut edited = got["data"].clone();
    edited["apenas_ativos"] = json!(true);
    let (status, answer) = put(app, &admin, edited.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["apenas_ativos"], true);
    edited["apenas_ativo"] = json!(false);
    let (status, answer) = put(app, &admin, edited).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(error_of(&answer).0, "apenas_ativo");

    // saved: the answer has the next slot, 02:00 in Brasília (05:00 UTC)
    let (status, saved) = put(
        app,
        &admin,
        json!({"ativo": true, "cron": "0 2 * * *", "apenas_ativos": true}),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    let next = saved["data"]["proxima_execucao"].as_str().unwrap();
    let next = chrono::DateTime::parse_from_rfc3339(next).unwrap();
    assert_eq!(next.format("%H:%M").to_string(), "05:00", "{next}");
    let until = next.signed_duration_since(chrono::Utc::now());
    assert!(until > chrono::Duration::zero() && until <= chrono::Duration::days(1));
    assert_eq!(saved["data"]["apenas_ativos"], true);

    // the OpenAPI document describes the schedule
    let (_, doc) = app
        .json(Method::GET, "/api/openapi.json", &admin, None)
        .await;
    let path = &doc["paths"][SCHEDULE];
    assert!(path["get"].is_object() && path["put"].is_object(), "{path}");

    // a provider without an SGP connection cannot turn one on
    let root = app.superadmin().await;
    let (status, answer) = put(app, &root, json!({"ativo": true, "cron": "0 2 * * *"})).await;
    assert_eq!(status, 409, "a superadmin without a provider: {answer}");
}

/// Waits for a job of this origin in the list; the list's answer.
async fn wait_for(app: &TestApp, who: &As, query: &str, what: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(100);
    loop {
        let (status, list) = app
            .json(Method::GET, &format!("{LIST}?{query}"), who, None)
            .await;
        assert_eq!(status, 200, "{list}");
        let jobs = list["data"]["importacoes"].as_array().unwrap();
        if jobs.iter().any(|j| j["status"] == "completed") {
            return list;
        }
        assert!(Instant::now() < deadline, "{what} never completed: {list}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn a_saved_schedule_is_run_by_the_server_and_every_import_says_where_it_came_from(
    app: &TestApp,
) {
    let admin = app.demo_admin().await;
    let (status, saved) = put(
        app,
        &admin,
        json!({"ativo": true, "cron": "* * * * *", "somente_alteracoes": false}),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert!(saved["data"]["proxima_execucao"].is_string());

    // the server enqueues the slot itself and the import runs
    let list = wait_for(app, &admin, "origem=agendada", "a scheduled import").await;
    let jobs = list["data"]["importacoes"].as_array().unwrap();
    assert!(jobs.iter().all(|j| j["origem"] == "agendada"), "{list}");
    let done = jobs.iter().find(|j| j["status"] == "completed").unwrap();
    assert!(
        done["nome_importacao"]
            .as_str()
            .unwrap()
            .starts_with("Sincronização agendada de "),
        "{done}"
    );
    assert!(done["criados"].as_u64().unwrap() > 0, "{done}");
    let id = done["id"].as_str().unwrap();
    let (_, details) = app
        .json(
            Method::GET,
            &format!("/api/admin/integracoes/sgp/importacoes/{id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(details["data"]["origem"], "agendada");
    // stop it, so the rest of the test sees no more scheduled runs
    let (status, off) = put(app, &admin, json!({"ativo": false, "cron": "* * * * *"})).await;
    assert_eq!(status, 200, "{off}");
    assert_eq!(off["data"]["proxima_execucao"], Value::Null);

    // an import started over REST is an API import
    app.import_and_wait(&admin, "Pelo script").await;
    let (_, api) = app
        .json(Method::GET, &format!("{LIST}?origem=api"), &admin, None)
        .await;
    assert_eq!(api["data"]["pagination"]["total"], 1, "{api}");
    assert_eq!(api["data"]["importacoes"][0]["origem"], "api");
    assert_eq!(
        api["data"]["importacoes"][0]["nome_importacao"],
        "Pelo script"
    );
    let (_, manual) = app
        .json(Method::GET, &format!("{LIST}?origem=manual"), &admin, None)
        .await;
    assert_eq!(manual["data"]["pagination"]["total"], 0, "{manual}");
    let (status, bad) = app
        .json(Method::GET, &format!("{LIST}?origem=cron"), &admin, None)
        .await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(error_of(&bad).0, "origem");
}
