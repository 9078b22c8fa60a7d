//! Riding out a database blip. A restart, a failover or a dropped
//! connection makes writes fail for a few seconds; an outcome or a page
//! that gives up at the first error costs the job an attempt (and, on its
//! last attempt, the job itself) for nothing the job did.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::store::StoreError;

const FIRST_WAIT: Duration = Duration::from_millis(50);
const LONGEST_WAIT: Duration = Duration::from_secs(5);

/// Runs `op` until it succeeds, fails for good, or `budget` has gone by,
/// waiting 50 ms, 100 ms... up to 5 s between tries. Only errors that may
/// pass are tried again (see [`StoreError::is_transient`]).
pub async fn with_patience<T, F, Fut>(
    budget: Duration,
    what: &str,
    mut op: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let started = Instant::now();
    let mut wait = FIRST_WAIT;
    let mut tries = 1u32;
    loop {
        match op().await {
            Err(e) if e.is_transient() && started.elapsed() + wait < budget => {
                tracing::warn!(error = %e, what, tries, "database write failed; trying again");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(LONGEST_WAIT);
                tries += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn blip() -> StoreError {
        StoreError::Database(sqlx::Error::PoolTimedOut)
    }

    #[tokio::test]
    async fn transient_errors_are_tried_again_within_the_budget() {
        let calls = AtomicU32::new(0);
        let result = with_patience(Duration::from_secs(5), "test", || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                Err(blip())
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 4);

        // a lost lease is final at once
        let calls = AtomicU32::new(0);
        let result: Result<(), _> = with_patience(Duration::from_secs(5), "test", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::LeaseLost(crate::model::JobId::new()))
        })
        .await;
        assert!(matches!(result, Err(StoreError::LeaseLost(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        // past the budget the error is returned
        let started = Instant::now();
        let result: Result<(), _> =
            with_patience(Duration::from_millis(300), "test", || async { Err(blip()) }).await;
        assert!(result.is_err());
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
