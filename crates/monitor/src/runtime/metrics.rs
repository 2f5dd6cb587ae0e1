//! The monitor's metric families: checks run, failures by reason, and how long they
//! took, per check type.

use std::sync::Arc;

use geodns_node::metrics::{Family, Source};

use crate::Counters;

/// The check counters of a monitor, as families.
#[derive(Debug)]
pub(super) struct CheckFamilies(pub(super) Arc<Counters>);

impl Source for CheckFamilies {
    fn families(&self) -> Vec<Family> {
        check_families(&self.0)
    }
}

fn check_families(counters: &Counters) -> Vec<Family> {
    let mut attempts = Family::counter("geodns_check_attempts_total", "Checks run, by type.");
    let mut failures = Family::counter(
        "geodns_check_failures_total",
        "Failed checks, by type and reason.",
    );
    let mut latency = Family::histogram(
        "geodns_check_duration_seconds",
        "How long checks took, by type.",
    );
    let bounds = geodns_node::metrics::seconds(&crate::counters::LATENCY_BUCKETS_MS);
    let snapshot = counters.snapshot();
    for (kind, counts) in &snapshot {
        attempts.push(&[("type", kind)], counts.attempts as f64);
        for (reason, count) in &counts.failures {
            failures.push(&[("type", kind), ("reason", reason)], *count as f64);
        }
        let sum = counts.latency_ms_sum / 1e3;
        latency.observe(&[("type", kind)], &bounds, &counts.latency_buckets, sum);
    }
    vec![attempts, failures, latency]
}
