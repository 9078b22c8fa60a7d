//! A provider's SGP connection: validated on the way in, sealed at rest,
//! opened only to make requests.

use std::sync::Arc;

use serde::Deserialize;

use super::params::FieldError;
pub use crate::model::IntegrationView;
use crate::model::TenantId;
use crate::sealing::Sealer;
use crate::secret::{mask_hint, Secret};
use crate::sgp::{SgpAuth, SgpBaseUrl};
use crate::store::{IntegrationRecord, Store, StoreError};

/// What an admin submits. A secret left empty keeps the one saved.
#[derive(Clone, Default, Deserialize)]
pub struct IntegrationInput {
    pub base_url: String,
    /// `token` or `basic`
    pub auth_mode: String,
    pub app: Option<String>,
    pub token: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// Secrets show only whether they were given.
impl std::fmt::Debug for IntegrationInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let given = |s: &Option<String>| s.as_ref().map(|_| "***");
        f.debug_struct("IntegrationInput")
            .field("base_url", &self.base_url)
            .field("auth_mode", &self.auth_mode)
            .field("app", &self.app)
            .field("token", &given(&self.token))
            .field("username", &self.username)
            .field("password", &given(&self.password))
            .finish()
    }
}

impl IntegrationInput {
    /// A token + app connection.
    pub fn token(
        base_url: impl Into<String>,
        app: impl Into<String>,
        token: impl Into<String>,
    ) -> Self {
        IntegrationInput {
            base_url: base_url.into(),
            auth_mode: "token".into(),
            app: Some(app.into()),
            token: Some(token.into()),
            ..IntegrationInput::default()
        }
    }
}

/// The connection, opened, for the client.
#[derive(Clone, Debug)]
pub struct SgpIntegration {
    pub base_url: SgpBaseUrl,
    pub auth: SgpAuth,
}

#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    #[error("no SGP integration configured")]
    Missing,
    /// No sealing key configured: secrets cannot be stored or read.
    #[error("no secret key configured")]
    NoKey,
    /// Stored secrets do not open with the configured key.
    #[error("stored secrets cannot be opened: {0}")]
    Unreadable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IntegrationError {
    pub fn message_pt(&self) -> String {
        match self {
            IntegrationError::Invalid(errors) => errors
                .iter()
                .map(|e| e.message.clone())
                .collect::<Vec<_>>()
                .join(" "),
            IntegrationError::Missing => {
                "Nenhuma integração SGP configurada para este provedor. Configure em Integrações."
                    .into()
            }
            IntegrationError::NoKey => "O servidor não tem chave de criptografia configurada \
                (SECRET_KEY); sem ela as credenciais do SGP não podem ser guardadas nem lidas."
                .into(),
            IntegrationError::Unreadable(_) => "Não foi possível ler as credenciais salvas do \
                SGP (a chave de criptografia do servidor mudou?). Salve as credenciais novamente \
                em Integrações."
                .into(),
            IntegrationError::Store(_) => "Erro ao acessar o banco de dados.".into(),
        }
    }
}

/// What stands for a saved password.
const PASSWORD_MASK: &str = "••••••••";

pub struct Integrations {
    store: Arc<dyn Store>,
    sealer: Option<Sealer>,
}

impl Integrations {
    pub fn new(store: Arc<dyn Store>, sealer: Option<Sealer>) -> Self {
        Integrations { store, sealer }
    }

    fn sealer(&self) -> Result<&Sealer, IntegrationError> {
        self.sealer.as_ref().ok_or(IntegrationError::NoKey)
    }

    pub async fn save(
        &self,
        tenant: TenantId,
        input: &IntegrationInput,
    ) -> Result<IntegrationView, IntegrationError> {
        let fields = text_fields(input);
        crate::text::check_all(fields.map(|(field, label, value, _)| (field, label, value)))
            .map_err(IntegrationError::Invalid)?;
        let mut errors = too_long(&fields);
        let previous = self.store.integration(tenant).await?;
        let base_url = match SgpBaseUrl::parse(&input.base_url) {
            Ok(u) => Some(u),
            Err(e) => {
                errors.push(FieldError::new("base_url", capitalise(&e.to_string())));
                None
            }
        };
        let given = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        // A secret sent back exactly as it is shown masked (`••••1234`, as
        // the page and the GET answer show it) means "keep the saved one",
        // like an empty one: stored, the mask would have replaced it.
        let shown = previous.as_ref().map(view);
        let given_secret = |v: &Option<String>, field: &str| {
            let mask = shown.as_ref().and_then(|v| match field {
                "token" => v.token_hint.as_deref(),
                _ => v.password_hint.as_deref(),
            });
            given(v).filter(|s| mask != Some(s.as_str()))
        };
        // A secret left empty keeps the saved one if the mode is the same
        // and the URL still points at the same place (scheme, host, port):
        // a saved token must never follow a new URL to a host the admin
        // (or whoever holds their session) just typed.
        let previous_origin = previous
            .as_ref()
            .and_then(|p| SgpBaseUrl::parse(&p.base_url).ok());
        // a stored URL that no longer parses counts as moved: nothing says
        // the new one is where the secret belongs
        let moved = match (&previous, &previous_origin, &base_url) {
            (Some(_), Some(old), Some(new)) => !old.same_origin(new),
            (Some(_), None, _) => true,
            _ => false,
        };
        let kept = |field: &str| {
            previous
                .as_ref()
                .filter(|p| p.auth_mode == input.auth_mode && !moved)
                .and_then(|p| match field {
                    "token" => p.token_sealed.clone().zip(p.token_hint.clone()),
                    _ => p.password_sealed.clone().zip(p.password_hint.clone()),
                })
        };
        let had_secret = previous
            .as_ref()
            .is_some_and(|p| p.auth_mode == input.auth_mode);
        let missing = |what: &str| {
            if moved && had_secret {
                format!(
                    "O endereço do SGP mudou: informe {what} de novo. O que estava salvo só é \
                     enviado ao endereço em que foi cadastrado."
                )
            } else {
                format!("Informe {what} do SGP.")
            }
        };
        let sealer = self.sealer()?;
        let mut record = IntegrationRecord {
            base_url: base_url.as_ref().map(|u| u.to_string()).unwrap_or_default(),
            auth_mode: input.auth_mode.clone(),
            app_name: None,
            token_sealed: None,
            token_hint: None,
            username: None,
            password_sealed: None,
            password_hint: None,
            last_tested_at: None,
            last_test_ok: None,
            last_test_message: None,
        };
        match input.auth_mode.as_str() {
            "token" => {
                match given(&input.app) {
                    Some(app) => record.app_name = Some(app),
                    None => errors.push(FieldError::new("app", "Informe o nome do app do SGP.")),
                }
                match (given_secret(&input.token, "token"), kept("token")) {
                    (Some(t), _) => {
                        let secret = Secret::new(t);
                        record.token_hint = Some(secret.hint());
                        record.token_sealed = Some(sealer.seal(tenant, "token", &secret));
                    }
                    (None, Some((sealed, hint))) => {
                        record.token_sealed = Some(sealed);
                        record.token_hint = Some(hint);
                    }
                    (None, None) => errors.push(FieldError::new("token", missing("o token"))),
                }
            }
            "basic" => {
                match given(&input.username) {
                    // HTTP Basic separates the user from the password with
                    // the first `:`: such a user could never log in
                    Some(u) if u.contains(':') => errors.push(FieldError::new(
                        "username",
                        "O usuário não pode conter \":\" (a autenticação do SGP o usa para \
                         separar usuário e senha).",
                    )),
                    Some(u) => record.username = Some(u),
                    None => errors.push(FieldError::new("username", "Informe o usuário do SGP.")),
                }
                match (given_secret(&input.password, "password"), kept("password")) {
                    (Some(p), _) => {
                        let secret = Secret::new(p);
                        record.password_hint = Some(PASSWORD_MASK.to_owned());
                        record.password_sealed = Some(sealer.seal(tenant, "password", &secret));
                    }
                    (None, Some((sealed, hint))) => {
                        record.password_sealed = Some(sealed);
                        record.password_hint = Some(hint);
                    }
                    (None, None) => errors.push(FieldError::new("password", missing("a senha"))),
                }
            }
            _ => errors.push(FieldError::new(
                "auth_mode",
                "Escolha a autenticação: token + app, ou usuário + senha.",
            )),
        }
        if !errors.is_empty() {
            return Err(IntegrationError::Invalid(errors));
        }
        self.store.save_integration(tenant, &record).await?;
        Ok(view(&record))
    }

    /// The connection as the UI may show it, if any.
    pub async fn view(
        &self,
        tenant: TenantId,
    ) -> Result<Option<IntegrationView>, IntegrationError> {
        Ok(self.store.integration(tenant).await?.as_ref().map(view))
    }

    /// The connection with its secrets opened, to make requests.
    pub async fn open(&self, tenant: TenantId) -> Result<SgpIntegration, IntegrationError> {
        let record = self
            .store
            .integration(tenant)
            .await?
            .ok_or(IntegrationError::Missing)?;
        let sealer = self.sealer()?;
        let base_url = SgpBaseUrl::parse(&record.base_url)
            .map_err(|e| IntegrationError::Unreadable(format!("base URL: {e}")))?;
        let unreadable = |e: crate::sealing::OpenError| IntegrationError::Unreadable(e.to_string());
        let auth = match record.auth_mode.as_str() {
            "token" => SgpAuth::Token {
                token: sealer
                    .open(
                        tenant,
                        "token",
                        record.token_sealed.as_deref().unwrap_or_default(),
                    )
                    .map_err(unreadable)?,
                app: record.app_name.clone().unwrap_or_default(),
            },
            _ => SgpAuth::Basic {
                user: record.username.clone().unwrap_or_default(),
                password: sealer
                    .open(
                        tenant,
                        "password",
                        record.password_sealed.as_deref().unwrap_or_default(),
                    )
                    .map_err(unreadable)?,
            },
        };
        Ok(SgpIntegration { base_url, auth })
    }
}

fn view(r: &IntegrationRecord) -> IntegrationView {
    IntegrationView {
        base_url: r.base_url.clone(),
        auth_mode: r.auth_mode.clone(),
        app: r.app_name.clone(),
        // hints were made from the secret when it was saved; re-mask in case
        token_hint: r.token_hint.as_deref().map(remask),
        username: r.username.clone(),
        // a password shows no characters at all: its end, unlike a random
        // token's, narrows down a guess (and people reuse passwords)
        password_hint: r.password_hint.as_ref().map(|_| PASSWORD_MASK.to_owned()),
        last_tested_at: r.last_tested_at,
        last_test_ok: r.last_test_ok,
        last_test_message: r.last_test_message.clone(),
    }
}

/// A stored hint is already masked; this keeps a hand-edited row from
/// showing more than the last four characters.
fn remask(hint: &str) -> String {
    if hint.starts_with(MASK_PREFIX) {
        hint.to_owned()
    } else {
        mask_hint(hint)
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect::<String>() + ".",
        None => String::new(),
    }
}

/// How every masked secret starts ([`mask_hint`]); no real token does.
const MASK_PREFIX: &str = "••••";

/// The longest SGP address, and the longest app, token, user or password,
/// in characters: far past any real one, and each is stored and shown on
/// every visit of the page.
const MAX_BASE_URL_CHARS: usize = 2_048;
const MAX_CREDENTIAL_CHARS: usize = 1_024;

/// The connection's text fields: name, label, value and longest.
type TextField<'a> = (&'static str, &'static str, Option<&'a str>, usize);

fn text_fields(input: &IntegrationInput) -> [TextField<'_>; 6] {
    [
        (
            "base_url",
            "endereço do SGP",
            Some(input.base_url.as_str()),
            MAX_BASE_URL_CHARS,
        ),
        // (an unknown mode is named as such, whatever its length)
        (
            "auth_mode",
            "autenticação",
            Some(input.auth_mode.as_str()),
            usize::MAX,
        ),
        ("app", "app", input.app.as_deref(), MAX_CREDENTIAL_CHARS),
        (
            "token",
            "token",
            input.token.as_deref(),
            MAX_CREDENTIAL_CHARS,
        ),
        (
            "username",
            "usuário",
            input.username.as_deref(),
            MAX_CREDENTIAL_CHARS,
        ),
        (
            "password",
            "senha",
            input.password.as_deref(),
            MAX_CREDENTIAL_CHARS,
        ),
    ]
}

/// The fields past their longest.
fn too_long(fields: &[TextField<'_>]) -> Vec<FieldError> {
    fields
        .iter()
        .filter(|(_, _, value, max)| value.is_some_and(|v| v.trim().chars().count() > *max))
        .map(|(field, label, _, max)| {
            FieldError::new(
                field,
                format!(
                    "O campo {label} pode ter até {} caracteres.",
                    crate::model::thousands(*max as u64)
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_masks_the_secrets() {
        let mut input = IntegrationInput::token("https://sgp.x.com.br", "app", "tok-secreto-9f3c");
        input.password = Some("senha-secreta".into());
        let text = format!("{input:?}");
        assert!(
            !text.contains("tok-secreto") && !text.contains("senha-secreta"),
            "{text}"
        );
        assert!(
            text.contains("sgp.x.com.br") && text.contains("***"),
            "{text}"
        );
    }
}
