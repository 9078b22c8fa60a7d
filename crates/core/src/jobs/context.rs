use std::sync::Arc;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::model::{JobProgress, LogLevel};
use crate::store::{ClaimedJob, Lease, Store, StoreError};

/// What a running job can see and do: its parameters and checkpoint, and
/// ways to report progress, write its log and notice a cancel request.
#[derive(Clone)]
pub struct JobContext {
    job: Arc<ClaimedJob>,
    store: Arc<dyn Store>,
    cancel: CancellationToken,
    log_cap: u32,
}

impl JobContext {
    pub(crate) fn new(
        job: ClaimedJob,
        store: Arc<dyn Store>,
        cancel: CancellationToken,
        log_cap: u32,
    ) -> Self {
        JobContext {
            job: Arc::new(job),
            store,
            cancel,
            log_cap,
        }
    }

    pub fn job(&self) -> &ClaimedJob {
        &self.job
    }

    pub fn params(&self) -> &Value {
        &self.job.params
    }

    /// Where the previous attempt stopped, if it saved anything.
    pub fn checkpoint(&self) -> Option<&Value> {
        self.job.checkpoint.as_ref()
    }

    pub fn lease(&self) -> &Lease {
        &self.job.lease
    }

    /// How many log lines a job keeps.
    pub fn log_cap(&self) -> u32 {
        self.log_cap
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Completes when the job is asked to stop (cancel request, lost lease).
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await
    }

    /// Saves progress (and the checkpoint to resume from). Fails with
    /// `LeaseLost` when this attempt is no longer the current one.
    pub async fn save_progress(
        &self,
        progress: &JobProgress,
        checkpoint: Option<&Value>,
    ) -> Result<(), StoreError> {
        self.store
            .save_progress(&self.job.lease, progress, checkpoint)
            .await
    }

    /// Writes to the job's log; a failure to log never fails the job.
    pub async fn log(&self, level: LogLevel, message: impl AsRef<str>) {
        if let Err(e) = self
            .store
            .append_log(self.job.lease.job, level, message.as_ref(), self.log_cap)
            .await
        {
            tracing::warn!(job_id = %self.job.lease.job, error = %e, "could not write job log");
        }
    }
}
