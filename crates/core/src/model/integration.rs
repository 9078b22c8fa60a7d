//! A provider's SGP connection and an import preview as the UI and the API
//! see them (shared with the browser; never a secret in clear).

use serde::{Deserialize, Serialize};

/// The saved connection: secrets only as hints (`••••a1b2`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IntegrationView {
    pub base_url: String,
    pub auth_mode: String,
    pub app: Option<String>,
    pub token_hint: Option<String>,
    pub username: Option<String>,
    pub password_hint: Option<String>,
    #[serde(with = "super::instant::option", default)]
    pub last_tested_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_test_ok: Option<bool>,
    pub last_test_message: Option<String>,
}

/// How "Testar conexão" went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectionTest {
    pub ok: bool,
    /// For the admin, in Portuguese.
    pub message: String,
    /// How many customers SGP says it has, when it says.
    pub customers: Option<u64>,
}

/// What an import would bring.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preview {
    /// Customers SGP says match (or counted, when it does not say).
    pub total: u64,
    pub new: u64,
    pub existing: u64,
    /// `false` when only the first pages were compared and the split
    /// between new and existing is extrapolated.
    pub exact: bool,
    pub compared: u64,
}
