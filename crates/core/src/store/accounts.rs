//! Accounts storage: users, sessions, API tokens and failed logins. Tokens
//! are stored only as hashes; the clear token lives in the cookie or the
//! script that holds it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreError;
use crate::model::{ApiTokenInfo, Email, Role, TenantId, User, UserId};

pub struct NewUser<'a> {
    pub email: &'a Email,
    pub name: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    /// Required for an admin, absent for a superadmin.
    pub tenant: Option<TenantId>,
}

pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub user: UserId,
    pub tenant: Option<TenantId>,
    pub expires_at: DateTime<Utc>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// A live session, found by its token's hash.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    pub user: User,
    /// The provider the session acts on.
    pub tenant: Option<TenantId>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// Who a live API token belongs to.
#[derive(Clone, Debug)]
pub struct TokenRecord {
    pub id: Uuid,
    pub user: User,
    pub tenant: Option<TenantId>,
    pub last_used_at: Option<DateTime<Utc>>,
}

pub struct NewApiToken<'a> {
    pub user: UserId,
    pub tenant: Option<TenantId>,
    pub name: &'a str,
    pub token_hash: &'a str,
    /// `None`: until revoked.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Failed logins allowed within the window before attempts are refused.
#[derive(Clone, Copy, Debug)]
pub struct LoginLimits {
    pub per_account: u32,
    pub per_address: u32,
}

#[async_trait]
pub trait Accounts: Send + Sync {
    /// A new account; an e-mail already in use is [`StoreError::Conflict`].
    async fn create_user(&self, user: NewUser<'_>) -> Result<User, StoreError>;

    /// The account with this e-mail and its password hash.
    async fn user_credentials(&self, email: &Email) -> Result<Option<(User, String)>, StoreError>;

    async fn set_password(&self, user: UserId, password_hash: &str) -> Result<(), StoreError>;

    async fn create_session(&self, session: NewSession<'_>) -> Result<(), StoreError>;

    /// The session with this token hash if it has not expired (absolute
    /// expiry) and was used after `idle_since`. Only reads (on SQLite, on a
    /// reader connection).
    async fn find_session(
        &self,
        token_hash: &str,
        idle_since: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// Marks the session used at `at`.
    async fn mark_session_used(
        &self,
        token_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Points a session at another provider (a superadmin's choice).
    async fn set_session_tenant(
        &self,
        token_hash: &str,
        tenant: TenantId,
    ) -> Result<(), StoreError>;

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError>;

    /// Sessions past their absolute expiry or idle since `idle_since`.
    async fn delete_stale_sessions(&self, idle_since: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Reserves one login attempt for this e-mail from this address, as a
    /// failure recorded before the password is checked: `None` (nothing
    /// recorded) when either already has `limits` failures since `since`.
    /// Counting and recording are one step, on every instance sharing the
    /// database, so parallel guesses cannot all slip under the limit.
    async fn reserve_login_attempt(
        &self,
        email: &str,
        ip: &str,
        since: DateTime<Utc>,
        limits: LoginLimits,
    ) -> Result<Option<i64>, StoreError>;

    /// Forgets an account's failures after a successful login, and every
    /// failure older than `before`.
    async fn clear_login_failures(
        &self,
        email: &str,
        before: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    async fn create_api_token(&self, token: NewApiToken<'_>) -> Result<ApiTokenInfo, StoreError>;

    /// The owner of a live token (not revoked, not expired). Only reads (on
    /// SQLite, on a reader connection): a script's every request comes
    /// here, and an unknown token must cost no write at all.
    async fn find_api_token(&self, token_hash: &str) -> Result<Option<TokenRecord>, StoreError>;

    /// Marks the token used at `at`.
    async fn mark_api_token_used(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), StoreError>;

    async fn list_api_tokens(&self, user: UserId) -> Result<Vec<ApiTokenInfo>, StoreError>;

    /// Revokes one of this user's tokens; `NotFound` when it has none by
    /// that id.
    async fn revoke_api_token(&self, user: UserId, id: Uuid) -> Result<(), StoreError>;
}
