//! A provider's automatic sync, as the admin sets it and sees it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// What an admin saves: when (a cron expression, in Brasília time) and
/// what (the same filters as a manual import).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleInput {
    pub active: bool,
    /// Five fields (minute hour day month weekday), America/Sao_Paulo.
    pub cron: String,
    /// Only what changed since the last successful import.
    pub incremental: bool,
    pub only_active: bool,
    #[serde(with = "super::day::option", default)]
    pub signup_from: Option<NaiveDate>,
    #[serde(with = "super::day::option", default)]
    pub signup_to: Option<NaiveDate>,
    /// Consecutive failed runs after which the schedule pauses itself.
    pub pause_after_failures: u32,
}

/// Consecutive failures before a schedule pauses, unless the admin says.
pub const DEFAULT_PAUSE_AFTER_FAILURES: u32 = 3;

impl Default for ScheduleInput {
    /// Off; when turned on, every day at 02:00, only what changed.
    fn default() -> Self {
        ScheduleInput {
            active: false,
            cron: "0 2 * * *".to_owned(),
            incremental: true,
            only_active: false,
            signup_from: None,
            signup_to: None,
            pause_after_failures: DEFAULT_PAUSE_AFTER_FAILURES,
        }
    }
}

/// A provider's schedule with what the server worked out and remembers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleView {
    pub input: ScheduleInput,
    /// The next slot, while active.
    #[serde(with = "super::instant::option", default)]
    pub next_run: Option<DateTime<Utc>>,
    /// The slot of the last run (started or skipped).
    #[serde(with = "super::instant::option", default)]
    pub last_run: Option<DateTime<Utc>>,
    pub consecutive_failures: u32,
    /// Set when the schedule paused itself after failures.
    #[serde(with = "super::instant::option", default)]
    pub paused_at: Option<DateTime<Utc>>,
    pub pause_reason: Option<String>,
}
