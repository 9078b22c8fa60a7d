//! PostgreSQL side of accounts: the login reservation, made atomic with
//! advisory locks. The rest is written once for both databases
//! ([`accounts_for!`](crate::store::accounts::accounts_for)).

use super::PgStore;
use crate::store::accounts::accounts_for;

/// First keys of the login throttle's advisory locks (two-key space).
const LOGIN_ACCOUNT_LOCK_CLASS: i32 = 0x10c1;
const LOGIN_ADDRESS_LOCK_CLASS: i32 = 0x10c2;
/// First key of the lock held while an account's API tokens are counted.
const API_TOKENS_LOCK_CLASS: i32 = 0x10c3;

impl PgStore {
    /// Under READ COMMITTED two requests would both count below a cap and
    /// both insert: a lock per account makes count-and-insert one step
    /// across every instance.
    async fn lock_api_tokens_of(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        user: crate::model::UserId,
    ) -> Result<(), crate::store::StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(API_TOKENS_LOCK_CLASS)
            .bind(user.0.to_string())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

accounts_for!(PgStore, {
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
        let row = reservation(email, ip, At(self.clock.now()), At(since), limits)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        row.map(|r| r.int("id")).transpose()
    }
});
