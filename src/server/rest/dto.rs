//! The JSON shapes of the REST API. Field names are the ones providers'
//! scripts already read (Portuguese, from the original API); new fields
//! sit beside them.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::model::{
    ApiTokenInfo, ChangeKind, ChangePage, ConnectionTest, CustomerChange, IntegrationView,
    JobDetails, JobOrigin, JobStatus, JobSummary, JobTiming, LogLine, Preview, StatusCounts,
    StoredContract, StoredCustomer, Tenant, User,
};
use sgp_import_core::import::ImportParams;

impl ImportacaoJson {
    pub fn of_provider(mut self, name: &str) -> Self {
        self.provedor_nome = name.to_owned();
        self
    }
}

/// A job's status as the API spells it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusJson {
    Queued,
    Running,
    Retrying,
    Cancelling,
    Completed,
    Failed,
    Cancelled,
}

impl From<JobStatus> for StatusJson {
    fn from(s: JobStatus) -> Self {
        match s {
            JobStatus::Queued => StatusJson::Queued,
            JobStatus::Running => StatusJson::Running,
            JobStatus::Retrying => StatusJson::Retrying,
            JobStatus::Cancelling => StatusJson::Cancelling,
            JobStatus::Completed => StatusJson::Completed,
            JobStatus::Failed => StatusJson::Failed,
            JobStatus::Cancelled => StatusJson::Cancelled,
        }
    }
}

/// Where a job came from.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrigemJson {
    Manual,
    Agendada,
    Api,
}

impl From<JobOrigin> for OrigemJson {
    fn from(o: JobOrigin) -> Self {
        match o {
            JobOrigin::Manual => OrigemJson::Manual,
            JobOrigin::Scheduled => OrigemJson::Agendada,
            JobOrigin::Api => OrigemJson::Api,
        }
    }
}

/// One import job.
#[derive(Serialize, ToSchema)]
pub struct ImportacaoJson {
    pub id: Uuid,
    pub status: StatusJson,
    /// The status in Portuguese, as the dashboard shows it.
    pub status_label: String,
    pub nome_importacao: String,
    /// The provider's name.
    pub provedor_nome: String,
    /// Who started it: `manual` (the UI), `agendada` (the schedule) or
    /// `api` (this API).
    pub origem: OrigemJson,
    pub total_estimado: Option<u64>,
    pub processados: u64,
    pub criados: u64,
    pub atualizados: u64,
    pub inalterados: u64,
    pub erros: u64,
    pub progresso_percent: f32,
    pub eta_segundos: Option<u64>,
    pub mensagem_atual: Option<String>,
    /// 1 for the next to run; only while waiting. Counted up to 1,000
    /// jobs ahead: 1,001 means further back.
    pub queue_position: Option<u64>,
    pub tentativa: u32,
    pub max_tentativas: u32,
    pub ultimo_erro: Option<String>,
    /// The instance running it.
    pub worker: Option<String>,
    pub cancelamento_solicitado_em: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finalizado_em: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

impl From<&JobSummary> for ImportacaoJson {
    fn from(j: &JobSummary) -> Self {
        ImportacaoJson {
            id: j.id.0,
            status: j.status.into(),
            status_label: j.status.label_pt().to_owned(),
            nome_importacao: j.name.clone(),
            provedor_nome: String::new(),
            origem: j.origin.into(),
            total_estimado: j.progress.total_estimated,
            processados: j.progress.processed,
            criados: j.progress.created,
            atualizados: j.progress.updated,
            inalterados: j.progress.unchanged,
            erros: j.progress.failed,
            progresso_percent: j.progress.percent,
            eta_segundos: j.progress.eta_seconds,
            mensagem_atual: j.progress.message.clone(),
            queue_position: j.queue_position,
            tentativa: j.attempt,
            max_tentativas: j.max_attempts,
            ultimo_erro: j.last_error.clone(),
            worker: j.lease_owner.clone(),
            cancelamento_solicitado_em: j.cancel_requested_at,
            created_at: j.created_at,
            started_at: j.started_at,
            finalizado_em: j.finished_at,
            updated_at: j.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct LogJson {
    pub timestamp: DateTime<Utc>,
    /// `debug`, `info`, `warn` or `error`
    pub level: String,
    pub message: String,
}

impl From<&LogLine> for LogJson {
    fn from(l: &LogLine) -> Self {
        LogJson {
            timestamp: l.at,
            level: l.level.as_str().to_owned(),
            message: l.message.clone(),
        }
    }
}

/// One job with its log (newest lines, oldest first) and its filters.
#[derive(Serialize, ToSchema)]
pub struct ImportacaoDetalheJson {
    #[serde(flatten)]
    pub importacao: ImportacaoJson,
    pub logs: Vec<LogJson>,
    /// Lines left out of the middle of a long log.
    pub logs_omitidos: u64,
    /// The filters the import ran with (never a secret).
    #[schema(value_type = Object)]
    pub parametros: Value,
    #[schema(value_type = Option<Object>)]
    pub resultado: Option<Value>,
    pub stats: DuracaoJson,
}

impl From<&JobDetails> for ImportacaoDetalheJson {
    fn from(d: &JobDetails) -> Self {
        ImportacaoDetalheJson {
            stats: d.summary.timing(Utc::now()).into(),
            importacao: (&d.summary).into(),
            logs: d.logs.iter().map(LogJson::from).collect(),
            logs_omitidos: d.logs_omitted,
            parametros: d.params.clone(),
            resultado: d.result.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PaginationJson {
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
    /// Whether a page follows this one (the original API's field).
    #[serde(rename = "hasMore")]
    pub has_more: bool,
}

impl PaginationJson {
    /// The pagination of a page of `shown` items.
    pub fn of(total: u64, limit: u32, offset: u64, shown: usize) -> Self {
        PaginationJson {
            total,
            limit,
            offset,
            has_more: offset + (shown as u64) < total,
        }
    }
}

/// How long an import took (the original API's `stats` of one job).
#[derive(Serialize, ToSchema)]
pub struct DuracaoJson {
    /// Seconds from start to end (or now, while running).
    pub duracao_total: Option<f64>,
    /// Customers per second over that time.
    pub velocidade_media: Option<f64>,
    /// Seconds from creation to start (or now, while waiting).
    pub tempo_na_fila: Option<f64>,
}

impl From<JobTiming> for DuracaoJson {
    fn from(t: JobTiming) -> Self {
        let round = |v: Option<f64>| v.map(|x| (x * 10.0).round() / 10.0);
        DuracaoJson {
            duracao_total: round(t.total_seconds),
            velocidade_media: round(t.rate),
            tempo_na_fila: round(t.queued_seconds),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ListaJson {
    pub importacoes: Vec<ImportacaoJson>,
    /// Jobs per status (every status, zero included) and `total`.
    pub stats: BTreeMap<String, u64>,
    pub pagination: PaginationJson,
}

pub fn stats(counts: &StatusCounts) -> BTreeMap<String, u64> {
    let mut out: BTreeMap<String, u64> = JobStatus::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), counts.get(*s)))
        .collect();
    out.insert("total".to_owned(), counts.total());
    out
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListaQuery {
    /// One status or several, comma-separated.
    status: Option<String>,
    /// `manual`, `agendada` or `api`.
    origem: Option<String>,
    /// 1 to 100 (default 10).
    limit: Option<u32>,
    offset: Option<u64>,
}

/// What starts an import.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NovaImportacaoJson {
    /// Required to start an import (a preview does without).
    #[serde(default)]
    pub nome_importacao: String,
    /// Only customers with an active contract.
    #[serde(default)]
    pub apenas_ativos: bool,
    pub data_cadastro_inicio: Option<NaiveDate>,
    pub data_cadastro_fim: Option<NaiveDate>,
    /// Only what changed since the last successful import.
    #[serde(default)]
    pub incremental: bool,
}

impl From<NovaImportacaoJson> for ImportParams {
    fn from(j: NovaImportacaoJson) -> Self {
        ImportParams {
            name: j.nome_importacao,
            only_active: j.apenas_ativos,
            signup_from: j.data_cadastro_inicio,
            signup_to: j.data_cadastro_fim,
            incremental: j.incremental,
            changed_since: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PreviaJson {
    pub total: u64,
    pub novos: u64,
    pub existentes: u64,
    /// `false` when new/existing were extrapolated from the first pages.
    pub exato: bool,
}

impl From<Preview> for PreviaJson {
    fn from(p: Preview) -> Self {
        PreviaJson {
            total: p.total,
            novos: p.new,
            existentes: p.existing,
            exato: p.exact,
        }
    }
}

/// The provider's SGP connection; secrets only masked (`••••a1b2`).
#[derive(Serialize, ToSchema)]
pub struct IntegracaoJson {
    pub configurada: bool,
    pub base_url: Option<String>,
    /// `token` or `basic`
    pub auth_mode: Option<String>,
    pub app: Option<String>,
    pub token: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub ultimo_teste_em: Option<DateTime<Utc>>,
    pub ultimo_teste_ok: Option<bool>,
    pub ultimo_teste_mensagem: Option<String>,
}

impl From<Option<IntegrationView>> for IntegracaoJson {
    fn from(v: Option<IntegrationView>) -> Self {
        match v {
            None => IntegracaoJson {
                configurada: false,
                base_url: None,
                auth_mode: None,
                app: None,
                token: None,
                username: None,
                password: None,
                ultimo_teste_em: None,
                ultimo_teste_ok: None,
                ultimo_teste_mensagem: None,
            },
            Some(v) => IntegracaoJson {
                configurada: true,
                base_url: Some(v.base_url),
                auth_mode: Some(v.auth_mode),
                app: v.app,
                token: v.token_hint,
                username: v.username,
                password: v.password_hint,
                ultimo_teste_em: v.last_tested_at,
                ultimo_teste_ok: v.last_test_ok,
                ultimo_teste_mensagem: v.last_test_message,
            },
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TesteJson {
    pub ok: bool,
    pub mensagem: String,
    /// How many customers SGP says it has, when it says.
    pub clientes: Option<u64>,
}

impl From<ConnectionTest> for TesteJson {
    fn from(t: ConnectionTest) -> Self {
        TesteJson {
            ok: t.ok,
            mensagem: t.message,
            clientes: t.customers,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ContratoJson {
    pub chave_sgp: String,
    pub status: String,
    pub status_sgp: Option<String>,
    pub data_cadastro: Option<String>,
    /// SGP's services of the contract, with their plans.
    #[schema(value_type = Object)]
    pub servicos: Value,
    pub removido_em: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ClienteJson {
    pub id: i64,
    pub chave_sgp: String,
    pub sgp_id: Option<i64>,
    pub nome: String,
    pub cpf_cnpj: Option<String>,
    pub tipo_pessoa: Option<String>,
    pub data_cadastro: Option<String>,
    pub observacao: Option<String>,
    pub logradouro: Option<String>,
    pub numero: Option<String>,
    pub complemento: Option<String>,
    pub bairro: Option<String>,
    pub cidade: Option<String>,
    pub uf: Option<String>,
    pub cep: Option<String>,
    pub emails: Vec<String>,
    pub telefones: Vec<String>,
    /// When a complete import found it missing from SGP (RFC 3339);
    /// `null` while SGP has it.
    pub removido_em: Option<String>,
    pub contratos: Vec<ContratoJson>,
}

impl From<&StoredContract> for ContratoJson {
    fn from(c: &StoredContract) -> Self {
        ContratoJson {
            chave_sgp: c.sgp_key.clone(),
            status: c.status.clone(),
            status_sgp: c.status_raw.clone(),
            data_cadastro: c.signup_date.clone(),
            servicos: serde_json::to_value(&c.services).unwrap_or_default(),
            removido_em: c.removed_at.map(|t| t.to_rfc3339()),
        }
    }
}

impl From<&StoredCustomer> for ClienteJson {
    fn from(c: &StoredCustomer) -> Self {
        ClienteJson {
            id: c.id,
            chave_sgp: c.sgp_key.clone(),
            sgp_id: c.sgp_id,
            nome: c.name.clone(),
            cpf_cnpj: c.cpf_cnpj.clone(),
            tipo_pessoa: c.person_type.clone(),
            data_cadastro: c.signup_date.clone(),
            observacao: c.notes.clone(),
            logradouro: c.street.clone(),
            numero: c.number.clone(),
            complemento: c.complement.clone(),
            bairro: c.district.clone(),
            cidade: c.city.clone(),
            uf: c.state.clone(),
            cep: c.zip.clone(),
            emails: c.emails.clone(),
            telefones: c.phones.clone(),
            removido_em: c.removed_at.map(|t| t.to_rfc3339()),
            contratos: c.contracts.iter().map(ContratoJson::from).collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ClientesJson {
    pub clientes: Vec<ClienteJson>,
    /// `total` counts exactly up to 10,000 matches; past that it is 10,001
    /// and `total_exato` is false.
    pub pagination: PaginationJson,
    pub total_exato: bool,
    /// Providers of more than 2,000 customers are searched through an
    /// index brought up to date after each import: when that last
    /// happened (RFC 3339), or null while it is first built. Absent for
    /// smaller providers, whose list is always current.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Option<String>>)]
    pub busca_atualizada_em: Option<Option<String>>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ClientesQuery {
    /// Words that start words of the name (any order; case, accents and
    /// punctuation ignored), or the start of the CPF/CNPJ.
    q: Option<String>,
    /// A contract status: ativo, inativo, cancelado, suspenso, ...
    status: Option<String>,
    /// `removido`: only customers SGP no longer has; `ativo`: only those
    /// it has; both by default.
    situacao: Option<String>,
    /// 1 to 100 (default 20).
    limit: Option<u32>,
    offset: Option<u64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginJson {
    pub email: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct ProvedorJson {
    pub id: Uuid,
    pub slug: String,
    pub nome: String,
}

impl From<&Tenant> for ProvedorJson {
    fn from(t: &Tenant) -> Self {
        ProvedorJson {
            id: t.id.0,
            slug: t.slug.to_string(),
            nome: t.name.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UsuarioJson {
    pub id: Uuid,
    pub email: String,
    pub nome: String,
    /// `superadmin` or `admin`
    pub papel: String,
    /// The provider the caller acts on.
    pub provedor_id: Option<Uuid>,
}

impl UsuarioJson {
    pub fn new(user: &User, tenant: Option<crate::model::TenantId>) -> Self {
        UsuarioJson {
            id: user.id.0,
            email: user.email.to_string(),
            nome: user.name.clone(),
            papel: user.role.as_str().to_owned(),
            provedor_id: tenant.map(|t| t.0),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SessaoJson {
    pub usuario: UsuarioJson,
    pub expira_em: DateTime<Utc>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscolherProvedorJson {
    pub slug: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NovoTokenJson {
    pub nome: String,
    /// Days the token stays valid (1 to 3650); absent: until revoked.
    #[serde(default)]
    pub validade_dias: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenJson {
    pub id: Uuid,
    pub nome: String,
    pub provedor_id: Option<Uuid>,
    pub criado_em: DateTime<Utc>,
    pub usado_em: Option<DateTime<Utc>>,
    pub revogado_em: Option<DateTime<Utc>>,
    /// Absent: valid until revoked.
    pub expira_em: Option<DateTime<Utc>>,
}

impl From<&ApiTokenInfo> for TokenJson {
    fn from(t: &ApiTokenInfo) -> Self {
        TokenJson {
            id: t.id,
            nome: t.name.clone(),
            provedor_id: t.tenant_id.map(|t| t.0),
            criado_em: t.created_at,
            usado_em: t.last_used_at,
            revogado_em: t.revoked_at,
            expira_em: t.expires_at,
        }
    }
}

/// A new token: `token` is shown this once and never again.
#[derive(Serialize, ToSchema)]
pub struct TokenCriadoJson {
    pub token: String,
    #[serde(flatten)]
    pub info: TokenJson,
}

/// One change an import made to a customer.
#[derive(Serialize, ToSchema)]
pub struct AlteracaoJson {
    pub id: i64,
    pub importacao_id: String,
    pub cliente_id: i64,
    pub cliente_chave_sgp: String,
    pub cliente_nome: String,
    /// cliente_criado, cliente_removido, cliente_reativado,
    /// contrato_adicionado, contrato_removido, contrato_status, plano,
    /// dados_cadastrais
    pub tipo: String,
    pub contrato: Option<String>,
    /// Status names for `contrato_status`, plan names for `plano`.
    pub antes: Option<String>,
    /// For `dados_cadastrais`, the fields that changed.
    pub depois: Option<String>,
    /// The change in words, as the pages show it.
    pub descricao: String,
    pub registrado_em: String,
}

impl From<&CustomerChange> for AlteracaoJson {
    fn from(c: &CustomerChange) -> Self {
        AlteracaoJson {
            id: c.id,
            importacao_id: c.job_id.to_string(),
            cliente_id: c.customer_id,
            cliente_chave_sgp: c.customer_key.clone(),
            cliente_nome: c.customer_name.clone(),
            tipo: c.kind.as_str().to_owned(),
            contrato: c.contract_key.clone(),
            antes: c.old_value.clone(),
            depois: c.new_value.clone(),
            descricao: c.describe_pt(),
            registrado_em: c.at.to_rfc3339(),
        }
    }
}

/// A page of an import's changes with the counts of every kind.
#[derive(Serialize, ToSchema)]
pub struct AlteracoesJson {
    pub alteracoes: Vec<AlteracaoJson>,
    pub pagination: PaginationJson,
    /// Changes per `tipo` (every tipo present, zeros included).
    #[schema(value_type = Object)]
    pub contagem: BTreeMap<String, u64>,
    /// The counts in words ("12 contratos suspensos, 3 reativados...").
    pub resumo: Option<String>,
}

impl From<&ChangePage> for AlteracoesJson {
    fn from(p: &ChangePage) -> Self {
        AlteracoesJson {
            alteracoes: p.changes.iter().map(AlteracaoJson::from).collect(),
            pagination: PaginationJson::of(p.total, p.limit, p.offset, p.changes.len()),
            contagem: ChangeKind::ALL
                .iter()
                .map(|k| (k.as_str().to_owned(), p.counts.of(*k)))
                .collect(),
            resumo: p.counts.summary_pt(),
        }
    }
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AlteracoesQuery {
    /// One kind of change (see `tipo`); all, grouped by kind, by default.
    tipo: Option<String>,
    /// 1 to 100 (default 50).
    limit: Option<u32>,
    offset: Option<u64>,
}

/// A customer's changes, newest first.
#[derive(Serialize, ToSchema)]
pub struct HistoricoJson {
    pub historico: Vec<AlteracaoJson>,
    pub pagination: PaginationJson,
}

impl super::input::RequestBody for NovaImportacaoJson {}

impl super::input::RequestBody for LoginJson {}

impl super::input::RequestBody for EscolherProvedorJson {}

impl super::input::RequestBody for NovoTokenJson {}
