//! Demo mode: the demo provider imports from the embedded fake SGP.

use std::time::Duration;

use sgp_import_core::import::ImportParams;
use sgp_import_core::model::{JobStatus, TenantSlug};

use crate::helpers::TestApp;
use crate::on_both;

on_both!(demo_provider_imports_from_the_embedded_sgp);

async fn demo_provider_imports_from_the_embedded_sgp(app: &TestApp) {
    let store = app.store();
    let demo = store
        .tenant_by_slug(&TenantSlug::parse("demo").unwrap())
        .await
        .unwrap()
        .expect("demo mode seeds the demo provider");
    let view = app
        .state
        .integrations
        .view(demo.id)
        .await
        .unwrap()
        .expect("with an SGP integration");
    assert!(view.base_url.starts_with("http://127.0.0.1:"));
    assert!(view.token_hint.unwrap().starts_with("••••"));

    let test = app.state.imports.test_connection(demo.id).await.unwrap();
    assert!(test.ok, "{}", test.message);
    assert_eq!(test.customers, Some(120));

    let job = app
        .state
        .imports
        .start(
            demo.id,
            ImportParams::everything("Demonstração"),
            sgp_import_core::model::JobOrigin::Manual,
        )
        .await
        .unwrap();
    let mut status = job.status;
    for _ in 0..200 {
        status = store
            .job_details(demo.id, job.id, 0)
            .await
            .unwrap()
            .summary
            .status;
        if status.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, JobStatus::Completed);
    assert_eq!(store.tenant_overview(demo.id).await.unwrap().customers, 120);
}
