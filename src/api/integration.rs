//! Server functions of the integration page: the SGP connection.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::error::UiError;

/// The saved connection as the page shows it: secrets only masked.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IntegrationSettings {
    pub base_url: String,
    /// `token` or `basic`
    pub auth_mode: String,
    pub app: Option<String>,
    pub token_hint: Option<String>,
    pub username: Option<String>,
    pub password_hint: Option<String>,
    pub last_test_ok: Option<bool>,
    pub last_test_message: Option<String>,
}

/// The form as the browser sends it; an empty secret keeps the saved one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IntegrationForm {
    pub base_url: String,
    pub auth_mode: String,
    pub app: Option<String>,
    pub token: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    pub ok: bool,
    pub message: String,
}

#[cfg(feature = "ssr")]
impl From<sgp_import_core::import::IntegrationView> for IntegrationSettings {
    fn from(v: sgp_import_core::import::IntegrationView) -> Self {
        IntegrationSettings {
            base_url: v.base_url,
            auth_mode: v.auth_mode,
            app: v.app,
            token_hint: v.token_hint,
            username: v.username,
            password_hint: v.password_hint,
            last_test_ok: v.last_test_ok,
            last_test_message: v.last_test_message,
        }
    }
}

#[server(endpoint = "integration")]
pub async fn get_integration() -> Result<Option<IntegrationSettings>, UiError> {
    use super::session::caller;
    use crate::server::services::integration;

    let (state, p) = caller().await?;
    Ok(integration::get(&state, &p).await?.map(Into::into))
}

#[server(endpoint = "save_integration")]
pub async fn save_integration(form: IntegrationForm) -> Result<IntegrationSettings, UiError> {
    use super::session::caller;
    use crate::server::services::integration;
    use sgp_import_core::import::IntegrationInput;

    let (state, p) = caller().await?;
    let input = IntegrationInput {
        base_url: form.base_url,
        auth_mode: form.auth_mode,
        app: form.app,
        token: form.token,
        username: form.username,
        password: form.password,
    };
    Ok(integration::save(&state, &p, &input).await?.into())
}

#[server(endpoint = "test_integration")]
pub async fn test_integration() -> Result<TestResult, UiError> {
    use super::session::caller;
    use crate::server::services::integration;

    let (state, p) = caller().await?;
    let outcome = integration::test(&state, &p).await?;
    Ok(TestResult {
        ok: outcome.ok,
        message: outcome.message,
    })
}
