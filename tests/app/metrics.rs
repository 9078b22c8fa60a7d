//! `/metrics` through the running app: not served without a token, 401
//! without the right one, Prometheus text that a parser reads, and
//! counters that move after an import.

use prometheus_parse::{Scrape, Value};
use reqwest::Method;

use crate::helpers::{spawn_app, spawn_app_with, Db, TestApp};

const TOKEN: &str = "token-de-metricas-0123456789";

async fn scrape(app: &TestApp) -> Scrape {
    let response = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    // every line is a comment or `name{labels} value`
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok() || value == "+Inf", "{line}");
        assert!(line.starts_with("sgp_import_"), "{line}");
    }
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The value of a counter or gauge with these labels (0 when absent), or a
/// histogram's count.
fn value(s: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == metric)
        .filter(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Value::Summary(_) => 0.0,
        })
        .sum()
}

async fn counters_move_after_an_import(db: Db) {
    let app = spawn_app_with(db, &[("METRICS_TOKEN", TOKEN)]).await;
    for auth in [None, Some("errado-0123456789012345")] {
        let mut request = app.client.get(app.url("/metrics"));
        if let Some(a) = auth {
            request = request.bearer_auth(a);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }
    let before = scrape(&app).await;
    let admin = app.demo_admin().await;
    let id = app.import_and_wait(&admin, "Medida").await;
    let (_, job) = app
        .json(
            Method::GET,
            &format!("/api/admin/integracoes/sgp/importacoes/{id}"),
            &admin,
            None,
        )
        .await;
    let created = job["data"]["criados"].as_f64().unwrap();
    assert!(created > 0.0);
    let after = scrape(&app).await;
    // counters are per process (tests share one): they grow at least by ours
    let grew = |metric: &str, labels: &[(&str, &str)]| {
        value(&after, metric, labels) - value(&before, metric, labels)
    };
    assert!(grew("sgp_import_customers_total", &[("result", "created")]) >= created);
    assert!(grew("sgp_import_sgp_requests_total", &[("outcome", "ok")]) >= 1.0);
    assert!(
        grew(
            "sgp_import_sgp_request_duration_seconds",
            &[("outcome", "ok")]
        ) >= 1.0
    );
    assert!(
        grew(
            "sgp_import_job_duration_seconds",
            &[("kind", "sgp_import"), ("ending", "completed")]
        ) >= 1.0
    );
    // gauges come from this app's database
    assert_eq!(
        value(
            &after,
            "sgp_import_jobs",
            &[("kind", "sgp_import"), ("status", "completed")]
        ),
        1.0
    );
    assert_eq!(
        value(&after, "sgp_import_queue_depth", &[("kind", "sgp_import")]),
        0.0
    );
    assert!(after
        .docs
        .contains_key("sgp_import_queue_oldest_age_seconds"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_sqlite() {
    counters_move_after_an_import(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_postgres() {
    counters_move_after_an_import(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_metrics_are_not_served() {
    let app = spawn_app(Db::Sqlite).await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 404);
    app.stop().await;
}
