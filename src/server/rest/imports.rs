//! `/api/admin/integracoes/sgp/importacoes...`: the import jobs.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Json;
use futures::Stream;

use super::dto::{
    stats, AlteracoesJson, AlteracoesQuery, ImportacaoDetalheJson, ImportacaoJson, ListaJson,
    ListaQuery, NovaImportacaoJson, PaginationJson, PreviaJson,
};
use super::input::{job_id, JsonBody, PathId, QueryParams};
use super::response::{ok, Envelope, ErrorBody};
use axum::http::HeaderMap;
use sgp_import_core::auth::Principal;
use sgp_import_core::model::JobOrigin;

use crate::server::auth::{principal, Caller};
use crate::server::services::{imports, ServiceError};
use crate::server::state::AppState;
use crate::server::streams::{StreamSlot, MAX_STREAMS_PER_USER};

/// How often the progress stream looks at the job.
const STREAM_EVERY: Duration = Duration::from_secs(1);
/// How often it checks that its caller may still watch.
const RECHECK_EVERY: Duration = Duration::from_secs(5);

/// A progress stream's state between events.
struct Following {
    state: AppState,
    caller: Principal,
    /// The request's credentials, checked again every `RECHECK_EVERY`.
    headers: HeaderMap,
    last: Option<String>,
    done: bool,
    checked: Instant,
    /// Given back when the stream ends or the client leaves.
    _slot: StreamSlot,
}

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
    let origin = q.origin("origem")?;
    let limit = q.number("limit", 1, u64::from(imports::MAX_LIMIT), 10)? as u32;
    let offset = q.number("offset", 0, 10_000_000, 0)?;
    let list = imports::list(&state, &caller, statuses, origin, limit, offset).await?;
    let names = imports::provider_names(&state, &caller).await?;
    Ok(ok(ListaJson {
        importacoes: list
            .page
            .jobs
            .iter()
            .map(|j| {
                let name = names.get(&j.tenant_id).map_or("", String::as_str);
                ImportacaoJson::from(j).of_provider(name)
            })
            .collect(),
        stats: stats(&list.counts),
        pagination: PaginationJson::of(
            list.page.total,
            list.page.limit,
            list.page.offset,
            list.page.jobs.len(),
        ),
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
    PathId(id): PathId,
) -> Result<Json<Envelope<ImportacaoDetalheJson>>, ServiceError> {
    let id = job_id("id", &id)?;
    let details = imports::details(&state, &caller, id).await?;
    let mut answer = ImportacaoDetalheJson::from(&details);
    answer.importacao.provedor_nome = imports::provider_name(&state, &caller).await?;
    Ok(ok(answer))
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
    PathId(id): PathId,
) -> Result<Json<Envelope<ImportacaoJson>>, ServiceError> {
    let id = job_id("id", &id)?;
    let job = imports::cancel(&state, &caller, id).await?;
    let provider = imports::provider_name(&state, &caller).await?;
    Ok(ok(ImportacaoJson::from(&job).of_provider(&provider)))
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
    JsonBody(input): JsonBody<NovaImportacaoJson>,
) -> Result<impl IntoResponse, ServiceError> {
    let job = imports::start(&state, &caller, input.into(), JobOrigin::Api).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        ok(ImportacaoJson::from(&job).of_provider(&imports::provider_name(&state, &caller).await?)),
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
    PathId(id): PathId,
) -> Result<Json<Envelope<ImportacaoJson>>, ServiceError> {
    let id = job_id("id", &id)?;
    let job = imports::retry(&state, &caller, id).await?;
    let provider = imports::provider_name(&state, &caller).await?;
    Ok(ok(ImportacaoJson::from(&job).of_provider(&provider)))
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
    PathId(id): PathId,
) -> Result<impl IntoResponse, ServiceError> {
    let id = job_id("id", &id)?;
    let csv = imports::error_report(&state, &caller, id).await?;
    Ok(csv_download(csv, &format!("erros-importacao-{id}.csv")))
}

/// A CSV answer streamed as it is read: a failure mid-way ends the
/// download early (already logged as a storage error); the status line
/// went out with the first batch.
fn csv_download(
    csv: impl Stream<Item = Result<String, ServiceError>> + Send + 'static,
    filename: &str,
) -> impl IntoResponse {
    let body = axum::body::Body::from_stream(futures::StreamExt::map(csv, |batch| {
        batch.map_err(|e| std::io::Error::other(e.to_string()))
    }));
    (
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
}

/// Marks the customers an import found missing from SGP but held back
/// (more than `import.max_removal_percent` of the provider's): the admin
/// confirms the departures are real.
#[utoipa::path(post, path = "/api/admin/integracoes/sgp/importacoes/{id}/confirmar-remocoes", tag = "importacoes",
    params(("id" = String, Path, description = "the job's UUID")),
    responses(
        (status = 200, body = Envelope<ImportacaoJson>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "nothing waits for confirmation, or a newer import completed", body = ErrorBody)))]
pub async fn confirm_removals(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PathId(id): PathId,
) -> Result<Json<Envelope<ImportacaoJson>>, ServiceError> {
    let id = job_id("id", &id)?;
    let job = imports::confirm_removals(&state, &caller, id).await?;
    let provider = imports::provider_name(&state, &caller).await?;
    Ok(ok(ImportacaoJson::from(&job).of_provider(&provider)))
}

/// What an import changed, customer by customer, with counts per kind.
#[utoipa::path(get, path = "/api/admin/integracoes/sgp/importacoes/{id}/alteracoes", tag = "importacoes",
    params(("id" = String, Path, description = "the job's UUID"), AlteracoesQuery),
    responses(
        (status = 200, body = Envelope<AlteracoesJson>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn changes(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PathId(id): PathId,
    RawQuery(query): RawQuery,
) -> Result<Json<Envelope<AlteracoesJson>>, ServiceError> {
    let id = job_id("id", &id)?;
    let q = QueryParams::parse(query.as_deref());
    let kind = q.change_kind("tipo")?;
    let limit = q.number("limit", 1, u64::from(imports::MAX_LIMIT), 50)? as u32;
    let offset = q.number("offset", 0, 100_000_000, 0)?;
    let page = imports::changes(&state, &caller, id, kind, limit, offset).await?;
    Ok(ok(AlteracoesJson::from(&page)))
}

/// What an import changed as CSV (`;`-separated, UTF-8 with BOM).
#[utoipa::path(get, path = "/api/admin/integracoes/sgp/importacoes/{id}/alteracoes.csv", tag = "importacoes",
    params(("id" = String, Path, description = "the job's UUID"),
        ("tipo" = Option<String>, Query, description = "one kind of change")),
    responses(
        (status = 200, content_type = "text/csv", body = String),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn changes_report(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PathId(id): PathId,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, ServiceError> {
    let id = job_id("id", &id)?;
    let kind = QueryParams::parse(query.as_deref()).change_kind("tipo")?;
    let csv = imports::changes_report(&state, &caller, id, kind).await?;
    Ok(csv_download(
        csv,
        &format!("alteracoes-importacao-{id}.csv"),
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
    JsonBody(input): JsonBody<NovaImportacaoJson>,
) -> Result<Json<Envelope<PreviaJson>>, ServiceError> {
    // a preview needs no name: the import service gives it one
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
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ServiceError> {
    let q = QueryParams::parse(query.as_deref());
    let raw = q
        .text("job_id")
        .ok_or_else(|| ServiceError::bad_request("job_id", "Informe `job_id`."))?;
    let id = job_id("job_id", &raw)?;
    // a 404 now rather than an empty stream
    imports::summary(&state, &caller, id).await?;
    let slot = state
        .streams
        .take(caller.user.id)
        .ok_or_else(|| ServiceError::Throttled {
            message: format!(
                "Há {MAX_STREAMS_PER_USER} acompanhamentos ao vivo abertos nesta conta; feche \
                 algum (outra aba, outro script) e tente de novo."
            ),
            retry_after: STREAM_EVERY * 5,
        })?;
    let stream = Following {
        state,
        caller,
        headers,
        last: None,
        done: false,
        checked: Instant::now(),
        _slot: slot,
    };
    let events = futures::stream::unfold(stream, move |mut s| async move {
        if s.done {
            return None;
        }
        loop {
            // the credential is checked again now and then: a logout, a
            // revoked token or a disabled account ends the stream
            if s.checked.elapsed() >= RECHECK_EVERY {
                s.checked = Instant::now();
                match principal(&s.state, &s.headers).await {
                    Ok(Some(p)) if p.user.id == s.caller.user.id && p.tenant == s.caller.tenant => {
                    }
                    _ => {
                        s.done = true;
                        let event = Event::default()
                            .event("error")
                            .data(ServiceError::Unauthenticated.to_string());
                        return Some((Ok(event), s));
                    }
                }
            }
            let job = match imports::summary(&s.state, &s.caller, id).await {
                Ok(job) => job,
                Err(e) => {
                    s.done = true;
                    let event = Event::default().event("error").data(e.to_string());
                    return Some((Ok(event), s));
                }
            };
            let data = serde_json::to_string(&ImportacaoJson::from(&job)).unwrap_or_default();
            let finished = job.status.is_finished();
            if finished || s.last.as_deref() != Some(data.as_str()) {
                let name = if finished { "done" } else { "progress" };
                let event = Event::default().event(name).data(data.clone());
                s.last = Some(data);
                s.done = finished;
                return Some((Ok(event), s));
            }
            tokio::time::sleep(STREAM_EVERY).await;
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
