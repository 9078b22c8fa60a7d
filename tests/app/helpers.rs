use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sgp_import::api::error::UiError;
use sgp_import::server::startup::{leptos_options, Application};
use sgp_import::server::state::AppState;
use sgp_import_core::config::{DatabaseUrl, Settings, Sources};
use sqlx::Connection;
use tokio::sync::oneshot;
use uuid::Uuid;

pub struct TestApp {
    pub addr: SocketAddr,
    /// The app's database, for what only an operator does (disabling an
    /// account).
    pub database_url: String,
    pub state: AppState,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
    pg_database: Option<String>,
}

#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A fresh PostgreSQL database on the test server (see scripts/postgres.sh).
pub async fn fresh_pg_database() -> (String, String) {
    let admin = std::env::var("TEST_DATABASE_URL").expect(
        "TEST_DATABASE_URL is not set: run ./scripts/test.sh, which starts a throw-away PostgreSQL",
    );
    let name = format!("t_{}", Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);
    (url.to_string(), name)
}

pub async fn drop_pg_database(name: &str) {
    let admin = std::env::var("TEST_DATABASE_URL").unwrap();
    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}

pub async fn spawn_app(db: Db) -> TestApp {
    spawn_app_with(db, &[]).await
}

/// The app with some settings of its own (`("PUBLIC_URL", "https://...")`).
pub async fn spawn_app_with(db: Db, extra: &[(&'static str, &'static str)]) -> TestApp {
    let extra: Vec<(&'static str, &'static str)> = extra.to_vec();
    let dir = tempfile::tempdir().unwrap();
    let (database_url, pg_database) = match db {
        Db::Sqlite => (format!("sqlite://{}/app.db", dir.path().display()), None),
        Db::Postgres => {
            let (url, name) = fresh_pg_database().await;
            (url, Some(name))
        }
    };
    let env = {
        let database_url = database_url.clone();
        move |name: &str| match name {
            _ if extra.iter().any(|(k, _)| *k == name) => extra
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned()),
            "DATABASE_URL" => Some(database_url.clone()),
            "SERVER_ADDR" => Some("127.0.0.1:0".to_owned()),
            "DEMO" => Some("true".to_owned()),
            // a small, fast demo SGP and an executor that notices work at once
            "DEMO_CUSTOMERS" => Some("120".to_owned()),
            "DEMO_SGP_LATENCY_MS" => Some("0".to_owned()),
            "EXECUTOR_POLL_INTERVAL_MS" => Some("50".to_owned()),
            _ => None,
        }
    };
    let sources = Sources::load(None, false, &env).unwrap();
    let settings = Settings::from_sources(&sources).unwrap();
    assert!(matches!(
        (&settings.database.url, db),
        (DatabaseUrl::Sqlite(_), Db::Sqlite) | (DatabaseUrl::Postgres(_), Db::Postgres)
    ));
    let options = leptos_options(None, settings.server.addr).unwrap();
    let app = Application::build(settings, options).await.unwrap();
    let addr = app.local_addr();
    let state = app.state().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        app.run_until(async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    TestApp {
        addr,
        database_url: database_url.clone(),
        state,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        stop: Some(stop),
        server,
        _dir: dir,
        pg_database,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.server).await;
        if let Some(name) = &self.pg_database {
            drop_pg_database(name).await;
        }
    }

    /// Disables an account in the database, as an operator would.
    pub async fn disable_user(&self, user: sgp_import_core::model::UserId) {
        if self.database_url.starts_with("sqlite") {
            let mut conn = sqlx::SqliteConnection::connect(&self.database_url)
                .await
                .unwrap();
            sqlx::query("UPDATE users SET disabled_at = 1 WHERE id = ?1")
                .bind(user.0)
                .execute(&mut conn)
                .await
                .unwrap();
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.database_url)
                .await
                .unwrap();
            sqlx::query("UPDATE users SET disabled_at = now() WHERE id = $1")
                .bind(user.0)
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }

    pub fn store(&self) -> Arc<dyn sgp_import_core::store::Store> {
        self.state.store.clone()
    }
}

/// `on_both!(name)` runs `async fn name(app: &TestApp)` against the app on
/// SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            use $crate::helpers::{spawn_app, Db};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = spawn_app(Db::Sqlite).await;
                super::$name(&app).await;
                app.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let app = spawn_app(Db::Postgres).await;
                super::$name(&app).await;
                app.stop().await;
            }
        }
    )+};
}

/// Who makes a request.
#[derive(Clone, Debug)]
pub enum As {
    Nobody,
    /// The `Cookie` header of a logged-in browser.
    Cookie(String),
    Bearer(String),
}

pub const DEMO_EMAIL: &str = sgp_import::server::startup::DEMO_EMAIL;
pub const DEMO_PASSWORD: &str = sgp_import::server::startup::DEMO_PASSWORD;
pub const PASSWORD: &str = "senha-de-teste-1";

impl TestApp {
    /// A JSON (or empty) request; the response as it came.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        who: &As,
        body: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.client.request(method, self.url(path));
        request = match who {
            As::Nobody => request,
            As::Cookie(c) => request.header("cookie", c),
            As::Bearer(t) => request.header("authorization", format!("Bearer {t}")),
        };
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        request.send().await.unwrap()
    }

    /// A server function as the browser's client calls it: a form post.
    pub async fn server_fn(
        &self,
        path: &str,
        who: &As,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url(path)).form(form);
        request = match who {
            As::Nobody => request,
            As::Cookie(c) => request.header("cookie", c),
            As::Bearer(t) => request.header("authorization", format!("Bearer {t}")),
        };
        request.send().await.unwrap()
    }

    /// `server_fn`, then its answer read as the browser reads it
    /// (postcard): the value, or the error the page would show.
    pub async fn server_fn_answer<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        who: &As,
        form: &[(&str, &str)],
    ) -> (u16, Result<T, UiError>) {
        let response = self.server_fn(path, who, form).await;
        let status = response.status();
        let bytes = response.bytes().await.unwrap();
        let answer = if status.is_success() {
            Ok(postcard::from_bytes(&bytes)
                .unwrap_or_else(|e| panic!("{path}: not its answer in postcard: {e}")))
        } else {
            Err(postcard::from_bytes(&bytes)
                .unwrap_or_else(|e| panic!("{path}: not an error in postcard ({status}): {e}")))
        };
        (status.as_u16(), answer)
    }

    /// `call`, then status and JSON body.
    pub async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        who: &As,
        body: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let response = self.call(method, path, who, body).await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{path}: not JSON ({status}): {text}"));
        (status, value)
    }

    /// Logs in through the REST API; the session's `Cookie` header.
    pub async fn login(&self, email: &str, password: &str) -> As {
        let body = serde_json::json!({"email": email, "password": password}).to_string();
        let response = self
            .call(
                reqwest::Method::POST,
                "/api/auth/login",
                &As::Nobody,
                Some(&body),
            )
            .await;
        assert_eq!(response.status(), 200, "login of {email} failed");
        let cookie = response
            .headers()
            .get("set-cookie")
            .expect("a session cookie")
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        As::Cookie(cookie)
    }

    pub async fn demo_admin(&self) -> As {
        self.login(DEMO_EMAIL, DEMO_PASSWORD).await
    }

    /// A second provider with its own admin, logged in, whose SGP
    /// integration points at the demo's fake SGP.
    pub async fn other_provider(&self, slug: &str) -> (sgp_import_core::model::Tenant, As) {
        use sgp_import_core::auth::NewAccount;
        use sgp_import_core::model::{Role, TenantSlug};

        let tenant = self
            .store()
            .ensure_tenant(
                &TenantSlug::parse(slug).unwrap(),
                &format!("Provedor {slug}"),
            )
            .await
            .unwrap();
        let email = format!("admin@{slug}.com.br");
        self.state
            .auth
            .create_user(NewAccount {
                email: &email,
                name: "Outro Admin",
                password: PASSWORD,
                role: Role::Admin,
                tenant: Some(tenant.id),
            })
            .await
            .unwrap();
        let demo = self
            .store()
            .tenant_by_slug(&TenantSlug::parse("demo").unwrap())
            .await
            .unwrap()
            .unwrap();
        let sgp = self
            .state
            .integrations
            .view(demo.id)
            .await
            .unwrap()
            .unwrap();
        self.state
            .integrations
            .save(
                tenant.id,
                &sgp_import_core::import::IntegrationInput::token(
                    sgp.base_url,
                    "sgpimport",
                    "d3m0-t0k3n-5gp-1mp0rt",
                ),
            )
            .await
            .unwrap();
        let who = self.login(&email, PASSWORD).await;
        (tenant, who)
    }

    /// A superadmin, logged in.
    pub async fn superadmin(&self) -> As {
        use sgp_import_core::auth::NewAccount;
        use sgp_import_core::model::Role;

        self.state
            .auth
            .create_user(NewAccount {
                email: "root@sgp-import.local",
                name: "Root",
                password: PASSWORD,
                role: Role::Superadmin,
                tenant: None,
            })
            .await
            .unwrap();
        self.login("root@sgp-import.local", PASSWORD).await
    }

    /// Starts an import through the API and waits for it to finish; its id.
    pub async fn import_and_wait(&self, who: &As, name: &str) -> String {
        let body = serde_json::json!({"nome_importacao": name}).to_string();
        let (status, started) = self
            .json(
                reqwest::Method::POST,
                "/api/admin/integracoes/sgp/importacoes",
                who,
                Some(&body),
            )
            .await;
        assert_eq!(status, 201, "{started}");
        let id = started["data"]["id"].as_str().unwrap().to_owned();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (_, job) = self
                .json(
                    reqwest::Method::GET,
                    &format!("/api/admin/integracoes/sgp/importacoes/{id}"),
                    who,
                    None,
                )
                .await;
            if ["completed", "failed", "cancelled"]
                .contains(&job["data"]["status"].as_str().unwrap())
            {
                assert_eq!(job["data"]["status"], "completed", "{job}");
                return id;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "import did not finish: {job}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A real `sgp-import serve` process on this database, with its output
/// discarded and `extra` settings on top of the common ones.
pub fn serve_binary(
    dir: &std::path::Path,
    database_url: &str,
    key: &str,
    extra: &[(&str, &str)],
) -> std::process::Child {
    use std::process::{Command, Stdio};
    let mut command = Command::new(env!("CARGO_BIN_EXE_sgp-import"));
    command
        .current_dir(dir)
        .env_remove("APP_CONFIG")
        .env_remove("LEPTOS_SITE_ADDR")
        .env("DATABASE_URL", database_url)
        .env("SECRET_KEY", key)
        .env("SERVER_ADDR", "127.0.0.1:0")
        .env("LOG_FILTER", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in extra {
        command.env(k, v);
    }
    command.spawn().unwrap()
}
