//! The error the pages get from server functions: the message for the
//! admin, and each field at fault so forms can show it next to the field.

use leptos::server_fn::codec::PostcardEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldMessage {
    pub field: String,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct UiError {
    pub message: String,
    /// 401: the session ended; the page sends the admin to log in.
    pub unauthenticated: bool,
    pub fields: Vec<FieldMessage>,
}

impl UiError {
    pub fn new(message: impl Into<String>) -> Self {
        UiError {
            message: message.into(),
            unauthenticated: false,
            fields: Vec::new(),
        }
    }

    /// The message for one form field, if it is at fault.
    pub fn field(&self, name: &str) -> Option<String> {
        self.fields
            .iter()
            .find(|f| f.field == name)
            .map(|f| f.message.clone())
    }
}

impl FromServerFnError for UiError {
    type Encoder = PostcardEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::ServerError(message) => UiError::new(message),
            _ => UiError::new(
                "Não foi possível falar com o servidor. Verifique sua conexão e tente novamente.",
            ),
        }
    }
}

#[cfg(feature = "ssr")]
impl From<crate::server::services::ServiceError> for UiError {
    fn from(e: crate::server::services::ServiceError) -> Self {
        use crate::server::services::ServiceError;
        if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(e.status());
        }
        UiError {
            message: e.to_string(),
            unauthenticated: matches!(e, ServiceError::Unauthenticated),
            fields: e
                .fields()
                .iter()
                .map(|f| FieldMessage {
                    field: f.field.clone(),
                    message: f.message.clone(),
                })
                .collect(),
        }
    }
}
