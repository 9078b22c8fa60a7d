//! Server functions for the admin's API tokens (the account page).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::model::ApiTokenInfo;

/// A token just created: `token` is shown this once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub token: String,
    pub info: ApiTokenInfo,
}

#[server(endpoint = "api_tokens")]
pub async fn list_api_tokens() -> Result<Vec<ApiTokenInfo>, ServerFnError> {
    use super::session::{caller, to_server_error};
    use crate::server::services::session;

    let (state, p) = caller().await.map_err(to_server_error)?;
    session::tokens(&state, &p).await.map_err(to_server_error)
}

#[server(endpoint = "create_api_token")]
pub async fn create_api_token(name: String) -> Result<CreatedToken, ServerFnError> {
    use super::session::{caller, to_server_error};
    use crate::server::services::session;

    let (state, p) = caller().await.map_err(to_server_error)?;
    let (token, info) = session::create_token(&state, &p, &name)
        .await
        .map_err(to_server_error)?;
    Ok(CreatedToken {
        token: token.expose().to_owned(),
        info,
    })
}

#[server(endpoint = "revoke_api_token")]
pub async fn revoke_api_token(id: String) -> Result<(), ServerFnError> {
    use super::session::{caller, to_server_error};
    use crate::server::services::{session, ServiceError};

    let (state, p) = caller().await.map_err(to_server_error)?;
    let id = uuid::Uuid::parse_str(&id)
        .map_err(|_| to_server_error(ServiceError::bad_request("id", "Token inválido.")))?;
    session::revoke_token(&state, &p, id)
        .await
        .map_err(to_server_error)
}
