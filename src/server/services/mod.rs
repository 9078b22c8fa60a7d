//! The operations behind pages, server functions and the REST API, so
//! every entry point does the same thing. Each takes the caller and acts
//! only on the caller's provider.

pub mod customers;
mod error;
pub mod imports;
pub mod integration;
pub mod notifications;
pub mod overview;
pub mod providers;
pub mod schedule;
pub mod session;

use crate::server::state::AppState;
use sgp_import_core::auth::Principal;
use sgp_import_core::model::TenantId;

pub use error::ServiceError;

/// The provider the caller acts on.
pub fn tenant_of(caller: &Principal) -> Result<TenantId, ServiceError> {
    caller.tenant.ok_or(ServiceError::NoProvider)
}

/// One of the provider's turns at a costly list (see
/// [`crate::server::reads`]), held while the list is read.
pub async fn read_turn(
    state: &AppState,
    tenant: TenantId,
) -> Result<crate::server::reads::ReadTurn, ServiceError> {
    state
        .reads
        .turn(tenant)
        .await
        .ok_or_else(|| ServiceError::Throttled {
            message: "Há muitas consultas deste provedor em andamento ao mesmo tempo; tente de \
                      novo em alguns segundos."
                .into(),
            retry_after: crate::server::reads::LIST_WAIT,
        })
}

pub fn require_superadmin(caller: &Principal) -> Result<(), ServiceError> {
    if caller.is_superadmin() {
        Ok(())
    } else {
        Err(ServiceError::Forbidden)
    }
}
