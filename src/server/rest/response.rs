//! The JSON envelope every endpoint answers with, kept from the API that
//! providers' scripts already call: `{"success": true, "data": ...}` or
//! `{"success": false, "error": "...", "code": "...", "field": "..."}`.

use axum::http::header::RETRY_AFTER;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::server::services::ServiceError;

#[derive(Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always `true` here.
    pub success: bool,
    pub data: T,
}

pub fn ok<T: Serialize>(data: T) -> Json<Envelope<T>> {
    Json(Envelope {
        success: true,
        data,
    })
}

#[derive(Serialize, ToSchema)]
pub struct FieldErrorJson {
    pub field: String,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always `false` here.
    pub success: bool,
    /// For the admin, in Portuguese.
    pub error: String,
    /// Stable, for scripts: `unauthenticated`, `forbidden`, `not_found`,
    /// `bad_request`, `validation_failed`, `conflict`, `provider_required`,
    /// `too_many_attempts`, `sgp_error`, `unavailable`, `internal_error`.
    pub code: String,
    /// The first field at fault, when the error is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every field at fault, each with its message.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldErrorJson>,
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            success: false,
            error: self.to_string(),
            code: self.code().to_owned(),
            field: self.field().map(str::to_owned),
            fields: self
                .fields()
                .iter()
                .map(|f| FieldErrorJson {
                    field: f.field.clone(),
                    message: f.message.clone(),
                })
                .collect(),
        };
        let mut response = (self.status(), Json(body)).into_response();
        if let ServiceError::Throttled { retry_after, .. } = &self {
            if let Ok(v) = HeaderValue::from_str(&retry_after.as_secs().to_string()) {
                response.headers_mut().insert(RETRY_AFTER, v);
            }
        }
        response
    }
}
