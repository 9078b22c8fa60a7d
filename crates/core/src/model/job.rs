//! Background jobs as the UI and the API see them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

use super::{JobStatus, TenantId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub Uuid);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(feature = "server")]
impl JobId {
    /// Time-ordered (UUIDv7): new jobs land at the end of the primary-key
    /// index instead of on a random page of it.
    pub fn new() -> Self {
        JobId(Uuid::now_v7())
    }
}

#[cfg(feature = "server")]
impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a job came from: a click in the UI, the schedule, or the REST API.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobOrigin {
    #[default]
    Manual,
    Scheduled,
    Api,
}

impl JobOrigin {
    pub const ALL: [JobOrigin; 3] = [JobOrigin::Manual, JobOrigin::Scheduled, JobOrigin::Api];

    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            JobOrigin::Manual => "manual",
            JobOrigin::Scheduled => "scheduled",
            JobOrigin::Api => "api",
        }
    }

    /// As the REST API and the UI's links spell it (`origem`).
    pub fn api_name(self) -> &'static str {
        match self {
            JobOrigin::Manual => "manual",
            JobOrigin::Scheduled => "agendada",
            JobOrigin::Api => "api",
        }
    }

    pub fn from_api_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.api_name() == s)
    }

    /// For people.
    pub fn label(self) -> &'static str {
        match self {
            JobOrigin::Manual => "Manual",
            JobOrigin::Scheduled => "Agendada",
            JobOrigin::Api => "API",
        }
    }
}

impl FromStr for JobOrigin {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| format!("unknown job origin {s:?}"))
    }
}

/// How far a job has come. Counts are of rows (customers, for imports).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JobProgress {
    pub total_estimated: Option<u64>,
    pub processed: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: u64,
    pub percent: f32,
    pub eta_seconds: Option<u64>,
    pub message: Option<String>,
}

/// How many waiting jobs ahead a queue position counts before it stops
/// (so reading a position costs the same behind a queue of any length).
pub const QUEUE_POSITION_COUNTED: u64 = 1_000;

/// One job in a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobSummary {
    pub id: JobId,
    pub tenant_id: TenantId,
    pub kind: String,
    pub name: String,
    pub status: JobStatus,
    #[serde(default)]
    pub origin: JobOrigin,
    pub attempt: u32,
    pub max_attempts: u32,
    pub progress: JobProgress,
    /// 1 for the next job of its provider and kind to run; only for jobs
    /// waiting to run (queued or retrying). Counted up to
    /// [`QUEUE_POSITION_COUNTED`] jobs ahead: a larger value means "further
    /// back than that".
    pub queue_position: Option<u64>,
    pub lease_owner: Option<String>,
    pub last_error: Option<String>,
    #[serde(with = "super::instant")]
    pub run_after: DateTime<Utc>,
    #[serde(with = "super::instant::option", default)]
    pub cancel_requested_at: Option<DateTime<Utc>>,
    #[serde(with = "super::instant")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "super::instant::option", default)]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(with = "super::instant::option", default)]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(with = "super::instant")]
    pub updated_at: DateTime<Utc>,
}

/// How long a job took and how fast it went, in seconds and customers
/// per second; a running job is measured up to `now`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JobTiming {
    /// From start to end (or now).
    pub total_seconds: Option<f64>,
    /// Processed rows per second over that time.
    pub rate: Option<f64>,
    /// From creation to start (or now, while waiting).
    pub queued_seconds: Option<f64>,
}

impl JobSummary {
    pub fn timing(&self, now: DateTime<Utc>) -> JobTiming {
        let seconds = |from: DateTime<Utc>, to: DateTime<Utc>| {
            ((to - from).num_milliseconds().max(0) as f64) / 1000.0
        };
        let end = self.finished_at.unwrap_or(now);
        let total = self.started_at.map(|s| seconds(s, end));
        JobTiming {
            total_seconds: total,
            rate: total
                .filter(|t| *t > 0.0)
                .map(|t| self.progress.processed as f64 / t),
            queued_seconds: Some(seconds(
                self.created_at,
                self.started_at.or(self.finished_at).unwrap_or(now),
            )),
        }
    }
}

#[cfg(test)]
mod timing_tests {
    use super::*;

    #[test]
    fn timing_measures_queue_duration_and_speed() {
        let t0 = DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        let mut job = JobSummary {
            id: JobId(uuid::Uuid::nil()),
            tenant_id: TenantId(uuid::Uuid::nil()),
            kind: "sgp_import".into(),
            name: "x".into(),
            status: JobStatus::Queued,
            origin: JobOrigin::Manual,
            attempt: 0,
            max_attempts: 5,
            progress: JobProgress::default(),
            queue_position: Some(1),
            lease_owner: None,
            last_error: None,
            run_after: t0,
            cancel_requested_at: None,
            created_at: t0,
            started_at: None,
            finished_at: None,
            updated_at: t0,
        };
        let now = t0 + chrono::Duration::seconds(30);
        let waiting = job.timing(now);
        assert_eq!(waiting.queued_seconds, Some(30.0));
        assert_eq!(waiting.total_seconds, None);
        assert_eq!(waiting.rate, None);
        job.started_at = Some(t0 + chrono::Duration::seconds(10));
        job.finished_at = Some(t0 + chrono::Duration::seconds(50));
        job.progress.processed = 4000;
        let done = job.timing(t0 + chrono::Duration::hours(1));
        assert_eq!(done.queued_seconds, Some(10.0));
        assert_eq!(done.total_seconds, Some(40.0));
        assert_eq!(done.rate, Some(100.0));
    }
}

/// One job with everything stored about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobDetails {
    pub summary: JobSummary,
    pub params: serde_json::Value,
    pub result: Option<serde_json::Value>,
    /// Where the job is (its kind's own shape), for the pages that chart it.
    #[serde(default)]
    pub checkpoint: Option<serde_json::Value>,
    pub logs: Vec<LogLine>,
    /// Log lines dropped from the middle of a long log (see the log cap).
    pub logs_omitted: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl FromStr for LogLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "debug" => Ok(LogLevel::Debug),
            "info" => Ok(LogLevel::Info),
            "warn" => Ok(LogLevel::Warn),
            "error" => Ok(LogLevel::Error),
            _ => Err(format!("unknown log level {s:?}")),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    #[serde(with = "super::instant")]
    pub at: DateTime<Utc>,
    pub level: LogLevel,
    pub message: String,
}

/// Jobs per status for one provider (the dashboard's tabs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts(pub Vec<(JobStatus, u64)>);

impl StatusCounts {
    pub fn get(&self, status: JobStatus) -> u64 {
        self.0
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n)
    }

    pub fn total(&self) -> u64 {
        self.0.iter().map(|(_, n)| n).sum()
    }
}

/// A page of a job list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobPage {
    pub jobs: Vec<JobSummary>,
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
}
