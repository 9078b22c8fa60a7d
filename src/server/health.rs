use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use super::state::AppState;

#[derive(Serialize)]
pub struct Health {
    status: &'static str,
    database: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `GET /healthz`: 200 when the database answers, 503 when it does not, so
/// a load balancer takes a cut-off instance out of rotation.
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let database = state.store.backend().name();
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(Health {
                status: "ok",
                database,
                error: None,
            }),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: "unavailable",
                    database,
                    error: Some("database unreachable".to_owned()),
                }),
            )
        }
    }
}
