//! Secrets never leave the server: not in a response, not in a log line.
//! Runs the real executable with every log level on and reads what it
//! wrote.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{DEMO_EMAIL, DEMO_PASSWORD};

const BIN: &str = env!("CARGO_BIN_EXE_sgp-import");
const DEMO_TOKEN: &str = "d3m0-t0k3n-5gp-1mp0rt";
const SGP_PASSWORD: &str = "Senha-SGP-Secreta-4471";
const WRONG_LOGIN_PASSWORD: &str = "senha-errada-digitada-8812";

struct Client {
    base: String,
    http: reqwest::Client,
    cookie: Option<String>,
    bearer: Option<String>,
    /// Every response body, to search for secrets.
    seen: String,
}

impl Client {
    async fn call(&mut self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            request = request.header("cookie", c);
        }
        if let Some(t) = &self.bearer {
            request = request.header("authorization", format!("Bearer {t}"));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        if let Some(set) = response.headers().get("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            if !pair.ends_with('=') {
                self.cookie = Some(pair);
            }
        }
        let text = response.text().await.unwrap();
        self.seen.push_str(&text);
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_in_no_response_and_no_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .env_remove("APP_CONFIG")
        .env_remove("LEPTOS_SITE_ADDR")
        .env_remove("SECRET_KEY")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/s.db", dir.path().display()),
        )
        .env("SERVER_ADDR", format!("127.0.0.1:{port}"))
        .env("DEMO", "true")
        .env("DEMO_CUSTOMERS", "150")
        .env("DEMO_SGP_LATENCY_MS", "0")
        .env("EXECUTOR_POLL_INTERVAL_MS", "50")
        // everything, from every crate
        .env("LOG_FILTER", "trace")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut c = Client {
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::new(),
        cookie: None,
        bearer: None,
        seen: String::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while c
        .http
        .get(format!("{}/healthz", c.base))
        .send()
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // a failed login, then the right one
    let (status, _) = c
        .call(
            Method::POST,
            "/api/auth/login",
            Some(json!({"email": DEMO_EMAIL, "password": WRONG_LOGIN_PASSWORD})),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = c
        .call(
            Method::POST,
            "/api/auth/login",
            Some(json!({"email": DEMO_EMAIL, "password": DEMO_PASSWORD})),
        )
        .await;
    assert_eq!(status, 200);
    let session = c.cookie.clone().unwrap();
    let session_token = session.split_once('=').unwrap().1.to_owned();

    // save the demo SGP again with its token, test it, import through it
    let (_, current) = c
        .call(Method::GET, "/api/admin/integracoes/sgp", None)
        .await;
    let sgp_url = current["data"]["base_url"].as_str().unwrap().to_owned();
    let (status, saved) = c
        .call(
            Method::PUT,
            "/api/admin/integracoes/sgp",
            Some(json!({
                "base_url": sgp_url, "auth_mode": "token", "app": "sgpimport", "token": DEMO_TOKEN
            })),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    let (_, tested) = c
        .call(Method::POST, "/api/admin/integracoes/sgp/testar", None)
        .await;
    assert_eq!(tested["data"]["ok"], true, "{tested}");
    let (status, started) = c
        .call(
            Method::POST,
            "/api/admin/integracoes/sgp/importacoes",
            Some(json!({"nome_importacao": "Segredos"})),
        )
        .await;
    assert_eq!(status, 201);
    let id = started["data"]["id"].as_str().unwrap().to_owned();
    loop {
        let (_, job) = c
            .call(
                Method::GET,
                &format!("/api/admin/integracoes/sgp/importacoes/{id}"),
                None,
            )
            .await;
        if job["data"]["status"] == "completed" {
            break;
        }
        assert_ne!(job["data"]["status"], "failed", "{job}");
        assert!(Instant::now() < deadline + Duration::from_secs(60), "{job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // a script's token
    let (_, created) = c
        .call(
            Method::POST,
            "/api/auth/tokens",
            Some(json!({"nome": "script"})),
        )
        .await;
    let api_token = created["data"]["token"].as_str().unwrap().to_owned();
    c.seen = c.seen.replace(&api_token, ""); // shown once, by design
    c.cookie = None;
    c.bearer = Some(api_token.clone());
    let (status, _) = c
        .call(
            Method::GET,
            "/api/admin/integracoes/sgp/importacoes/lista",
            None,
        )
        .await;
    assert_eq!(status, 200);
    // user + password against an SGP that is not there: the error is told
    let (status, _) = c
        .call(Method::PUT, "/api/admin/integracoes/sgp", Some(json!({
            "base_url": "http://127.0.0.1:9", "auth_mode": "basic", "username": "integra", "password": SGP_PASSWORD
        })))
        .await;
    assert_eq!(status, 200);
    let (_, failed) = c
        .call(Method::POST, "/api/admin/integracoes/sgp/testar", None)
        .await;
    assert_eq!(failed["data"]["ok"], false);
    let (status, _) = c
        .call(
            Method::POST,
            "/api/admin/integracoes/sgp/importacoes/previa",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 502);

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.contains("import queued"),
        "the log was captured: {logs}"
    );
    // the demo's own login is printed on purpose: proof the search works
    assert!(logs.contains(DEMO_PASSWORD));
    for secret in [
        DEMO_TOKEN,
        SGP_PASSWORD,
        WRONG_LOGIN_PASSWORD,
        &session_token,
        &api_token,
    ] {
        assert!(!logs.contains(secret), "{secret:?} in the log");
        assert!(!c.seen.contains(secret), "{secret:?} in a response");
    }
}
