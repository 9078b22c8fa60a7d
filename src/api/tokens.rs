//! Server functions for the admin's API tokens (the account page).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use server_fn::codec::Postcard;

use super::error::UiError;
use crate::model::ApiTokenInfo;

/// A token just created: `token` is shown this once.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub token: String,
    pub info: ApiTokenInfo,
}

/// The token itself never goes into debug output.
impl std::fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedToken")
            .field("token", &"***")
            .field("info", &self.info)
            .finish()
    }
}

#[server(endpoint = "api_tokens", output = Postcard)]
pub async fn list_api_tokens() -> Result<Vec<ApiTokenInfo>, UiError> {
    use super::session::caller;
    use crate::server::services::session;

    let (state, p) = caller().await?;
    Ok(session::tokens(&state, &p).await?)
}

#[server(endpoint = "create_api_token", output = Postcard)]
pub async fn create_api_token(name: String, days: String) -> Result<CreatedToken, UiError> {
    use super::session::caller;
    use crate::server::services::{session, ServiceError};

    let (state, p) = caller().await?;
    // the form's select: empty for "until revoked", else a number of days
    let days = match days.trim() {
        "" => None,
        n => Some(n.parse::<u32>().map_err(|_| {
            ServiceError::Invalid(vec![sgp_import_core::import::FieldError::new(
                "days",
                "Escolha a validade do token.",
            )])
        })?),
    };
    let (token, info) = session::create_token(&state, &p, &name, days).await?;
    Ok(CreatedToken {
        token: token.expose().to_owned(),
        info,
    })
}

#[server(endpoint = "revoke_api_token", output = Postcard)]
pub async fn revoke_api_token(id: String) -> Result<(), UiError> {
    use super::session::caller;
    use crate::server::services::{session, ServiceError};

    let (state, p) = caller().await?;
    let id = uuid::Uuid::parse_str(&id)
        .map_err(|_| ServiceError::bad_request("id", "Token inválido."))?;
    Ok(session::revoke_token(&state, &p, id).await?)
}
