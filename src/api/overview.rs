use leptos::prelude::*;

use crate::model::TenantOverview;

/// Counts per provider for the overview page.
/// Every provider for a superadmin, the own one for a provider admin.
#[server(endpoint = "overview")]
pub async fn get_overview() -> Result<Vec<TenantOverview>, ServerFnError> {
    use crate::server::services::overview::overview;

    let (state, caller) = super::session::caller()
        .await
        .map_err(super::session::to_server_error)?;
    overview(&state, &caller)
        .await
        .map_err(super::session::to_server_error)
}
