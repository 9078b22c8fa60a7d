//! Server functions of the integration page: the SGP connection.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use server_fn::codec::Postcard;

use super::error::UiError;
use crate::model::{ConnectionTest, IntegrationView};

/// The form as the browser sends it; an empty secret keeps the saved one.
/// (The server's `IntegrationInput` cannot be serialised on purpose: it
/// holds secrets in clear. This is its browser-side twin.)
/// The REST API's `PUT /api/admin/integracoes/sgp` takes the same body.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IntegrationForm {
    pub base_url: String,
    pub auth_mode: String,
    pub app: Option<String>,
    pub token: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// Secrets show only whether they were given (the server-function macro
/// derives `Debug` on its arguments, and logs may print them).
impl std::fmt::Debug for IntegrationForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let given = |s: &Option<String>| s.as_ref().map(|_| "***");
        f.debug_struct("IntegrationForm")
            .field("base_url", &self.base_url)
            .field("auth_mode", &self.auth_mode)
            .field("app", &self.app)
            .field("token", &given(&self.token))
            .field("username", &self.username)
            .field("password", &given(&self.password))
            .finish()
    }
}

#[cfg(feature = "ssr")]
impl From<IntegrationForm> for sgp_import_core::import::IntegrationInput {
    fn from(form: IntegrationForm) -> Self {
        sgp_import_core::import::IntegrationInput {
            base_url: form.base_url,
            auth_mode: form.auth_mode,
            app: form.app,
            token: form.token,
            username: form.username,
            password: form.password,
        }
    }
}

#[server(endpoint = "integration", output = Postcard)]
pub async fn get_integration() -> Result<Option<IntegrationView>, UiError> {
    use super::session::caller;
    use crate::server::services::integration;

    let (state, p) = caller().await?;
    Ok(integration::get(&state, &p).await?)
}

#[server(endpoint = "save_integration", output = Postcard)]
pub async fn save_integration(form: IntegrationForm) -> Result<IntegrationView, UiError> {
    use super::session::caller;
    use crate::server::services::integration;
    let (state, p) = caller().await?;
    Ok(integration::save(&state, &p, &form.into()).await?)
}

#[server(endpoint = "test_integration", output = Postcard)]
pub async fn test_integration() -> Result<ConnectionTest, UiError> {
    use super::session::caller;
    use crate::server::services::integration;

    let (state, p) = caller().await?;
    Ok(integration::test(&state, &p).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_masks_the_secrets() {
        let form = IntegrationForm {
            base_url: "https://sgp.x.com.br".into(),
            auth_mode: "basic".into(),
            token: Some("tok-secreto-1".into()),
            username: Some("admin".into()),
            password: Some("senha-secreta-2".into()),
            ..IntegrationForm::default()
        };
        let text = format!("{form:?}");
        assert!(
            !text.contains("secreto") && !text.contains("secreta"),
            "{text}"
        );
        assert!(text.contains("admin") && text.contains("***"), "{text}");
    }
}
