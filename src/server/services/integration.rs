//! The caller's SGP connection: read (secrets masked), save, test.

use sgp_import_core::auth::Principal;
use sgp_import_core::import::{IntegrationInput, IntegrationView};

use super::{tenant_of, ServiceError};
use crate::server::state::AppState;

pub async fn get(
    state: &AppState,
    caller: &Principal,
) -> Result<Option<IntegrationView>, ServiceError> {
    let tenant = tenant_of(caller)?;
    Ok(state.integrations.view(tenant).await?)
}

pub async fn save(
    state: &AppState,
    caller: &Principal,
    input: &IntegrationInput,
) -> Result<IntegrationView, ServiceError> {
    let tenant = tenant_of(caller)?;
    let view = state.integrations.save(tenant, input).await?;
    tracing::info!(tenant_id = %tenant, user_id = %caller.user.id, base_url = %view.base_url, "SGP integration saved");
    Ok(view)
}

pub struct TestOutcome {
    pub ok: bool,
    pub message: String,
    pub customers: Option<u64>,
}

pub async fn test(state: &AppState, caller: &Principal) -> Result<TestOutcome, ServiceError> {
    let tenant = tenant_of(caller)?;
    let (ok, message, customers) = state.imports.test_connection(tenant).await?;
    Ok(TestOutcome {
        ok,
        message,
        customers,
    })
}
