//! The imported customers of the caller's provider.

use sgp_import_core::auth::Principal;
use sgp_import_core::model::ContractStatus;
use sgp_import_core::model::CustomerPage;
use sgp_import_core::store::CustomerFilter;

use super::{read_turn, tenant_of, ServiceError};
use crate::server::state::AppState;

pub const MAX_LIMIT: u32 = 100;

pub async fn list(
    state: &AppState,
    caller: &Principal,
    search: Option<String>,
    status: Option<&str>,
    situation: Option<&str>,
    limit: u32,
    offset: u64,
) -> Result<CustomerPage, ServiceError> {
    let tenant = tenant_of(caller)?;
    let removed = removed_filter(situation)?;
    let contract_status = match status.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            ContractStatus::from_stored(s)
                .filter(|c| ContractStatus::ALL.contains(c))
                .map(|c| c.as_str().to_owned())
                .ok_or_else(|| {
                    ServiceError::bad_request(
                        "status",
                        format!(
                            "Situação de contrato desconhecida: {s:?}. Use uma destas: {}.",
                            ContractStatus::ALL.map(|c| c.as_str()).join(", ")
                        ),
                    )
                })?,
        ),
    };
    if let Some(q) = &search {
        sgp_import_core::text::check("q", "busca", q, false)
            .map_err(|e| ServiceError::Invalid(vec![e]))?;
    }
    if search.as_ref().is_some_and(|q| q.chars().count() > 100) {
        return Err(ServiceError::bad_request(
            "q",
            "A busca pode ter até 100 caracteres.",
        ));
    }
    let filter = CustomerFilter {
        search,
        contract_status,
        removed,
        limit,
        offset,
    };
    let _turn = read_turn(state, tenant).await?;
    Ok(state.store.list_customers(tenant, &filter).await?)
}

/// `situacao`: `removido` (only customers SGP no longer has), `ativo`
/// (only those it has), or nothing for both.
pub fn removed_filter(situation: Option<&str>) -> Result<Option<bool>, ServiceError> {
    match situation.map(str::trim).unwrap_or("") {
        "" | "todos" => Ok(None),
        "removido" => Ok(Some(true)),
        "ativo" => Ok(Some(false)),
        other => Err(ServiceError::bad_request(
            "situacao",
            format!("Situação desconhecida: {other:?}. Use uma destas: ativo, removido."),
        )),
    }
}
