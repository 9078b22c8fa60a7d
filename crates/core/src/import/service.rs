//! What the UI and the API ask of imports: start one, preview one, test
//! the connection. Server functions and REST handlers both call this.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::integration::{IntegrationError, Integrations};
use super::job::IMPORT_KIND;
use super::params::{FieldError, ImportParams};
use crate::config::ImportSettings;
pub use crate::model::Preview;
use crate::model::{ConnectionTest, JobOrigin, JobSummary, TenantId};
use crate::sgp::{ContractStatus, CustomerQuery, SgpClient, SgpClientConfig, SgpError, PAGE_SIZE};
use crate::store::{NewJob, Store, StoreError};

/// Pages a preview reads before it estimates the rest.
pub const PREVIEW_PAGES: u64 = 20;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid parameters")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Integration(#[from] IntegrationError),
    #[error(transparent)]
    Sgp(#[from] SgpError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A connection test or preview of this provider is still running.
    #[error("another SGP check of this provider is running")]
    Busy,
    /// The provider has as many imports queued or running as allowed.
    #[error("too many active imports ({0})")]
    TooManyActive(u32),
}

impl StartError {
    pub fn message_pt(&self) -> String {
        match self {
            StartError::Invalid(errors) => errors
                .iter()
                .map(|e| e.message.clone())
                .collect::<Vec<_>>()
                .join(" "),
            StartError::Integration(e) => e.message_pt(),
            StartError::Sgp(e) => e.message_pt(),
            StartError::Store(_) => "Erro ao acessar o banco de dados.".into(),
            StartError::Busy => "Já há um teste de conexão ou uma prévia em andamento para este \
                provedor; aguarde terminar e tente de novo."
                .into(),
            StartError::TooManyActive(max) => format!(
                "Este provedor já tem {max} importações na fila ou em andamento, o máximo \
                 permitido. Aguarde algumas terminarem (ou cancele as que não precisa) e tente de novo."
            ),
        }
    }
}

pub struct ImportService {
    store: Arc<dyn Store>,
    integrations: Arc<Integrations>,
    client: SgpClientConfig,
    /// Providers with a test or preview running: one at a time each, so
    /// one admin cannot fan requests out at an SGP (or through us).
    checking: Arc<Mutex<HashSet<TenantId>>>,
    max_active_per_tenant: u32,
}

/// A provider's turn to talk to its SGP from a page; ends when dropped.
struct Turn {
    tenant: TenantId,
    checking: Arc<Mutex<HashSet<TenantId>>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.checking
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(&self.tenant);
    }
}

impl ImportService {
    pub fn new(
        store: Arc<dyn Store>,
        integrations: Arc<Integrations>,
        client: SgpClientConfig,
    ) -> Self {
        ImportService {
            store,
            integrations,
            client,
            checking: Arc::default(),
            max_active_per_tenant: ImportSettings::default().max_active_per_tenant,
        }
    }

    /// How many imports one provider may have queued or running at once.
    pub fn with_max_active_per_tenant(mut self, max: u32) -> Self {
        self.max_active_per_tenant = max.max(1);
        self
    }

    fn turn(&self, tenant: TenantId) -> Result<Turn, StartError> {
        let mut checking = self
            .checking
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !checking.insert(tenant) {
            return Err(StartError::Busy);
        }
        Ok(Turn {
            tenant,
            checking: self.checking.clone(),
        })
    }

    pub fn integrations(&self) -> &Arc<Integrations> {
        &self.integrations
    }

    async fn client(&self, tenant: TenantId) -> Result<SgpClient, StartError> {
        let i = self.integrations.open(tenant).await?;
        Ok(SgpClient::new(i.base_url, i.auth, self.client.clone()))
    }

    /// Where an incremental import starts: the day the last successful one
    /// started (SGP's change filter takes whole days); `None` for a full
    /// import, or when none succeeded yet.
    async fn changed_since(
        &self,
        tenant: TenantId,
        incremental: bool,
    ) -> Result<Option<chrono::NaiveDate>, StartError> {
        if !incremental {
            return Ok(None);
        }
        Ok(changed_since(self.store.as_ref(), tenant).await?)
    }

    /// Queues an import. Incremental imports start from the day of the last
    /// successful one.
    pub async fn start(
        &self,
        tenant: TenantId,
        mut params: ImportParams,
        origin: JobOrigin,
    ) -> Result<JobSummary, StartError> {
        params.name = params.name.trim().to_owned();
        params.validate().map_err(StartError::Invalid)?;
        if params.name.is_empty() {
            params.name = ImportParams::default_name(chrono::Utc::now());
        }
        // fail now, not in the background, when there is nothing to import from
        self.integrations.open(tenant).await?;
        params.changed_since = self.changed_since(tenant, params.incremental).await?;
        let mut job = NewJob::new(
            tenant,
            IMPORT_KIND,
            &params.name,
            serde_json::to_value(&params).unwrap_or_default(),
        )
        .with_origin(origin);
        // one provider cannot fill the queue the others share
        job.max_active = Some(self.max_active_per_tenant);
        match self.store.enqueue(job).await {
            Err(StoreError::LimitReached(max)) => Err(StartError::TooManyActive(max)),
            other => Ok(other?),
        }
    }

    /// Counts what an import would bring without writing anything: SGP's
    /// total, and new versus existing over the first pages (all of them
    /// when there are few).
    pub async fn preview(
        &self,
        tenant: TenantId,
        mut params: ImportParams,
    ) -> Result<Preview, StartError> {
        // A preview needs no name from the admin; the rules still want one.
        if params.name.trim().is_empty() {
            params.name = "prévia".into();
        }
        params.validate().map_err(StartError::Invalid)?;
        let _turn = self.turn(tenant)?;
        let client = self.client(tenant).await?;
        let changed_from = self.changed_since(tenant, params.incremental).await?;
        let mut query = CustomerQuery {
            offset: 0,
            limit: PAGE_SIZE,
            contract_status: params.only_active.then_some(ContractStatus::Active),
            signup_from: params.signup_from,
            signup_to: params.signup_to,
            changed_from,
            changed_to: None,
            keys_only: true,
        };
        let (mut total, mut compared, mut existing, mut pages) = (None, 0u64, 0u64, 0u64);
        loop {
            // the admin is waiting on the page: no backoff, an error at once
            let page = client.customers_once(&query).await?;
            total = total.or(page.total);
            let keys: Vec<String> = page
                .customers
                .iter()
                .filter_map(|c| c.as_ref().ok().map(|c| c.key.to_string()))
                .collect();
            existing += self.store.count_existing_customers(tenant, &keys).await?;
            compared += page.received as u64;
            pages += 1;
            let received = page.received as u64;
            let more = match total {
                Some(t) => compared < t && received > 0,
                None => received >= u64::from(PAGE_SIZE),
            };
            if !more || pages >= PREVIEW_PAGES {
                break;
            }
            query.offset += received;
        }
        let total = total.unwrap_or(compared).max(compared);
        let exact = compared >= total;
        let existing = if exact || compared == 0 {
            existing
        } else {
            ((existing as f64) * (total as f64) / (compared as f64)).round() as u64
        };
        Ok(Preview {
            total,
            new: total.saturating_sub(existing),
            existing: existing.min(total),
            exact,
            compared,
        })
    }

    /// Tries the saved connection and remembers the outcome.
    pub async fn test_connection(&self, tenant: TenantId) -> Result<ConnectionTest, StartError> {
        let _turn = self.turn(tenant)?;
        let client = self.client(tenant).await?;
        let test = match client.test_connection().await {
            Ok(customers) => ConnectionTest {
                ok: true,
                message: match customers {
                    Some(n) => format!("Conexão com o SGP funcionando: {n} clientes encontrados."),
                    None => "Conexão com o SGP funcionando.".to_owned(),
                },
                customers,
            },
            Err(e) => ConnectionTest {
                ok: false,
                message: e.message_pt(),
                customers: None,
            },
        };
        self.store
            .record_integration_test(tenant, test.ok, &test.message)
            .await?;
        Ok(test)
    }
}

/// The day SGP's change filter (`data_alteracao_inicio`) starts from for
/// changes since `t`: `t`'s day in the westernmost of Brazil's time zones
/// (Acre, UTC−5). SGP reads the filter as a local day; UTC's day of an
/// import that started at 22:00 in Brasília is already the next one, and
/// that evening's changes were never fetched. An SGP anywhere in Brazil
/// sees `t` on this day or the next, and hours of changes read twice are
/// only counted as unchanged.
fn changes_day(t: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
    t.with_timezone(&chrono_tz::America::Rio_Branco)
        .date_naive()
}

/// Where an incremental import of `tenant` starts, manual or scheduled:
/// the [`changes_day`] of the last successful import's start; `None` when
/// none succeeded yet (everything is fetched).
pub(crate) async fn changed_since(
    store: &dyn Store,
    tenant: TenantId,
) -> Result<Option<chrono::NaiveDate>, StoreError> {
    Ok(store
        .last_completed_at(tenant, IMPORT_KIND)
        .await?
        .map(changes_day))
}

#[cfg(test)]
mod tests {
    #[test]
    fn changes_are_asked_from_the_day_an_sgp_in_brazil_saw() {
        use chrono::{NaiveDate, TimeZone, Utc};
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        // 22:30 in Brasília on 1 December is 01:30 UTC on the 2nd
        let evening = Utc.with_ymd_and_hms(2026, 12, 2, 1, 30, 0).unwrap();
        assert_eq!(super::changes_day(evening), day(2026, 12, 1));
        // 04:59 UTC is 23:59 in Acre, the day before
        let late = Utc.with_ymd_and_hms(2026, 12, 2, 4, 59, 0).unwrap();
        assert_eq!(super::changes_day(late), day(2026, 12, 1));
        let morning = Utc.with_ymd_and_hms(2026, 12, 2, 12, 0, 0).unwrap();
        assert_eq!(super::changes_day(morning), day(2026, 12, 2));
    }
}
