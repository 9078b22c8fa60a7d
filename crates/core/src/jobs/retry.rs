//! How long to wait before the next attempt: exponential, capped, with
//! jitter so many failed jobs do not all come back at the same instant.

use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max: Duration,
    /// Fraction of the delay drawn at random (0.0 to 1.0): the delay is
    /// `d * (1 - jitter/2 + jitter * r)` with `r` in [0, 1).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(10),
            max: Duration::from_secs(30 * 60),
            jitter: 0.3,
        }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt `attempt` (1-based), given a random
    /// number `r` in [0, 1): pure, so tests can check exact values.
    pub fn delay_with(&self, attempt: u32, r: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        let raw = self.base.as_secs_f64() * 2f64.powi(exp as i32);
        let capped = raw.min(self.max.as_secs_f64());
        let factor = 1.0 - self.jitter / 2.0 + self.jitter * r.clamp(0.0, 1.0);
        Duration::from_secs_f64((capped * factor).max(0.0))
    }

    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_each_attempt_up_to_the_cap() {
        let p = RetryPolicy {
            base: Duration::from_secs(10),
            max: Duration::from_secs(100),
            jitter: 0.0,
        };
        let secs: Vec<u64> = (1..=6).map(|a| p.delay_with(a, 0.5).as_secs()).collect();
        assert_eq!(secs, [10, 20, 40, 80, 100, 100]);
        assert_eq!(p.delay_with(u32::MAX, 0.5).as_secs(), 100);
    }

    #[test]
    fn jitter_spreads_around_the_delay() {
        let p = RetryPolicy {
            base: Duration::from_secs(100),
            max: Duration::from_secs(1000),
            jitter: 0.4,
        };
        assert_eq!(p.delay_with(1, 0.0), Duration::from_secs(80));
        assert_eq!(p.delay_with(1, 0.5), Duration::from_secs(100));
        assert!(p.delay_with(1, 0.999) < Duration::from_secs(120));
        for _ in 0..100 {
            let d = p.delay(1);
            assert!(d >= Duration::from_secs(80) && d < Duration::from_secs(120));
        }
    }
}
