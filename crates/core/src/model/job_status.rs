use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a background job stands. The stored form is the lowercase English
/// name (also what the REST API returns); the admin sees the Portuguese label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Retrying,
    Cancelling,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 7] = [
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Retrying,
        JobStatus::Cancelling,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    /// Waiting for an executor.
    pub const WAITING: [JobStatus; 2] = [JobStatus::Queued, JobStatus::Retrying];
    /// Held by a worker's lease.
    pub const LEASED: [JobStatus; 2] = [JobStatus::Running, JobStatus::Cancelling];
    /// Never runs again by itself.
    pub const FINISHED: [JobStatus; 3] = [
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Retrying => "retrying",
            JobStatus::Cancelling => "cancelling",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// The label an admin sees in the UI.
    pub fn label_pt(self) -> &'static str {
        match self {
            JobStatus::Queued => "Na fila",
            JobStatus::Running => "Processando",
            JobStatus::Retrying => "Aguardando nova tentativa",
            JobStatus::Cancelling => "Cancelando",
            JobStatus::Completed => "Concluída",
            JobStatus::Failed => "Com erro",
            JobStatus::Cancelled => "Cancelada",
        }
    }

    /// A finished job never runs again by itself.
    pub fn is_finished(self) -> bool {
        Self::FINISHED.contains(&self)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown job status {0:?}")]
pub struct UnknownJobStatus(pub String);

impl FromStr for JobStatus {
    type Err = UnknownJobStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownJobStatus(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_round_trip() {
        for status in JobStatus::ALL {
            assert_eq!(status.as_str().parse::<JobStatus>(), Ok(status));
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        assert!("done".parse::<JobStatus>().is_err());
    }

    #[test]
    fn only_terminal_states_are_finished() {
        let finished: Vec<_> = JobStatus::ALL
            .into_iter()
            .filter(|s| s.is_finished())
            .collect();
        assert_eq!(
            finished,
            [
                JobStatus::Completed,
                JobStatus::Failed,
                JobStatus::Cancelled
            ]
        );
    }
}
