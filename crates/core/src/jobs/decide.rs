//! What the end of an attempt means for its job, decided apart from any
//! I/O: the executor runs the attempt, [`decide`] says what to write, the
//! executor writes it. Pure, so every ending is tested without a database,
//! a clock or chance (the jitter's random number is an argument).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{JobError, RetryPolicy};
use crate::model::LogLevel;
use crate::store::Outcome;

/// How one attempt ended, before it is written down.
#[derive(Debug)]
pub enum Ending {
    Returned(Result<Value, JobError>),
    Panicked(String),
    TimedOut,
    LeaseLost,
    Shutdown,
}

/// The attempt as the decision needs it.
#[derive(Clone, Copy, Debug)]
pub struct Attempt {
    /// 1-based.
    pub number: u32,
    pub max: u32,
    /// A cancel request reached the attempt (its token fired).
    pub cancel_requested: bool,
}

/// What to do about an ending.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// A success, for the completer to record in a batch.
    Complete { result: Value },
    /// An outcome to record, after this line in the job's log.
    Record {
        outcome: Outcome,
        level: LogLevel,
        message: String,
    },
    /// Give the job back without using up an attempt (shutdown).
    Release,
    /// Another attempt owns the job now: write nothing.
    Nothing,
}

/// The decision for `ending`: a retry after the policy's backoff while
/// attempts remain (`random` in [0, 1) draws the jitter), else a failure;
/// a cancel request wins over the job's own cancel only when one was made.
pub fn decide(
    ending: Ending,
    attempt: Attempt,
    retry: &RetryPolicy,
    timeout: Duration,
    now: DateTime<Utc>,
    random: f64,
) -> Decision {
    let retry_or_fail = |error: String| {
        if attempt.cancel_requested {
            // the cancel wins: no "next attempt" is promised in the log
            return Decision::Record {
                message: format!("{error} Cancelado a pedido, sem nova tentativa."),
                outcome: Outcome::Stopped,
                level: LogLevel::Warn,
            };
        }
        if attempt.number < attempt.max {
            let delay = retry.delay_with(attempt.number, random);
            let run_after =
                now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1));
            Decision::Record {
                message: format!("{error} Nova tentativa em {} s.", delay.as_secs().max(1)),
                outcome: Outcome::Retry { error, run_after },
                level: LogLevel::Warn,
            }
        } else {
            Decision::Record {
                message: format!(
                    "{error} Não restam tentativas ({} de {}).",
                    attempt.number, attempt.max
                ),
                outcome: Outcome::Failed { error },
                level: LogLevel::Warn,
            }
        }
    };
    let fail = |error: String| Decision::Record {
        message: error.clone(),
        outcome: Outcome::Failed { error },
        level: LogLevel::Error,
    };
    match ending {
        Ending::Returned(Ok(result)) => Decision::Complete { result },
        Ending::Returned(Err(JobError::Cancelled)) if attempt.cancel_requested => {
            Decision::Record {
                outcome: Outcome::Stopped,
                level: LogLevel::Warn,
                message: "Cancelado.".to_owned(),
            }
        }
        Ending::Returned(Err(JobError::Cancelled)) => {
            fail("O job parou sem pedido de cancelamento.".to_owned())
        }
        Ending::Returned(Err(JobError::Fatal(error))) => fail(error),
        Ending::Returned(Err(JobError::Retryable(error))) => retry_or_fail(error),
        Ending::TimedOut => retry_or_fail(format!(
            "Tempo limite de {} excedido.",
            human_duration(timeout)
        )),
        // the panic's own words go to the server's log (the executor
        // writes them there), not to the admin
        Ending::Panicked(_) => {
            fail("Erro interno no job (detalhes no log do servidor).".to_owned())
        }
        Ending::LeaseLost | Ending::Returned(Err(JobError::LeaseLost)) => Decision::Nothing,
        Ending::Shutdown => Decision::Release,
    }
}

/// `250 ms`, `45 s`, `12 min`, `6 h`: for messages an admin reads.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        format!("{} ms", d.as_millis())
    } else if secs < 120 {
        format!("{secs} s")
    } else if secs < 2 * 3600 {
        format!("{} min", secs / 60)
    } else {
        format!("{} h", secs / 3600)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        base: Duration::from_secs(30),
        max: Duration::from_secs(600),
        jitter: 0.0,
    };

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600, 0).unwrap()
    }

    fn on(number: u32, ending: Ending) -> Decision {
        let attempt = Attempt {
            number,
            max: 3,
            cancel_requested: false,
        };
        decide(
            ending,
            attempt,
            &POLICY,
            Duration::from_secs(6 * 3600),
            now(),
            0.5,
        )
    }

    fn record(d: Decision) -> (Outcome, LogLevel, String) {
        match d {
            Decision::Record {
                outcome,
                level,
                message,
            } => (outcome, level, message),
            other => panic!("not a record: {other:?}"),
        }
    }

    #[test]
    fn success_goes_to_the_completer() {
        assert_eq!(
            on(1, Ending::Returned(Ok(json!({"n": 1})))),
            Decision::Complete {
                result: json!({"n": 1})
            }
        );
    }

    #[test]
    fn a_retryable_error_backs_off_while_attempts_remain_then_fails() {
        let (outcome, level, message) = record(on(
            2,
            Ending::Returned(Err(JobError::Retryable("SGP 503".into()))),
        ));
        // second attempt: 30 s doubled, no jitter
        assert_eq!(
            outcome,
            Outcome::Retry {
                error: "SGP 503".into(),
                run_after: now() + chrono::Duration::seconds(60)
            }
        );
        assert_eq!(level, LogLevel::Warn);
        assert_eq!(message, "SGP 503 Nova tentativa em 60 s.");
        let (outcome, _, message) = record(on(
            3,
            Ending::Returned(Err(JobError::Retryable("SGP 503".into()))),
        ));
        assert_eq!(
            outcome,
            Outcome::Failed {
                error: "SGP 503".into()
            }
        );
        assert_eq!(message, "SGP 503 Não restam tentativas (3 de 3).");
    }

    #[test]
    fn a_fatal_error_or_a_panic_fails_at_once() {
        let (outcome, level, message) = record(on(
            1,
            Ending::Returned(Err(JobError::Fatal("Credenciais incorretas".into()))),
        ));
        assert_eq!(
            outcome,
            Outcome::Failed {
                error: "Credenciais incorretas".into()
            }
        );
        assert_eq!(
            (level, message.as_str()),
            (LogLevel::Error, "Credenciais incorretas")
        );
        let (outcome, level, _) = record(on(1, Ending::Panicked("boom".into())));
        assert_eq!(
            outcome,
            Outcome::Failed {
                error: "Erro interno no job (detalhes no log do servidor).".into()
            }
        );
        assert_eq!(level, LogLevel::Error);
    }

    #[test]
    fn a_timeout_is_retried_like_a_passing_error() {
        let (outcome, _, message) = record(on(1, Ending::TimedOut));
        assert!(matches!(outcome, Outcome::Retry { ref error, .. }
            if error == "Tempo limite de 6 h excedido."));
        assert!(message.starts_with("Tempo limite de 6 h excedido. Nova tentativa em 30 s"));
        let (outcome, _, _) = record(on(3, Ending::TimedOut));
        assert!(matches!(outcome, Outcome::Failed { .. }));
    }

    #[test]
    fn a_cancel_stops_only_when_one_was_asked_for() {
        let asked = Attempt {
            number: 1,
            max: 3,
            cancel_requested: true,
        };
        let d = decide(
            Ending::Returned(Err(JobError::Cancelled)),
            asked,
            &POLICY,
            Duration::from_secs(60),
            now(),
            0.5,
        );
        assert_eq!(
            d,
            Decision::Record {
                outcome: Outcome::Stopped,
                level: LogLevel::Warn,
                message: "Cancelado.".into()
            }
        );
        // a job that stops by itself without a request has failed
        let (outcome, level, _) = record(on(1, Ending::Returned(Err(JobError::Cancelled))));
        assert_eq!(
            outcome,
            Outcome::Failed {
                error: "O job parou sem pedido de cancelamento.".into()
            }
        );
        assert_eq!(level, LogLevel::Error);
    }

    #[test]
    fn an_error_after_a_cancel_request_promises_no_retry() {
        let asked = Attempt {
            number: 1,
            max: 3,
            cancel_requested: true,
        };
        for ending in [
            Ending::Returned(Err(JobError::Retryable("SGP fora do ar.".into()))),
            Ending::TimedOut,
        ] {
            let Decision::Record {
                outcome, message, ..
            } = decide(ending, asked, &POLICY, Duration::from_secs(60), now(), 0.5)
            else {
                panic!("an outcome to record");
            };
            assert_eq!(outcome, Outcome::Stopped);
            assert!(
                message.ends_with("Cancelado a pedido, sem nova tentativa."),
                "{message}"
            );
        }
    }

    #[test]
    fn shutdown_releases_and_a_lost_lease_writes_nothing() {
        assert_eq!(on(1, Ending::Shutdown), Decision::Release);
        assert_eq!(on(3, Ending::LeaseLost), Decision::Nothing);
        // the job's own fenced write found the lease gone: no line in the
        // log of the attempt that owns the job now
        assert_eq!(
            on(1, Ending::Returned(Err(JobError::LeaseLost))),
            Decision::Nothing
        );
    }

    #[test]
    fn durations_read_as_an_admin_says_them() {
        assert_eq!(human_duration(Duration::from_millis(250)), "250 ms");
        assert_eq!(human_duration(Duration::from_secs(45)), "45 s");
        assert_eq!(human_duration(Duration::from_secs(720)), "12 min");
        assert_eq!(human_duration(Duration::from_secs(6 * 3600)), "6 h");
    }
}
