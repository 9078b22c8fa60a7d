//! The caller's automatic sync: read and save.

use sgp_import_core::auth::Principal;
use sgp_import_core::model::{ScheduleInput, ScheduleView};

use super::{tenant_of, ServiceError};
use crate::server::state::AppState;

pub async fn get(state: &AppState, caller: &Principal) -> Result<ScheduleView, ServiceError> {
    let tenant = tenant_of(caller)?;
    Ok(state.schedules.get(tenant).await?)
}

pub async fn save(
    state: &AppState,
    caller: &Principal,
    input: ScheduleInput,
) -> Result<ScheduleView, ServiceError> {
    let tenant = tenant_of(caller)?;
    let view = state.schedules.save(tenant, input).await?;
    tracing::info!(
        tenant_id = %tenant,
        user_id = %caller.user.id,
        active = view.input.active,
        cron = %view.input.cron,
        next_run = ?view.next_run,
        "schedule saved"
    );
    Ok(view)
}

/// The shortest interval allowed between runs, in minutes (for the page).
pub fn min_interval_minutes(state: &AppState) -> u32 {
    state.schedules.min_interval().num_minutes().max(0) as u32
}
