//! The job engine: handlers say what a kind of job does; the executor
//! claims, runs, heartbeats, retries, times out and cancels them.

mod context;
mod executor;
mod handler;
pub mod patience;
pub mod retry;

pub use context::JobContext;
pub use executor::{Executor, ExecutorConfig, ExecutorHandle};
pub use handler::{JobError, JobHandler};
pub use retry::RetryPolicy;
