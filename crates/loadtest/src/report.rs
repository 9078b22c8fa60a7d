//! The figures of a run: per round, then per database against the targets
//! (dashboard p95 < 100 ms during the import, no errors, the import under
//! load within 20 % of its speed alone).

use std::sync::atomic::Ordering;

use goose::metrics::{GooseMetrics, GooseRequestMetricAggregate};

use crate::load::{Round, DURING, OUTSIDE, STREAM};

/// One request kind's times, in milliseconds.
#[derive(Clone, Copy, Default)]
pub struct Times {
    pub count: usize,
    pub failed: usize,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Times {
    fn of(a: Option<&GooseRequestMetricAggregate>) -> Times {
        let Some(a) = a else {
            return Times::default();
        };
        let ms = |us: u64| us as f64 / 1000.0;
        let t = &a.raw_data;
        Times {
            count: a.success_count + a.fail_count,
            failed: a.fail_count,
            p50: ms(t.percentile_us(0.50)),
            p95: ms(t.percentile_us(0.95)),
            p99: ms(t.percentile_us(0.99)),
            max: ms(t.maximum_time_us),
        }
    }
}

pub struct LoadedRound {
    pub during: Times,
    pub outside: Times,
    /// Time to the stream's headers; the stream then lasts the import.
    pub streams: Times,
    pub streams_done: u64,
    pub events: u64,
    /// Failed requests of any kind.
    pub errors: usize,
}

impl LoadedRound {
    pub fn from_metrics(m: &GooseMetrics, round: &Round) -> LoadedRound {
        let named = |name: &str| m.requests.values().find(|a| a.path == name);
        LoadedRound {
            during: Times::of(named(DURING)),
            outside: Times::of(named(OUTSIDE)),
            streams: Times::of(named(STREAM)),
            streams_done: round.streams_done.load(Ordering::Relaxed),
            events: round.events.load(Ordering::Relaxed),
            errors: m.requests.values().map(|a| a.fail_count).sum(),
        }
    }

    pub fn describe(&self, rate: f64) -> String {
        let d = &self.during;
        format!(
            "{rate:.0} customers/s; dashboard during the import: {} requests ({} failed), p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} more outside it, p95 {:.1} ms); {} streams opened (p95 {:.1} ms to headers), {} saw `done`, {} progress events; {} failed requests",
            d.count,
            d.failed,
            d.p50,
            d.p95,
            d.p99,
            d.max,
            self.outside.count,
            self.outside.p95,
            self.streams.count,
            self.streams.p95,
            self.streams_done,
            self.events,
            self.errors
        )
    }
}

pub struct Summary {
    name: String,
    streams: usize,
    pub alone: Vec<f64>,
    pub loaded: Vec<(f64, LoadedRound)>,
    /// Rounds that could not be measured, and why.
    pub failures: Vec<String>,
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn list(values: &[f64], decimals: usize) -> String {
    let shown: Vec<String> = values.iter().map(|v| format!("{v:.decimals$}")).collect();
    shown.join(", ")
}

impl Summary {
    pub fn new(name: &str, streams: usize) -> Summary {
        Summary {
            name: name.to_owned(),
            streams,
            alone: Vec::new(),
            loaded: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// Failed requests, streams that missed `done`, and rounds that failed.
    pub fn errors(&self) -> usize {
        let requests: usize = self.loaded.iter().map(|(_, l)| l.errors).sum();
        let missed: u64 = self
            .loaded
            .iter()
            .map(|(_, l)| (self.streams as u64).saturating_sub(l.streams_done))
            .sum();
        requests + missed as usize + self.failures.len()
    }

    pub fn print(&self) {
        let n = &self.name;
        let loaded_rates: Vec<f64> = self.loaded.iter().map(|(r, _)| *r).collect();
        let (alone, under) = (median(&self.alone), median(&loaded_rates));
        println!(
            "{n}: import alone: {} customers/s; median {alone:.0}",
            list(&self.alone, 0)
        );
        println!(
            "{n}: import under load: {} customers/s; median {under:.0} = {:.2}× alone (a drop of {:.0} %; target < 20 %)",
            list(&loaded_rates, 0),
            under / alone,
            (1.0 - under / alone) * 100.0
        );
        let p95: Vec<f64> = self.loaded.iter().map(|(_, l)| l.during.p95).collect();
        let requests: usize = self.loaded.iter().map(|(_, l)| l.during.count).sum();
        println!(
            "{n}: dashboard p95 during the import, per round: {} ms; median {:.1} ms (target < 100 ms), over {requests} requests",
            list(&p95, 1),
            median(&p95)
        );
        let done: u64 = self.loaded.iter().map(|(_, l)| l.streams_done).sum();
        println!(
            "{n}: progress streams that followed the import to `done`: {done} of {}; errors: {}{}",
            self.streams * self.loaded.len(),
            self.errors(),
            if self.failures.is_empty() {
                String::new()
            } else {
                format!(" (failed rounds: {})", self.failures.join("; "))
            }
        );
    }
}
