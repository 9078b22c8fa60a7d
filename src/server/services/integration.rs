//! The caller's SGP connection: read (secrets masked), save, test.

use sgp_import_core::auth::Principal;
use sgp_import_core::import::{IntegrationInput, IntegrationView};
use sgp_import_core::model::ConnectionTest;

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

pub async fn test(state: &AppState, caller: &Principal) -> Result<ConnectionTest, ServiceError> {
    let tenant = tenant_of(caller)?;
    Ok(state.imports.test_connection(tenant).await?)
}
