//! Counters per check type: attempts, passes, failures by reason, latency (sum, max and
//! a histogram), kept in memory for the metrics endpoint and `consensus status`.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;

use crate::outcome::{Failure, Outcome};

/// Upper bounds of the latency histogram, milliseconds (the last bucket is everything
/// above).
pub const LATENCY_BUCKETS_MS: [u64; 9] = [10, 50, 100, 250, 500, 1000, 2500, 5000, 10_000];

/// The counters of one check type.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TypeCounters {
    /// Runs.
    pub attempts: u64,
    /// Healthy results.
    pub ok: u64,
    /// Failed results by reason (`timeout`, `connect`, ...).
    pub failures: BTreeMap<&'static str, u64>,
    /// Sum of run times, milliseconds.
    pub latency_ms_sum: f64,
    /// Longest run, milliseconds.
    pub latency_ms_max: f64,
    /// Runs per latency bucket ([`LATENCY_BUCKETS_MS`], then the rest).
    pub latency_buckets: [u64; LATENCY_BUCKETS_MS.len() + 1],
}

/// Counters of every check type, shared by the scheduler and whoever reports them.
#[derive(Debug, Default)]
pub struct Counters {
    by_type: Mutex<BTreeMap<&'static str, TypeCounters>>,
}

impl Counters {
    /// Counts one result of a `probe_type` check.
    pub fn record(&self, probe_type: &'static str, outcome: &Outcome) {
        let mut all = self.by_type.lock().unwrap_or_else(PoisonError::into_inner);
        let counters = all.entry(probe_type).or_default();
        counters.attempts += 1;
        match &outcome.failure {
            None => counters.ok += 1,
            Some(Failure(reason, _)) => *counters.failures.entry(reason.as_str()).or_default() += 1,
        }
        let ms = outcome.latency.as_secs_f64() * 1e3;
        counters.latency_ms_sum += ms;
        counters.latency_ms_max = counters.latency_ms_max.max(ms);
        counters.latency_buckets[bucket(outcome.latency)] += 1;
    }

    /// A copy of every type's counters.
    pub fn snapshot(&self) -> BTreeMap<&'static str, TypeCounters> {
        self.by_type
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn bucket(latency: Duration) -> usize {
    let ms = latency.as_millis();
    LATENCY_BUCKETS_MS
        .iter()
        .position(|&bound| ms <= u128::from(bound))
        .unwrap_or(LATENCY_BUCKETS_MS.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Reason;

    #[test]
    fn counts_by_type_reason_and_bucket() {
        let counters = Counters::default();
        let mut ok = Outcome::of(Ok(()), Default::default());
        ok.latency = Duration::from_millis(30);
        let late = Failure::new(Reason::Timeout, "late");
        let mut slow = Outcome::of(Err(late), Default::default());
        slow.latency = Duration::from_secs(20);
        counters.record("tcp", &ok);
        counters.record("tcp", &slow);
        counters.record("ping", &ok);
        let all = counters.snapshot();
        let tcp = &all["tcp"];
        assert_eq!((tcp.attempts, tcp.ok), (2, 1));
        assert_eq!(tcp.failures.get("timeout"), Some(&1));
        assert_eq!(tcp.latency_buckets[1], 1, "30 ms is in the 50 ms bucket");
        assert_eq!(tcp.latency_buckets[9], 1, "20 s is above every bound");
        assert!((tcp.latency_ms_max - 20_000.0).abs() < 1e-6);
        assert_eq!(all["ping"].attempts, 1);
    }
}
