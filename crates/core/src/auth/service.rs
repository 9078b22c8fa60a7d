//! Login, sessions, API tokens and accounts, over any [`Store`].

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::password::{hash_password, verify_password, PasswordError, MAX_PASSWORD_LEN};
use super::token::{hash_token, new_token};
use crate::clock::Clock;
use crate::config::AuthSettings;
use crate::model::{ApiTokenInfo, Email, Role, TenantId, User, UserId};
use crate::secret::Secret;
use crate::store::{
    Entity, LoginLimits, NewApiToken, NewSession, NewUser, Store, StoreError, TokenCap, TokenCaps,
};

/// How long a login waits for a password check slot before a 429.
const HASHING_QUEUE_WAIT: Duration = Duration::from_secs(2);
const HASHING_RETRY_AFTER: Duration = Duration::from_secs(2);

/// Prefix of API tokens.
const API_TOKEN_PREFIX: &str = "sgpi_";

/// A session's (or API token's) last use is written at most this often. A dashboard polls
/// every 5 seconds, and on SQLite every write waits for the one writer
/// that imports use; idle expiry (hours) loses at most this much precision.
const SESSION_TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

/// Who is calling, and for which provider.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user: User,
    /// The provider acted on: an admin's own; a superadmin's pick, if any.
    pub tenant: Option<TenantId>,
    pub credential: Credential,
}

impl Principal {
    pub fn is_superadmin(&self) -> bool {
        self.user.role == Role::Superadmin
    }
}

#[derive(Clone, Debug)]
pub enum Credential {
    /// A browser session; the hash finds it again (logout, provider pick).
    Session {
        token_hash: String,
    },
    ApiToken {
        id: Uuid,
    },
}

pub struct LoginSuccess {
    /// The session token, for the cookie; shown nowhere else.
    pub token: Secret,
    pub principal: Principal,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown e-mail or wrong password: the same answer for both.
    /// Unknown e-mail, wrong password, or a disabled account.
    #[error("e-mail ou senha incorretos")]
    Invalid,
    #[error("muitas tentativas de login; tente novamente em {} minutos", retry_after.as_secs().div_ceil(60))]
    Throttled { retry_after: Duration },
    /// Every password check slot is taken.
    #[error(
        "o servidor está ocupado verificando outros logins; tente novamente em alguns segundos"
    )]
    Busy { retry_after: Duration },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Email(#[from] crate::model::InvalidEmail),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("o nome não pode ficar vazio")]
    EmptyName,
    #[error("o campo {0} contém caracteres de controle, que não são aceitos")]
    ControlCharacters(&'static str),
    #[error("já existe uma conta com este e-mail")]
    EmailTaken,
    #[error("um administrador de provedor precisa de um provedor; um superadmin não tem")]
    TenantMismatch,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(_) => AccountError::EmailTaken,
            other => AccountError::Store(other),
        }
    }
}

/// Live API tokens one account may hold.
pub const MAX_LIVE_API_TOKENS: u32 = 20;
/// API tokens one account may create in 24 hours (revoked ones included:
/// creating and revoking in a loop would otherwise grow the table without
/// bound through the one writer).
pub const MAX_API_TOKENS_A_DAY: u32 = 50;
/// How long a revoked or expired token stays listed before the sweep
/// removes it.
pub const DEAD_API_TOKENS_KEPT: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("API tokens are created from a browser session, not with another token")]
    SessionRequired,
    #[error(
        "Limite de {MAX_LIVE_API_TOKENS} tokens ativos por conta: revogue um que não usa mais \
         antes de criar outro."
    )]
    TooManyLive,
    #[error(
        "Limite de {MAX_API_TOKENS_A_DAY} tokens criados por conta em 24 horas (revogados \
         incluídos): tente de novo amanhã."
    )]
    TooManyToday,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct NewAccount<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password: &'a str,
    pub role: Role,
    pub tenant: Option<TenantId>,
}

pub struct AuthService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: AuthSettings,
    /// Verified against when the e-mail is unknown, so both failures take
    /// the same time; made on the first such login, not at start-up.
    dummy_hash: std::sync::OnceLock<String>,
    /// Password checks under way (`max_concurrent_logins` at most).
    hashing: Arc<tokio::sync::Semaphore>,
    /// How long a login waits for one of them before a 429.
    hashing_wait: Duration,
}

impl AuthService {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, settings: AuthSettings) -> Self {
        AuthService {
            hashing: Arc::new(tokio::sync::Semaphore::new(
                settings.max_concurrent_logins.max(1) as usize,
            )),
            hashing_wait: HASHING_QUEUE_WAIT,
            store,
            clock,
            settings,
            dummy_hash: std::sync::OnceLock::new(),
        }
    }

    /// How long a login waits for a free password check (default 2 s).
    pub fn with_hashing_wait(mut self, wait: Duration) -> Self {
        self.hashing_wait = wait;
        self
    }

    /// How many password checks may run at once, in place of the
    /// settings' `max_concurrent_logins` (0: none, which tests use to see
    /// what a login answers without one).
    pub fn with_hashing_slots(mut self, slots: usize) -> Self {
        self.hashing = Arc::new(tokio::sync::Semaphore::new(slots));
        self
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    pub async fn login(
        &self,
        email: &str,
        password: &str,
        ip: &str,
        user_agent: Option<&str>,
    ) -> Result<LoginSuccess, LoginError> {
        let key = email.trim().to_lowercase();
        // No account has an e-mail that does not parse (at most 254
        // characters) or a password longer than any account may set:
        // refused before anything is stored (the throttle's rows would
        // otherwise hold whatever a client sends, megabytes a row) or
        // hashed.
        let Ok(address) = Email::parse(&key) else {
            return Err(LoginError::Invalid);
        };
        if key.chars().any(char::is_control) || password.chars().count() > MAX_PASSWORD_LEN {
            return Err(LoginError::Invalid);
        }
        let now = self.clock.now();
        let since = now - self.settings.failure_window;
        let limits = LoginLimits {
            per_account: self.settings.max_failures_per_account,
            per_address: self.settings.max_failures_per_address,
        };
        // A client over its limits is answered from a read, before it
        // takes a password check or a write every other login waits for.
        if self.store.login_throttled(&key, ip, since, limits).await? {
            tracing::warn!(ip, "login throttled");
            return Err(LoginError::Throttled {
                retry_after: self.settings.failure_window,
            });
        }
        // Argon2 takes 19 MiB and tens of milliseconds per check, and
        // anyone may ask for one: a few at a time, a short wait, then 429.
        // The permit goes with the hash into the blocking pool: a client that
        // hangs up drops this future, not the hash already running.
        let Ok(Ok(turn)) =
            tokio::time::timeout(self.hashing_wait, self.hashing.clone().acquire_owned()).await
        else {
            tracing::warn!(ip, "login refused: password checks are all busy");
            return Err(LoginError::Busy {
                retry_after: HASHING_RETRY_AFTER,
            });
        };
        // The attempt is recorded as a failure before the password is
        // checked, and only when under the limits, so parallel guesses are
        // counted as they come instead of all passing the check first.
        if self
            .store
            .reserve_login_attempt(&key, ip, since, limits)
            .await?
            .is_none()
        {
            tracing::warn!(ip, "login throttled");
            return Err(LoginError::Throttled {
                retry_after: self.settings.failure_window,
            });
        }
        let found = self.store.user_credentials(&address).await?;
        let hash = match &found {
            Some((_, h)) => h.clone(),
            None => self
                .dummy_hash
                .get_or_init(|| hash_password("not-a-real-password").expect("a valid password"))
                .clone(),
        };
        let password = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            verify_password(&password, &hash)
        })
        .await
        .unwrap_or(false);
        let user = match found {
            Some((user, _)) if matches && !user.disabled => user,
            Some((user, _)) if matches => {
                // the same answer as a wrong password: whether an account
                // exists and is disabled is nobody's business but an
                // operator's
                tracing::info!(ip, user_id = %user.id, "login to a disabled account refused");
                return Err(LoginError::Invalid);
            }
            _ => {
                tracing::info!(ip, "login failed");
                return Err(LoginError::Invalid);
            }
        };
        // the reservation goes with the account's other failures
        self.store.clear_login_failures(&key, since).await?;
        let token = new_token("");
        let token_hash = hash_token(token.expose());
        let expires_at = now + self.settings.session_max;
        self.store
            .create_session(NewSession {
                token_hash: &token_hash,
                user: user.id,
                tenant: user.tenant_id,
                expires_at,
                ip: Some(ip),
                user_agent,
            })
            .await?;
        tracing::info!(user_id = %user.id, "logged in");
        let principal = Principal {
            tenant: user.tenant_id,
            credential: Credential::Session { token_hash },
            user,
        };
        Ok(LoginSuccess {
            token,
            principal,
            expires_at,
        })
    }

    /// The live session with this cookie token.
    pub async fn session(&self, token: &str) -> Result<Option<Principal>, StoreError> {
        let token_hash = hash_token(token);
        let now = self.clock.now();
        let idle_since = now - self.settings.session_idle;
        let Some(record) = self.store.find_session(&token_hash, idle_since).await? else {
            return Ok(None);
        };
        if record.last_seen_at <= now - SESSION_TOUCH_EVERY {
            self.store.mark_session_used(&token_hash, now).await?;
        }
        if record.user.disabled {
            return Ok(None);
        }
        Ok(Some(Principal {
            // an admin is always on their own provider, whatever is stored
            tenant: match record.user.role {
                Role::Admin => record.user.tenant_id,
                Role::Superadmin => record.tenant,
            },
            user: record.user,
            credential: Credential::Session { token_hash },
        }))
    }

    /// The owner of a live API token. Read only, except that its last use
    /// is written at most once a minute.
    pub async fn bearer(&self, token: &str) -> Result<Option<Principal>, StoreError> {
        if !token.starts_with(API_TOKEN_PREFIX) {
            return Ok(None);
        }
        let Some(record) = self.store.find_api_token(&hash_token(token)).await? else {
            return Ok(None);
        };
        if record.user.disabled {
            return Ok(None);
        }
        let now = self.clock.now();
        if record
            .last_used_at
            .is_none_or(|used| used <= now - SESSION_TOUCH_EVERY)
        {
            self.store.mark_api_token_used(record.id, now).await?;
        }
        Ok(Some(Principal {
            tenant: match record.user.role {
                Role::Admin => record.user.tenant_id,
                Role::Superadmin => record.tenant,
            },
            user: record.user,
            credential: Credential::ApiToken { id: record.id },
        }))
    }

    pub async fn logout(&self, principal: &Principal) -> Result<(), StoreError> {
        if let Credential::Session { token_hash } = &principal.credential {
            self.store.delete_session(token_hash).await?;
        }
        Ok(())
    }

    /// A superadmin's session now acts on `tenant`.
    pub async fn choose_tenant(
        &self,
        principal: &Principal,
        tenant: TenantId,
    ) -> Result<(), StoreError> {
        match &principal.credential {
            Credential::Session { token_hash } => {
                self.store.set_session_tenant(token_hash, tenant).await
            }
            Credential::ApiToken { .. } => Err(StoreError::NotFound(Entity::Session)),
        }
    }

    pub async fn create_user(&self, account: NewAccount<'_>) -> Result<User, AccountError> {
        let email = Email::parse(account.email)?;
        let name = account.name.trim();
        if name.is_empty() {
            return Err(AccountError::EmptyName);
        }
        if name.chars().any(char::is_control) {
            return Err(AccountError::ControlCharacters("nome"));
        }
        if account.password.chars().any(char::is_control) {
            return Err(AccountError::ControlCharacters("senha"));
        }
        if (account.role == Role::Admin) != account.tenant.is_some() {
            return Err(AccountError::TenantMismatch);
        }
        let hash = self.hash(account.password).await?;
        Ok(self
            .store
            .create_user(NewUser {
                email: &email,
                name,
                password_hash: &hash,
                role: account.role,
                tenant: account.tenant,
            })
            .await?)
    }

    /// Sets a new password; the account's sessions end.
    pub async fn set_password(&self, user: UserId, password: &str) -> Result<(), AccountError> {
        let hash = self.hash(password).await?;
        Ok(self.store.set_password(user, &hash).await?)
    }

    async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| PasswordError::Hash(e.to_string()))?
    }

    /// A new API token for the caller, bound to the provider it acts on,
    /// valid until revoked or for `valid_for`; the clear token is returned
    /// once. Only a browser session may make one: a token that could mint
    /// tokens would outlive its own revocation.
    pub async fn create_api_token(
        &self,
        principal: &Principal,
        name: &str,
        valid_for: Option<chrono::Duration>,
    ) -> Result<(Secret, ApiTokenInfo), TokenError> {
        if matches!(principal.credential, Credential::ApiToken { .. }) {
            return Err(TokenError::SessionRequired);
        }
        let now = self.clock.now();
        let token = new_token(API_TOKEN_PREFIX);
        let made = self
            .store
            .create_api_token(NewApiToken {
                user: principal.user.id,
                tenant: principal.tenant,
                name: name.trim(),
                token_hash: &hash_token(token.expose()),
                expires_at: valid_for.map(|d| now + d),
                caps: TokenCaps {
                    live: MAX_LIVE_API_TOKENS,
                    a_day: MAX_API_TOKENS_A_DAY,
                },
            })
            .await?;
        let info = made.map_err(|cap| match cap {
            TokenCap::Live => TokenError::TooManyLive,
            TokenCap::Day => TokenError::TooManyToday,
        })?;
        Ok((token, info))
    }

    pub async fn api_tokens(&self, principal: &Principal) -> Result<Vec<ApiTokenInfo>, StoreError> {
        let now = self.clock.now();
        let mut tokens = self.store.list_api_tokens(principal.user.id).await?;
        for t in &mut tokens {
            t.expired = t.expires_at.is_some_and(|at| at <= now);
        }
        Ok(tokens)
    }

    pub async fn revoke_api_token(
        &self,
        principal: &Principal,
        id: Uuid,
    ) -> Result<(), StoreError> {
        self.store.revoke_api_token(principal.user.id, id).await
    }

    /// Removes expired sessions, old login failures and API tokens
    /// revoked or expired for [`DEAD_API_TOKENS_KEPT`].
    pub async fn sweep(&self) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let removed = self
            .store
            .delete_stale_sessions(now - self.settings.session_idle)
            .await?;
        let kept = chrono::Duration::from_std(DEAD_API_TOKENS_KEPT).unwrap_or_default();
        self.store.delete_dead_api_tokens(now - kept).await?;
        self.store
            .clear_login_failures("", now - self.settings.failure_window)
            .await?;
        Ok(removed)
    }
}
