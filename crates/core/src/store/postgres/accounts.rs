//! PostgreSQL side of accounts: the login reservation, made atomic with
//! advisory locks. The rest is written once for both databases
//! ([`accounts_for!`](crate::store::accounts::accounts_for)).

use super::PgStore;
use crate::store::accounts::accounts_for;

/// First keys of the login throttle's advisory locks (two-key space).
const LOGIN_ACCOUNT_LOCK_CLASS: i32 = 0x10c1;
const LOGIN_ADDRESS_LOCK_CLASS: i32 = 0x10c2;

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
