//! The REST API: sessions and tokens, tenant isolation, the OpenAPI
//! document, malformed input, and the progress stream.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};
use sgp_import::model::ApiTokenInfo;
use uuid::Uuid;

use crate::helpers::{As, TestApp, DEMO_EMAIL};
use crate::on_both;

on_both!(
    every_endpoint_without_a_session_is_401,
    openapi_lists_exactly_the_routes_served,
    providers_see_only_their_own_jobs_customers_and_settings,
    superadmin_actions_are_403_for_provider_admins,
    repeated_failed_logins_are_throttled,
    api_tokens_work_for_scripts_until_revoked,
    malformed_input_is_a_named_400_or_422_never_a_500,
    the_legacy_fields_and_the_error_report,
    progress_streams_as_server_sent_events_until_done,
    integration_settings_are_saved_and_masked,
);

/// Every route the API promises (method, path), as providers' scripts
/// call them, plus the session and superadmin routes.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/admin/integracoes/sgp/importacoes/lista"),
    ("get", "/api/admin/integracoes/sgp/importacoes/{id}"),
    ("delete", "/api/admin/integracoes/sgp/importacoes/{id}"),
    ("post", "/api/admin/integracoes/sgp/importacoes"),
    ("post", "/api/admin/integracoes/sgp/importacoes/{id}/retry"),
    (
        "get",
        "/api/admin/integracoes/sgp/importacoes/{id}/erros.csv",
    ),
    ("post", "/api/admin/integracoes/sgp/importacoes/previa"),
    (
        "post",
        "/api/admin/integracoes/sgp/importacoes/{id}/confirmar-remocoes",
    ),
    (
        "get",
        "/api/admin/integracoes/sgp/importacoes/{id}/alteracoes",
    ),
    (
        "get",
        "/api/admin/integracoes/sgp/importacoes/{id}/alteracoes.csv",
    ),
    ("get", "/api/admin/clientes/{id}/historico"),
    ("get", "/api/admin/integracoes/sgp"),
    ("put", "/api/admin/integracoes/sgp"),
    ("post", "/api/admin/integracoes/sgp/testar"),
    ("get", "/api/admin/integracoes/sgp/agendamento"),
    ("put", "/api/admin/integracoes/sgp/agendamento"),
    ("get", "/api/admin/notificacoes"),
    ("put", "/api/admin/notificacoes"),
    ("post", "/api/admin/notificacoes/testar"),
    ("get", "/api/admin/notificacoes/entregas"),
    ("get", "/api/admin/integracoes/sgp/importar-stream"),
    ("get", "/api/admin/clientes"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/logout"),
    ("get", "/api/auth/me"),
    ("get", "/api/auth/tokens"),
    ("post", "/api/auth/tokens"),
    ("delete", "/api/auth/tokens/{id}"),
    ("get", "/api/admin/provedores"),
    ("post", "/api/auth/provedor"),
];

fn method(name: &str) -> Method {
    name.to_uppercase().parse().unwrap()
}

/// A concrete path for a route: `{id}` becomes a UUID, the stream gets one.
fn concrete(path: &str, id: &str) -> String {
    let path = path.replace("{id}", id);
    if path.ends_with("importar-stream") {
        format!("{path}?job_id={id}")
    } else {
        path
    }
}

async fn openapi_routes(app: &TestApp) -> BTreeSet<(String, String)> {
    let (status, doc) = app
        .json(Method::GET, "/api/openapi.json", &As::Nobody, None)
        .await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in ["get", "put", "post", "delete", "patch"] {
            if item.get(m).is_some() {
                routes.insert((m.to_owned(), path.clone()));
            }
        }
    }
    routes
}

async fn every_endpoint_without_a_session_is_401(app: &TestApp) {
    let id = Uuid::new_v4().to_string();
    for (m, path) in ROUTES {
        if *path == "/api/auth/login" {
            continue;
        }
        for who in [
            As::Nobody,
            As::Cookie("sgp_session=forjado".into()),
            As::Bearer("sgpi_forjado".into()),
        ] {
            let (status, body) = app
                .json(method(m), &concrete(path, &id), &who, Some("{}"))
                .await;
            assert_eq!(status, 401, "{m} {path} as {who:?}: {body}");
            assert_eq!(body["success"], false);
            assert_eq!(body["code"], "unauthenticated");
            assert_eq!(body["error"], "Faça login para continuar.");
        }
    }
    // server functions too
    for f in [
        "/api/overview",
        "/api/choose_provider",
        "/api/api_tokens",
        "/api/create_api_token",
        "/api/revoke_api_token",
    ] {
        let form = [
            ("slug", "demo"),
            ("name", "x"),
            ("days", ""),
            ("id", "00000000-0000-0000-0000-000000000000"),
        ];
        let response = app.server_fn(f, &As::Nobody, &form).await;
        assert_eq!(response.status(), 401, "{f}");
    }
}

async fn openapi_lists_exactly_the_routes_served(app: &TestApp) {
    let documented = openapi_routes(app).await;
    let promised: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, promised);
    // each documented route is served: with a session, an unknown id is
    // the API's JSON 404 (not the router's), anything else not a 404/405
    let admin = app.demo_admin().await;
    let id = Uuid::new_v4().to_string();
    for (m, path) in &documented {
        if path == "/api/auth/logout" {
            continue; // would end the session used here
        }
        let response = app
            .call(method(m), &concrete(path, &id), &admin, Some("{}"))
            .await;
        let status = response.status().as_u16();
        assert_ne!(status, 405, "{m} {path}");
        assert_ne!(status, 500, "{m} {path}");
        if status == 404 {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["code"], "not_found", "{m} {path}: {body}");
        }
    }
    // and a route that is not documented is not served
    let (status, _) = (
        app.call(
            Method::GET,
            "/api/admin/integracoes/sgp/nao-existe",
            &admin,
            None,
        )
        .await
        .status(),
        (),
    );
    assert_eq!(status, 404);
}

async fn providers_see_only_their_own_jobs_customers_and_settings(app: &TestApp) {
    let a = app.demo_admin().await;
    let (_, b) = app.other_provider("net-b").await;
    let job_a = app.import_and_wait(&a, "Importação A").await;

    // B's view of A's job: 404 on every job endpoint
    for (m, path) in ROUTES
        .iter()
        .filter(|(_, p)| p.contains("/importacoes/{id}"))
    {
        let (status, body) = app.json(method(m), &concrete(path, &job_a), &b, None).await;
        assert_eq!(status, 404, "{m} {path}: {body}");
        assert_eq!(body["code"], "not_found");
    }
    let (status, _) = app
        .json(
            Method::GET,
            &format!("/api/admin/integracoes/sgp/importar-stream?job_id={job_a}"),
            &b,
            None,
        )
        .await;
    assert_eq!(status, 404);
    // lists: A's job and customers are invisible to B
    let lista = "/api/admin/integracoes/sgp/importacoes/lista";
    let (_, list_b) = app.json(Method::GET, lista, &b, None).await;
    assert_eq!(list_b["data"]["pagination"]["total"], 0, "{list_b}");
    assert_eq!(list_b["data"]["stats"]["total"], 0);
    let (_, list_a) = app.json(Method::GET, lista, &a, None).await;
    assert_eq!(list_a["data"]["importacoes"][0]["id"], job_a.as_str());
    let (_, customers_b) = app.json(Method::GET, "/api/admin/clientes", &b, None).await;
    assert_eq!(customers_b["data"]["pagination"]["total"], 0);
    let (_, customers_a) = app.json(Method::GET, "/api/admin/clientes", &a, None).await;
    assert_eq!(customers_a["data"]["pagination"]["total"], 120);
    // A's job is still there, untouched by B's attempts
    let (status, job) = app
        .json(
            Method::GET,
            &format!("/api/admin/integracoes/sgp/importacoes/{job_a}"),
            &a,
            None,
        )
        .await;
    assert_eq!(
        (status, job["data"]["status"].as_str()),
        (200, Some("completed"))
    );
    // API tokens: B can neither see nor revoke A's, by REST or server function
    let (_, token) = app
        .json(
            Method::POST,
            "/api/auth/tokens",
            &a,
            Some(r#"{"nome": "de A"}"#),
        )
        .await;
    let token_id = token["data"]["id"].as_str().unwrap();
    let (status, _) = app
        .json(
            Method::DELETE,
            &format!("/api/auth/tokens/{token_id}"),
            &b,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let revoke = app
        .server_fn("/api/revoke_api_token", &b, &[("id", token_id)])
        .await;
    assert_eq!(revoke.status(), 404);
    let (status, listed) = app
        .server_fn_answer::<Vec<ApiTokenInfo>>("/api/api_tokens", &b, &[])
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed.unwrap(), []);
    let script = As::Bearer(token["data"]["token"].as_str().unwrap().to_owned());
    assert_eq!(
        app.json(Method::GET, "/api/auth/me", &script, None).await.0,
        200
    );
    // B's settings are B's: saving them leaves A's untouched
    let (_, before) = app
        .json(Method::GET, "/api/admin/integracoes/sgp", &a, None)
        .await;
    let (status, _) = app
        .json(
            Method::PUT,
            "/api/admin/integracoes/sgp",
            &b,
            Some(r#"{"base_url": "https://sgp.netb.com.br", "auth_mode": "token", "app": "b", "token": "token-de-b-123456"}"#),
        )
        .await;
    assert_eq!(status, 200);
    let (_, after) = app
        .json(Method::GET, "/api/admin/integracoes/sgp", &a, None)
        .await;
    assert_eq!(before, after);
    // the overview server function shows each admin their own provider only
    for (who, slug) in [(&a, "demo"), (&b, "net-b")] {
        let (_, cards) = app
            .server_fn_answer::<String>("/api/overview", who, &[])
            .await;
        let cards = cards.unwrap();
        assert_eq!(cards.matches("<article").count(), 1, "{cards}");
        assert!(
            cards.contains(&format!(r#"id="provedor-{slug}""#)),
            "{cards}"
        );
    }
}

async fn superadmin_actions_are_403_for_provider_admins(app: &TestApp) {
    let admin = app.demo_admin().await;
    let (status, body) = app
        .json(Method::GET, "/api/admin/provedores", &admin, None)
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    let (status, _) = app
        .json(
            Method::POST,
            "/api/auth/provedor",
            &admin,
            Some(r#"{"slug": "demo"}"#),
        )
        .await;
    assert_eq!(status, 403);

    let root = app.superadmin().await;
    let (status, list) = app
        .json(Method::GET, "/api/admin/provedores", &root, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["data"][0]["slug"], "demo");
    // no provider picked yet: the imports list shows every provider's
    // (read-only, as the original API did); acting on one needs a provider
    let lista = "/api/admin/integracoes/sgp/importacoes/lista";
    let (_, b) = app.other_provider("net-b").await;
    app.import_and_wait(&admin, "Da demo").await;
    app.import_and_wait(&b, "Da net-b").await;
    let (status, body) = app.json(Method::GET, lista, &root, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["pagination"]["total"], 2, "{body}");
    assert_eq!(body["data"]["stats"]["completed"], 2, "{body}");
    let mut owners: Vec<(String, String)> = body["data"]["importacoes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["nome_importacao"].as_str().unwrap().to_owned(),
                j["provedor_nome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    owners.sort();
    assert_eq!(
        owners,
        [
            ("Da demo".to_owned(), "Provedor Demonstração".to_owned()),
            ("Da net-b".to_owned(), "Provedor net-b".to_owned())
        ]
    );
    // with an origin, the counts are that origin's
    for (origin, n) in [("api", 2), ("manual", 0)] {
        let (status, of_origin) = app
            .json(
                Method::GET,
                &format!("{lista}?origem={origin}&status=completed"),
                &root,
                None,
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(of_origin["data"]["pagination"]["total"], n, "{of_origin}");
        assert_eq!(of_origin["data"]["stats"]["completed"], n, "{of_origin}");
        assert_eq!(of_origin["data"]["stats"]["total"], n, "{of_origin}");
    }
    let one = body["data"]["importacoes"][0]["id"].as_str().unwrap();
    let (status, body) = app
        .json(
            Method::DELETE,
            &format!("/api/admin/integracoes/sgp/importacoes/{one}"),
            &root,
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("provider_required"))
    );
    let (status, _) = app
        .json(
            Method::POST,
            "/api/auth/provedor",
            &root,
            Some(r#"{"slug": "nao-existe"}"#),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .json(
            Method::POST,
            "/api/auth/provedor",
            &root,
            Some(r#"{"slug": "demo"}"#),
        )
        .await;
    assert_eq!(status, 200);
    let (status, me) = app.json(Method::GET, "/api/auth/me", &root, None).await;
    assert_eq!(status, 200);
    assert!(me["data"]["provedor_id"].is_string());
    let (status, _) = app.json(Method::GET, lista, &root, None).await;
    assert_eq!(status, 200);
    // a superadmin's API token stays where it is, told so (not a failure)
    let (status, created) = app
        .json(
            Method::POST,
            "/api/auth/tokens",
            &root,
            Some(r#"{"nome": "script do operador"}"#),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let script = As::Bearer(created["data"]["token"].as_str().unwrap().to_owned());
    let (status, body) = app
        .json(
            Method::POST,
            "/api/auth/provedor",
            &script,
            Some(r#"{"slug": "net-b"}"#),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("Só uma sessão de navegador"),
        "{body}"
    );
    let (status, _) = app
        .json(
            Method::POST,
            "/api/auth/provedor",
            &root,
            Some(r#"{"slug": "net-b"}"#),
        )
        .await;
    assert_eq!(status, 200);
}

async fn repeated_failed_logins_are_throttled(app: &TestApp) {
    let attempt = |password: &str| {
        let body = json!({"email": DEMO_EMAIL, "password": password}).to_string();
        async move {
            app.call(Method::POST, "/api/auth/login", &As::Nobody, Some(&body))
                .await
        }
    };
    for _ in 0..5 {
        let r = attempt("errada!!").await;
        assert_eq!(r.status(), 422);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "E-mail ou senha incorretos.");
        assert_eq!(body["field"], "email");
    }
    let blocked = attempt(crate::helpers::DEMO_PASSWORD).await;
    assert_eq!(blocked.status(), 429);
    assert_eq!(blocked.headers()["retry-after"], "900");
    let body: Value = blocked.json().await.unwrap();
    assert_eq!(body["code"], "too_many_attempts");
    assert!(body["error"].as_str().unwrap().contains("15 minutos"));
}

async fn api_tokens_work_for_scripts_until_revoked(app: &TestApp) {
    let admin = app.demo_admin().await;
    let (status, created) = app
        .json(
            Method::POST,
            "/api/auth/tokens",
            &admin,
            Some(r#"{"nome": "relatórios"}"#),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let token = created["data"]["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("sgpi_"));
    let script = As::Bearer(token.clone());
    let lista = "/api/admin/integracoes/sgp/importacoes/lista";
    assert_eq!(app.json(Method::GET, lista, &script, None).await.0, 200);
    // listed without the token itself
    let (_, listed) = app
        .json(Method::GET, "/api/auth/tokens", &admin, None)
        .await;
    assert_eq!(listed["data"][0]["nome"], "relatórios");
    assert!(!listed.to_string().contains(&token));
    let id = created["data"]["id"].as_str().unwrap();
    let (status, _) = app
        .json(
            Method::DELETE,
            &format!("/api/auth/tokens/{id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.json(Method::GET, lista, &script, None).await.0, 401);
    // logout ends the browser session
    assert_eq!(
        app.json(Method::POST, "/api/auth/logout", &admin, None)
            .await
            .0,
        200
    );
    assert_eq!(app.json(Method::GET, lista, &admin, None).await.0, 401);
}

async fn malformed_input_is_a_named_400_or_422_never_a_500(app: &TestApp) {
    let admin = app.demo_admin().await;
    let imports = "/api/admin/integracoes/sgp/importacoes";
    let lista = "/api/admin/integracoes/sgp/importacoes/lista";
    let cases: Vec<(Method, String, Option<&str>, u16, &str)> = vec![
        (
            Method::POST,
            imports.into(),
            Some("{\"nome_importacao\": "),
            400,
            "body",
        ),
        (Method::POST, imports.into(), Some(""), 400, "body"),
        (Method::POST, imports.into(), Some("[1, 2]"), 422, "body"),
        (
            Method::POST,
            imports.into(),
            Some(r#"{"nome_importacao": 5}"#),
            422,
            "nome_importacao",
        ),
        (
            Method::POST,
            imports.into(),
            Some(r#"{"nome_importacao": "nome\u0000nulo"}"#),
            422,
            "nome_importacao",
        ),
        (
            Method::POST,
            imports.into(),
            Some(r#"{"nome_importacao": "x", "apenas_ativos": "sim"}"#),
            422,
            "apenas_ativos",
        ),
        (
            Method::POST,
            imports.into(),
            Some(r#"{"nome_importacao": "x", "data_cadastro_inicio": "2024-13-01"}"#),
            422,
            "data_cadastro_inicio",
        ),
        (
            Method::POST,
            imports.into(),
            Some(
                r#"{"nome_importacao": "x", "data_cadastro_inicio": "2024-05-01", "data_cadastro_fim": "2024-01-01"}"#,
            ),
            422,
            "data_cadastro_fim",
        ),
        (
            Method::POST,
            format!("{imports}/previa"),
            Some(
                r#"{"nome_importacao": "", "data_cadastro_inicio": "2024-05-01", "data_cadastro_fim": "2024-01-01"}"#,
            ),
            422,
            "data_cadastro_fim",
        ),
        (
            Method::GET,
            format!("{lista}?status=concluida"),
            None,
            400,
            "status",
        ),
        (
            Method::GET,
            format!("{lista}?status=queued,nada"),
            None,
            400,
            "status",
        ),
        (Method::GET, format!("{lista}?limit=0"), None, 400, "limit"),
        (
            Method::GET,
            format!("{lista}?limit=101"),
            None,
            400,
            "limit",
        ),
        (
            Method::GET,
            format!("{lista}?limit=dez"),
            None,
            400,
            "limit",
        ),
        (
            Method::GET,
            format!("{lista}?offset=-1"),
            None,
            400,
            "offset",
        ),
        (
            Method::GET,
            format!("{imports}/nao-e-uuid"),
            None,
            400,
            "id",
        ),
        (Method::DELETE, format!("{imports}/123"), None, 400, "id"),
        // not even UTF-8: still the JSON answer naming the field
        (Method::GET, format!("{imports}/%FF"), None, 400, "id"),
        (
            Method::POST,
            imports.to_string(),
            Some(r#"{"nome_importacao": "x", "data_cadastro_fim": "2023-02-29"}"#),
            422,
            "data_cadastro_fim",
        ),
        (Method::POST, format!("{imports}/x/retry"), None, 400, "id"),
        (
            Method::GET,
            format!("{imports}/x/erros.csv"),
            None,
            400,
            "id",
        ),
        (
            Method::GET,
            "/api/admin/integracoes/sgp/importar-stream".into(),
            None,
            400,
            "job_id",
        ),
        (
            Method::GET,
            "/api/admin/integracoes/sgp/importar-stream?job_id=zzz".into(),
            None,
            400,
            "job_id",
        ),
        (
            Method::PUT,
            "/api/admin/integracoes/sgp".into(),
            Some(r#"{"base_url": "ftp://x", "auth_mode": "token", "app": "a", "token": "t"}"#),
            422,
            "base_url",
        ),
        (
            Method::PUT,
            "/api/admin/integracoes/sgp".into(),
            Some(r#"{"base_url": "https://sgp.net.br", "auth_mode": "chave"}"#),
            422,
            "auth_mode",
        ),
        (
            Method::PUT,
            "/api/admin/integracoes/sgp".into(),
            Some(r#"{"base_url": "https://sgp.net.br", "auth_mode": "basic", "username": "u"}"#),
            422,
            "password",
        ),
        (
            Method::PUT,
            "/api/admin/integracoes/sgp".into(),
            Some(r#"{"auth_mode": "token"}"#),
            422,
            "body",
        ),
        (
            Method::GET,
            "/api/admin/clientes?status=talvez".into(),
            None,
            400,
            "status",
        ),
        (
            Method::GET,
            "/api/admin/clientes?limit=1000".into(),
            None,
            400,
            "limit",
        ),
        (
            Method::POST,
            "/api/auth/tokens".into(),
            Some(r#"{"nome": ""}"#),
            422,
            "nome",
        ),
        (
            Method::DELETE,
            "/api/auth/tokens/abc".into(),
            None,
            400,
            "id",
        ),
        (
            Method::POST,
            "/api/auth/login".into(),
            Some(r#"{"email": 1}"#),
            422,
            "email",
        ),
        (
            Method::POST,
            "/api/auth/login".into(),
            Some(r#"{"email": "", "password": ""}"#),
            422,
            "email",
        ),
    ];
    for (m, path, body, status, field) in cases {
        let (got, answer) = app.json(m.clone(), &path, &admin, body).await;
        assert_eq!(got, status, "{m} {path} {body:?}: {answer}");
        assert_eq!(answer["success"], false);
        assert_eq!(answer["field"], field, "{m} {path} {body:?}: {answer}");
        assert!(!answer["error"].as_str().unwrap().is_empty());
    }
    // nothing was queued by any of it
    let (_, list) = app.json(Method::GET, lista, &admin, None).await;
    assert_eq!(list["data"]["pagination"]["total"], 0);
}

async fn the_legacy_fields_and_the_error_report(app: &TestApp) {
    let admin = app.demo_admin().await;
    let id = app.import_and_wait(&admin, "Campos").await;

    let (status, list) = app
        .json(
            Method::GET,
            "/api/admin/integracoes/sgp/importacoes/lista?status=completed&limit=5",
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["success"], true);
    let data = &list["data"];
    assert_eq!(
        data["pagination"],
        json!({"total": 1, "limit": 5, "offset": 0, "hasMore": false})
    );
    assert_eq!(data["stats"]["completed"], 1);
    assert_eq!(data["stats"]["queued"], 0);
    let job = &data["importacoes"][0];
    for field in [
        "id",
        "status",
        "nome_importacao",
        "total_estimado",
        "processados",
        "criados",
        "atualizados",
        "erros",
        "progresso_percent",
        "eta_segundos",
        "mensagem_atual",
        "queue_position",
        "created_at",
        "started_at",
        "finalizado_em",
        "provedor_nome",
    ] {
        assert!(job.get(field).is_some(), "{field} missing: {job}");
    }
    assert_eq!(job["provedor_nome"], "Provedor Demonstração");
    assert_eq!(job["nome_importacao"], "Campos");
    assert_eq!(job["processados"], 120);
    assert_eq!(job["progresso_percent"], 100.0);
    let (_, details) = app
        .json(
            Method::GET,
            &format!("/api/admin/integracoes/sgp/importacoes/{id}"),
            &admin,
            None,
        )
        .await;
    let stats = &details["data"]["stats"];
    assert!(stats["duracao_total"].as_f64().unwrap() >= 0.0, "{stats}");
    assert!(stats["tempo_na_fila"].as_f64().unwrap() >= 0.0, "{stats}");
    assert!(stats.get("velocidade_media").is_some(), "{stats}");
    assert_eq!(details["data"]["provedor_nome"], "Provedor Demonstração");
    let logs = details["data"]["logs"].as_array().unwrap();
    assert!(logs.len() >= 2);
    for line in logs {
        assert!(
            line["timestamp"].is_string()
                && line["level"].is_string()
                && line["message"].is_string()
        );
    }
    // the report: a header and one line per failed row
    let response = app
        .call(
            Method::GET,
            &format!("/api/admin/integracoes/sgp/importacoes/{id}/erros.csv"),
            &admin,
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("attachment"));
    let csv = response.bytes().await.unwrap();
    // a BOM, so spreadsheets read the accents right
    assert!(csv.starts_with("\u{feff}".as_bytes()));
    let csv = String::from_utf8(csv[3..].to_vec()).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("chave_sgp;motivo;offset_pagina"));
    assert_eq!(lines.count() as u64, job["erros"].as_u64().unwrap());
    // a finished job cannot be cancelled; it can't be retried either
    let (status, body) = app
        .json(
            Method::DELETE,
            &format!("/api/admin/integracoes/sgp/importacoes/{id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    let (status, _) = app
        .json(
            Method::POST,
            &format!("/api/admin/integracoes/sgp/importacoes/{id}/retry"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 409);
    // a click with no name is enough: the import gets a dated name
    let (status, unnamed) = app
        .json(
            Method::POST,
            "/api/admin/integracoes/sgp/importacoes",
            &admin,
            Some("{}"),
        )
        .await;
    assert_eq!(status, 201, "{unnamed}");
    let name = unnamed["data"]["nome_importacao"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(name.starts_with("Importação de "), "{name}");
    assert_eq!(name.len(), "Importação de 01/12/2026 20:45".len(), "{name}");
    // `status=all` is the original API's "no filter"; hasMore says a page follows
    let (status, all) = app
        .json(
            Method::GET,
            "/api/admin/integracoes/sgp/importacoes/lista?status=all&limit=1",
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["data"]["pagination"]["total"], 2, "{all}");
    assert_eq!(all["data"]["pagination"]["hasMore"], true, "{all}");
}

async fn progress_streams_as_server_sent_events_until_done(app: &TestApp) {
    let admin = app.demo_admin().await;
    let (status, started) = app
        .json(
            Method::POST,
            "/api/admin/integracoes/sgp/importacoes",
            &admin,
            Some(r#"{"nome_importacao": "Ao vivo", "apenas_ativos": true}"#),
        )
        .await;
    assert_eq!(status, 201);
    let id = started["data"]["id"].as_str().unwrap();
    let response = app
        .call(
            Method::GET,
            &format!("/api/admin/integracoes/sgp/importar-stream?job_id={id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    // the stream ends by itself after `done`
    let text = tokio::time::timeout(std::time::Duration::from_secs(60), response.text())
        .await
        .expect("the stream ends when the job does")
        .unwrap();
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(events.last(), Some(&"done"), "{text}");
    assert!(events[..events.len() - 1].iter().all(|e| *e == "progress"));
    let last_data = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap();
    let job: Value = serde_json::from_str(last_data).unwrap();
    assert_eq!(job["status"], "completed");
    assert_eq!(job["id"], id);
}

async fn integration_settings_are_saved_and_masked(app: &TestApp) {
    let (_, b) = app.other_provider("net-b").await;
    let path = "/api/admin/integracoes/sgp";
    let (status, saved) = app
        .json(
            Method::PUT,
            path,
            &b,
            Some(r#"{"base_url": "https://sgp.netb.com.br/admin/", "auth_mode": "basic", "username": "integra", "password": "SenhaMuitoSecreta-9f3c"}"#),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["data"]["base_url"], "https://sgp.netb.com.br");
    // a password shows none of its characters
    assert_eq!(saved["data"]["password"], "••••••••");
    let (_, read) = app.json(Method::GET, path, &b, None).await;
    assert_eq!(read["data"]["auth_mode"], "basic");
    assert_eq!(read["data"]["username"], "integra");
    assert!(!read.to_string().contains("SenhaMuitoSecreta"));
    // the demo's token never shows in clear either
    let demo = app.demo_admin().await;
    let (_, read) = app.json(Method::GET, path, &demo, None).await;
    assert!(read["data"]["token"].as_str().unwrap().starts_with("••••"));
    assert!(!read.to_string().contains("d3m0-t0k3n"));
    let (status, tested) = app
        .json(
            Method::POST,
            "/api/admin/integracoes/sgp/testar",
            &demo,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(tested["data"]["ok"], true, "{tested}");
    assert_eq!(tested["data"]["clientes"], 120);
    // a connection that fails says why, without the secret
    let (_, c) = app.other_provider("net-c").await;
    app.json(Method::PUT, path, &c, Some(r#"{"base_url": "http://127.0.0.1:9", "auth_mode": "token", "app": "x", "token": "t0k3n-n40-s3cr3t0-xyz"}"#)).await;
    let (status, tested) = app
        .json(Method::POST, "/api/admin/integracoes/sgp/testar", &c, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(tested["data"]["ok"], false);
    assert!(!tested.to_string().contains("t0k3n-n40"));
}
