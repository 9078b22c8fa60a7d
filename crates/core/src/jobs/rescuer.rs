//! The rescuer and the purger, beside every executor: jobs whose lease
//! expired (their worker died) go back to the queue, or end when no attempt
//! or a pending cancel says so; finished jobs past retention are deleted.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::ExecutorConfig;
use crate::clock::Clock;
use crate::model::{JobStatus, LogLevel};
use crate::store::Store;

/// What the rescuer takes from the executor's settings.
#[derive(Clone, Debug)]
pub struct RescueConfig {
    pub owner: String,
    pub interval: Duration,
    pub retention: Option<Duration>,
    pub log_cap: u32,
}

impl From<&ExecutorConfig> for RescueConfig {
    fn from(c: &ExecutorConfig) -> Self {
        RescueConfig {
            owner: c.owner.clone(),
            interval: c.rescue_interval,
            retention: c.retention,
            log_cap: c.log_cap,
        }
    }
}

/// Rescues and purges every `interval` until `shutdown`.
pub async fn run(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: RescueConfig,
    shutdown: CancellationToken,
) {
    let span = tracing::info_span!("rescuer", owner = %config.owner);
    async move {
        loop {
            rescue_once(store.as_ref(), config.log_cap).await;
            if let Some(retention) = config.retention {
                purge_once(store.as_ref(), clock.as_ref(), retention).await;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(config.interval) => {}
            }
        }
    }
    .instrument(span)
    .await
}

async fn rescue_once(store: &dyn Store, log_cap: u32) {
    let rescued = match store.rescue_expired().await {
        Ok(rescued) => rescued,
        Err(e) => {
            tracing::warn!(error = %e, "rescue failed");
            return;
        }
    };
    for r in rescued {
        let owner = r.owner.as_deref().unwrap_or("?");
        tracing::warn!(job_id = %r.job, tenant_id = %r.tenant, %owner, status = %r.status, "rescued a job whose lease expired");
        let _ = store
            .append_log(
                r.job,
                LogLevel::Warn,
                &rescue_line(owner, r.status),
                log_cap,
            )
            .await;
    }
}

/// The job's log line for a rescue that left it in `status`.
fn rescue_line(owner: &str, status: JobStatus) -> String {
    match status {
        JobStatus::Queued => format!(
            "O processo {owner} parou de responder; o job voltou para a fila e continua do \
             último ponto salvo."
        ),
        JobStatus::Cancelled => {
            format!("O processo {owner} parou de responder durante o cancelamento; job cancelado.")
        }
        _ => format!("O processo {owner} parou de responder e não restam tentativas."),
    }
}

async fn purge_once(store: &dyn Store, clock: &dyn Clock, retention: Duration) {
    let cutoff =
        clock.now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(90));
    match store.purge_finished(cutoff).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(purged = n, "purged finished jobs past retention"),
        Err(e) => tracing::warn!(error = %e, "purge failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_says_what_became_of_a_rescued_job() {
        assert!(rescue_line("w1", JobStatus::Queued).contains("voltou para a fila"));
        assert!(rescue_line("w1", JobStatus::Cancelled).contains("job cancelado"));
        assert!(rescue_line("w1", JobStatus::Failed).contains("não restam tentativas"));
    }
}
