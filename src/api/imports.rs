//! Server functions of the import pages: the dashboard's lists, a job's
//! details, cancel and retry, and the import form's preview and start.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use server_fn::codec::Postcard;

use super::error::UiError;
use crate::model::{JobStatus, JobSummary, Preview, StatusCounts};

/// History rows per page.
pub const PAGE_SIZE: u32 = 10;

/// The dashboard's tabs, each a set of statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImportTab {
    All,
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl ImportTab {
    pub const ALL: [ImportTab; 6] = [
        ImportTab::All,
        ImportTab::Queued,
        ImportTab::Running,
        ImportTab::Completed,
        ImportTab::Failed,
        ImportTab::Cancelled,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ImportTab::All => "Todas",
            ImportTab::Queued => "Na Fila",
            ImportTab::Running => "Processando",
            ImportTab::Completed => "Concluídas",
            ImportTab::Failed => "Com Erro",
            ImportTab::Cancelled => "Canceladas",
        }
    }

    /// The `?aba=` value.
    pub fn slug(self) -> &'static str {
        match self {
            ImportTab::All => "todas",
            ImportTab::Queued => "fila",
            ImportTab::Running => "processando",
            ImportTab::Completed => "concluidas",
            ImportTab::Failed => "erro",
            ImportTab::Cancelled => "canceladas",
        }
    }

    pub fn from_slug(s: &str) -> ImportTab {
        Self::ALL
            .into_iter()
            .find(|t| t.slug() == s)
            .unwrap_or(ImportTab::All)
    }

    /// `None`: every status. A job waiting out a retry is still "in the
    /// queue"; one being cancelled is still processing.
    pub fn statuses(self) -> Option<Vec<JobStatus>> {
        match self {
            ImportTab::All => None,
            ImportTab::Queued => Some(vec![JobStatus::Queued, JobStatus::Retrying]),
            ImportTab::Running => Some(vec![JobStatus::Running, JobStatus::Cancelling]),
            ImportTab::Completed => Some(vec![JobStatus::Completed]),
            ImportTab::Failed => Some(vec![JobStatus::Failed]),
            ImportTab::Cancelled => Some(vec![JobStatus::Cancelled]),
        }
    }

    pub fn count(self, counts: &StatusCounts) -> u64 {
        match self.statuses() {
            None => counts.total(),
            Some(list) => list.iter().map(|s| counts.get(*s)).sum(),
        }
    }
}

/// What the dashboard shows at once: the counts and whether any import
/// is active (the page polls while one is), and the tabs, progress cards,
/// history and pager as markup rendered on the server (read-only links the
/// router follows; none of their code is in the bundle).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportsView {
    pub counts: StatusCounts,
    pub any_active: bool,
    pub html: String,
}

/// The import form, as the browser sends it (dates `YYYY-MM-DD` or empty,
/// checkboxes present when ticked).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportForm {
    pub name: String,
    pub only_active: Option<String>,
    pub signup_from: Option<String>,
    pub signup_to: Option<String>,
    pub incremental: Option<String>,
}

#[cfg(feature = "ssr")]
pub(crate) mod ssr {
    use chrono::NaiveDate;
    use serde::Deserialize;
    use sgp_import_core::import::{FieldError, ImportOutcome, ImportParams};

    use super::ImportForm;
    use crate::model::JobId;
    use crate::server::services::ServiceError;
    use crate::ui::format;

    pub fn params(form: ImportForm) -> Result<ImportParams, ServiceError> {
        let mut errors = Vec::new();
        let mut date = |field: &str, value: Option<String>| {
            let value = value
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())?;
            match NaiveDate::parse_from_str(&value, "%Y-%m-%d") {
                Ok(d) => Some(d),
                Err(_) => {
                    errors.push(FieldError::new(field, "Data inválida: use dia/mês/ano."));
                    None
                }
            }
        };
        let signup_from = date("data_cadastro_inicio", form.signup_from);
        let signup_to = date("data_cadastro_fim", form.signup_to);
        if !errors.is_empty() {
            return Err(ServiceError::Invalid(errors));
        }
        Ok(ImportParams {
            name: form.name,
            only_active: form.only_active.is_some(),
            signup_from,
            signup_to,
            incremental: form.incremental.is_some(),
            changed_since: None,
        })
    }

    pub fn job_id(raw: &str) -> Result<JobId, ServiceError> {
        uuid::Uuid::parse_str(raw.trim())
            .map(JobId)
            .map_err(|_| ServiceError::bad_request("id", "Identificador de importação inválido."))
    }

    /// The filters of an import's stored parameters, in words.
    pub fn describe_params(params: &serde_json::Value) -> String {
        let Ok(p) = ImportParams::deserialize(params) else {
            return "Filtros ilegíveis (parâmetros gravados num formato desconhecido).".to_owned();
        };
        let mut parts = vec![if p.only_active {
            "só contratos ativos"
        } else {
            "todos os contratos"
        }
        .to_owned()];
        match (p.signup_from.map(format::day), p.signup_to.map(format::day)) {
            (Some(f), Some(t)) => parts.push(format!("cadastro de {f} a {t}")),
            (Some(f), None) => parts.push(format!("cadastro a partir de {f}")),
            (None, Some(t)) => parts.push(format!("cadastro até {t}")),
            (None, None) => {}
        }
        if p.incremental {
            parts.push(match p.changed_since.map(format::day) {
                Some(d) => format!("só alterados desde {d}"),
                None => "incremental (sem importação anterior: tudo)".to_owned(),
            });
        }
        parts.join(", ")
    }

    /// A completed import's result, in words.
    pub fn describe_result(result: &serde_json::Value) -> String {
        let Ok(o) = ImportOutcome::deserialize(result) else {
            return "Resultado ilegível (gravado num formato desconhecido).".to_owned();
        };
        let mut text = format!(
            "{} clientes em {} páginas: {} novos, {} atualizados, {} sem mudança, {} com erro ({:.0} s na última tentativa).",
            format::integer(o.processed),
            o.pages,
            format::integer(o.created),
            format::integer(o.updated),
            format::integer(o.unchanged),
            format::integer(o.failed),
            o.seconds_this_attempt
        );
        if o.removed + o.removed_contracts > 0 {
            text.push_str(&format!(
                " Removidos do SGP: {} clientes e {} contratos.",
                format::integer(o.removed),
                format::integer(o.removed_contracts)
            ));
        }
        if let Some(n) = o.removal_pending {
            text.push_str(&format!(
                " {} clientes e {} contratos não vieram do SGP, mais que o limite: nenhum foi \
                 marcado como removido até alguém confirmar.",
                format::integer(n),
                format::integer(o.contracts_pending.unwrap_or(0))
            ));
        }
        text
    }

    /// The speed chart of an import's checkpoint, once it has two samples.
    pub fn speed_chart(checkpoint: &serde_json::Value) -> Option<String> {
        let c = sgp_import_core::import::ImportCheckpoint::deserialize(checkpoint).ok()?;
        crate::server::charts::speed(&sgp_import_core::import::rules::speeds(&c.speed))
    }

    /// Customers and contracts a completed import found missing but held back.
    pub fn removal_pending(result: &serde_json::Value) -> Option<(u64, u64)> {
        let o = ImportOutcome::deserialize(result).ok()?;
        Some((o.removal_pending?, o.contracts_pending.unwrap_or(0)))
    }
}

#[server(endpoint = "imports", output = Postcard)]
pub async fn list_imports(
    tab: String,
    page: u32,
    origin: String,
    highlight: String,
) -> Result<ImportsView, UiError> {
    use super::session::caller;
    use crate::server::services::imports;
    use crate::ui::imports::{Dashboard, DashboardProps, Place};

    let (state, p) = caller().await?;
    let mut place = Place {
        tab: ImportTab::from_slug(&tab),
        page: page.clamp(1, 100_000),
        // an unknown origin in a hand-edited link shows every origin
        origin: crate::model::JobOrigin::from_api_name(&origin),
        highlight: uuid::Uuid::parse_str(&highlight).ok(),
    };
    let list = |page: u32| {
        imports::list(
            &state,
            &p,
            place.tab.statuses(),
            place.origin,
            PAGE_SIZE,
            u64::from(page - 1) * u64::from(PAGE_SIZE),
        )
    };
    let mut history = list(place.page).await?;
    // past the last page (the tab emptied while the admin looked, or an
    // old link): the last page instead of an empty list
    let last = history.page.total.div_ceil(u64::from(PAGE_SIZE)).max(1);
    if history.page.jobs.is_empty() && u64::from(place.page) > last {
        place.page = u32::try_from(last).unwrap_or(1);
        history = list(place.page).await?;
    }
    let active = imports::active(&state, &p, 20).await?;
    let (counts, any_active) = (history.counts.clone(), !active.is_empty());
    let html = crate::server::markup::render(|| {
        Dashboard(DashboardProps {
            history: history.page,
            counts: history.counts,
            active,
            place,
        })
    });
    Ok(ImportsView {
        counts,
        any_active,
        html,
    })
}

/// The dashboard's charts of the last 30 days, as SVG drawn on the
/// server: imports per day by outcome, and customers new, removed and
/// back per day. Asked for again only when an import finishes, not on
/// every refresh of the list.
#[server(endpoint = "import_charts", output = Postcard)]
pub async fn import_charts() -> Result<[String; 2], UiError> {
    use super::session::caller;
    use crate::server::charts::dashboard;
    use crate::server::services::imports;

    let (state, p) = caller().await?;
    let now = chrono::Utc::now();
    let recent = imports::recent_imports(&state, &p, now).await?;
    let today = dashboard::local_day(now);
    Ok([
        dashboard::imports(&recent, today),
        dashboard::customers(&recent, today),
    ])
}

/// A job's details as the modal shows them. The stored parameters and
/// result are put in words here, on the server: the browser then needs no
/// reader for free-form JSON (`serde_json::Value`) in its bundle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportDetailsView {
    pub summary: JobSummary,
    /// Customers and contracts found missing from SGP but held back by the
    /// removal guard, waiting for "Confirmar remoções".
    pub removal_pending: Option<(u64, u64)>,
    /// The read-only part (numbers, times, filters, result, speed chart and
    /// log) as markup rendered on the server by the same components: the
    /// browser places it and carries none of their code.
    pub facts_html: String,
}

#[server(endpoint = "import_details", output = Postcard)]
pub async fn import_details(id: String) -> Result<ImportDetailsView, UiError> {
    use super::session::caller;
    use crate::server::services::imports;
    use crate::ui::job_modal::DetailsFacts;

    let (state, p) = caller().await?;
    let d = imports::details(&state, &p, ssr::job_id(&id)?).await?;
    let props = crate::ui::job_modal::DetailsFactsProps {
        filters: ssr::describe_params(&d.params),
        timing: d.summary.timing(chrono::Utc::now()),
        result: d.result.as_ref().map(ssr::describe_result),
        speed_chart: d.checkpoint.as_ref().and_then(ssr::speed_chart),
        job: d.summary.clone(),
        logs: d.logs,
        logs_omitted: d.logs_omitted,
    };
    Ok(ImportDetailsView {
        removal_pending: d.result.as_ref().and_then(ssr::removal_pending),
        summary: d.summary,
        facts_html: crate::server::markup::render(|| DetailsFacts(props)),
    })
}

#[server(endpoint = "cancel_import", output = Postcard)]
pub async fn cancel_import(id: String) -> Result<JobSummary, UiError> {
    use super::session::caller;
    use crate::server::services::imports;

    let (state, p) = caller().await?;
    Ok(imports::cancel(&state, &p, ssr::job_id(&id)?).await?)
}

#[server(endpoint = "retry_import", output = Postcard)]
pub async fn retry_import(id: String) -> Result<JobSummary, UiError> {
    use super::session::caller;
    use crate::server::services::imports;

    let (state, p) = caller().await?;
    Ok(imports::retry(&state, &p, ssr::job_id(&id)?).await?)
}

#[server(endpoint = "start_import", output = Postcard)]
pub async fn start_import(form: ImportForm) -> Result<JobSummary, UiError> {
    use super::session::caller;
    use crate::server::services::imports;

    let (state, p) = caller().await?;
    Ok(imports::start(
        &state,
        &p,
        ssr::params(form)?,
        crate::model::JobOrigin::Manual,
    )
    .await?)
}

#[server(endpoint = "preview_import", output = Postcard)]
pub async fn preview_import(form: ImportForm) -> Result<Preview, UiError> {
    use super::session::caller;
    use crate::server::services::imports;

    let (state, p) = caller().await?;
    Ok(imports::preview(&state, &p, ssr::params(form)?).await?)
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use chrono::NaiveDate;
    use serde_json::json;
    use sgp_import_core::import::{ImportOutcome, ImportParams};

    use super::ssr::{describe_params, describe_result, removal_pending};

    fn day(s: &str) -> Option<NaiveDate> {
        Some(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
    }

    /// As the import stores them.
    fn stored(p: ImportParams) -> serde_json::Value {
        serde_json::to_value(p).unwrap()
    }

    #[test]
    fn parameters_and_results_read_as_words() {
        assert_eq!(
            describe_params(&stored(ImportParams::everything("x"))),
            "todos os contratos"
        );
        assert_eq!(
            describe_params(&stored(ImportParams {
                only_active: true,
                signup_from: day("2024-01-31"),
                signup_to: day("2024-12-01"),
                incremental: true,
                changed_since: day("2025-06-02"),
                ..ImportParams::everything("x")
            })),
            "só contratos ativos, cadastro de 31/01/2024 a 01/12/2024, só alterados desde 02/06/2025"
        );
        assert_eq!(
            describe_params(&stored(ImportParams {
                signup_to: day("2024-12-01"),
                incremental: true,
                ..ImportParams::everything("x")
            })),
            "todos os contratos, cadastro até 01/12/2024, incremental (sem importação anterior: tudo)"
        );
        let outcome = ImportOutcome {
            processed: 12345,
            created: 12000,
            updated: 300,
            unchanged: 40,
            failed: 5,
            pages: 124,
            seconds_this_attempt: 61.6,
            removed: 0,
            removed_contracts: 0,
            removal_pending: None,
            contracts_pending: None,
        };
        assert_eq!(
            describe_result(&serde_json::to_value(outcome.clone()).unwrap()),
            "12.345 clientes em 124 páginas: 12.000 novos, 300 atualizados, 40 sem mudança, \
             5 com erro (62 s na última tentativa)."
        );
        let held = ImportOutcome {
            removal_pending: Some(1500),
            contracts_pending: Some(2100),
            ..outcome.clone()
        };
        let held = serde_json::to_value(held).unwrap();
        assert_eq!(removal_pending(&held), Some((1500, 2100)));
        assert!(describe_result(&held).ends_with(
            "1.500 clientes e 2.100 contratos não vieram do SGP, mais que o limite: nenhum foi \
             marcado como removido até alguém confirmar."
        ));
        let marked = ImportOutcome {
            removed: 3,
            removed_contracts: 4,
            ..outcome.clone()
        };
        assert!(describe_result(&serde_json::to_value(marked).unwrap())
            .ends_with("Removidos do SGP: 3 clientes e 4 contratos."));
    }

    #[test]
    fn unreadable_parameters_and_results_say_so() {
        assert!(describe_params(&json!({"only_active": "sim"})).starts_with("Filtros ilegíveis"));
        assert!(describe_result(&json!({"processed": 1})).starts_with("Resultado ilegível"));
    }

    /// A malformed id is bad input (400, naming `id`), as in the REST API,
    /// not a missing import.
    #[test]
    fn a_malformed_job_id_is_a_bad_request() {
        let e = super::ssr::job_id("não-é-um-uuid").unwrap_err();
        assert_eq!(e.status(), axum::http::StatusCode::BAD_REQUEST);
        assert_eq!(e.field(), Some("id"));
    }
}
