//! `/api/admin/integracoes/sgp/importacoes...`: the import jobs.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Json;
use futures::Stream;

use super::dto::{
    stats, ImportacaoDetalheJson, ImportacaoJson, ListaJson, ListaQuery, NovaImportacaoJson,
    PaginationJson, PreviaJson,
};
use super::input::{job_id, json, QueryParams};
use super::response::{ok, Envelope, ErrorBody};
use crate::server::auth::Caller;
use crate::server::services::{imports, ServiceError};
use crate::server::state::AppState;

/// How often the progress stream looks at the job.
const STREAM_EVERY: Duration = Duration::from_secs(1);

/// Jobs of the caller's provider, newest first, with counts per status.
#[utoipa::path(get, path = "/api/admin/integracoes/sgp/importacoes/lista", tag = "importacoes",
    params(ListaQuery),
    responses(
        (status = 200, body = Envelope<ListaJson>),
        (status = 400, description = "unknown status or limit/offset out of range", body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Envelope<ListaJson>>, ServiceError> {
    let q = QueryParams::parse(query.as_deref());
    let statuses = q.statuses("status")?;
    let limit = q.number("limit", 1, u64::from(imports::MAX_LIMIT), 10)? as u32;
    let offset = q.number("offset", 0, 10_000_000, 0)?;
    let list = imports::list(&state, &caller, statuses, limit, offset).await?;
    Ok(ok(ListaJson {
        importacoes: list.page.jobs.iter().map(ImportacaoJson::from).collect(),
        stats: stats(&list.counts),
        pagination: PaginationJson {
            total: list.page.total,
            limit: list.page.limit,
            offset: list.page.offset,
        },
    }))
}

/// One job with its log.
#[utoipa::path(get, path = "/api/admin/integracoes/sgp/importacoes/{id}", tag = "importacoes",
    params(("id" = String, Path, description = "the job's UUID")),
    responses(
        (status = 200, body = Envelope<ImportacaoDetalheJson>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn details(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Envelope<ImportacaoDetalheJson>>, ServiceError> {
    let id = job_id("id", &id)?;
    let details = imports::details(&state, &caller, id).await?;
    Ok(ok(ImportacaoDetalheJson::from(&details)))
}

/// Cancels a job: at once when waiting, at the next page boundary when
/// running (status `cancelling` until then).
#[utoipa::path(delete, path = "/api/admin/integracoes/sgp/importacoes/{id}", tag = "importacoes",
    params(("id" = String, Path, description = "the job's UUID")),
    responses(
        (status = 200, body = Envelope<ImportacaoJson>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the job has already finished", body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Envelope<ImportacaoJson>>, ServiceError> {
    let id = job_id("id", &id)?;
    let job = imports::cancel(&state, &caller, id).await?;
    Ok(ok(ImportacaoJson::from(&job)))
}

/// Queues an import of the provider's SGP customers.
#[utoipa::path(post, path = "/api/admin/integracoes/sgp/importacoes", tag = "importacoes",
    request_body = NovaImportacaoJson,
    responses(
        (status = 201, body = Envelope<ImportacaoJson>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, description = "no SGP integration saved", body = ErrorBody),
        (status = 422, description = "a field breaks a rule (named in `field`)", body = ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    Caller(caller): Caller,
    body: Bytes,
) -> Result<impl IntoResponse, ServiceError> {
    let input: NovaImportacaoJson = json(&body)?;
    let job = imports::start(&state, &caller, input.into()).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        ok(ImportacaoJson::from(&job)),
    ))
}

/// Queues a failed or cancelled job again, from its checkpoint.
#[utoipa::path(post, path = "/api/admin/integracoes/sgp/importacoes/{id}/retry", tag = "importacoes",
    params(("id" = String, Path, description = "the job's UUID")),
    responses(
        (status = 200, body = Envelope<ImportacaoJson>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "the job is not failed or cancelled", body = ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Envelope<ImportacaoJson>>, ServiceError> {
    let id = job_id("id", &id)?;
    let job = imports::retry(&state, &caller, id).await?;
    Ok(ok(ImportacaoJson::from(&job)))
}

/// The customers a job could not import, as CSV (`;`-separated, UTF-8).
#[utoipa::path(get, path = "/api/admin/integracoes/sgp/importacoes/{id}/erros.csv", tag = "importacoes",
    params(("id" = String, Path, description = "the job's UUID")),
    responses(
        (status = 200, content_type = "text/csv", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn error_report(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ServiceError> {
    let id = job_id("id", &id)?;
    let csv = imports::error_report(&state, &caller, id).await?;
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"erros-importacao-{id}.csv\""),
            ),
        ],
        csv,
    ))
}

/// How many customers an import with these filters would bring, new and
/// already stored; writes nothing.
#[utoipa::path(post, path = "/api/admin/integracoes/sgp/importacoes/previa", tag = "importacoes",
    request_body = NovaImportacaoJson,
    responses(
        (status = 200, body = Envelope<PreviaJson>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 502, description = "SGP answered with an error", body = ErrorBody)))]
pub async fn preview(
    State(state): State<AppState>,
    Caller(caller): Caller,
    body: Bytes,
) -> Result<Json<Envelope<PreviaJson>>, ServiceError> {
    let mut input: NovaImportacaoJson = json(&body)?;
    if input.nome_importacao.trim().is_empty() {
        input.nome_importacao = "prévia".into();
    }
    let preview = imports::preview(&state, &caller, input.into()).await?;
    Ok(ok(PreviaJson::from(preview)))
}

/// A job's progress as server-sent events: `progress` (an `ImportacaoJson`)
/// every second while it changes, then `done` with the final state.
#[utoipa::path(get, path = "/api/admin/integracoes/sgp/importar-stream", tag = "importacoes",
    params(("job_id" = String, Query, description = "the job's UUID")),
    responses(
        (status = 200, content_type = "text/event-stream", description = "events `progress` and `done`, each an ImportacaoJson"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn stream(
    State(state): State<AppState>,
    Caller(caller): Caller,
    RawQuery(query): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ServiceError> {
    let q = QueryParams::parse(query.as_deref());
    let raw = q
        .text("job_id")
        .ok_or_else(|| ServiceError::bad_request("job_id", "Informe `job_id`."))?;
    let id = job_id("job_id", &raw)?;
    // a 404 now rather than an empty stream
    imports::summary(&state, &caller, id).await?;
    let events = futures::stream::unfold(
        (state, caller, None::<String>, false),
        move |(state, caller, last, done)| async move {
            if done {
                return None;
            }
            loop {
                let job = match imports::summary(&state, &caller, id).await {
                    Ok(job) => job,
                    Err(e) => {
                        let event = Event::default().event("error").data(e.to_string());
                        return Some((Ok(event), (state, caller, last, true)));
                    }
                };
                let data = serde_json::to_string(&ImportacaoJson::from(&job)).unwrap_or_default();
                let finished = job.status.is_finished();
                if finished || last.as_deref() != Some(data.as_str()) {
                    let name = if finished { "done" } else { "progress" };
                    let event = Event::default().event(name).data(data.clone());
                    return Some((Ok(event), (state, caller, Some(data), finished)));
                }
                tokio::time::sleep(STREAM_EVERY).await;
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
