//! Server functions of the import pages: the dashboard's lists, a job's
//! details, cancel and retry, and the import form's preview and start.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::error::UiError;
use crate::model::{JobDetails, JobPage, JobStatus, JobSummary, Preview, StatusCounts};

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

/// What the dashboard shows at once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportsView {
    pub history: JobPage,
    pub counts: StatusCounts,
    /// Imports waiting or running, for the progress cards.
    pub active: Vec<JobSummary>,
}

impl ImportsView {
    pub fn any_active(&self) -> bool {
        !self.active.is_empty()
    }
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
mod ssr {
    use chrono::NaiveDate;
    use sgp_import_core::import::{FieldError, ImportParams};

    use super::ImportForm;
    use crate::model::JobId;
    use crate::server::services::ServiceError;

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
            .map_err(|_| ServiceError::NotFound("importação"))
    }
}

#[server(endpoint = "imports")]
pub async fn list_imports(tab: String, page: u32) -> Result<ImportsView, UiError> {
    use super::session::caller;
    use crate::server::services::imports;

    let (state, p) = caller().await?;
    let tab = ImportTab::from_slug(&tab);
    let page = page.clamp(1, 100_000);
    let history = imports::list(
        &state,
        &p,
        tab.statuses(),
        PAGE_SIZE,
        u64::from(page - 1) * u64::from(PAGE_SIZE),
    )
    .await?;
    Ok(ImportsView {
        history: history.page,
        counts: history.counts,
        active: imports::active(&state, &p, 20).await?,
    })
}

#[server(endpoint = "import_details")]
pub async fn import_details(id: String) -> Result<JobDetails, UiError> {
    use super::session::caller;
    use crate::server::services::imports;

    let (state, p) = caller().await?;
    Ok(imports::details(&state, &p, ssr::job_id(&id)?).await?)
}

#[server(endpoint = "cancel_import")]
pub async fn cancel_import(id: String) -> Result<JobSummary, UiError> {
    use super::session::caller;
    use crate::server::services::imports;

    let (state, p) = caller().await?;
    Ok(imports::cancel(&state, &p, ssr::job_id(&id)?).await?)
}

#[server(endpoint = "retry_import")]
pub async fn retry_import(id: String) -> Result<JobSummary, UiError> {
    use super::session::caller;
    use crate::server::services::imports;

    let (state, p) = caller().await?;
    Ok(imports::retry(&state, &p, ssr::job_id(&id)?).await?)
}

#[server(endpoint = "start_import")]
pub async fn start_import(form: ImportForm) -> Result<JobSummary, UiError> {
    use super::session::caller;
    use crate::server::services::imports;

    let (state, p) = caller().await?;
    Ok(imports::start(&state, &p, ssr::params(form)?).await?)
}

#[server(endpoint = "preview_import")]
pub async fn preview_import(form: ImportForm) -> Result<Preview, UiError> {
    use super::session::caller;
    use crate::server::services::imports;

    let (state, p) = caller().await?;
    let mut params = ssr::params(form)?;
    if params.name.trim().is_empty() {
        params.name = "prévia".into();
    }
    Ok(imports::preview(&state, &p, params).await?)
}
