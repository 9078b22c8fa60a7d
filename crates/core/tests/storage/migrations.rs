use crate::on_both;
use crate::support::{Raw, TestDb};

on_both!(
    migrating_twice_is_harmless,
    every_business_table_has_a_tenant
);

async fn migrating_twice_is_harmless(db: &TestDb) {
    db.store.migrate().await.unwrap();
    db.store.ping().await.unwrap();
}

const BUSINESS_TABLES: &[&str] = &[
    "sessions",
    "api_tokens",
    "sgp_integrations",
    "jobs",
    "job_logs",
    "customers",
    "contracts",
    "import_row_errors",
];

async fn every_business_table_has_a_tenant(db: &TestDb) {
    for table in BUSINESS_TABLES {
        let columns: Vec<String> = match db.raw() {
            Raw::Sqlite(pool) => sqlx::query_scalar("SELECT name FROM pragma_table_info(?1)")
                .bind(table)
                .fetch_all(pool)
                .await
                .unwrap(),
            Raw::Postgres(pool) => sqlx::query_scalar(
                "SELECT column_name::text FROM information_schema.columns WHERE table_name = $1",
            )
            .bind(table)
            .fetch_all(pool)
            .await
            .unwrap(),
        };
        assert!(!columns.is_empty(), "table {table} is missing");
        assert!(
            columns.iter().any(|c| c == "tenant_id"),
            "table {table} has no tenant_id: {columns:?}"
        );
    }
}
