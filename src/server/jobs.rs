//! The background executor of this process, built from the settings.

use std::sync::Arc;

use sgp_import_core::clock::Clock;
use sgp_import_core::config::Settings;
use sgp_import_core::jobs::{Executor, ExecutorConfig};
use sgp_import_core::store::Store;

/// The executor with every job kind this app runs. Imports register here
/// once they exist; with no kinds it still rescues and purges.
pub fn executor(store: Arc<dyn Store>, clock: Arc<dyn Clock>, settings: &Settings) -> Executor {
    let e = &settings.executor;
    let mut config = ExecutorConfig::new(ExecutorConfig::default_owner());
    config.slots = e.slots;
    config.job_timeout = e.job_timeout;
    config.poll_interval = e.poll_interval;
    config.heartbeat = e.heartbeat;
    config.lease = e.lease;
    config.retention = e.retention;
    config.shutdown_grace = settings.server.shutdown_grace;
    config.rescue_interval = e.lease / 2;
    Executor::new(store, clock, config)
}
