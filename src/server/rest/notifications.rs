//! `/api/admin/notificacoes...`: who hears about the provider's imports,
//! a test to one target, and the list of deliveries.

use axum::extract::{RawQuery, State};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::dto::{PaginationJson, StatusJson};
use super::input::{JsonBody, QueryParams};
use super::response::{ok, Envelope, ErrorBody};
use crate::model::{Channel, Delivery, NotificationEvent, NotificationInput, NotificationSettings};
use crate::server::auth::Caller;
use crate::server::services::{notifications, ServiceError};
use crate::server::state::AppState;

/// A webhook: where, and which events (`importacao.concluida`,
/// `importacao.falhou`, `importacao.cancelada`, `agendamento.pausado`,
/// `sem_sucesso`).
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookJson {
    /// In answers only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    pub url: String,
    pub eventos: Vec<String>,
}

/// An e-mail recipient and its events.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    pub endereco: String,
    pub eventos: Vec<String>,
}

/// What an admin sets.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificacoesJson {
    #[serde(default)]
    pub webhooks: Vec<WebhookJson>,
    #[serde(default)]
    pub emails: Vec<EmailJson>,
    /// Alert (event `sem_sucesso`) when no import succeeded in this many
    /// hours (1 to 720); null: no alert.
    #[serde(default)]
    pub sem_sucesso_horas: Option<u32>,
    /// Make a new signing secret; the old one stops working at once.
    #[serde(default)]
    pub rotacionar_segredo: bool,
}

/// The provider's notifications.
#[derive(Serialize, ToSchema)]
pub struct NotificacoesRespostaJson {
    pub webhooks: Vec<WebhookJson>,
    pub emails: Vec<EmailJson>,
    pub sem_sucesso_horas: Option<u32>,
    /// Whether webhooks have a signing secret.
    pub segredo_configurado: bool,
    /// The signing secret: only in the answer that created or rotated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segredo: Option<String>,
    /// Whether this server can send e-mail (SMTP configured).
    pub email_disponivel: bool,
    pub eventos_disponiveis: Vec<&'static str>,
}

impl TryFrom<NotificacoesJson> for NotificationInput {
    type Error = ServiceError;

    fn try_from(n: NotificacoesJson) -> Result<Self, ServiceError> {
        let mut errors = Vec::new();
        let webhooks = n
            .webhooks
            .into_iter()
            .map(|w| {
                let e = notifications::events(
                    w.eventos.iter().map(String::as_str),
                    "eventos",
                    &mut errors,
                );
                (w.url, e)
            })
            .collect();
        let emails = n
            .emails
            .into_iter()
            .map(|m| {
                let e = notifications::events(
                    m.eventos.iter().map(String::as_str),
                    "eventos",
                    &mut errors,
                );
                (m.endereco, e)
            })
            .collect();
        if !errors.is_empty() {
            return Err(ServiceError::Invalid(errors));
        }
        Ok(NotificationInput {
            webhooks,
            emails,
            no_success_hours: n.sem_sucesso_horas,
            rotate_secret: n.rotacionar_segredo,
        })
    }
}

fn names(events: &[NotificationEvent]) -> Vec<String> {
    events.iter().map(|e| e.name().to_owned()).collect()
}

impl From<NotificationSettings> for NotificacoesRespostaJson {
    fn from(s: NotificationSettings) -> Self {
        let of = |c: Channel| s.targets.iter().filter(move |t| t.channel == c);
        NotificacoesRespostaJson {
            webhooks: of(Channel::Webhook)
                .map(|t| WebhookJson {
                    id: Some(t.id),
                    url: t.address.clone(),
                    eventos: names(&t.events),
                })
                .collect(),
            emails: of(Channel::Email)
                .map(|t| EmailJson {
                    id: Some(t.id),
                    endereco: t.address.clone(),
                    eventos: names(&t.events),
                })
                .collect(),
            sem_sucesso_horas: s.no_success_hours,
            segredo_configurado: s.has_secret,
            segredo: s.new_secret,
            email_disponivel: s.email_available,
            eventos_disponiveis: NotificationEvent::SUBSCRIBABLE.map(|e| e.name()).to_vec(),
        }
    }
}

/// The provider's webhooks, e-mail recipients and silence alert.
#[utoipa::path(get, path = "/api/admin/notificacoes", tag = "notificacoes",
    responses((status = 200, body = Envelope<NotificacoesRespostaJson>), (status = 401, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Envelope<NotificacoesRespostaJson>>, ServiceError> {
    Ok(ok(notifications::get(&state, &caller).await?.into()))
}

/// Replaces the provider's notifications. The first webhook (or
/// `rotacionar_segredo`) makes a signing secret, returned in this answer
/// only: requests carry `X-SGP-Import-Signature: sha256=<hex>`, the
/// HMAC-SHA256 of `<X-SGP-Import-Timestamp>.<body>` under it.
#[utoipa::path(put, path = "/api/admin/notificacoes", tag = "notificacoes",
    request_body = NotificacoesJson,
    responses(
        (status = 200, body = Envelope<NotificacoesRespostaJson>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 422, description = "a URL, address, event or number breaks a rule (named in `field`); e-mail without SMTP", body = ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(input): JsonBody<NotificacoesJson>,
) -> Result<Json<Envelope<NotificacoesRespostaJson>>, ServiceError> {
    let saved = notifications::save(&state, &caller, input.try_into()?).await?;
    Ok(ok(saved.into()))
}

/// Which target to test.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TesteNotificacaoJson {
    /// A webhook's or e-mail's `id`.
    pub id: Uuid,
}

/// One delivery.
#[derive(Serialize, ToSchema)]
pub struct EntregaJson {
    pub id: Uuid,
    pub evento: String,
    /// `webhook` or `email`
    pub canal: String,
    pub destino: String,
    pub status: StatusJson,
    pub status_label: String,
    pub tentativa: u32,
    pub max_tentativas: u32,
    pub ultimo_erro: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When the next attempt may run, while waiting.
    pub proxima_tentativa_em: Option<DateTime<Utc>>,
    pub finalizado_em: Option<DateTime<Utc>>,
}

impl From<&Delivery> for EntregaJson {
    fn from(d: &Delivery) -> Self {
        let j = &d.job;
        EntregaJson {
            id: j.id.0,
            evento: d.event.name().to_owned(),
            canal: d.channel.as_str().to_owned(),
            destino: d.address.clone(),
            status: j.status.into(),
            status_label: j.status.label_pt().to_owned(),
            tentativa: j.attempt,
            max_tentativas: j.max_attempts,
            ultimo_erro: j.last_error.clone(),
            created_at: j.created_at,
            proxima_tentativa_em: (!j.status.is_finished()).then_some(j.run_after),
            finalizado_em: j.finished_at,
        }
    }
}

/// Queues a test message ("teste") to one webhook or e-mail.
#[utoipa::path(post, path = "/api/admin/notificacoes/testar", tag = "notificacoes",
    request_body = TesteNotificacaoJson,
    responses(
        (status = 202, description = "the delivery, queued", body = Envelope<EntregaJson>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "no such webhook or e-mail", body = ErrorBody)))]
pub async fn test(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(input): JsonBody<TesteNotificacaoJson>,
) -> Result<impl IntoResponse, ServiceError> {
    let delivery = notifications::test(&state, &caller, input.id).await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        ok(EntregaJson::from(&delivery)),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct EntregasJson {
    pub entregas: Vec<EntregaJson>,
    pub pagination: PaginationJson,
}

/// Deliveries of the provider's notifications, newest first, with status
/// and last error (`limit` 1 to 100, default 20; `offset`).
#[utoipa::path(get, path = "/api/admin/notificacoes/entregas", tag = "notificacoes",
    params(("limit" = Option<u32>, Query), ("offset" = Option<u64>, Query)),
    responses(
        (status = 200, body = Envelope<EntregasJson>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn deliveries(
    State(state): State<AppState>,
    Caller(caller): Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Envelope<EntregasJson>>, ServiceError> {
    let q = QueryParams::parse(query.as_deref());
    let limit = q.number("limit", 1, 100, 20)? as u32;
    let offset = q.number("offset", 0, 10_000_000, 0)?;
    let (list, page) = notifications::deliveries(&state, &caller, limit, offset).await?;
    Ok(ok(EntregasJson {
        entregas: list.iter().map(EntregaJson::from).collect(),
        pagination: PaginationJson::of(page.total, page.limit, page.offset, page.jobs.len()),
    }))
}

/// A script may send back the `GET` answer it edited.
impl super::input::RequestBody for NotificacoesJson {
    const ANSWER_ONLY: &'static [&'static str] = &[
        "segredo_configurado",
        "segredo",
        "email_disponivel",
        "eventos_disponiveis",
    ];
}

impl super::input::RequestBody for TesteNotificacaoJson {}
