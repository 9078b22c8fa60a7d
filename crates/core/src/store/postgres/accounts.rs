//! PostgreSQL side of accounts.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::PgStore;
use crate::model::{ApiTokenInfo, Email, TenantId, User, UserId};
use crate::store::accounts::{
    Accounts, LoginLimits, NewApiToken, NewSession, NewUser, SessionRecord, TokenRecord,
};
use crate::store::error::conflict_on_unique;
use crate::store::rows::{
    self, RowExt, API_TOKEN_COLUMNS, SESSION_COLUMNS, TOKEN_RECORD_COLUMNS, USER_COLUMNS,
};
use crate::store::{Entity, StoreError};

impl PgStore {
    async fn user_by_id(&self, id: Uuid) -> Result<User, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound(Entity::User))?;
        rows::user(&row)
    }
}

/// First keys of the login throttle's advisory locks (two-key space).
const LOGIN_ACCOUNT_LOCK_CLASS: i32 = 0x10c1;
const LOGIN_ADDRESS_LOCK_CLASS: i32 = 0x10c2;

#[async_trait]
impl Accounts for PgStore {
    async fn create_user(&self, user: NewUser<'_>) -> Result<User, StoreError> {
        let now = self.clock.now();
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
        .execute(&self.pool)
        .await
        .map_err(|e| conflict_on_unique(e, "user"))?;
        self.user_by_id(id).await
    }

    async fn user_credentials(&self, email: &Email) -> Result<Option<(User, String)>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.email = $1"
        ))
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((rows::user(&r)?, r.text("password_hash")?)))
            .transpose()
    }

    async fn set_password(&self, user: UserId, password_hash: &str) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
                .bind(user.0)
                .bind(password_hash)
                .bind(self.clock.now())
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(Entity::User));
        }
        // a new password ends every session opened with the old one
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_session(&self, s: NewSession<'_>) -> Result<(), StoreError> {
        let now = self.clock.now();
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, tenant_id, created_at, last_seen_at, \
                expires_at, ip, user_agent) VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
        )
        .bind(s.token_hash)
        .bind(s.user.0)
        .bind(s.tenant.map(|t| t.0))
        .bind(now)
        .bind(s.expires_at)
        .bind(s.ip)
        .bind(s.user_agent)
        .execute(&self.pool)
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
        .bind(self.clock.now())
        .bind(idle_since)
        .fetch_optional(&self.pool)
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
        .bind(at)
        .execute(&self.pool)
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
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(Entity::Session));
        }
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_stale_sessions(&self, idle_since: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at < $2")
            .bind(self.clock.now())
            .bind(idle_since)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn reserve_login_attempt(
        &self,
        email: &str,
        ip: &str,
        since: DateTime<Utc>,
        limits: LoginLimits,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Under READ COMMITTED two logins would both count below the limit
        // and both insert. Locks on the account and on the address (always
        // in that order, so two logins never wait on each other in a
        // cycle) make count-and-insert one step across every instance.
        for (class, key) in [
            (LOGIN_ACCOUNT_LOCK_CLASS, email),
            (LOGIN_ADDRESS_LOCK_CLASS, ip),
        ] {
            sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
                .bind(class)
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        let row = sqlx::query(
            "INSERT INTO login_failures (email, ip, failed_at) SELECT $1, $2, $3 \
             WHERE (SELECT count(*) FROM login_failures WHERE email = $1 AND failed_at >= $4) < $5 \
               AND (SELECT count(*) FROM login_failures WHERE ip = $2 AND failed_at >= $4) < $6 \
             RETURNING id",
        )
        .bind(email)
        .bind(ip)
        .bind(self.clock.now())
        .bind(since)
        .bind(i64::from(limits.per_account))
        .bind(i64::from(limits.per_address))
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(|r| r.int("id")).transpose()
    }

    async fn clear_login_failures(
        &self,
        email: &str,
        before: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_failures WHERE email = $1 OR failed_at < $2")
            .bind(email)
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_api_token(&self, t: NewApiToken<'_>) -> Result<ApiTokenInfo, StoreError> {
        let row = sqlx::query(&format!(
            "INSERT INTO api_tokens (id, tenant_id, user_id, name, token_hash, created_at, \
                expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {API_TOKEN_COLUMNS}"
        ))
        .bind(Uuid::new_v4())
        .bind(t.tenant.map(|t| t.0))
        .bind(t.user.0)
        .bind(t.name)
        .bind(t.token_hash)
        .bind(self.clock.now())
        .bind(t.expires_at)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| conflict_on_unique(e, "API token"))?;
        rows::api_token(&row)
    }

    async fn find_api_token(&self, token_hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_RECORD_COLUMNS}, {USER_COLUMNS} FROM api_tokens t \
             JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL \
                AND (t.expires_at IS NULL OR t.expires_at > $2)"
        ))
        .bind(token_hash)
        .bind(self.clock.now())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(rows::token_record).transpose()
    }

    async fn mark_api_token_used(&self, id: Uuid, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE api_tokens SET last_used_at = $2 \
             WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
        )
        .bind(id)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_api_tokens(&self, user: UserId) -> Result<Vec<ApiTokenInfo>, StoreError> {
        sqlx::query(&format!(
            "SELECT {API_TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY created_at"
        ))
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::api_token)
        .collect()
    }

    async fn revoke_api_token(&self, user: UserId, id: Uuid) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, $3) \
             WHERE id = $1 AND user_id = $2",
        )
        .bind(id)
        .bind(user.0)
        .bind(self.clock.now())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(Entity::ApiToken));
        }
        Ok(())
    }
}
