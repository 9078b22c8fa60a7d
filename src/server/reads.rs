//! Lists that can be costly, a few at a time per provider. A deep page of
//! a large provider's customers (an `offset` in the hundreds of thousands)
//! costs up to a second of a core: one provider's script sending many at
//! once would take every reader connection and both cores from the other
//! providers. Each provider gets `LISTS_PER_PROVIDER` at once; more wait a
//! little, then are refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sgp_import_core::model::TenantId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Costly lists one provider may have running at once.
pub const LISTS_PER_PROVIDER: usize = 2;
/// How long one more waits for a turn before it is refused.
pub const LIST_WAIT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct ProviderReads {
    gates: Arc<Mutex<HashMap<TenantId, Arc<Semaphore>>>>,
    wait: Duration,
}

impl Default for ProviderReads {
    fn default() -> Self {
        ProviderReads::with_wait(LIST_WAIT)
    }
}

/// A provider's turn; given back when dropped.
pub struct ReadTurn {
    _permit: OwnedSemaphorePermit,
}

impl ProviderReads {
    pub fn with_wait(wait: Duration) -> Self {
        ProviderReads {
            gates: Arc::default(),
            wait,
        }
    }

    /// A turn for `tenant`, or `None` when its lists stayed busy for the
    /// whole wait.
    pub async fn turn(&self, tenant: TenantId) -> Option<ReadTurn> {
        let gate = {
            let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
            // providers are few (each one a row made by an operator), so
            // their gates are kept rather than swept
            gates
                .entry(tenant)
                .or_insert_with(|| Arc::new(Semaphore::new(LISTS_PER_PROVIDER)))
                .clone()
        };
        match tokio::time::timeout(self.wait, gate.acquire_owned()).await {
            Ok(Ok(permit)) => Some(ReadTurn { _permit: permit }),
            // the semaphore is never closed; a timeout is the busy case
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn turns_are_counted_per_provider_and_given_back() {
        let reads = ProviderReads::with_wait(Duration::from_millis(50));
        let (busy, other) = (
            TenantId(uuid::Uuid::new_v4()),
            TenantId(uuid::Uuid::new_v4()),
        );
        let mut held = Vec::new();
        for _ in 0..LISTS_PER_PROVIDER {
            held.push(reads.turn(busy).await.expect("a free turn"));
        }
        assert!(
            reads.turn(busy).await.is_none(),
            "past the provider's turns"
        );
        assert!(
            reads.turn(other).await.is_some(),
            "another provider's are its own"
        );
        // one given back while a request waits: the waiting one gets it
        let waiting = {
            let reads = reads.clone();
            tokio::spawn(async move { reads.turn(busy).await.is_some() })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(held.pop());
        assert!(waiting.await.unwrap());
    }
}
