//! SQLite side of accounts: the login reservation, atomic on the one
//! writer connection. The rest is written once for both databases
//! ([`accounts_for!`](crate::store::accounts::accounts_for)).

use super::SqliteStore;
use crate::store::accounts::accounts_for;

impl SqliteStore {
    /// Nothing to take: the transaction runs on the one writer connection,
    /// so no other count or insert interleaves with it.
    async fn lock_api_tokens_of(
        _tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        _user: crate::model::UserId,
    ) -> Result<(), crate::store::StoreError> {
        Ok(())
    }
}

accounts_for!(SqliteStore, {
    async fn reserve_login_attempt(
        &self,
        email: &str,
        ip: &str,
        since: DateTime<Utc>,
        limits: LoginLimits,
    ) -> Result<Option<i64>, StoreError> {
        // one statement on the one writer connection: the counts and the
        // insert cannot interleave with another login
        let row = reservation(email, ip, At(self.clock.now()), At(since), limits)
            .fetch_optional(self.writes())
            .await?;
        row.map(|r| r.int("id")).transpose()
    }
});
