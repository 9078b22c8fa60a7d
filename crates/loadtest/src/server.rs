//! One app server as an operator runs it: the release binary in its own
//! process on a fresh database, with provider admins made by its CLI and the
//! SGP connection saved through the REST API.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;
use tokio::process::{Child, Command};

/// Where a round's data lives; every round starts empty.
pub enum Database {
    Sqlite(PathBuf),
    /// A database created on the admin URL's server for this round.
    Postgres {
        admin: String,
        name: String,
    },
}

impl Database {
    pub fn url(&self) -> String {
        match self {
            Database::Sqlite(path) => format!("sqlite:{}", path.display()),
            Database::Postgres { admin, name } => {
                // the admin URL's path names its database; ours replaces it
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                format!("{base}/{name}")
            }
        }
    }

    fn create(&self) -> Result<(), String> {
        match self {
            Database::Sqlite(_) => Ok(()),
            Database::Postgres { admin, name } => psql(admin, &format!("CREATE DATABASE {name}")),
        }
    }

    fn drop_it(&self) {
        match self {
            Database::Sqlite(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Database::Postgres { admin, name } => {
                let _ = psql(
                    admin,
                    &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                );
            }
        }
    }
}

fn psql(admin: &str, sql: &str) -> Result<(), String> {
    // scripts/load.sh names the cluster's own psql
    let psql = std::env::var("PSQL").unwrap_or_else(|_| "psql".to_owned());
    let out = std::process::Command::new(psql)
        .args([admin, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A provider admin's password; the accounts live only in a throw-away database.
const PASSWORD: &str = "carga-senha-1234";
/// The key sealing SGP secrets at rest: 32 bytes, a fixed one for a
/// throw-away database.
const SEALING_KEY: &[u8; 32] = b"load-test-key-not-a-secret-32byt";

pub struct AppServer {
    child: Child,
    pub base: String,
    db: Database,
    http: reqwest::Client,
    /// `sgp_session=...` of each admin, in account order.
    pub cookies: Vec<String>,
}

/// An import as the REST API reports it.
#[derive(Debug, Deserialize)]
pub struct Import {
    pub id: String,
    pub status: String,
    pub processados: u64,
    pub erros: u64,
    pub started_at: Option<DateTime<Utc>>,
    pub finalizado_em: Option<DateTime<Utc>>,
}

impl Import {
    pub fn finished(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "failed" | "cancelled")
    }

    /// Customers per second from the job's own start and end.
    pub fn rate(&self) -> Option<f64> {
        let secs = (self.finalizado_em? - self.started_at?).num_milliseconds() as f64 / 1000.0;
        (secs > 0.0).then(|| self.processados as f64 / secs)
    }
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
}

impl AppServer {
    /// Creates the database, `accounts` admins of one provider, serves, logs
    /// each admin in and saves the provider's SGP connection.
    pub async fn start(
        app: &Path,
        dir: &Path,
        db: Database,
        accounts: usize,
        sgp: (&str, &str, &str),
    ) -> Result<AppServer, String> {
        db.drop_it();
        db.create()?;
        let port = free_port()?;
        let env = |cmd: &mut Command| {
            cmd.env("DATABASE_URL", db.url())
                .env("SERVER_ADDR", format!("127.0.0.1:{port}"))
                .env("DATA_DIR", dir)
                .env(
                    "SECRET_KEY",
                    base64::engine::general_purpose::STANDARD.encode(SEALING_KEY),
                )
                .env("DEMO", "false")
                .env("OUTBOUND_ALLOWED_NETWORKS", "127.0.0.1/32")
                .env("LOG_FILTER", "warn")
                .env("SGP_IMPORT_PASSWORD", PASSWORD)
                .env_remove("RUST_LOG");
        };
        for i in 0..accounts {
            let mut cmd = Command::new(app);
            env(&mut cmd);
            let out = cmd
                .args(["create-user", "--email", &email(i), "--name"])
                .arg(format!("Admin {}", i + 1))
                .args(["--provider", "carga", "--provider-name", "Provedor Carga"])
                .output()
                .await
                .map_err(|e| format!("{}: {e}", app.display()))?;
            if !out.status.success() {
                return Err(format!(
                    "create-user: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
        let log = std::fs::File::create(dir.join("server.log")).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(app);
        env(&mut cmd);
        let child = cmd
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("{}: {e}", app.display()))?;
        let mut server = AppServer {
            child,
            base: format!("http://127.0.0.1:{port}"),
            db,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .map_err(|e| e.to_string())?,
            cookies: Vec::new(),
        };
        server.wait_healthy().await?;
        for i in 0..accounts {
            let cookie = server.login(&email(i)).await?;
            server.cookies.push(cookie);
        }
        let (url, app_name, token) = sgp;
        let saved = server
            .as_admin(Method::PUT, "/api/admin/integracoes/sgp")
            .json(&json!({"base_url": url, "auth_mode": "token", "app": app_name, "token": token}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !saved.status().is_success() {
            return Err(format!(
                "saving the SGP connection: {} {}",
                saved.status(),
                saved.text().await.unwrap_or_default()
            ));
        }
        Ok(server)
    }

    /// A REST request as the first admin.
    fn as_admin(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &self.cookies[0])
    }

    async fn wait_healthy(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("the server exited at start: {status}"));
            }
            let health = self.http.get(format!("{}/healthz", self.base)).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("the server did not answer /healthz within 60 s".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn login(&self, email: &str) -> Result<String, String> {
        let r = self
            .http
            .post(format!("{}/api/auth/login", self.base))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("login of {email}: {}", r.status()));
        }
        r.headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::to_owned)
            .ok_or_else(|| format!("login of {email}: no session cookie"))
    }

    /// Queues an import of every customer, as an admin's script would.
    pub async fn start_import(&self, name: &str) -> Result<Import, String> {
        let r = self
            .as_admin(Method::POST, "/api/admin/integracoes/sgp/importacoes")
            .json(&json!({"nome_importacao": name}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if r.status().as_u16() != 201 {
            return Err(format!("starting the import: {}", r.status()));
        }
        let e: Envelope<Import> = r.json().await.map_err(|e| e.to_string())?;
        Ok(e.data)
    }

    /// Polls the import's details until it ends.
    pub async fn wait_import(&self, id: &str) -> Result<Import, String> {
        let deadline = Instant::now() + Duration::from_secs(1800);
        loop {
            let r = self
                .as_admin(
                    Method::GET,
                    &format!("/api/admin/integracoes/sgp/importacoes/{id}"),
                )
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !r.status().is_success() {
                return Err(format!("the import's details: {}", r.status()));
            }
            // the details are the import's fields plus its log and filters
            let d: Envelope<Import> = r.json().await.map_err(|e| e.to_string())?;
            if d.data.finished() {
                return Ok(d.data);
            }
            if Instant::now() > deadline {
                return Err("the import did not end within 30 minutes".into());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Stops the server and removes the round's database.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        self.db.drop_it();
    }
}

fn email(i: usize) -> String {
    format!("admin{}@carga.local", i + 1)
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}
