use leptos::prelude::*;

use crate::model::TenantOverview;

/// Counts per provider for the overview page.
// TODO(issue 5): restrict to the session's provider once accounts exist.
#[server(endpoint = "overview")]
pub async fn get_overview() -> Result<Vec<TenantOverview>, ServerFnError> {
    use crate::server::{services, state::AppState};

    let Some(state) = use_context::<AppState>() else {
        return Err(ServerFnError::new("Servidor mal configurado."));
    };
    services::overview(state.store.as_ref()).await.map_err(|e| {
        tracing::error!(error = %e, "reading the overview failed");
        ServerFnError::new(
            "Não foi possível ler os dados do banco de dados. Tente novamente em instantes.",
        )
    })
}
