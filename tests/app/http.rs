use serde_json::Value;

use reqwest::Method;

use crate::helpers::{As, TestApp};
use crate::on_both;

on_both!(
    healthz_reports_the_database,
    healthz_is_503_when_the_database_is_gone,
    overview_page_is_rendered_with_data_from_the_database,
    overview_server_function_answers_in_postcard,
    unknown_pages_are_404_in_portuguese,
    responses_are_compressed_and_carry_a_request_id,
    pages_without_a_session_go_to_login_and_come_back_after,
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
    let admin = app.demo_admin().await;
    let response = app.call(Method::GET, "/", &admin, None).await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"<html lang="pt-BR""#), "{html}");
    for text in [
        "Painel",
        "Integrações",
        "Importações",
        "Clientes",
        "Provedor Demonstração",
        "Admin Demonstração",
        "Sair",
    ] {
        assert!(html.contains(text), "page lacks {text:?}: {html}");
    }
    // the hydration script for the browser bundle
    assert!(html.contains("/pkg/sgp-import.js"), "{html}");
}

async fn overview_server_function_answers_in_postcard(app: &TestApp) {
    let (status, anonymous) = app
        .server_fn_answer::<String>("/api/overview", &As::Nobody, &[])
        .await;
    assert_eq!(status, 401);
    let error = anonymous.unwrap_err();
    assert!(error.unauthenticated);
    assert!(error.message.contains("Faça login"), "{}", error.message);
    let admin = app.demo_admin().await;
    let (status, cards) = app
        .server_fn_answer::<String>("/api/overview", &admin, &[])
        .await;
    assert_eq!(status, 200);
    // the cards come drawn by the server, with each status's count
    let cards = cards.unwrap();
    assert_eq!(cards.matches("<article").count(), 1, "{cards}");
    assert!(cards.contains(r#"id="provedor-demo""#), "{cards}");
    assert!(cards.contains(r#"data-stat="clientes">0<"#), "{cards}");
    assert!(cards.contains("Importações por situação"), "{cards}");
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
    let As::Cookie(cookie) = app.demo_admin().await else {
        unreachable!()
    };
    let response = app
        .client
        .get(app.url("/"))
        .header("cookie", cookie)
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

async fn pages_without_a_session_go_to_login_and_come_back_after(app: &TestApp) {
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for page in [
        "/",
        "/integracoes",
        "/dashboard/importacoes?status=failed",
        "/clientes",
    ] {
        let response = no_redirects.get(app.url(page)).send().await.unwrap();
        assert_eq!(response.status(), 303, "{page}");
        let location = response.headers()["location"].to_str().unwrap();
        let expected: String = url::form_urlencoded::byte_serialize(page.as_bytes()).collect();
        assert_eq!(location, format!("/login?next={expected}"));
    }
    // a forged or expired cookie is also sent to login, and dropped
    let response = no_redirects
        .get(app.url("/clientes"))
        .header("cookie", "sgp_session=forjado")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert!(response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));

    let login = app.get("/login?next=%2Fclientes").await;
    assert_eq!(login.status(), 200);
    let html = login.text().await.unwrap();
    for text in ["Entrar", "E-mail", "Senha", r#"name="password""#] {
        assert!(html.contains(text), "{text:?} missing: {html}");
    }
    // the login form posted without JavaScript: cookie, then back to `next`
    let response = no_redirects
        .post(app.url("/api/login"))
        .header("accept", "text/html")
        .form(&[
            ("email", crate::helpers::DEMO_EMAIL),
            ("password", crate::helpers::DEMO_PASSWORD),
            ("next", "/clientes"),
        ])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    assert_eq!(response.headers()["location"], "/clientes");
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();
    // behind an HTTPS proxy the cookie is Secure
    let https = no_redirects
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-proto", "https")
        .json(&serde_json::json!({
            "email": crate::helpers::DEMO_EMAIL,
            "password": crate::helpers::DEMO_PASSWORD,
        }))
        .send()
        .await
        .unwrap();
    let secure = https.headers()["set-cookie"].to_str().unwrap();
    assert!(
        secure.contains("; Secure") && secure.contains("HttpOnly"),
        "{secure}"
    );
    let page = no_redirects
        .get(app.url("/clientes"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    // a wrong password stays on the form with the reason
    let wrong = no_redirects
        .post(app.url("/api/login"))
        .header("accept", "application/json")
        .form(&[
            ("email", crate::helpers::DEMO_EMAIL),
            ("password", "errada!!"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 422);
    assert!(wrong
        .text()
        .await
        .unwrap()
        .contains("E-mail ou senha incorretos"));
    // logout ends the session
    let out = no_redirects
        .post(app.url("/api/logout"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert!(out.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let after = no_redirects
        .get(app.url("/clientes"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 303);
}
