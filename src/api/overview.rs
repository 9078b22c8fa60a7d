use leptos::prelude::*;
use server_fn::codec::Postcard;

use super::error::UiError;
use crate::model::TenantOverview;

/// Counts per provider for the overview page.
/// Every provider for a superadmin, the own one for a provider admin.
#[server(endpoint = "overview", output = Postcard)]
pub async fn get_overview() -> Result<Vec<TenantOverview>, UiError> {
    use crate::server::services::overview::overview;

    let (state, caller) = super::session::caller().await?;
    Ok(overview(&state, &caller).await?)
}
