//! The operations behind pages, server functions and (later) the REST API,
//! so every entry point does the same thing.

use sgp_import_core::model::TenantOverview;
use sgp_import_core::store::{Store, StoreError};

/// Counts for the overview page, one entry per provider.
pub async fn overview(store: &dyn Store) -> Result<Vec<TenantOverview>, StoreError> {
    let tenants = store.list_tenants().await?;
    let mut out = Vec::with_capacity(tenants.len());
    for tenant in tenants {
        out.push(store.tenant_overview(tenant.id).await?);
    }
    Ok(out)
}
