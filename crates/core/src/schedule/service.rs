//! Reading and saving a provider's schedule, with every rule checked
//! before anything is stored.

use std::sync::Arc;

use chrono::Duration;

use super::CronSchedule;
use crate::clock::Clock;
use crate::import::FieldError;
use crate::model::{ScheduleInput, ScheduleView, TenantId};
use crate::store::{Store, StoreError};

/// The most failures an admin may let a schedule have before it pauses.
pub const MAX_PAUSE_AFTER_FAILURES: u32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("invalid schedule")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct ScheduleService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    min_interval: Duration,
}

impl ScheduleService {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, min_interval: Duration) -> Self {
        ScheduleService {
            store,
            clock,
            min_interval,
        }
    }

    pub fn min_interval(&self) -> Duration {
        self.min_interval
    }

    /// The provider's schedule, or the defaults (off) when none was saved.
    pub async fn get(&self, tenant: TenantId) -> Result<ScheduleView, ScheduleError> {
        Ok(self.store.schedule(tenant).await?.unwrap_or_default())
    }

    /// Checks and saves; an active schedule gets its next slot from now.
    pub async fn save(
        &self,
        tenant: TenantId,
        mut input: ScheduleInput,
    ) -> Result<ScheduleView, ScheduleError> {
        input.cron = input.cron.split_whitespace().collect::<Vec<_>>().join(" ");
        let now = self.clock.now();
        let mut errors = Vec::new();
        let cron = match CronSchedule::parse(&input.cron) {
            Ok(cron) => match cron.check_interval(self.min_interval, now) {
                Ok(()) => Some(cron),
                Err(e) => {
                    errors.push(e);
                    None
                }
            },
            Err(e) => {
                errors.push(e);
                None
            }
        };
        if !(1..=MAX_PAUSE_AFTER_FAILURES).contains(&input.pause_after_failures) {
            errors.push(FieldError::new(
                "pausar_apos_falhas",
                format!("Informe de 1 a {MAX_PAUSE_AFTER_FAILURES} falhas seguidas."),
            ));
        }
        errors.extend(crate::import::signup_range_errors(
            input.signup_from,
            input.signup_to,
        ));
        if input.active && self.store.integration(tenant).await?.is_none() {
            errors.push(FieldError::new(
                "ativo",
                "Salve a conexão com o SGP antes de ativar a sincronização automática.",
            ));
        }
        let Some(cron) = cron.filter(|_| errors.is_empty()) else {
            return Err(ScheduleError::Invalid(errors));
        };
        let next = if input.active {
            cron.next_after(now)
        } else {
            None
        };
        Ok(self.store.save_schedule(tenant, &input, next).await?)
    }
}
