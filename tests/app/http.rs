use serde_json::Value;

use crate::helpers::TestApp;
use crate::on_both;

on_both!(
    healthz_reports_the_database,
    healthz_is_503_when_the_database_is_gone,
    overview_page_is_rendered_with_data_from_the_database,
    overview_server_function_returns_json,
    unknown_pages_are_404_in_portuguese,
    responses_are_compressed_and_carry_a_request_id,
);

async fn healthz_reports_the_database(app: &TestApp) {
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], app.store().backend().name());
}

async fn healthz_is_503_when_the_database_is_gone(app: &TestApp) {
    app.store().close().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
}

async fn overview_page_is_rendered_with_data_from_the_database(app: &TestApp) {
    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"<html lang="pt-BR""#), "{html}");
    for text in [
        "Painel",
        "Integrações",
        "Importações",
        "Clientes",
        "Provedor Demonstração",
    ] {
        assert!(html.contains(text), "page lacks {text:?}: {html}");
    }
    // the hydration script for the browser bundle
    assert!(html.contains("/pkg/sgp-import.js"), "{html}");
}

async fn overview_server_function_returns_json(app: &TestApp) {
    let response = app
        .client
        .post(app.url("/api/overview"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let list = body.as_array().expect("a list of providers");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["tenant"]["slug"], "demo");
    assert_eq!(list[0]["customers"], 0);
}

async fn unknown_pages_are_404_in_portuguese(app: &TestApp) {
    let response = app.get("/nao-existe").await;
    assert_eq!(response.status(), 404);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("Página não encontrada"));
}

async fn responses_are_compressed_and_carry_a_request_id(app: &TestApp) {
    let response = app
        .client
        .get(app.url("/"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("gzip")
    );
    assert!(response.headers().contains_key("x-request-id"));
}
