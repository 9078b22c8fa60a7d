//! The job engine: handlers say what a kind of job does; the executor
//! claims, runs, heartbeats, retries, times out and cancels them.

mod context;
pub mod decide;
mod executor;
mod handler;
pub mod patience;
mod rescuer;
pub mod retry;

pub use context::JobContext;
pub use executor::{Executor, ExecutorConfig, ExecutorHandle};
pub use handler::{JobError, JobHandler};
pub use retry::RetryPolicy;
