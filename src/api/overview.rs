use leptos::prelude::*;
use server_fn::codec::Postcard;

use super::error::UiError;

/// Counts per provider for the overview page, as cards rendered on the
/// server (read-only; the page places them and toggles their status
/// tables with a class). Every provider for a superadmin, the own one for
/// a provider admin.
#[server(endpoint = "overview", output = Postcard)]
pub async fn get_overview() -> Result<String, UiError> {
    use crate::server::services::overview::overview;
    use crate::ui::overview::{TenantCards, TenantCardsProps};

    let (state, caller) = super::session::caller().await?;
    let list = overview(&state, &caller).await?;
    Ok(crate::server::markup::render(|| {
        TenantCards(TenantCardsProps { list })
    }))
}
