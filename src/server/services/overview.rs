//! The overview page's counts.

use sgp_import_core::auth::Principal;
use sgp_import_core::model::TenantOverview;

use super::ServiceError;
use crate::server::state::AppState;

/// Counts per provider: every provider for a superadmin, the own one for
/// an admin.
pub async fn overview(
    state: &AppState,
    caller: &Principal,
) -> Result<Vec<TenantOverview>, ServiceError> {
    let tenants = match (caller.is_superadmin(), caller.user.tenant_id) {
        (true, _) => state
            .store
            .list_tenants()
            .await?
            .into_iter()
            .map(|t| t.id)
            .collect(),
        (false, Some(own)) => vec![own],
        (false, None) => Vec::new(),
    };
    let mut out = Vec::with_capacity(tenants.len());
    for tenant in tenants {
        out.push(state.store.tenant_overview(tenant).await?);
    }
    Ok(out)
}
