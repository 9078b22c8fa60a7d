//! The real executable: start-up errors, `migrate`, and shutdown on SIGTERM.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sgp-import");

/// Runs the binary with a clean set of our variables (the test runner's own
/// environment might carry a DATABASE_URL).
fn command(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("SERVER_ADDR")
        .env_remove("LEPTOS_SITE_ADDR")
        .env_remove("APP_CONFIG")
        .env("LOG_FILTER", "info")
        .env("SECRET_KEY", KEY)
        .stdin(Stdio::null());
    cmd
}

fn assert_one_line_error(output: &Output, expected: &[&str]) {
    assert!(!output.status.success(), "must exit non-zero");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    for part in expected {
        assert!(lines[0].contains(part), "{part:?} missing from: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A valid SECRET_KEY (base64 of 32 bytes).
const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

#[test]
fn production_mode_refuses_to_start_without_a_secret_key() {
    let dir = tempfile::tempdir().unwrap();
    // (a release build needs no DEMO=false for this: see
    // config::demo_default; the tests run a debug build)
    let output = command(dir.path())
        .env_remove("SECRET_KEY")
        .env("DEMO", "false")
        .env("SERVER_ADDR", "127.0.0.1:0")
        .output()
        .unwrap();
    assert_one_line_error(&output, &["SECRET_KEY", "demo"]);
}

/// `cargo leptos watch` in a fresh clone: a debug build with no key and no
/// DEMO serves the demo at once, and says why in one line.
#[test]
fn a_development_build_without_a_key_serves_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port()
    };
    let mut child = command(dir.path())
        .env_remove("SECRET_KEY")
        .env_remove("DEMO")
        .env("DEMO_CUSTOMERS", "10")
        .env("SERVER_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let logged_in = runtime.block_on(async {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = client
                .post(format!("http://127.0.0.1:{port}/api/auth/login"))
                .json(
                    &serde_json::json!({"email": "admin@demo.local", "password": "demo-sgp-1234"}),
                )
                .send()
                .await
            {
                return r.status().as_u16() == 200;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    });
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(logged_in, "the demo login did not work:\n{stderr}");
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.contains("development build without SECRET_KEY"))
            .count(),
        1,
        "{stderr}"
    );
}

#[test]
fn wrong_database_url_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = command(dir.path())
        .env("DATABASE_URL", "mysql://localhost/sgp")
        .output()
        .unwrap();
    assert_one_line_error(&output, &["database.url", "DATABASE_URL", "mysql"]);
}

#[test]
fn unreachable_postgres_is_a_one_line_error_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    // Port 9 (discard) on loopback: nothing listens there.
    let output = command(dir.path())
        .env("DATABASE_URL", "postgres://sgp:s3cret@127.0.0.1:9/sgp")
        .env("DATABASE_CONNECT_TIMEOUT_SECS", "2")
        .output()
        .unwrap();
    assert_one_line_error(&output, &["cannot open database", "127.0.0.1:9"]);
    assert!(!String::from_utf8_lossy(&output.stderr).contains("s3cret"));
}

#[test]
fn bad_setting_in_the_config_file_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Leptos.toml"),
        "[executor]\nslots = \"muitos\"\n",
    )
    .unwrap();
    let output = command(dir.path()).output().unwrap();
    assert_one_line_error(&output, &["executor.slots", "Leptos.toml", "muitos"]);
}

#[test]
fn missing_named_config_file_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = command(dir.path())
        .args(["--config", "nao-existe.toml", "migrate"])
        .output()
        .unwrap();
    assert_one_line_error(&output, &["nao-existe.toml"]);
}

#[test]
fn migrate_creates_the_sqlite_database_in_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let output = command(dir.path())
        .env("DATA_DIR", "state/db")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("state/db/sgp-import.db").exists());
    // a second run has nothing to do and still succeeds
    let again = command(dir.path())
        .env("DATA_DIR", "state/db")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(again.status.success());
}

#[test]
fn serve_answers_health_checks_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port()
    };
    let mut child = command(dir.path())
        .env("SERVER_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let url = format!("http://127.0.0.1:{port}/healthz");
    let deadline = Instant::now() + Duration::from_secs(30);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let healthy = runtime.block_on(async {
        while Instant::now() < deadline {
            if let Ok(r) = reqwest::get(&url).await {
                return r.status().as_u16() == 200;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    });
    if !healthy {
        let _ = child.kill();
    }
    assert!(healthy, "server did not answer /healthz");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit after SIGTERM: {:?}\n{stderr}",
        output.status
    );
    assert!(stderr.contains("SIGTERM received"), "{stderr}");
    assert!(stderr.contains("executor started"), "{stderr}");
    assert!(stderr.contains("executor stopped"), "{stderr}");
    assert!(stderr.contains("stopped"), "{stderr}");
}

#[test]
fn create_user_makes_admins_and_superadmins_and_refuses_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let create = |args: &[&str], password: &str| {
        command(dir.path())
            .env("SGP_IMPORT_PASSWORD", password)
            .arg("create-user")
            .args(args)
            .output()
            .unwrap()
    };
    let admin = create(
        &[
            "--email",
            "Ana@NetFibra.com.br",
            "--name",
            "Ana",
            "--provider",
            "net-fibra",
            "--provider-name",
            "Net Fibra",
        ],
        "senha-segura-1",
    );
    assert!(
        admin.status.success(),
        "{}",
        String::from_utf8_lossy(&admin.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&admin.stdout).trim(),
        "created admin ana@netfibra.com.br of provider net-fibra (Net Fibra)"
    );
    let root = create(
        &[
            "--email",
            "root@local.net",
            "--name",
            "Root",
            "--superadmin",
        ],
        "senha-segura-2",
    );
    assert!(root.status.success());
    assert_eq!(
        String::from_utf8_lossy(&root.stdout).trim(),
        "created superadmin root@local.net"
    );

    let again = create(
        &[
            "--email",
            "ana@netfibra.com.br",
            "--name",
            "Ana",
            "--provider",
            "net-fibra",
        ],
        "senha-segura-1",
    );
    assert_one_line_error(&again, &["já existe uma conta com este e-mail"]);
    let short = create(
        &[
            "--email",
            "bia@netfibra.com.br",
            "--name",
            "Bia",
            "--provider",
            "net-fibra",
        ],
        "curta",
    );
    assert_one_line_error(&short, &["pelo menos 8 caracteres"]);
    let bad_slug = create(
        &[
            "--email",
            "c@x.com.br",
            "--name",
            "C",
            "--provider",
            "Net Fibra",
        ],
        "senha-segura-1",
    );
    assert_one_line_error(&bad_slug, &["Net Fibra"]);
    // neither a provider nor --superadmin: clap says what is missing
    let neither = command(dir.path())
        .args(["create-user", "--email", "d@x.com.br", "--name", "D"])
        .output()
        .unwrap();
    assert!(!neither.status.success());
    assert!(String::from_utf8_lossy(&neither.stderr).contains("--provider"));
}

/// The real server with default settings: a provider admin who aims the
/// SGP URL at the host's loopback gets a refusal at once, naming the
/// setting, and not one byte reaches what listens there, whether through
/// "Testar conexão", "Pré-visualizar" or an import.
#[test]
fn default_settings_refuse_a_loopback_sgp_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let created = command(dir.path())
        .env("SGP_IMPORT_PASSWORD", "senha-segura-1")
        .args([
            "create-user",
            "--email",
            "ana@rede.com.br",
            "--name",
            "Ana",
            "--provider",
            "rede",
        ])
        .output()
        .unwrap();
    assert!(created.status.success(), "{:?}", created);
    let port = {
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap().port()
    };
    let mut child = command(dir.path())
        .env_remove("DEMO")
        .env_remove("OUTBOUND_ALLOWED_NETWORKS")
        .env("SERVER_ADDR", format!("127.0.0.1:{port}"))
        .env("LOG_FILTER", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // what an attacker would aim at: something listening on loopback
    let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    target.set_nonblocking(true).unwrap();
    let target_url = format!("http://127.0.0.1:{}", target.local_addr().unwrap().port());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let outcome = runtime.block_on(async {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if client.get(format!("{base}/healthz")).send().await.is_ok() {
                break;
            }
            if Instant::now() > deadline {
                return Err("server did not answer /healthz".to_owned());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let login = client
            .post(format!("{base}/api/auth/login"))
            .json(&serde_json::json!({"email": "ana@rede.com.br", "password": "senha-segura-1"}))
            .send()
            .await
            .unwrap();
        let cookie = login.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let call = |method: reqwest::Method, path: &str, body: serde_json::Value| {
            client
                .request(method, format!("{base}{path}"))
                .header("cookie", &cookie)
                .json(&body)
                .send()
        };
        let saved = call(
            reqwest::Method::PUT,
            "/api/admin/integracoes/sgp",
            serde_json::json!({"base_url": target_url, "auth_mode": "token", "app": "a", "token": "token-do-provedor"}),
        )
        .await
        .unwrap();
        assert_eq!(saved.status(), 200);

        let started = Instant::now();
        let tested: serde_json::Value = call(
            reqwest::Method::POST,
            "/api/admin/integracoes/sgp/testar",
            serde_json::json!({}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let took = started.elapsed();
        assert_eq!(tested["data"]["ok"], false, "{tested}");
        let message = tested["data"]["mensagem"].as_str().unwrap().to_owned();
        assert!(message.contains("outbound.allowed_networks"), "{message}");
        assert!(took < Duration::from_secs(1), "refused at once: {took:?}");

        let preview = call(
            reqwest::Method::POST,
            "/api/admin/integracoes/sgp/importacoes/previa",
            serde_json::json!({"nome_importacao": "x"}),
        )
        .await
        .unwrap();
        assert_eq!(preview.status(), 502);
        let preview: serde_json::Value = preview.json().await.unwrap();
        assert!(preview["error"]
            .as_str()
            .unwrap()
            .contains("OUTBOUND_ALLOWED_NETWORKS"));

        let job: serde_json::Value = call(
            reqwest::Method::POST,
            "/api/admin/integracoes/sgp/importacoes",
            serde_json::json!({"nome_importacao": "Para o loopback"}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let id = job["data"]["id"].as_str().unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let job: serde_json::Value = client
                .get(format!("{base}/api/admin/integracoes/sgp/importacoes/{id}"))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if job["data"]["status"] == "failed" {
                assert_eq!(job["data"]["tentativa"], 1, "not retried: {job}");
                let error = job["data"]["ultimo_erro"].as_str().unwrap_or_default();
                assert!(error.contains("outbound.allowed_networks"), "{job}");
                break;
            }
            assert!(Instant::now() < deadline, "import did not fail: {job}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    });
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    outcome.unwrap_or_else(|e| panic!("{e}\n{stderr}"));
    assert!(
        matches!(target.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "nothing may have connected to the loopback target"
    );
    assert!(stderr.contains("outbound request refused"), "{stderr}");
    assert!(!stderr.contains("token-do-provedor"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
