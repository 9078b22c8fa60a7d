//! The search indexer: after a large provider's import, copies the
//! customers it changed into the customers page's search index
//! (`store::search`), off the import's path. Every instance ticks; a
//! refresh is idempotent, so two instances refreshing one provider only
//! repeat work.

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use crate::store::{Store, StoreError};

/// How often the server looks for providers to refresh: the customers
/// page of a large provider lags its last import by about this much.
pub const SEARCH_INDEX_INTERVAL: Duration = Duration::from_secs(2);

pub struct SearchIndexer {
    store: Arc<dyn Store>,
}

impl SearchIndexer {
    pub fn new(store: Arc<dyn Store>) -> Self {
        SearchIndexer { store }
    }

    /// Refreshes every provider marked since its last refresh whose import
    /// is not running; returns how many customers were copied. A provider
    /// that fails is logged and left marked for the next tick; the others
    /// go on.
    pub async fn tick(&self) -> Result<u64, StoreError> {
        let mut copied = 0;
        for tenant in self.store.search_dirty().await? {
            let span = tracing::info_span!("search_refresh", tenant_id = %tenant);
            let store = &self.store;
            async {
                match store.refresh_search(tenant).await {
                    Ok(Some(n)) => {
                        if n > 0 {
                            tracing::info!(customers = n, "search index refreshed");
                        }
                        copied += n;
                    }
                    Ok(None) => tracing::debug!("import running; search refresh waits"),
                    Err(e) => {
                        tracing::warn!(error = %e, "search refresh failed; next tick retries")
                    }
                }
            }
            .instrument(span)
            .await;
        }
        Ok(copied)
    }

    /// Ticks every `interval` until its task is aborted (a refresh cut off
    /// midway leaves its provider marked, and the next one starts over).
    pub async fn run(self, interval: Duration) {
        loop {
            if let Err(e) = self.tick().await {
                tracing::warn!(error = %e, "search index tick failed; trying again next tick");
            }
            tokio::time::sleep(interval).await;
        }
    }
}
