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
    /// What the account may hold; counted with the insert, as one step.
    pub caps: TokenCaps,
}

/// How many API tokens one account may hold and make.
#[derive(Clone, Copy, Debug)]
pub struct TokenCaps {
    /// Live tokens (not revoked, not expired).
    pub live: u32,
    /// Tokens made in the last 24 hours, revoked ones included.
    pub a_day: u32,
}

/// Which of [`TokenCaps`] a new token would pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenCap {
    Live,
    Day,
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

    /// Whether the account or the address already has `limits` failures
    /// since `since`. Only reads (on SQLite, on a reader connection): a
    /// throttled client is answered before it waits for a password check
    /// or the writer, so a flood of them holds neither. The reservation
    /// still counts again, atomically, before a check.
    async fn login_throttled(
        &self,
        email: &str,
        ip: &str,
        since: DateTime<Utc>,
        limits: LoginLimits,
    ) -> Result<bool, StoreError>;

    /// Forgets an account's failures after a successful login, and every
    /// failure older than `before`.
    async fn clear_login_failures(
        &self,
        email: &str,
        before: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Makes the token unless the account is at one of its caps. Counting
    /// and inserting are one step on every instance sharing the database:
    /// parallel requests cannot all count below a cap.
    async fn create_api_token(
        &self,
        token: NewApiToken<'_>,
    ) -> Result<Result<ApiTokenInfo, TokenCap>, StoreError>;

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

    /// Deletes every token revoked or expired before `before`.
    async fn delete_dead_api_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// The login reservation's statement, bound: records a failure in advance
/// unless the account or the address is over its limit since `since`
/// (`RETURNING id`, or no row). Each backend runs it so that two logins
/// cannot both pass the count.
pub(crate) fn reservation<'q, DB>(
    email: &'q str,
    ip: &'q str,
    now: super::bind::At,
    since: super::bind::At,
    limits: LoginLimits,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    super::bind::At: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(
        "INSERT INTO login_failures (email, ip, failed_at) SELECT $1, $2, $3 \
         WHERE (SELECT count(*) FROM login_failures WHERE email = $1 AND failed_at >= $4) < $5 \
           AND (SELECT count(*) FROM login_failures WHERE ip = $2 AND failed_at >= $4) < $6 \
         RETURNING id",
    )
    .bind(email)
    .bind(ip)
    .bind(now)
    .bind(since)
    .bind(i64::from(limits.per_account))
    .bind(i64::from(limits.per_address))
}

/// The [`Accounts`] methods whose SQL is the same on both databases, for
/// `$store`, plus the backend's own methods given in braces (the login
/// reservation, which each database makes atomic its own way). Times are
/// bound as [`At`](super::bind::At); reads go to `self.reads()` (SQLite's
/// reader pool), writes to `self.writes()`.
macro_rules! accounts_for {
    ($store:ty, { $($own:tt)* }) => {
        const _: () = {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use uuid::Uuid;
            use $crate::model::{ApiTokenInfo, Email, TenantId, User, UserId};
            use $crate::store::accounts::{
                reservation, Accounts, LoginLimits, NewApiToken, NewSession, NewUser, SessionRecord,
                TokenCap, TokenRecord,
            };
            use $crate::store::error::conflict_on_unique;
            use $crate::store::rows::{
                self, RowExt, API_TOKEN_COLUMNS, SESSION_COLUMNS, TOKEN_RECORD_COLUMNS,
                USER_COLUMNS,
            };
            use $crate::store::bind::At;
            use $crate::store::{Entity, StoreError};

            impl $store {
            async fn user_by_id(&self, id: Uuid) -> Result<User, StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"
                ))
                .bind(id)
                .fetch_optional(self.writes())
                .await?
                .ok_or(StoreError::NotFound(Entity::User))?;
                rows::user(&row)
            }
            }

            #[async_trait]
            impl Accounts for $store {
            async fn create_user(&self, user: NewUser<'_>) -> Result<User, StoreError> {
                let now = At(self.clock.now());
                let id = Uuid::new_v4();
                sqlx::query(
                    "INSERT INTO users (id, tenant_id, email, name, password_hash, role, created_at, \
                        updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                )
                .bind(id)
                .bind(user.tenant.map(|t| t.0))
                .bind(user.email.as_str())
                .bind(user.name)
                .bind(user.password_hash)
                .bind(user.role.as_str())
                .bind(now)
                .execute(self.writes())
                .await
                .map_err(|e| conflict_on_unique(e, "user"))?;
                self.user_by_id(id).await
            }

            async fn user_credentials(&self, email: &Email) -> Result<Option<(User, String)>, StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.email = $1"
                ))
                .bind(email.as_str())
                .fetch_optional(self.reads())
                .await?;
                row.map(|r| Ok((rows::user(&r)?, r.text("password_hash")?)))
                    .transpose()
            }

            async fn set_password(&self, user: UserId, password_hash: &str) -> Result<(), StoreError> {
                let done =
                    sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
                        .bind(user.0)
                        .bind(password_hash)
                        .bind(At(self.clock.now()))
                        .execute(self.writes())
                        .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(Entity::User));
                }
                // a new password ends every session opened with the old one
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(user.0)
                    .execute(self.writes())
                    .await?;
                Ok(())
            }

            async fn create_session(&self, s: NewSession<'_>) -> Result<(), StoreError> {
                let now = At(self.clock.now());
                sqlx::query(
                    "INSERT INTO sessions (token_hash, user_id, tenant_id, created_at, last_seen_at, \
                        expires_at, ip, user_agent) VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
                )
                .bind(s.token_hash)
                .bind(s.user.0)
                .bind(s.tenant.map(|t| t.0))
                .bind(now)
                .bind(At(s.expires_at))
                .bind(s.ip)
                .bind(s.user_agent)
                .execute(self.writes())
                .await?;
                Ok(())
            }

            async fn find_session(
                &self,
                token_hash: &str,
                idle_since: DateTime<Utc>,
            ) -> Result<Option<SessionRecord>, StoreError> {
                // one query: every request of a page goes through here
                let row = sqlx::query(&format!(
                    "SELECT {SESSION_COLUMNS}, {USER_COLUMNS} FROM sessions s \
                     JOIN users u ON u.id = s.user_id \
                     WHERE s.token_hash = $1 AND s.expires_at > $2 AND s.last_seen_at >= $3"
                ))
                .bind(token_hash)
                .bind(At(self.clock.now()))
                .bind(At(idle_since))
                .fetch_optional(self.reads())
                .await?;
                row.as_ref().map(rows::session).transpose()
            }

            async fn mark_session_used(
                &self,
                token_hash: &str,
                at: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1 AND last_seen_at < $2",
                )
                .bind(token_hash)
                .bind(At(at))
                .execute(self.writes())
                .await?;
                Ok(())
            }

            async fn set_session_tenant(
                &self,
                token_hash: &str,
                tenant: TenantId,
            ) -> Result<(), StoreError> {
                let done = sqlx::query("UPDATE sessions SET tenant_id = $2 WHERE token_hash = $1")
                    .bind(token_hash)
                    .bind(tenant.0)
                    .execute(self.writes())
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(Entity::Session));
                }
                Ok(())
            }

            async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(self.writes())
                    .await?;
                Ok(())
            }

            async fn delete_stale_sessions(&self, idle_since: DateTime<Utc>) -> Result<u64, StoreError> {
                let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at < $2")
                    .bind(At(self.clock.now()))
                    .bind(At(idle_since))
                    .execute(self.writes())
                    .await?;
                Ok(done.rows_affected())
            }

            async fn login_throttled(
                &self,
                email: &str,
                ip: &str,
                since: DateTime<Utc>,
                limits: LoginLimits,
            ) -> Result<bool, StoreError> {
                let over: bool = sqlx::query_scalar(
                    "SELECT (SELECT count(*) FROM login_failures \
                                WHERE email = $1 AND failed_at >= $3) >= $4 \
                         OR (SELECT count(*) FROM login_failures \
                                WHERE ip = $2 AND failed_at >= $3) >= $5",
                )
                .bind(email)
                .bind(ip)
                .bind(At(since))
                .bind(i64::from(limits.per_account))
                .bind(i64::from(limits.per_address))
                .fetch_one(self.reads())
                .await?;
                Ok(over)
            }

            async fn clear_login_failures(
                &self,
                email: &str,
                before: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM login_failures WHERE email = $1 OR failed_at < $2")
                    .bind(email)
                    .bind(At(before))
                    .execute(self.writes())
                    .await?;
                Ok(())
            }

            async fn create_api_token(
                &self,
                t: NewApiToken<'_>,
            ) -> Result<Result<ApiTokenInfo, TokenCap>, StoreError> {
                let now = self.clock.now();
                let day_ago = now - chrono::Duration::hours(24);
                let mut tx = self.writes().begin().await?;
                Self::lock_api_tokens_of(&mut tx, t.user).await?;
                // one statement: on SQLite it holds the write lock from its
                // start, so its counts and its insert are one step there too
                let row = sqlx::query(&format!(
                    "INSERT INTO api_tokens (id, tenant_id, user_id, name, token_hash, created_at, \
                        expires_at) SELECT $1, $2, $3, $4, $5, $6, $7 \
                     WHERE (SELECT count(*) FROM api_tokens WHERE user_id = $3 \
                            AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $6)) < $8 \
                       AND (SELECT count(*) FROM api_tokens WHERE user_id = $3 \
                            AND created_at > $9) < $10 \
                     RETURNING {API_TOKEN_COLUMNS}"
                ))
                .bind(Uuid::new_v4())
                .bind(t.tenant.map(|t| t.0))
                .bind(t.user.0)
                .bind(t.name)
                .bind(t.token_hash)
                .bind(At(now))
                .bind(t.expires_at.map(At))
                .bind(i64::from(t.caps.live))
                .bind(At(day_ago))
                .bind(i64::from(t.caps.a_day))
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| conflict_on_unique(e, "API token"))?;
                let made = match row {
                    Some(row) => Ok(rows::api_token(&row)?),
                    // which cap, for the message: the live one is what
                    // revoking frees, so it is named first
                    None => {
                        let live: i64 = sqlx::query_scalar(
                            "SELECT count(*) FROM api_tokens WHERE user_id = $1 \
                             AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)",
                        )
                        .bind(t.user.0)
                        .bind(At(now))
                        .fetch_one(&mut *tx)
                        .await?;
                        Err(if live >= i64::from(t.caps.live) {
                            TokenCap::Live
                        } else {
                            TokenCap::Day
                        })
                    }
                };
                tx.commit().await?;
                Ok(made)
            }

            async fn find_api_token(&self, token_hash: &str) -> Result<Option<TokenRecord>, StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT {TOKEN_RECORD_COLUMNS}, {USER_COLUMNS} FROM api_tokens t \
                     JOIN users u ON u.id = t.user_id \
                     WHERE t.token_hash = $1 AND t.revoked_at IS NULL \
                        AND (t.expires_at IS NULL OR t.expires_at > $2)"
                ))
                .bind(token_hash)
                .bind(At(self.clock.now()))
                .fetch_optional(self.reads())
                .await?;
                row.as_ref().map(rows::token_record).transpose()
            }

            async fn mark_api_token_used(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE api_tokens SET last_used_at = $2 \
                     WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
                )
                .bind(id)
                .bind(At(at))
                .execute(self.writes())
                .await?;
                Ok(())
            }

            async fn list_api_tokens(&self, user: UserId) -> Result<Vec<ApiTokenInfo>, StoreError> {
                sqlx::query(&format!(
                    "SELECT {API_TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY created_at"
                ))
                .bind(user.0)
                .fetch_all(self.reads())
                .await?
                .iter()
                .map(rows::api_token)
                .collect()
            }

            async fn delete_dead_api_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
                let done = sqlx::query(
                    "DELETE FROM api_tokens WHERE revoked_at < $1 OR expires_at < $1",
                )
                .bind(At(before))
                .execute(self.writes())
                .await?;
                Ok(done.rows_affected())
            }

            async fn revoke_api_token(&self, user: UserId, id: Uuid) -> Result<(), StoreError> {
                let done = sqlx::query(
                    "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, $3) \
                     WHERE id = $1 AND user_id = $2",
                )
                .bind(id)
                .bind(user.0)
                .bind(At(self.clock.now()))
                .execute(self.writes())
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(Entity::ApiToken));
                }
                Ok(())
            }

                $($own)*
            }
        };
    };
}
pub(crate) use accounts_for;
