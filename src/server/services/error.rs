//! What can go wrong in a request, with the status code, a stable code for
//! scripts, the field at fault and a message in Portuguese. REST handlers
//! and server functions show the same words.

use std::time::Duration;

use axum::http::StatusCode;
use sgp_import_core::auth::{AccountError, LoginError, TokenError};
use sgp_import_core::import::{FieldError, IntegrationError, StartError};
use sgp_import_core::notify::NotifyError;
use sgp_import_core::schedule::ScheduleError;
use sgp_import_core::store::{Entity, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("Faça login para continuar.")]
    Unauthenticated,
    #[error("Esta ação é exclusiva de superadministradores.")]
    Forbidden,
    #[error(
        "Tokens de API só podem ser criados numa sessão do navegador (entrando com e-mail e \
         senha), não com outro token."
    )]
    SessionRequired,
    /// A cookie-authenticated write from another site (CSRF).
    #[error(
        "Requisição recusada: ela não veio deste site. Recarregue a página e tente de novo. \
         (Operadores: atrás de um proxy, configure server.public_url / PUBLIC_URL com o \
         endereço público do sistema.)"
    )]
    CrossOrigin,
    /// A REST body that is not JSON.
    #[error(
        "Envie o corpo da requisição como JSON, com o cabeçalho Content-Type: application/json."
    )]
    UnsupportedMediaType,
    #[error("Escolha um provedor antes de continuar.")]
    NoProvider,
    #[error("{}", not_found(*.0))]
    NotFound(Entity),
    /// Malformed input: JSON that does not parse, a bad UUID, a number
    /// out of range, an unknown status.
    #[error("{}", .0.message)]
    BadRequest(FieldError),
    /// Well-formed input that breaks a rule; every field at fault.
    #[error("{}", join(.0))]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    Conflict(String),
    #[error("{message}")]
    Throttled {
        message: String,
        retry_after: Duration,
    },
    /// The provider's SGP answered with an error or not at all.
    #[error("{0}")]
    Sgp(String),
    /// The server lacks something an operator must set (SECRET_KEY).
    #[error("{0}")]
    Unavailable(String),
    #[error("Erro interno do servidor. Tente novamente em instantes.")]
    Internal,
}

/// What the admin reads when `entity` does not exist (or is another
/// provider's).
fn not_found(entity: Entity) -> &'static str {
    match entity {
        Entity::Job => "Importação não encontrada.",
        Entity::Tenant => "Provedor não encontrado.",
        Entity::User => "Usuário não encontrado.",
        Entity::Session => "Sessão não encontrada.",
        Entity::ApiToken => "Token de API não encontrado.",
        Entity::Integration => "Integração não encontrada.",
        Entity::NotificationTarget => "Destino de notificação não encontrado.",
        Entity::Customer => "Cliente não encontrado.",
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

impl ServiceError {
    pub fn bad_request(field: &str, message: impl Into<String>) -> Self {
        ServiceError::BadRequest(FieldError::new(field, message))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ServiceError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ServiceError::Forbidden | ServiceError::SessionRequired | ServiceError::CrossOrigin => {
                StatusCode::FORBIDDEN
            }
            ServiceError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ServiceError::NoProvider | ServiceError::Conflict(_) => StatusCode::CONFLICT,
            ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
            ServiceError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServiceError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ServiceError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            ServiceError::Sgp(_) => StatusCode::BAD_GATEWAY,
            ServiceError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ServiceError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable code for scripts.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::Unauthenticated => "unauthenticated",
            ServiceError::Forbidden => "forbidden",
            ServiceError::SessionRequired => "session_required",
            ServiceError::CrossOrigin => "cross_origin",
            ServiceError::UnsupportedMediaType => "unsupported_media_type",
            ServiceError::NoProvider => "provider_required",
            ServiceError::NotFound(_) => "not_found",
            ServiceError::BadRequest(_) => "bad_request",
            ServiceError::Invalid(_) => "validation_failed",
            ServiceError::Conflict(_) => "conflict",
            ServiceError::Throttled { .. } => "too_many_attempts",
            ServiceError::Sgp(_) => "sgp_error",
            ServiceError::Unavailable(_) => "unavailable",
            ServiceError::Internal => "internal_error",
        }
    }

    /// The first field at fault, if the error is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ServiceError::BadRequest(e) => Some(&e.field),
            ServiceError::Invalid(errors) => errors.first().map(|e| e.field.as_str()),
            _ => None,
        }
    }

    pub fn fields(&self) -> &[FieldError] {
        match self {
            ServiceError::BadRequest(e) => std::slice::from_ref(e),
            ServiceError::Invalid(errors) => errors,
            _ => &[],
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(entity) => ServiceError::NotFound(entity),
            StoreError::LimitReached(max) => ServiceError::Conflict(format!(
                "Este provedor já tem {max} importações na fila ou em andamento, o máximo permitido."
            )),
            StoreError::NotAllowed(reason) => ServiceError::Conflict(reason.to_owned()),
            StoreError::IllegalTransition(t) => ServiceError::Conflict(format!(
                "Não é possível fazer isso com uma importação {}.",
                t.from.label_pt().to_lowercase()
            )),
            other => {
                tracing::error!(error = %other, "storage failed");
                ServiceError::Internal
            }
        }
    }
}

impl From<IntegrationError> for ServiceError {
    fn from(e: IntegrationError) -> Self {
        match e {
            IntegrationError::Invalid(errors) => ServiceError::Invalid(errors),
            IntegrationError::Store(e) => e.into(),
            IntegrationError::NoKey => ServiceError::Unavailable(e.message_pt()),
            IntegrationError::Missing | IntegrationError::Unreadable(_) => {
                ServiceError::Conflict(e.message_pt())
            }
        }
    }
}

impl From<NotifyError> for ServiceError {
    fn from(e: NotifyError) -> Self {
        match e {
            NotifyError::Invalid(errors) => ServiceError::Invalid(errors),
            NotifyError::UnknownTarget => ServiceError::NotFound(Entity::NotificationTarget),
            NotifyError::TooManyPending(n) => ServiceError::Conflict(format!(
                "Há {n} entregas de notificações esperando para sair; aguarde que terminem antes \
                 de enviar outro teste."
            )),
            NotifyError::TooManyTests { retry_after } => ServiceError::Throttled {
                message: format!(
                    "Limite de {} testes de notificação por hora neste provedor: tente de novo \
                     em {}.",
                    sgp_import_core::notify::service::MAX_TESTS_AN_HOUR,
                    match retry_after.as_secs().div_ceil(60) {
                        1 => "1 minuto".to_owned(),
                        n => format!("{n} minutos"),
                    }
                ),
                retry_after,
            },
            NotifyError::NoKey => ServiceError::Unavailable(
                "O servidor não tem chave para guardar o segredo dos webhooks (SECRET_KEY).".into(),
            ),
            NotifyError::Store(e) => e.into(),
        }
    }
}

impl From<ScheduleError> for ServiceError {
    fn from(e: ScheduleError) -> Self {
        match e {
            ScheduleError::Invalid(errors) => ServiceError::Invalid(errors),
            ScheduleError::Store(e) => e.into(),
        }
    }
}

impl From<StartError> for ServiceError {
    fn from(e: StartError) -> Self {
        match e {
            StartError::Invalid(errors) => ServiceError::Invalid(errors),
            StartError::Integration(e) => e.into(),
            StartError::Sgp(e) => ServiceError::Sgp(e.message_pt()),
            StartError::Store(e) => e.into(),
            StartError::Busy | StartError::TooManyActive(_) => {
                ServiceError::Conflict(e.message_pt())
            }
        }
    }
}

impl From<LoginError> for ServiceError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::Invalid => ServiceError::Invalid(vec![FieldError::new(
                "email",
                capitalise(&e.to_string()) + ".",
            )]),
            LoginError::Throttled { retry_after } | LoginError::Busy { retry_after } => {
                ServiceError::Throttled {
                    message: capitalise(&e.to_string()) + ".",
                    retry_after,
                }
            }
            LoginError::Store(e) => e.into(),
        }
    }
}

impl From<TokenError> for ServiceError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::SessionRequired => ServiceError::SessionRequired,
            e @ (TokenError::TooManyLive | TokenError::TooManyToday) => {
                ServiceError::Conflict(e.to_string())
            }
            TokenError::Store(e) => e.into(),
        }
    }
}

impl From<AccountError> for ServiceError {
    fn from(e: AccountError) -> Self {
        let field = match &e {
            AccountError::Email(_) | AccountError::EmailTaken => "email",
            AccountError::Password(_) => "password",
            AccountError::EmptyName => "name",
            AccountError::ControlCharacters("senha") => "password",
            AccountError::ControlCharacters(_) => "name",
            AccountError::TenantMismatch => "provider",
            AccountError::Store(_) => "",
        };
        match e {
            AccountError::Store(e) => e.into(),
            other => ServiceError::Invalid(vec![FieldError::new(
                field,
                capitalise(&other.to_string()) + ".",
            )]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_names_what_is_missing() {
        let from_store = |e| ServiceError::from(StoreError::NotFound(e)).to_string();
        assert_eq!(from_store(Entity::Job), "Importação não encontrada.");
        assert_eq!(from_store(Entity::Tenant), "Provedor não encontrado.");
        assert_eq!(from_store(Entity::ApiToken), "Token de API não encontrado.");
        assert_eq!(
            ServiceError::from(StoreError::NotFound(Entity::Job)).status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn a_test_past_the_hourly_rate_is_a_429_saying_when() {
        let e = ServiceError::from(NotifyError::TooManyTests {
            retry_after: Duration::from_secs(44 * 60 + 1),
        });
        assert_eq!(e.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            e.to_string(),
            "Limite de 30 testes de notificação por hora neste provedor: tente de novo em 45 \
             minutos."
        );
        let soon = ServiceError::from(NotifyError::TooManyTests {
            retry_after: Duration::from_secs(20),
        });
        assert!(
            soon.to_string().ends_with("tente de novo em 1 minuto."),
            "{soon}"
        );
    }
}
