//! The job state machine: the one place that says which status may follow
//! which. Storage derives its `WHERE status IN (...)` guards from here, so
//! an illegal transition is refused by the database as well as by the code.

use serde::{Deserialize, Serialize};

use super::JobStatus;
use JobStatus::*;

/// Something that happens to a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JobEvent {
    /// An executor takes the job for a new attempt.
    Claim,
    /// The attempt succeeded.
    Complete,
    /// The attempt failed for good (fatal error, or no attempts left).
    Fail,
    /// The attempt failed or timed out and will be tried again later.
    ScheduleRetry,
    /// An admin asked to cancel.
    RequestCancel,
    /// A cancelling job stopped at a safe point (or its worker vanished).
    Stopped,
    /// The attempt was abandoned without an outcome (expired lease,
    /// shutdown): the job waits to be claimed again.
    Release,
    /// An admin asked to run a failed or cancelled job again.
    Rerun,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a job in status {from} cannot take event {event:?}")]
pub struct IllegalTransition {
    pub from: JobStatus,
    pub event: JobEvent,
}

impl JobEvent {
    pub const ALL: [JobEvent; 8] = [
        JobEvent::Claim,
        JobEvent::Complete,
        JobEvent::Fail,
        JobEvent::ScheduleRetry,
        JobEvent::RequestCancel,
        JobEvent::Stopped,
        JobEvent::Release,
        JobEvent::Rerun,
    ];

    /// The status after `self` happens to a job in `from`.
    pub fn apply(self, from: JobStatus) -> Result<JobStatus, IllegalTransition> {
        let to = match (self, from) {
            (JobEvent::Claim, Queued | Retrying) => Running,
            // A cancel request wins over whatever the attempt reports.
            (JobEvent::Complete, Running) => Completed,
            (JobEvent::Complete, Cancelling) => Cancelled,
            (JobEvent::Fail, Running) => Failed,
            (JobEvent::Fail, Cancelling) => Cancelled,
            (JobEvent::ScheduleRetry, Running) => Retrying,
            (JobEvent::ScheduleRetry, Cancelling) => Cancelled,
            (JobEvent::RequestCancel, Queued | Retrying) => Cancelled,
            (JobEvent::RequestCancel, Running) => Cancelling,
            (JobEvent::Stopped, Cancelling) => Cancelled,
            (JobEvent::Release, Running) => Queued,
            (JobEvent::Release, Cancelling) => Cancelled,
            (JobEvent::Rerun, Failed | Cancelled) => Queued,
            _ => return Err(IllegalTransition { from, event: self }),
        };
        Ok(to)
    }

    /// What an expired lease does to a job: its worker vanished mid-attempt.
    /// The attempt is given back like a shutdown's, unless it was the last
    /// one: then the job fails. A pending cancel ends it cancelled either way.
    pub fn on_lease_expired(out_of_attempts: bool) -> JobEvent {
        if out_of_attempts {
            JobEvent::Fail
        } else {
            JobEvent::Release
        }
    }

    /// Every status this event may start from.
    pub fn sources(self) -> Vec<JobStatus> {
        JobStatus::ALL
            .into_iter()
            .filter(|s| self.apply(*s).is_ok())
            .collect()
    }

    /// `'a', 'b'` for an SQL `IN (...)` list of [`Self::sources`].
    pub fn sources_sql(self) -> String {
        self.sources()
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole table, written out: a change to the machine must change
    /// this test too.
    #[test]
    fn every_transition_legal_and_illegal() {
        let legal: &[(JobEvent, JobStatus, JobStatus)] = &[
            (JobEvent::Claim, Queued, Running),
            (JobEvent::Claim, Retrying, Running),
            (JobEvent::Complete, Running, Completed),
            (JobEvent::Complete, Cancelling, Cancelled),
            (JobEvent::Fail, Running, Failed),
            (JobEvent::Fail, Cancelling, Cancelled),
            (JobEvent::ScheduleRetry, Running, Retrying),
            (JobEvent::ScheduleRetry, Cancelling, Cancelled),
            (JobEvent::RequestCancel, Queued, Cancelled),
            (JobEvent::RequestCancel, Retrying, Cancelled),
            (JobEvent::RequestCancel, Running, Cancelling),
            (JobEvent::Stopped, Cancelling, Cancelled),
            (JobEvent::Release, Running, Queued),
            (JobEvent::Release, Cancelling, Cancelled),
            (JobEvent::Rerun, Failed, Queued),
            (JobEvent::Rerun, Cancelled, Queued),
        ];
        for event in JobEvent::ALL {
            for from in JobStatus::ALL {
                let expected = legal
                    .iter()
                    .find(|(e, f, _)| *e == event && *f == from)
                    .map(|(_, _, to)| *to);
                match (event.apply(from), expected) {
                    (Ok(to), Some(want)) => assert_eq!(to, want, "{event:?} from {from}"),
                    (Err(e), None) => assert_eq!(e, IllegalTransition { from, event }),
                    (got, want) => panic!("{event:?} from {from}: got {got:?}, want {want:?}"),
                }
            }
        }
    }

    #[test]
    fn finished_jobs_only_leave_by_rerun() {
        for from in [Completed, Failed, Cancelled] {
            for event in JobEvent::ALL {
                if event.apply(from).is_ok() {
                    assert_eq!(event, JobEvent::Rerun, "{event:?} from {from}");
                }
            }
        }
        assert!(JobEvent::Rerun.apply(Completed).is_err());
    }

    #[test]
    fn an_expired_lease_requeues_fails_or_ends_a_cancel() {
        let expire = JobEvent::on_lease_expired;
        assert_eq!(expire(false).apply(Running), Ok(Queued));
        assert_eq!(expire(true).apply(Running), Ok(Failed));
        for out_of_attempts in [false, true] {
            assert_eq!(expire(out_of_attempts).apply(Cancelling), Ok(Cancelled));
            assert_eq!(
                expire(out_of_attempts).sources(),
                JobStatus::LEASED.to_vec()
            );
        }
    }

    #[test]
    fn sql_guards_list_the_sources() {
        assert_eq!(JobEvent::Claim.sources_sql(), "'queued', 'retrying'");
        assert_eq!(
            JobEvent::RequestCancel.sources(),
            vec![Queued, Running, Retrying]
        );
    }
}
