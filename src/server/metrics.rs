//! `GET /metrics` for operators, in Prometheus text format: counters and
//! histograms recorded as work happens (the `metrics` crate, exported by
//! metrics-exporter-prometheus), plus queue gauges read from the database
//! at each scrape, so every instance reports the whole queue. Served only
//! when `METRICS_TOKEN` is set, and only to a request bearing it.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sgp_import_core::model::JobStatus;

use super::state::AppState;

/// Seconds: from a fast SGP page to a six-hour import.
const DURATION_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's recorder (once; later calls reuse it). Until it
/// is installed, recording a metric costs nothing.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("duration_seconds".into()), DURATION_BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!(
                "another metrics recorder was installed first; /metrics may be incomplete"
            );
        }
        describe();
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_gauge!("sgp_import_jobs", "Jobs by kind and status, all providers.");
    describe_gauge!(
        "sgp_import_queue_depth",
        "Jobs waiting to run (queued or retrying), by kind."
    );
    describe_gauge!(
        "sgp_import_queue_oldest_age_seconds",
        Unit::Seconds,
        "Age of the oldest job waiting to run, by kind (0 when none waits)."
    );
    describe_histogram!(
        "sgp_import_job_duration_seconds",
        Unit::Seconds,
        "Duration of job attempts, by kind and how they ended."
    );
    describe_counter!(
        "sgp_import_customers_total",
        "Customers imported, by result (created, updated, unchanged, failed)."
    );
    describe_counter!(
        "sgp_import_sgp_requests_total",
        "Requests to SGP, by outcome class."
    );
    describe_histogram!(
        "sgp_import_sgp_request_duration_seconds",
        Unit::Seconds,
        "Latency of requests to SGP, by outcome class."
    );
    describe_counter!(
        "sgp_import_notification_deliveries_total",
        "Notification delivery attempts, by channel and outcome."
    );
    describe_counter!(
        "sgp_import_schedule_runs_total",
        "Scheduled runs started (enqueued) or skipped because the provider was busy."
    );
    describe_counter!(
        "sgp_import_schedule_pauses_total",
        "Schedules that paused themselves after consecutive failures."
    );
}

/// Equal without an early exit on the first differing byte.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub async fn serve(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = state.settings.metrics_token.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !same(given.as_bytes(), token.expose().as_bytes()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "missing or wrong bearer token\n",
        )
            .into_response();
    }
    let handle = install();
    match state.store.queue_stats().await {
        Ok(stats) => {
            let now = chrono::Utc::now();
            for s in stats {
                let mut waiting = 0;
                for (status, n) in &s.by_status {
                    metrics::gauge!("sgp_import_jobs", "kind" => s.kind.clone(), "status" => status.as_str())
                        .set(*n as f64);
                    if JobStatus::WAITING.contains(status) {
                        waiting += n;
                    }
                }
                metrics::gauge!("sgp_import_queue_depth", "kind" => s.kind.clone())
                    .set(waiting as f64);
                let age = s
                    .oldest_waiting
                    .map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
                metrics::gauge!("sgp_import_queue_oldest_age_seconds", "kind" => s.kind.clone())
                    .set(age);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: could not read the queue"),
    }
    handle.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}
