use async_trait::async_trait;

use super::{JobContext, RetryPolicy};

/// Why an attempt did not complete. The variant decides what happens next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt after a backoff (timeouts, 5xx, dropped
    /// connections).
    #[error("{0}")]
    Retryable(String),
    /// No attempt can succeed (wrong credentials, bad parameters).
    #[error("{0}")]
    Fatal(String),
    /// The job saw its cancel request and stopped at a safe point.
    #[error("cancelled")]
    Cancelled,
}

/// One kind of job.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// The stored `kind` of jobs this handler runs.
    fn kind(&self) -> &'static str;

    /// How many jobs of this kind one provider may have running at once.
    fn per_tenant_limit(&self) -> Option<u32> {
        None
    }

    /// The backoff between this kind's attempts; `None`: the executor's.
    fn retry_policy(&self) -> Option<RetryPolicy> {
        None
    }

    /// How long one attempt of this kind may run; `None`: the executor's.
    fn timeout(&self) -> Option<std::time::Duration> {
        None
    }

    /// Runs one attempt. It should save a checkpoint at safe points and
    /// return `JobError::Cancelled` soon after `ctx.is_cancelled()`.
    async fn run(&self, ctx: JobContext) -> Result<serde_json::Value, JobError>;
}
