//! `/api/admin/integracoes/sgp/agendamento`: the provider's automatic sync.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::input::JsonBody;
use super::response::{ok, Envelope, ErrorBody};
use crate::model::{ScheduleInput, ScheduleView};
use crate::server::auth::Caller;
use crate::server::services::{schedule, ServiceError};
use crate::server::state::AppState;
use sgp_import_core::model::DEFAULT_PAUSE_AFTER_FAILURES;

/// What an admin sets.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgendamentoJson {
    pub ativo: bool,
    /// Five fields (minute hour day month weekday), read in
    /// America/Sao_Paulo: `"0 2 * * *"` is every day at 02:00.
    pub cron: String,
    /// Only what changed since the last successful import (default true).
    #[serde(default = "yes")]
    pub somente_alteracoes: bool,
    /// Only customers with an active contract.
    #[serde(default)]
    pub apenas_ativos: bool,
    #[serde(default)]
    pub data_cadastro_inicio: Option<NaiveDate>,
    #[serde(default)]
    pub data_cadastro_fim: Option<NaiveDate>,
    /// Consecutive failed runs after which the schedule pauses itself
    /// (1 to 100, default 3).
    #[serde(default = "default_pause")]
    pub pausar_apos_falhas: u32,
}

fn yes() -> bool {
    true
}

fn default_pause() -> u32 {
    DEFAULT_PAUSE_AFTER_FAILURES
}

impl From<AgendamentoJson> for ScheduleInput {
    fn from(a: AgendamentoJson) -> Self {
        ScheduleInput {
            active: a.ativo,
            cron: a.cron,
            incremental: a.somente_alteracoes,
            only_active: a.apenas_ativos,
            signup_from: a.data_cadastro_inicio,
            signup_to: a.data_cadastro_fim,
            pause_after_failures: a.pausar_apos_falhas,
        }
    }
}

/// The schedule with what the server worked out.
#[derive(Serialize, ToSchema)]
pub struct AgendamentoRespostaJson {
    pub ativo: bool,
    pub cron: String,
    pub somente_alteracoes: bool,
    pub apenas_ativos: bool,
    pub data_cadastro_inicio: Option<NaiveDate>,
    pub data_cadastro_fim: Option<NaiveDate>,
    pub pausar_apos_falhas: u32,
    /// The next run, while active.
    pub proxima_execucao: Option<DateTime<Utc>>,
    /// The slot of the last run (queued or skipped).
    pub ultima_execucao: Option<DateTime<Utc>>,
    pub falhas_consecutivas: u32,
    /// Set when the schedule paused itself after failures.
    pub pausado_em: Option<DateTime<Utc>>,
    pub motivo_pausa: Option<String>,
    /// The zone `cron` is read in.
    pub fuso_horario: &'static str,
    /// The shortest interval allowed between runs.
    pub intervalo_minimo_minutos: u32,
}

fn answer(v: ScheduleView, min_interval_minutes: u32) -> AgendamentoRespostaJson {
    AgendamentoRespostaJson {
        ativo: v.input.active,
        cron: v.input.cron,
        somente_alteracoes: v.input.incremental,
        apenas_ativos: v.input.only_active,
        data_cadastro_inicio: v.input.signup_from,
        data_cadastro_fim: v.input.signup_to,
        pausar_apos_falhas: v.input.pause_after_failures,
        proxima_execucao: v.next_run,
        ultima_execucao: v.last_run,
        falhas_consecutivas: v.consecutive_failures,
        pausado_em: v.paused_at,
        motivo_pausa: v.pause_reason,
        fuso_horario: sgp_import_core::schedule::TIME_ZONE.name(),
        intervalo_minimo_minutos: min_interval_minutes,
    }
}

/// The provider's automatic sync (off, with defaults, when never saved).
#[utoipa::path(get, path = "/api/admin/integracoes/sgp/agendamento", tag = "integracao",
    responses((status = 200, body = Envelope<AgendamentoRespostaJson>), (status = 401, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Envelope<AgendamentoRespostaJson>>, ServiceError> {
    let view = schedule::get(&state, &caller).await?;
    Ok(ok(answer(view, schedule::min_interval_minutes(&state))))
}

/// Saves the automatic sync; the answer carries the next run. Saving
/// clears a pause and the failure count.
#[utoipa::path(put, path = "/api/admin/integracoes/sgp/agendamento", tag = "integracao",
    request_body = AgendamentoJson,
    responses(
        (status = 200, body = Envelope<AgendamentoRespostaJson>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 422, description = "a field breaks a rule (named in `field`): an invalid cron expression, runs closer than the minimum interval, no SGP connection saved", body = ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(input): JsonBody<AgendamentoJson>,
) -> Result<Json<Envelope<AgendamentoRespostaJson>>, ServiceError> {
    let view = schedule::save(&state, &caller, input.into()).await?;
    Ok(ok(answer(view, schedule::min_interval_minutes(&state))))
}

/// A script may send back the `GET` answer it edited.
impl super::input::RequestBody for AgendamentoJson {
    const ANSWER_ONLY: &'static [&'static str] = &[
        "proxima_execucao",
        "ultima_execucao",
        "falhas_consecutivas",
        "pausado_em",
        "motivo_pausa",
        "fuso_horario",
        "intervalo_minimo_minutos",
    ];
}
