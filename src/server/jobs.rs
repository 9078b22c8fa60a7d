//! The background executor of this process, built from the settings.

use std::sync::Arc;

use sgp_import_core::clock::Clock;
use sgp_import_core::config::Settings;
use sgp_import_core::import::{ImportJob, Integrations};
use sgp_import_core::jobs::{Executor, ExecutorConfig, RetryPolicy};
use sgp_import_core::notify::{DeliveryJob, Mailer};
use sgp_import_core::outbound::OutboundPolicy;
use sgp_import_core::sealing::Sealer;
use sgp_import_core::sgp::SgpClientConfig;
use sgp_import_core::store::Store;

/// How the SGP client behaves, from the settings.
pub fn sgp_client_config(settings: &Settings) -> SgpClientConfig {
    SgpClientConfig {
        timeout: settings.sgp.request_timeout,
        connect_timeout: settings.sgp.connect_timeout,
        retries: settings.sgp.retries,
        max_response_bytes: settings.sgp.max_response_bytes,
        outbound: outbound_policy(settings),
        ..SgpClientConfig::default()
    }
}

/// The outbound policy of this process: the setting's, plus loopback in
/// demo mode, whose fake SGP listens there.
pub fn outbound_policy(settings: &Settings) -> OutboundPolicy {
    if settings.demo {
        settings.outbound.with_loopback()
    } else {
        settings.outbound.clone()
    }
}

/// The executor of notification deliveries: apart from the imports', with
/// two slots, so deliveries never wait for imports nor imports for them.
pub fn delivery_executor(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: &Settings,
    sealer: Sealer,
    mailer: Option<Arc<Mailer>>,
) -> Executor {
    let e = &settings.executor;
    let mut config = ExecutorConfig::new(format!("{}-entregas", ExecutorConfig::default_owner()));
    config.slots = 2;
    config.poll_interval = e.poll_interval;
    config.heartbeat = e.heartbeat;
    config.lease = e.lease;
    config.retention = e.retention;
    config.shutdown_grace = settings.server.shutdown_grace;
    config.rescue_interval = e.lease / 2;
    let job = DeliveryJob::new(
        store.clone(),
        clock.clone(),
        Some(sealer),
        outbound_policy(settings),
        mailer,
    );
    Executor::new(store, clock, config).register(job)
}

/// The executor of imports.
pub fn executor(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: &Settings,
    integrations: Arc<Integrations>,
) -> Executor {
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
    // a failed import attempt waits 30 s, then 1, 2, 4... minutes (other
    // kinds keep the executor's default)
    let import_retry = RetryPolicy {
        base: std::time::Duration::from_secs(30),
        max: std::time::Duration::from_secs(30 * 60),
        jitter: 0.3,
    };
    Executor::new(store, clock, config).register(
        ImportJob::new(integrations, sgp_client_config(settings))
            .with_retry_policy(import_retry)
            .with_max_removal_percent(settings.import.max_removal_percent),
    )
}
