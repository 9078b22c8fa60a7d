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
    /// A fenced write found another attempt owning the job: this one
    /// stops and writes nothing more (not even a log line).
    #[error("lease lost")]
    LeaseLost,
}

impl JobError {
    /// A storage failure as the job's error: the admin reads what failed,
    /// in Portuguese; the driver's words (tables, constraints, connection
    /// details) go to the server's log only.
    pub fn storage(what: &str, e: &crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "{what}");
        JobError::Retryable(format!(
            "{what}: falha no banco de dados (detalhes no log do servidor)."
        ))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The driver's words stay in the server's log: the job's stored error
    /// (shown to the admin) says what failed and no more.
    #[test]
    fn a_storage_failure_reads_without_the_drivers_words() {
        let e = crate::store::StoreError::Database(sqlx::Error::Protocol(
            "UNIQUE constraint failed: customers.tenant_id, customers.sgp_key".into(),
        ));
        let JobError::Retryable(message) = JobError::storage("Erro ao gravar a página", &e) else {
            panic!("a storage failure is worth another attempt");
        };
        assert_eq!(
            message,
            "Erro ao gravar a página: falha no banco de dados (detalhes no log do servidor)."
        );
    }
}
