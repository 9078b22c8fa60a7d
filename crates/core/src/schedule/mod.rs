//! Automatic syncs: a provider's cron schedule (`cron`), saving it
//! (`service`), and the loop every executor process runs that turns due
//! slots into imports exactly once (`runner`).

pub mod cron;
pub mod runner;
pub mod service;

pub use cron::{CronSchedule, TIME_ZONE};
pub use runner::{Scheduler, TickReport, SKIP_REASON};
pub use service::{ScheduleError, ScheduleService};
