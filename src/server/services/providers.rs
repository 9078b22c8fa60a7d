//! Providers, as a superadmin manages them.

use sgp_import_core::auth::{Credential, Principal};
use sgp_import_core::model::{Tenant, TenantSlug};
use sgp_import_core::store::{Entity, StoreError};

use super::{require_superadmin, ServiceError};
use crate::server::state::AppState;

pub async fn list(state: &AppState, caller: &Principal) -> Result<Vec<Tenant>, ServiceError> {
    require_superadmin(caller)?;
    Ok(state.store.list_tenants().await?)
}

/// Points the superadmin's session at a provider.
pub async fn choose(
    state: &AppState,
    caller: &Principal,
    slug: &str,
) -> Result<Tenant, ServiceError> {
    require_superadmin(caller)?;
    let slug = TenantSlug::parse(slug.trim())
        .map_err(|_| ServiceError::bad_request("slug", "Identificador de provedor inválido."))?;
    let tenant = state
        .store
        .tenant_by_slug(&slug)
        .await?
        .ok_or(ServiceError::NotFound(Entity::Tenant))?;
    // an API token stays with the provider it was made for; asked
    // before the store, so its refusal is not confused with a failure
    if !matches!(caller.credential, Credential::Session { .. }) {
        return Err(ServiceError::Conflict(
            "Só uma sessão de navegador pode trocar de provedor; um token de API fica no \
             provedor em que foi criado."
                .into(),
        ));
    }
    state
        .auth
        .choose_tenant(caller, tenant.id)
        .await
        .map_err(|e| match e {
            // logged out meanwhile
            StoreError::NotFound(Entity::Session) => ServiceError::Unauthenticated,
            other => other.into(),
        })?;
    Ok(tenant)
}
