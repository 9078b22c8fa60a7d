//! `/api/admin/integracoes/sgp`: the provider's SGP connection.

use axum::extract::State;
use axum::Json;

use super::dto::{IntegracaoJson, TesteJson};
use super::input::JsonBody;
use super::response::{ok, Envelope, ErrorBody};
use crate::api::integration::IntegrationForm;
use crate::server::auth::Caller;
use crate::server::services::{integration, ServiceError};
use crate::server::state::AppState;

/// The saved connection, secrets masked (`••••a1b2`).
#[utoipa::path(get, path = "/api/admin/integracoes/sgp", tag = "integracao",
    responses((status = 200, body = Envelope<IntegracaoJson>), (status = 401, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Envelope<IntegracaoJson>>, ServiceError> {
    Ok(ok(integration::get(&state, &caller).await?.into()))
}

/// Saves the connection; secrets are encrypted at rest and never returned.
#[utoipa::path(put, path = "/api/admin/integracoes/sgp", tag = "integracao",
    request_body = IntegrationForm,
    responses(
        (status = 200, body = Envelope<IntegracaoJson>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 422, description = "a field is missing or invalid (named in `field`)", body = ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(input): JsonBody<IntegrationForm>,
) -> Result<Json<Envelope<IntegracaoJson>>, ServiceError> {
    let view = integration::save(&state, &caller, &input.into()).await?;
    Ok(ok(Some(view).into()))
}

/// Tries the saved connection with one cheap request to SGP.
#[utoipa::path(post, path = "/api/admin/integracoes/sgp/testar", tag = "integracao",
    responses(
        (status = 200, description = "`ok` says whether SGP answered well", body = Envelope<TesteJson>),
        (status = 401, body = ErrorBody),
        (status = 409, description = "no SGP integration saved", body = ErrorBody)))]
pub async fn test(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Envelope<TesteJson>>, ServiceError> {
    Ok(ok(integration::test(&state, &caller).await?.into()))
}

/// A script may send back the `GET` answer it edited.
impl super::input::RequestBody for crate::api::integration::IntegrationForm {
    const ANSWER_ONLY: &'static [&'static str] = &[
        "configurada",
        "ultimo_teste_em",
        "ultimo_teste_ok",
        "ultimo_teste_mensagem",
    ];
}
