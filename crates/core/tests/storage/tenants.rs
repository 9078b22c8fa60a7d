use sgp_import_core::model::{JobStatus, TenantId, TenantSlug};
use sgp_import_core::store::{Entity, StoreError};

use crate::on_both;
use crate::support::{start_time, TestDb};

on_both!(
    ensure_tenant_creates_once_and_keeps_the_name,
    tenants_are_listed_by_name,
    overview_counts_only_the_tenants_own_rows,
    overview_of_an_unknown_tenant_is_not_found,
);

fn slug(s: &str) -> TenantSlug {
    TenantSlug::parse(s).unwrap()
}

async fn ensure_tenant_creates_once_and_keeps_the_name(db: &TestDb) {
    let first = db
        .store
        .ensure_tenant(&slug("net-fibra"), "Net Fibra")
        .await
        .unwrap();
    assert_eq!(first.name, "Net Fibra");
    assert_eq!(first.created_at, start_time());

    db.clock.advance(chrono::Duration::hours(1));
    let again = db
        .store
        .ensure_tenant(&slug("net-fibra"), "Outro Nome")
        .await
        .unwrap();
    assert_eq!(again, first, "an existing tenant is returned unchanged");

    let found = db.store.tenant_by_slug(&slug("net-fibra")).await.unwrap();
    assert_eq!(found, Some(first));
    assert_eq!(
        db.store.tenant_by_slug(&slug("nenhum")).await.unwrap(),
        None
    );
}

async fn tenants_are_listed_by_name(db: &TestDb) {
    assert!(db.store.list_tenants().await.unwrap().is_empty());
    db.store
        .ensure_tenant(&slug("zeta"), "Zeta Telecom")
        .await
        .unwrap();
    db.store
        .ensure_tenant(&slug("alfa"), "Alfa Net")
        .await
        .unwrap();
    let names: Vec<String> = db
        .store
        .list_tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["Alfa Net", "Zeta Telecom"]);
}

async fn overview_counts_only_the_tenants_own_rows(db: &TestDb) {
    let a = db
        .store
        .ensure_tenant(&slug("a-net"), "A Net")
        .await
        .unwrap();
    let b = db
        .store
        .ensure_tenant(&slug("b-net"), "B Net")
        .await
        .unwrap();

    let empty = db.store.tenant_overview(a.id).await.unwrap();
    assert_eq!(
        (empty.customers, empty.contracts, empty.imports_total()),
        (0, 0, 0)
    );

    let c1 = db.insert_customer(a.id, "1").await;
    let c2 = db.insert_customer(a.id, "2").await;
    db.insert_contract(a.id, c1, "10").await;
    db.insert_contract(a.id, c1, "11").await;
    db.insert_contract(a.id, c2, "12").await;
    let other = db.insert_customer(b.id, "1").await;
    db.insert_contract(b.id, other, "10").await;
    for status in ["completed", "completed", "failed", "queued"] {
        db.insert_job(a.id, status).await;
    }
    db.insert_job(b.id, "running").await;

    let ov = db.store.tenant_overview(a.id).await.unwrap();
    assert_eq!(ov.tenant, a);
    assert_eq!((ov.customers, ov.contracts), (2, 3));
    assert_eq!(
        ov.imports,
        vec![
            (JobStatus::Queued, 1),
            (JobStatus::Completed, 2),
            (JobStatus::Failed, 1)
        ]
    );
    assert_eq!(ov.imports_in(JobStatus::Running), 0);

    let ov = db.store.tenant_overview(b.id).await.unwrap();
    assert_eq!((ov.customers, ov.contracts), (1, 1));
    assert_eq!(ov.imports, vec![(JobStatus::Running, 1)]);
}

async fn overview_of_an_unknown_tenant_is_not_found(db: &TestDb) {
    let err = db.store.tenant_overview(TenantId::new()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Entity::Tenant)),
        "{err:?}"
    );
}
