//! `/api/admin/clientes`: imported customers.

use axum::extract::{RawQuery, State};
use axum::Json;

use super::dto::{ClienteJson, ClientesJson, ClientesQuery, PaginationJson};
use super::input::QueryParams;
use super::response::{ok, Envelope, ErrorBody};
use crate::server::auth::Caller;
use crate::server::services::{customers, ServiceError};
use crate::server::state::AppState;

/// The provider's customers by name, each with contracts and plans.
#[utoipa::path(get, path = "/api/admin/clientes", tag = "clientes",
    params(ClientesQuery),
    responses(
        (status = 200, body = Envelope<ClientesJson>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Envelope<ClientesJson>>, ServiceError> {
    let q = QueryParams::parse(query.as_deref());
    let limit = q.number("limit", 1, u64::from(customers::MAX_LIMIT), 20)? as u32;
    let offset = q.number("offset", 0, 100_000_000, 0)?;
    let page = customers::list(
        &state,
        &caller,
        q.text("q"),
        q.text("status").as_deref(),
        limit,
        offset,
    )
    .await?;
    Ok(ok(ClientesJson {
        clientes: page.customers.iter().map(ClienteJson::from).collect(),
        pagination: PaginationJson::of(page.total, page.limit, page.offset, page.customers.len()),
    }))
}
