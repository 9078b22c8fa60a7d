//! The app against hostile browsers and tenants: forged cross-site writes
//! and logins, non-JSON REST bodies, the `__Host-` cookie over HTTPS,
//! `next` that tries to leave the site, security headers and the page's
//! Content-Security-Policy, control characters in every input, the queue
//! cap, the progress stream's re-checks, API tokens that only sessions
//! make, and costly lists taken a few at a time per provider.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use sgp_import::api::error::UiError;

use crate::helpers::{spawn_app_with, As, Db, TestApp, DEMO_EMAIL, DEMO_PASSWORD};
use crate::on_both;

on_both!(
    cross_site_writes_and_logins_are_refused,
    rest_bodies_must_be_json,
    control_characters_are_refused_with_the_field_named,
    only_a_session_creates_api_tokens_and_they_may_expire,
    a_disabled_account_reads_as_a_wrong_password,
    costly_lists_take_turns_per_provider,
);

/// `on_slow_demo!(name)`: the test on both databases, against a demo SGP
/// that takes 4 s a page (imports stay active long enough to watch) and a
/// cap of 3 active imports per provider.
macro_rules! on_slow_demo {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            use crate::helpers::{spawn_app_with, Db};

            const SLOW: &[(&str, &str)] = &[
                ("DEMO_SGP_LATENCY_MS", "4000"),
                ("IMPORT_MAX_ACTIVE_PER_TENANT", "3"),
            ];

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = spawn_app_with(Db::Sqlite, SLOW).await;
                super::$name(&app).await;
                app.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let app = spawn_app_with(Db::Postgres, SLOW).await;
                super::$name(&app).await;
                app.stop().await;
            }
        }
    )+};
}

on_slow_demo!(
    a_provider_cannot_queue_without_limit,
    the_progress_stream_ends_with_the_session_and_is_capped,
);

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn cookie_of(who: &As) -> &str {
    match who {
        As::Cookie(c) => c,
        _ => panic!("a session expected"),
    }
}

const START: &str = "/api/admin/integracoes/sgp/importacoes";

async fn cross_site_writes_and_logins_are_refused(app: &TestApp) {
    let admin = app.demo_admin().await;
    let here = format!("http://{}", app.addr);
    let body = json!({"nome_importacao": "Forjada"}).to_string();
    let post = |origin: Option<&str>, fetch_site: Option<&str>| {
        let mut r = app
            .client
            .post(app.url(START))
            .header("cookie", cookie_of(&admin))
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        if let Some(s) = fetch_site {
            r = r.header("sec-fetch-site", s);
        }
        r.send()
    };
    for (origin, site) in [
        (Some("http://evil.example"), None),
        (Some("null"), None),
        (Some("http://127.0.0.1:1"), None),
        (None, Some("cross-site")),
        (None, Some("same-site")),
        (Some("http://evil.example"), Some("same-origin")),
    ] {
        let response = post(origin, site).await.unwrap();
        assert_eq!(response.status(), 403, "{origin:?} {site:?}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["code"], "cross_origin", "{error}");
        assert!(error["error"]
            .as_str()
            .unwrap()
            .contains("não veio deste site"));
    }
    // nothing was queued by the forged requests
    let (_, list) = app
        .json(Method::GET, &format!("{START}/lista"), &admin, None)
        .await;
    assert_eq!(list["data"]["pagination"]["total"], 0, "{list}");
    // the same request from the app's own pages goes through
    assert_eq!(post(Some(&here), None).await.unwrap().status(), 201);
    assert_eq!(post(None, Some("same-origin")).await.unwrap().status(), 201);

    // a server function answers the page in its own format
    let forged = app
        .client
        .post(app.url("/api/create_api_token"))
        .header("cookie", cookie_of(&admin))
        .header("origin", "http://evil.example")
        .form(&[("name", "roubado"), ("days", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let bytes = forged.bytes().await.unwrap();
    let error: UiError = postcard::from_bytes(&bytes).expect("a UiError in postcard");
    assert!(error.message.contains("não veio deste site"), "{error:?}");

    // a forged login needs no cookie to do harm: refused too
    let login = json!({"email": DEMO_EMAIL, "password": DEMO_PASSWORD}).to_string();
    let forged_login = app
        .client
        .post(app.url("/api/auth/login"))
        .header("origin", "http://evil.example")
        .header("content-type", "application/json")
        .body(login.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(forged_login.status(), 403);
    assert!(!forged_login.headers().contains_key("set-cookie"));
    let forged_form_login = no_redirects()
        .post(app.url("/api/login"))
        .header("origin", "http://evil.example")
        .form(&[("email", DEMO_EMAIL), ("password", DEMO_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged_form_login.status(), 403);
    assert!(!forged_form_login.headers().contains_key("set-cookie"));
    // and a forged logout leaves the session alone
    let forged_logout = app
        .client
        .post(app.url("/api/logout"))
        .header("cookie", cookie_of(&admin))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(forged_logout.status(), 403);
    let (me, _) = app.json(Method::GET, "/api/auth/me", &admin, None).await;
    assert_eq!(me, 200, "the session survived");

    // scripts with a token are not browsers: no origin rule
    let (status, created) = app
        .json(
            Method::POST,
            "/api/auth/tokens",
            &admin,
            Some(r#"{"nome": "script"}"#),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let token = created["data"]["token"].as_str().unwrap();
    let by_script = app
        .client
        .post(app.url(START))
        .header("authorization", format!("Bearer {token}"))
        .header("origin", "http://evil.example")
        .header("content-type", "application/json")
        .body(json!({"nome_importacao": "Por script"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(by_script.status(), 201);
    // reads are not affected
    let read = app
        .client
        .get(app.url(&format!("{START}/lista")))
        .header("cookie", cookie_of(&admin))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
}

async fn rest_bodies_must_be_json(app: &TestApp) {
    let admin = app.demo_admin().await;
    for (path, content_type) in [
        ("/api/auth/login", Some("text/plain")),
        ("/api/auth/login", Some("application/x-www-form-urlencoded")),
        (START, Some("text/plain;charset=UTF-8")),
        (START, None),
        ("/api/auth/tokens", Some("multipart/form-data; boundary=x")),
    ] {
        let mut request = app
            .client
            .post(app.url(path))
            .header("cookie", cookie_of(&admin))
            .body(json!({"email": DEMO_EMAIL, "password": DEMO_PASSWORD, "nome_importacao": "x", "nome": "x"}).to_string());
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 415, "{path} {content_type:?}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["code"], "unsupported_media_type");
        assert!(error["error"]
            .as_str()
            .unwrap()
            .contains("application/json"));
    }
}

async fn control_characters_are_refused_with_the_field_named(app: &TestApp) {
    let admin = app.demo_admin().await;
    let cases = [
        (
            Method::POST,
            START.to_owned(),
            json!({"nome_importacao": "Março\u{0}"}),
            "nome_importacao",
        ),
        (
            Method::POST,
            "/api/auth/tokens".to_owned(),
            json!({"nome": "script\u{0}"}),
            "nome",
        ),
        (
            Method::PUT,
            "/api/admin/integracoes/sgp".to_owned(),
            json!({"base_url": "https://sgp.x.com.br\u{0}", "auth_mode": "token", "app": "a", "token": "t\u{1b}"}),
            "base_url",
        ),
        (
            Method::POST,
            "/api/auth/login".to_owned(),
            json!({"email": "ana\u{0}@x.com.br", "password": "senha-qualquer"}),
            "email",
        ),
    ];
    for (method, path, body, field) in cases {
        let (status, error) = app
            .json(method, &path, &admin, Some(&body.to_string()))
            .await;
        assert_eq!(status, 422, "{path}: {error}");
        assert_eq!(error["field"], field, "{path}: {error}");
        assert!(
            error["error"]
                .as_str()
                .unwrap()
                .contains("caracteres de controle"),
            "{error}"
        );
    }
    // the search box too (a query parameter)
    let (status, error) = app
        .json(Method::GET, "/api/admin/clientes?q=ana%00", &admin, None)
        .await;
    assert_eq!(status, 422, "{error}");
    assert_eq!(error["field"], "q");
    // nothing stored was touched: the integration still works
    let (status, test) = app
        .json(
            Method::POST,
            "/api/admin/integracoes/sgp/testar",
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(test["data"]["ok"], true, "{test}");
}

async fn a_provider_cannot_queue_without_limit(app: &TestApp) {
    let admin = app.demo_admin().await;
    let mut refused = None;
    for n in 0..12 {
        let body = json!({"nome_importacao": format!("Fila {n}")}).to_string();
        let (status, answer) = app.json(Method::POST, START, &admin, Some(&body)).await;
        if status == 409 {
            refused = Some((n, answer));
            break;
        }
        assert_eq!(status, 201, "{answer}");
    }
    let (n, answer) = refused.expect("the 4th active import is refused");
    assert_eq!(n, 3, "three queued or running, then refused");
    assert_eq!(answer["code"], "conflict");
    assert!(answer["error"].as_str().unwrap().contains("3 importações"));
}

async fn the_progress_stream_ends_with_the_session_and_is_capped(app: &TestApp) {
    let admin = app.demo_admin().await;
    let body = json!({"nome_importacao": "Ao vivo"}).to_string();
    let (_, job) = app.json(Method::POST, START, &admin, Some(&body)).await;
    let id = job["data"]["id"].as_str().unwrap().to_owned();
    let url = app.url(&format!(
        "/api/admin/integracoes/sgp/importar-stream?job_id={id}"
    ));
    let open = || {
        app.client
            .get(&url)
            .header("cookie", cookie_of(&admin))
            .send()
    };
    let mut streams = Vec::new();
    for _ in 0..5 {
        let s = open().await.unwrap();
        assert_eq!(s.status(), 200);
        streams.push(s);
    }
    let sixth = open().await.unwrap();
    assert_eq!(sixth.status(), 429);
    assert!(sixth.headers().contains_key("retry-after"));
    // a stream given up frees its slot
    drop(streams.pop());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again = open().await.unwrap();
    assert_eq!(again.status(), 200);
    streams.push(again);

    // after logout the open streams end with an `error` event
    let (status, _) = app
        .json(Method::POST, "/api/auth/logout", &admin, None)
        .await;
    assert_eq!(status, 200);
    let mut stream = streams.pop().unwrap();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("the stream ended within the re-check interval")
            .unwrap();
        match chunk {
            Some(bytes) => text.push_str(&String::from_utf8_lossy(&bytes)),
            None => break,
        }
    }
    assert!(text.contains("event: error"), "{text}");
    assert!(text.contains("Faça login para continuar."), "{text}");
}

async fn only_a_session_creates_api_tokens_and_they_may_expire(app: &TestApp) {
    let admin = app.demo_admin().await;
    let (status, created) = app
        .json(
            Method::POST,
            "/api/auth/tokens",
            &admin,
            Some(r#"{"nome": "por 30 dias", "validade_dias": 30}"#),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let expires = created["data"]["expira_em"].as_str().unwrap();
    let expires = chrono::DateTime::parse_from_rfc3339(expires).unwrap();
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours();
    assert!((29 * 24..=30 * 24).contains(&days), "{days} h");
    let token = As::Bearer(created["data"]["token"].as_str().unwrap().to_owned());
    let (status, refused) = app
        .json(
            Method::POST,
            "/api/auth/tokens",
            &token,
            Some(r#"{"nome": "filho"}"#),
        )
        .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["code"], "session_required");
    for days in ["0", "3651", "-1"] {
        let (status, error) = app
            .json(
                Method::POST,
                "/api/auth/tokens",
                &admin,
                Some(&format!(r#"{{"nome": "x", "validade_dias": {days}}}"#)),
            )
            .await;
        assert_eq!(status, 422, "{days}: {error}");
        assert_eq!(error["field"], "validade_dias", "{days}: {error}");
    }
}

async fn a_disabled_account_reads_as_a_wrong_password(app: &TestApp) {
    let (_, _) = app.other_provider("desativado").await;
    let email = "admin@desativado.com.br";
    let user = app
        .store()
        .user_credentials(&sgp_import_core::model::Email::parse(email).unwrap())
        .await
        .unwrap()
        .unwrap()
        .0;
    app.disable_user(user.id).await;
    let attempt = |password: &'static str| {
        let body = json!({"email": email, "password": password}).to_string();
        async move {
            app.json(Method::POST, "/api/auth/login", &As::Nobody, Some(&body))
                .await
        }
    };
    let (right_status, right) = attempt(crate::helpers::PASSWORD).await;
    let (wrong_status, wrong) = attempt("errada-errada").await;
    assert_eq!((right_status, wrong_status), (422, 422));
    assert_eq!(right, wrong);
}

/// Over HTTPS (here, a public URL that says so) the session cookie is
/// `__Host-sgp_session`, Secure; writes must come from the public origin
/// even when a proxy rewrote the Host; a plain `sgp_session` cookie, which
/// a sibling subdomain could plant, is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_https_the_cookie_is_host_prefixed_and_the_public_origin_rules() {
    let app = spawn_app_with(
        Db::Sqlite,
        &[("PUBLIC_URL", "https://importa.provedor.com.br")],
    )
    .await;
    let public = "https://importa.provedor.com.br";
    let login = app
        .client
        .post(app.url("/api/auth/login"))
        .header("origin", public)
        .json(&json!({"email": DEMO_EMAIL, "password": DEMO_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    assert!(login
        .headers()
        .get("strict-transport-security")
        .is_some_and(|v| v.to_str().unwrap().contains("max-age=")));
    let set = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.starts_with("__Host-sgp_session="), "{set}");
    assert!(set.contains("; Secure") && set.contains("Path=/"), "{set}");
    assert!(!set.contains("Domain"), "{set}");
    let cookie = set.split(';').next().unwrap().to_owned();
    let token = cookie.split_once('=').unwrap().1.to_owned();
    let (status, _) = app
        .json(
            Method::GET,
            "/api/auth/me",
            &As::Cookie(cookie.clone()),
            None,
        )
        .await;
    assert_eq!(status, 200);
    // the same token under the plain name is not a session here
    let (status, _) = app
        .json(
            Method::GET,
            "/api/auth/me",
            &As::Cookie(format!("sgp_session={token}")),
            None,
        )
        .await;
    assert_eq!(status, 401);
    // the origin checked is the public one, not the Host the proxy sent
    let write = |origin: &str| {
        app.client
            .post(app.url(START))
            .header("cookie", &cookie)
            .header("origin", origin)
            .json(&json!({"nome_importacao": "Pelo proxy"}))
            .send()
    };
    assert_eq!(write(public).await.unwrap().status(), 201);
    let here = format!("http://{}", app.addr);
    assert_eq!(write(&here).await.unwrap().status(), 403);
    assert_eq!(
        write("https://outro.provedor.com.br")
            .await
            .unwrap()
            .status(),
        403
    );
    app.stop().await;
}

/// `next` after login is followed only within the site; tabs, line breaks
/// and NUL in it neither leave the site nor break the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_never_redirects_off_the_site() {
    let app = crate::helpers::spawn_app(Db::Sqlite).await;
    for (next, expected) in [
        ("/clientes?q=ana", "/clientes?q=ana"),
        ("/\t/evil.example", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/x\r\nSet-Cookie: a=b", "/"),
        ("/x\0y", "/"),
    ] {
        let response = no_redirects()
            .post(app.url("/api/login"))
            .header("accept", "text/html")
            .form(&[
                ("email", DEMO_EMAIL),
                ("password", DEMO_PASSWORD),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_redirection(),
            "{next:?}: {}",
            response.status()
        );
        assert_eq!(response.headers()["location"], expected, "{next:?}");
    }
    app.stop().await;
}

/// Every response carries the security headers; a page's policy names the
/// nonce its inline scripts carry, and allows no inline style.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_carry_security_headers_and_pages_a_nonce_policy() {
    let app = crate::helpers::spawn_app(Db::Sqlite).await;
    for path in ["/login", "/healthz", "/api/openapi.json", "/nao-existe"] {
        let response = app.get(path).await;
        let h = response.headers();
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert!(h.contains_key("content-security-policy"), "{path}");
        assert!(!h.contains_key("strict-transport-security"), "plain HTTP");
    }
    let page = app.get("/login").await;
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce in the policy")
        .to_owned();
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "{html}");
    for part in [
        "frame-ancestors 'none'",
        "'wasm-unsafe-eval'",
        "style-src 'self';",
        "object-src 'none'",
    ] {
        assert!(policy.contains(part), "{part:?} in {policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert!(!html.contains(" style=\""), "no inline styles: {html}");
    // a second response has another nonce
    let other = app.get("/login").await;
    assert!(!other.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains(&nonce));
    // behind an HTTPS proxy, HSTS
    let https = app
        .client
        .get(app.url("/login"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(https.headers().contains_key("strict-transport-security"));
    app.stop().await;
}

/// Arguments a server function cannot decode are the caller's fault: a 400
/// with the page's "reload" message, never the framework's 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_server_function_arguments_are_400() {
    let app = crate::helpers::spawn_app(Db::Sqlite).await;
    let admin = app.demo_admin().await;
    for form in [
        &[("name", "sem validade")][..],
        &[("form[base_url]", "x")][..],
    ] {
        let response = app.server_fn("/api/create_api_token", &admin, form).await;
        assert_eq!(response.status(), 400, "{form:?}");
        let bytes = response.bytes().await.unwrap();
        let error: UiError = postcard::from_bytes(&bytes).expect("a UiError in postcard");
        assert!(error.message.contains("Recarregue a página"), "{error:?}");
    }
    app.stop().await;
}

/// A provider whose customer lists are all busy (a script sending deep
/// pages) gets a 429 after a short wait; another provider's lists go on.
async fn costly_lists_take_turns_per_provider(app: &TestApp) {
    use sgp_import::server::reads::{LISTS_PER_PROVIDER, LIST_WAIT};
    use sgp_import_core::model::TenantSlug;

    let admin = app.demo_admin().await;
    let (_, other) = app.other_provider("net-b").await;
    let demo = app
        .store()
        .tenant_by_slug(&TenantSlug::parse("demo").unwrap())
        .await
        .unwrap()
        .unwrap();
    let mut held = Vec::new();
    for _ in 0..LISTS_PER_PROVIDER {
        held.push(app.state.reads.turn(demo.id).await.unwrap());
    }
    for path in ["/api/admin/clientes", "/api/admin/clientes?offset=500000"] {
        let response = app.call(Method::GET, path, &admin, None).await;
        assert_eq!(response.status(), 429, "{path}");
        assert_eq!(
            response.headers()["retry-after"],
            LIST_WAIT.as_secs().to_string().as_str()
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["code"], "too_many_attempts", "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("muitas consultas"),
            "{body}"
        );
    }
    let (status, _) = app
        .json(Method::GET, "/api/admin/clientes", &other, None)
        .await;
    assert_eq!(status, 200, "another provider's turns are its own");
    held.clear();
    let (status, body) = app
        .json(Method::GET, "/api/admin/clientes", &admin, None)
        .await;
    assert_eq!(status, 200, "{body}");
}
