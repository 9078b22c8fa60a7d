//! Two real `sgp-import serve` processes on one database: a due scheduled
//! slot becomes exactly one import, whichever instance takes it.

use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sgp_import_core::clock::SystemClock;
use sgp_import_core::config::{DatabaseSettings, DatabaseUrl};
use sgp_import_core::model::{JobOrigin, ScheduleInput, TenantSlug};
use sgp_import_core::sealing::Sealer;
use sgp_import_core::store::{JobFilter, Store};

use crate::helpers::{drop_pg_database, fresh_pg_database, serve_binary, Db};

fn serve(dir: &std::path::Path, database_url: &str, key: &str) -> Child {
    serve_binary(
        dir,
        database_url,
        key,
        &[("DEMO", "false"), ("SCHEDULE_CHECK_INTERVAL_SECONDS", "1")],
    )
}

async fn one_slot_one_import(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = match db {
        Db::Sqlite => (format!("sqlite://{}/shared.db", dir.path().display()), None),
        Db::Postgres => {
            let (url, name) = fresh_pg_database().await;
            (url, Some(name))
        }
    };
    let settings = DatabaseSettings {
        url: DatabaseUrl::parse(&url).unwrap(),
        max_connections: 2,
        connect_timeout: Duration::from_secs(10),
    };
    let store: Arc<dyn Store> = sgp_import_core::store::connect(&settings, Arc::new(SystemClock))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let tenant = store
        .ensure_tenant(
            &TenantSlug::parse("dois-servidores").unwrap(),
            "Dois servidores",
        )
        .await
        .unwrap()
        .id;
    let slot = sgp_import_core::clock::truncate_to_millis(chrono::Utc::now())
        + chrono::Duration::seconds(2);
    store
        .save_schedule(
            tenant,
            &ScheduleInput {
                active: true,
                ..ScheduleInput::default()
            },
            Some(slot),
        )
        .await
        .unwrap();
    let key = Sealer::generate_key();
    let mut servers = [serve(dir.path(), &url, &key), serve(dir.path(), &url, &key)];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let view = store.schedule(tenant).await.unwrap().unwrap();
        if view.last_run == Some(slot) {
            assert!(view.next_run.unwrap() > slot);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slot was never taken: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // both instances tick a few more times
    tokio::time::sleep(Duration::from_secs(3)).await;
    let jobs = store
        .list_jobs(
            tenant,
            &JobFilter {
                statuses: None,
                origin: Some(JobOrigin::Scheduled),
                kind: None,
                limit: 10,
                offset: 0,
            },
        )
        .await
        .unwrap();
    for s in &mut servers {
        let _ = s.kill();
        let _ = s.wait();
    }
    assert_eq!(jobs.total, 1, "{:?}", jobs.jobs);
    store.close().await;
    if let Some(name) = pg {
        drop_pg_database(&name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_servers_take_a_slot_once() {
    one_slot_one_import(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_servers_take_a_slot_once() {
    one_slot_one_import(Db::Postgres).await;
}
