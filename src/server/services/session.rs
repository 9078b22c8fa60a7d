//! Logging in and out, and API tokens.

use sgp_import_core::auth::{LoginSuccess, Principal};
use sgp_import_core::import::FieldError;
use sgp_import_core::model::{ApiTokenInfo, Tenant};
use sgp_import_core::secret::Secret;
use sgp_import_core::text;
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
    text::check_all([
        ("email", "e-mail", Some(email)),
        ("password", "senha", Some(password)),
    ])
    .map_err(ServiceError::Invalid)?;
    Ok(state.auth.login(email, password, ip, user_agent).await?)
}

/// The caller's provider, and every provider a superadmin may switch to.
pub struct SessionProviders {
    pub current: Option<Tenant>,
    /// Empty unless the caller is a superadmin.
    pub choices: Vec<Tenant>,
}

pub async fn providers(
    state: &AppState,
    caller: &Principal,
) -> Result<SessionProviders, ServiceError> {
    let tenants = state.store.list_tenants().await?;
    let current = tenants
        .iter()
        .find(|t| Some(t.id) == caller.tenant)
        .cloned();
    Ok(SessionProviders {
        current,
        choices: if caller.is_superadmin() {
            tenants
        } else {
            Vec::new()
        },
    })
}

pub async fn logout(state: &AppState, caller: &Principal) -> Result<(), ServiceError> {
    Ok(state.auth.logout(caller).await?)
}

/// The longest validity a token may be given, in days (ten years).
pub const MAX_TOKEN_DAYS: u32 = 3650;

pub async fn create_token(
    state: &AppState,
    caller: &Principal,
    name: &str,
    valid_days: Option<u32>,
) -> Result<(Secret, ApiTokenInfo), ServiceError> {
    let name = name.trim();
    text::check("nome", "nome do token", name, false)
        .map_err(|e| ServiceError::Invalid(vec![e]))?;
    if name.is_empty() || name.chars().count() > 80 {
        return Err(ServiceError::Invalid(vec![FieldError::new(
            "nome",
            "Dê ao token um nome de 1 a 80 caracteres (ex.: \"script de relatórios\").",
        )]));
    }
    let valid_for = match valid_days {
        None => None,
        Some(days @ 1..=MAX_TOKEN_DAYS) => Some(chrono::Duration::days(i64::from(days))),
        Some(_) => {
            return Err(ServiceError::Invalid(vec![FieldError::new(
                "validade_dias",
                format!("A validade vai de 1 a {MAX_TOKEN_DAYS} dias; deixe vazio para um token sem validade."),
            )]))
        }
    };
    Ok(state.auth.create_api_token(caller, name, valid_for).await?)
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
