//! Logging in and out, and API tokens.

use sgp_import_core::auth::{LoginSuccess, Principal};
use sgp_import_core::import::FieldError;
use sgp_import_core::model::ApiTokenInfo;
use sgp_import_core::secret::Secret;
use uuid::Uuid;

use super::ServiceError;
use crate::server::state::AppState;

pub async fn login(
    state: &AppState,
    email: &str,
    password: &str,
    ip: &str,
    user_agent: Option<&str>,
) -> Result<LoginSuccess, ServiceError> {
    let mut missing = Vec::new();
    if email.trim().is_empty() {
        missing.push(FieldError::new("email", "Informe o e-mail."));
    }
    if password.is_empty() {
        missing.push(FieldError::new("password", "Informe a senha."));
    }
    if !missing.is_empty() {
        return Err(ServiceError::Invalid(missing));
    }
    Ok(state.auth.login(email, password, ip, user_agent).await?)
}

pub async fn logout(state: &AppState, caller: &Principal) -> Result<(), ServiceError> {
    Ok(state.auth.logout(caller).await?)
}

pub async fn create_token(
    state: &AppState,
    caller: &Principal,
    name: &str,
) -> Result<(Secret, ApiTokenInfo), ServiceError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(ServiceError::Invalid(vec![FieldError::new(
            "nome",
            "Dê ao token um nome de 1 a 80 caracteres (ex.: \"script de relatórios\").",
        )]));
    }
    Ok(state.auth.create_api_token(caller, name).await?)
}

pub async fn tokens(
    state: &AppState,
    caller: &Principal,
) -> Result<Vec<ApiTokenInfo>, ServiceError> {
    Ok(state.auth.api_tokens(caller).await?)
}

pub async fn revoke_token(
    state: &AppState,
    caller: &Principal,
    id: Uuid,
) -> Result<(), ServiceError> {
    Ok(state.auth.revoke_api_token(caller, id).await?)
}
