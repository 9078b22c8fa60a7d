//! Imports of the caller's provider: list, details, start, cancel, retry,
//! preview, and the row-error report.

use serde::Deserialize;
use sgp_import_core::auth::Principal;
use sgp_import_core::import::{ImportOutcome, ImportParams, Preview, IMPORT_KIND};
use sgp_import_core::model::{
    ChangeKind, ChangePage, JobDetails, JobId, JobOrigin, JobPage, JobStatus, JobSummary,
    StatusCounts, TenantId,
};
use sgp_import_core::store::{Entity, JobFilter, Removal};

use super::{read_turn, tenant_of, ServiceError};
use crate::server::state::AppState;

/// Log lines a job's details carry (the newest ones).
pub const DETAIL_LOG_LINES: u32 = 500;
pub const MAX_LIMIT: u32 = 100;
/// Rows of an error report read (and sent) at a time.
const REPORT_ROWS_PER_READ: u32 = 1_000;

pub struct ImportList {
    pub page: JobPage,
    pub counts: StatusCounts,
}

pub async fn list(
    state: &AppState,
    caller: &Principal,
    statuses: Option<Vec<JobStatus>>,
    origin: Option<JobOrigin>,
    limit: u32,
    offset: u64,
) -> Result<ImportList, ServiceError> {
    let filter = JobFilter {
        statuses,
        origin,
        kind: Some(IMPORT_KIND.to_owned()),
        limit,
        offset,
    };
    // a superadmin with no provider picked reads every provider's list (as
    // the original API did); acting on a job still needs a provider
    let everywhere = caller.tenant.is_none() && caller.is_superadmin();
    let tenant = if everywhere {
        None
    } else {
        Some(tenant_of(caller)?)
    };
    let page = match tenant {
        Some(t) => state.store.list_jobs(t, &filter).await?,
        None => state.store.list_jobs_everywhere(&filter).await?,
    };
    // the tabs count what the origin filter shows
    let counts = state
        .store
        .list_status_counts(tenant, Some(IMPORT_KIND), origin)
        .await?;
    Ok(ImportList { page, counts })
}

/// Imports waiting or running (the dashboard's progress cards).
pub async fn active(
    state: &AppState,
    caller: &Principal,
    limit: u32,
) -> Result<Vec<JobSummary>, ServiceError> {
    let tenant = tenant_of(caller)?;
    let filter = JobFilter {
        statuses: Some(
            JobStatus::ALL
                .into_iter()
                .filter(|s| !s.is_finished())
                .collect(),
        ),
        origin: None,
        kind: Some(IMPORT_KIND.to_owned()),
        limit,
        offset: 0,
    };
    Ok(state.store.list_jobs(tenant, &filter).await?.jobs)
}

pub async fn details(
    state: &AppState,
    caller: &Principal,
    id: JobId,
) -> Result<JobDetails, ServiceError> {
    let tenant = tenant_of(caller)?;
    let details = state
        .store
        .job_details(tenant, id, DETAIL_LOG_LINES)
        .await?;
    imports_only(&details.summary)?;
    Ok(details)
}

/// The imports' endpoints act on imports: another kind of job of the
/// provider (a notification delivery) is not found there.
fn imports_only(job: &JobSummary) -> Result<(), ServiceError> {
    if job.kind == IMPORT_KIND {
        Ok(())
    } else {
        Err(ServiceError::NotFound(Entity::Job))
    }
}

/// The names of the providers the caller reads: its own, or every one for
/// a superadmin with none picked.
pub async fn provider_names(
    state: &AppState,
    caller: &Principal,
) -> Result<std::collections::HashMap<TenantId, String>, ServiceError> {
    Ok(match caller.tenant {
        Some(t) => state
            .store
            .tenant(t)
            .await?
            .map(|p| (p.id, p.name))
            .into_iter()
            .collect(),
        None if caller.is_superadmin() => state
            .store
            .list_tenants()
            .await?
            .into_iter()
            .map(|p| (p.id, p.name))
            .collect(),
        None => Default::default(),
    })
}

/// The caller's provider's name (the REST answers carry it).
pub async fn provider_name(state: &AppState, caller: &Principal) -> Result<String, ServiceError> {
    let tenant = tenant_of(caller)?;
    Ok(state
        .store
        .tenant(tenant)
        .await?
        .map(|t| t.name)
        .unwrap_or_default())
}

pub async fn summary(
    state: &AppState,
    caller: &Principal,
    id: JobId,
) -> Result<JobSummary, ServiceError> {
    let tenant = tenant_of(caller)?;
    let job = state.store.job_details(tenant, id, 0).await?.summary;
    imports_only(&job)?;
    Ok(job)
}

pub async fn start(
    state: &AppState,
    caller: &Principal,
    params: ImportParams,
    origin: JobOrigin,
) -> Result<JobSummary, ServiceError> {
    let tenant = tenant_of(caller)?;
    let job = state.imports.start(tenant, params, origin).await?;
    tracing::info!(tenant_id = %tenant, job_id = %job.id, user_id = %caller.user.id, origin = origin.as_str(), "import queued");
    Ok(job)
}

pub async fn preview(
    state: &AppState,
    caller: &Principal,
    params: ImportParams,
) -> Result<Preview, ServiceError> {
    let tenant = tenant_of(caller)?;
    Ok(state.imports.preview(tenant, params).await?)
}

pub async fn cancel(
    state: &AppState,
    caller: &Principal,
    id: JobId,
) -> Result<JobSummary, ServiceError> {
    let tenant = tenant_of(caller)?;
    summary(state, caller, id).await?;
    state.store.cancel(tenant, id).await?;
    tracing::info!(tenant_id = %tenant, job_id = %id, user_id = %caller.user.id, "cancel requested");
    summary(state, caller, id).await
}

pub async fn retry(
    state: &AppState,
    caller: &Principal,
    id: JobId,
) -> Result<JobSummary, ServiceError> {
    let tenant = tenant_of(caller)?;
    // a retried import counts against the provider's share like a new one
    let max_active = Some(state.settings.import.max_active_per_tenant);
    summary(state, caller, id).await?;
    state.store.rerun(tenant, id, max_active).await?;
    tracing::info!(tenant_id = %tenant, job_id = %id, user_id = %caller.user.id, "import queued again");
    summary(state, caller, id).await
}

/// Marks the customers an import found missing but held back (more than
/// `import.max_removal_percent`), once an admin confirms the departures
/// are real.
pub async fn confirm_removals(
    state: &AppState,
    caller: &Principal,
    id: JobId,
) -> Result<JobSummary, ServiceError> {
    let tenant = tenant_of(caller)?;
    summary(state, caller, id).await?;
    // only what the guard held back may be confirmed: keys left by an
    // import that marked (or could not sweep) are not a list of departures
    let details = state.store.job_details(tenant, id, 0).await?;
    let held = details
        .result
        .and_then(|v| ImportOutcome::deserialize(v).ok())
        .is_some_and(|o| o.removal_pending.is_some() || o.contracts_pending.is_some());
    if !held {
        return Err(ServiceError::Conflict(
            "Esta importação não tem remoções esperando confirmação.".into(),
        ));
    }
    let edit = |result: Option<serde_json::Value>, r: &Removal| {
        let outcome = result.and_then(|v| ImportOutcome::deserialize(v).ok());
        let result = match outcome {
            Some(o) => serde_json::to_value(o.confirmed(r)).unwrap_or_default(),
            None => {
                serde_json::json!({ "removidos": r.customers, "contratos_removidos": r.contracts })
            }
        };
        let line = format!(
            "Remoções confirmadas por {}: {} clientes e {} contratos marcados como removidos.",
            caller.user.name, r.customers, r.contracts
        );
        (result, line)
    };
    let removal = state.store.confirm_removals(tenant, id, &edit).await?;
    tracing::info!(tenant_id = %tenant, job_id = %id, user_id = %caller.user.id, customers = removal.customers, "removals confirmed");
    summary(state, caller, id).await
}

/// The provider's imports finished in the dashboard charts' window (the
/// last 30 Brasília days, today included).
pub async fn recent_imports(
    state: &AppState,
    caller: &Principal,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<sgp_import_core::store::FinishedImport>, ServiceError> {
    let tenant = tenant_of(caller)?;
    let since = crate::server::charts::dashboard::first_instant(now);
    Ok(state
        .store
        .finished_imports(tenant, IMPORT_KIND, since)
        .await?)
}

/// A page of what an import changed, with the counts of every kind.
pub async fn changes(
    state: &AppState,
    caller: &Principal,
    id: JobId,
    kind: Option<ChangeKind>,
    limit: u32,
    offset: u64,
) -> Result<ChangePage, ServiceError> {
    let tenant = tenant_of(caller)?;
    summary(state, caller, id).await?;
    let _turn = read_turn(state, tenant).await?;
    Ok(state
        .store
        .job_changes(tenant, id, kind, limit.min(MAX_LIMIT), offset)
        .await?)
}

/// What an import changed as CSV (`;`-separated, BOM, a batch at a time).
pub async fn changes_report(
    state: &AppState,
    caller: &Principal,
    id: JobId,
    kind: Option<ChangeKind>,
) -> Result<impl futures::Stream<Item = Result<String, ServiceError>> + Send + 'static, ServiceError>
{
    let tenant = tenant_of(caller)?;
    summary(state, caller, id).await?;
    let store = state.store.clone();
    let header = futures::stream::once(async {
        Ok("\u{feff}tipo;chave_cliente;cliente;contrato;antes;depois;descricao\r\n".to_owned())
    });
    let kinds: Vec<ChangeKind> = match kind {
        Some(k) => vec![k],
        None => ChangeKind::ALL.to_vec(),
    };
    // (kinds left, the id of the last row sent in the current kind):
    // keyset by kind and id, so a long report reads linearly
    let rows = futures::stream::try_unfold((kinds, 0i64), move |(mut kinds, after)| {
        let store = store.clone();
        async move {
            let Some(&kind) = kinds.first() else {
                return Ok(None);
            };
            let batch = store
                .changes_after(tenant, id, kind, after, REPORT_ROWS_PER_READ)
                .await?;
            let Some(last) = batch.last().map(|c| c.id) else {
                kinds.remove(0);
                return Ok::<_, ServiceError>(Some((String::new(), (kinds, 0))));
            };
            let mut csv = String::with_capacity(batch.len() * 96);
            for c in &batch {
                let fields = [
                    c.kind.as_str(),
                    &c.customer_key,
                    &c.customer_name,
                    c.contract_key.as_deref().unwrap_or(""),
                    c.old_value.as_deref().unwrap_or(""),
                    c.new_value.as_deref().unwrap_or(""),
                    &c.describe_pt(),
                ];
                csv_row(&mut csv, &fields);
            }
            if batch.len() < REPORT_ROWS_PER_READ as usize {
                kinds.remove(0);
                return Ok(Some((csv, (kinds, 0))));
            }
            Ok(Some((csv, (kinds, last))))
        }
    });
    Ok(futures::StreamExt::chain(header, rows))
}

/// A customer's history of changes, newest first.
pub async fn customer_history(
    state: &AppState,
    caller: &Principal,
    customer: i64,
    limit: u32,
    offset: u64,
) -> Result<ChangePage, ServiceError> {
    let tenant = tenant_of(caller)?;
    let _turn = read_turn(state, tenant).await?;
    Ok(state
        .store
        .customer_history(tenant, customer, limit.min(MAX_LIMIT), offset)
        .await?)
}

/// The rows an import could not take, as CSV for a spreadsheet: `;`
/// separated (what Excel expects in pt-BR) with a BOM so accents show.
/// Streamed a batch at a time (keyset-paginated), so a job with a million
/// failed rows costs one batch of memory, not the whole report.
pub async fn error_report(
    state: &AppState,
    caller: &Principal,
    id: JobId,
) -> Result<impl futures::Stream<Item = Result<String, ServiceError>> + Send + 'static, ServiceError>
{
    let tenant = tenant_of(caller)?;
    // 404 for another provider's job (or not an import), before reading anything
    summary(state, caller, id).await?;
    let store = state.store.clone();
    let header = futures::stream::once(async {
        Ok("\u{feff}chave_sgp;motivo;offset_pagina\r\n".to_owned())
    });
    // (the id of the last row sent, whether the last batch was full)
    let rows = futures::stream::try_unfold((0i64, true), move |(after, more)| {
        let store = store.clone();
        async move {
            if !more {
                return Ok(None);
            }
            let batch = store
                .row_errors(tenant, id, after, REPORT_ROWS_PER_READ)
                .await?;
            let Some(last) = batch.last().map(|r| r.id) else {
                return Ok(None);
            };
            let mut csv = String::with_capacity(batch.len() * 64);
            for row in &batch {
                let page = row.page_offset.map(|o| o.to_string()).unwrap_or_default();
                csv_row(
                    &mut csv,
                    &[row.row_key.as_deref().unwrap_or(""), &row.reason, &page],
                );
            }
            let full = batch.len() == REPORT_ROWS_PER_READ as usize;
            Ok::<_, ServiceError>(Some((csv, (last, full))))
        }
    });
    Ok(futures::StreamExt::chain(header, rows))
}

/// One `;`-separated line of a report, each field defused and quoted.
fn csv_row(csv: &mut String, fields: &[&str]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            csv.push(';');
        }
        csv.push_str(&csv_field(f));
    }
    csv.push_str("\r\n");
}

fn csv_field(value: &str) -> String {
    // a leading =, +, - or @ would run as a formula in a spreadsheet
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([';', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("simples"), "simples");
        assert_eq!(csv_field("a;b"), "\"a;b\"");
        assert_eq!(csv_field("diz \"oi\""), "\"diz \"\"oi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK()"), "'=HYPERLINK()");
    }
}
