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

use sgp_import_core::auth::Principal;
use sgp_import_core::model::TenantId;

pub use error::ServiceError;

/// The provider the caller acts on.
pub fn tenant_of(caller: &Principal) -> Result<TenantId, ServiceError> {
    caller.tenant.ok_or(ServiceError::NoProvider)
}

pub fn require_superadmin(caller: &Principal) -> Result<(), ServiceError> {
    if caller.is_superadmin() {
        Ok(())
    } else {
        Err(ServiceError::Forbidden)
    }
}
