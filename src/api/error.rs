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
            // The page and the server disagree on a message's shape: most
            // often a tab opened before an update (postcard has no slack for
            // changed types), or a proxy's error page instead of an answer.
            ServerFnErrorErr::Deserialization(_)
            | ServerFnErrorErr::Args(_)
            | ServerFnErrorErr::MissingArg(_) => {
                // on the server these are arguments that did not decode:
                // the caller's fault, a 400 rather than the framework's 500
                #[cfg(feature = "ssr")]
                if let Some(response) =
                    leptos::prelude::use_context::<leptos_axum::ResponseOptions>()
                {
                    response.set_status(axum::http::StatusCode::BAD_REQUEST);
                }
                UiError::new(
                    "A página está desatualizada ou o servidor respondeu algo inesperado. \
                     Recarregue a página e tente novamente.",
                )
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framework_errors_read_as_what_to_do() {
        let from = |e| UiError::from_server_fn_error(e).message;
        assert_eq!(
            from(ServerFnErrorErr::ServerError("Token inválido.".into())),
            "Token inválido."
        );
        assert!(
            from(ServerFnErrorErr::Deserialization("end of buffer".into()))
                .contains("Recarregue a página")
        );
        assert!(
            from(ServerFnErrorErr::Args("missing field".into())).contains("Recarregue a página")
        );
        assert!(from(ServerFnErrorErr::Request("offline".into())).contains("Verifique sua conexão"));
    }

    #[test]
    fn errors_travel_as_postcard() {
        let mut e = UiError::new("Corrija os campos.");
        e.fields.push(FieldMessage {
            field: "base_url".into(),
            message: "Use http ou https.".into(),
        });
        assert_eq!(UiError::de(e.ser()), e);
        // an answer that is not one reads as a stale page, not a panic
        assert!(
            UiError::de(server_fn::Bytes::from_static(b"<html>502</html>"))
                .message
                .contains("Recarregue a página")
        );
    }
}
