use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sgp_import::server::startup::{leptos_options, Application};
use sgp_import::server::state::AppState;
use sgp_import_core::config::{DatabaseUrl, Settings, Sources};
use sqlx::Connection;
use tokio::sync::oneshot;
use uuid::Uuid;

pub struct TestApp {
    pub addr: SocketAddr,
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
