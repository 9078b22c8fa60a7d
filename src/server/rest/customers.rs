//! `/api/admin/clientes`: imported customers.

use axum::extract::{RawQuery, State};
use axum::Json;

use super::dto::{
    AlteracaoJson, ClienteJson, ClientesJson, ClientesQuery, HistoricoJson, PaginationJson,
};
use super::input::{PathId, QueryParams};
use super::response::{ok, Envelope, ErrorBody};
use crate::server::auth::Caller;
use crate::server::services::{customers, imports, ServiceError};
use crate::server::state::AppState;

/// The provider's customers in alphabetical order (ignoring case and
/// accents), each with contracts and plans.
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
        q.text("situacao").as_deref(),
        limit,
        offset,
    )
    .await?;
    let mut pagination =
        PaginationJson::of(page.total, page.limit, page.offset, page.customers.len());
    if !page.total_exact {
        // past the counted matches, a full page means there may be more
        pagination.has_more = page.customers.len() == page.limit as usize;
    }
    Ok(ok(ClientesJson {
        clientes: page.customers.iter().map(ClienteJson::from).collect(),
        pagination,
        total_exato: page.total_exact,
        busca_atualizada_em: page
            .from_search_index
            .then(|| page.search_refreshed_at.map(|t| t.to_rfc3339())),
    }))
}

/// What the provider's imports changed in one customer, newest first.
#[utoipa::path(get, path = "/api/admin/clientes/{id}/historico", tag = "clientes",
    params(("id" = i64, Path, description = "the customer's id (`id` in the list)"),
        ("limit" = Option<u32>, Query, description = "1 to 100 (default 50)"),
        ("offset" = Option<u64>, Query)),
    responses(
        (status = 200, body = Envelope<HistoricoJson>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PathId(id): PathId,
    RawQuery(query): RawQuery,
) -> Result<Json<Envelope<HistoricoJson>>, ServiceError> {
    let id: i64 = id
        .trim()
        .parse()
        .map_err(|_| ServiceError::bad_request("id", "O id do cliente deve ser um número."))?;
    let q = QueryParams::parse(query.as_deref());
    let limit = q.number("limit", 1, u64::from(customers::MAX_LIMIT), 50)? as u32;
    let offset = q.number("offset", 0, 100_000_000, 0)?;
    let page = imports::customer_history(&state, &caller, id, limit, offset).await?;
    Ok(ok(HistoricoJson {
        historico: page.changes.iter().map(AlteracaoJson::from).collect(),
        pagination: PaginationJson::of(page.total, page.limit, page.offset, page.changes.len()),
    }))
}
