//! A real `sgp-import serve` process killed with SIGKILL in the middle of
//! an import: a second process rescues the job when its lease expires and
//! finishes it from the checkpoint, every customer stored once.

use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_sgp::{FakeConfig, FakeSgp};
use sgp_import_core::clock::SystemClock;
use sgp_import_core::config::{DatabaseSettings, DatabaseUrl};
use sgp_import_core::import::{ImportParams, ImportService, IntegrationInput, Integrations};
use sgp_import_core::model::{JobId, JobStatus, JobSummary, TenantId, TenantSlug};
use sgp_import_core::sealing::Sealer;
use sgp_import_core::sgp::SgpClientConfig;
use sgp_import_core::store::Store;

use crate::helpers::{drop_pg_database, fresh_pg_database, serve_binary, Db};

const CUSTOMERS: u32 = 2000;

fn serve(dir: &std::path::Path, database_url: &str, key: &str) -> Child {
    serve_binary(
        dir,
        database_url,
        key,
        &[
            // the test's fake SGP listens on loopback
            ("OUTBOUND_ALLOWED_NETWORKS", "127.0.0.0/8"),
            ("EXECUTOR_HEARTBEAT_SECS", "1"),
            ("EXECUTOR_LEASE_SECS", "3"),
            ("EXECUTOR_POLL_INTERVAL_MS", "100"),
        ],
    )
}

async fn summary(store: &Arc<dyn Store>, tenant: TenantId, job: JobId) -> JobSummary {
    store.job_details(tenant, job, 0).await.unwrap().summary
}

async fn wait_until(
    store: &Arc<dyn Store>,
    tenant: TenantId,
    job: JobId,
    what: &str,
    done: impl Fn(&JobSummary) -> bool,
) -> JobSummary {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = summary(store, tenant, job).await;
        if done(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn server_killed_mid_import_is_finished_by_the_next(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let (url, pg_name) = match db {
        Db::Sqlite => (format!("sqlite://{}/crash.db", dir.path().display()), None),
        Db::Postgres => {
            let (url, name) = fresh_pg_database().await;
            (url, Some(name))
        }
    };
    let mut config = FakeConfig::new(CUSTOMERS);
    config.latency = Duration::from_millis(40);
    let fake = FakeSgp::start(config).await.unwrap();

    // the provider, its sealed integration and a queued import, written
    // through the library as the UI would
    let settings = DatabaseSettings {
        url: DatabaseUrl::parse(&url).unwrap(),
        max_connections: 2,
        connect_timeout: Duration::from_secs(10),
    };
    let store = sgp_import_core::store::connect(&settings, Arc::new(SystemClock))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let tenant = store
        .ensure_tenant(&TenantSlug::parse("prov").unwrap(), "Provedor")
        .await
        .unwrap();
    let key = Sealer::generate_key();
    let integrations = Arc::new(Integrations::new(
        store.clone(),
        Some(Sealer::from_base64(&key).unwrap()),
    ));
    let creds = fake.config().credentials;
    integrations
        .save(
            tenant.id,
            &IntegrationInput::token(fake.url(), creds.app, creds.token),
        )
        .await
        .unwrap();
    let service = ImportService::new(store.clone(), integrations, SgpClientConfig::default());
    let job = service
        .start(
            tenant.id,
            ImportParams::everything("Interrompida por kill -9"),
            sgp_import_core::model::JobOrigin::Manual,
        )
        .await
        .unwrap()
        .id;

    let mut first = serve(dir.path(), &url, &key);
    wait_until(&store, tenant.id, job, "progress", |s| {
        s.progress.processed >= 400
    })
    .await;
    first.kill().unwrap(); // SIGKILL: no release, no outcome
    first.wait().unwrap();
    let left = summary(&store, tenant.id, job).await;
    assert_eq!(
        left.status,
        JobStatus::Running,
        "the dead process still holds the lease"
    );
    assert!(left.progress.processed < u64::from(CUSTOMERS));
    let dead_owner = left.lease_owner.clone().unwrap();

    let mut second = serve(dir.path(), &url, &key);
    let done = wait_until(&store, tenant.id, job, "completion", |s| {
        s.status.is_finished()
    })
    .await;
    let _ = Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status();
    second.wait().unwrap();

    assert_eq!(done.status, JobStatus::Completed, "{:?}", done.last_error);
    assert_eq!(done.attempt, 2);
    assert_ne!(done.lease_owner.as_deref(), Some(dead_owner.as_str()));
    assert_eq!(done.progress.processed, u64::from(CUSTOMERS));
    assert_eq!(done.progress.created, u64::from(CUSTOMERS));
    let overview = store.tenant_overview(tenant.id).await.unwrap();
    assert_eq!(
        overview.customers,
        u64::from(CUSTOMERS),
        "each customer once"
    );
    let first_pages = fake
        .requests()
        .iter()
        .filter(|r| r.offset == Some(0))
        .count();
    assert_eq!(first_pages, 1, "the second process resumed, not restarted");
    let log: Vec<String> = store
        .job_details(tenant.id, job, 1000)
        .await
        .unwrap()
        .logs
        .into_iter()
        .map(|l| l.message)
        .collect();
    let log = log.join("\n");
    assert!(
        log.contains(&format!("O processo {dead_owner} parou de responder")),
        "{log}"
    );
    assert!(log.contains("Retomando do cliente"), "{log}");

    store.close().await;
    fake.stop().await;
    if let Some(name) = pg_name {
        drop_pg_database(&name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_server_killed_mid_import_is_finished_by_the_next() {
    server_killed_mid_import_is_finished_by_the_next(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_server_killed_mid_import_is_finished_by_the_next() {
    server_killed_mid_import_is_finished_by_the_next(Db::Postgres).await;
}
