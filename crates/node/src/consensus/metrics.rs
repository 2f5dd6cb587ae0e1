//! The consensus shell's metric families, from its status report as of the last tick.

use super::{ConsensusHandle, StatusReport};
use crate::metrics::{Family, Source};

/// The consensus families of a node.
#[derive(Debug)]
pub(super) struct ConsensusFamilies(pub(super) ConsensusHandle);

impl Source for ConsensusFamilies {
    fn families(&self) -> Vec<Family> {
        consensus_families(&self.0.report())
    }
}

fn consensus_families(report: &StatusReport) -> Vec<Family> {
    let mut rejected = Family::counter(
        "geodns_consensus_rejected_messages_total",
        "Consensus messages rejected, by reason (malformed: could not be read).",
    );
    for (reason, count) in &report.rejected {
        rejected.push(&[("reason", reason)], *count as f64);
    }
    rejected.push(&[("reason", "malformed")], report.malformed as f64);
    let mut latency = Family::histogram(
        "geodns_consensus_decision_seconds",
        "Time from a proposal reaching this node to its decision here.",
    );
    let bounds = crate::metrics::seconds(&geodns_consensus::engine::DECISION_BUCKETS_MS);
    if !report.decision_ms.is_empty() {
        let sum = report.decision_ms_sum as f64 / 1e3;
        latency.observe(&[], &bounds, &report.decision_ms, sum);
    }
    let flag = |on: bool| if on { 1.0 } else { 0.0 };
    vec![
        Family::counter(
            "geodns_consensus_proposals_total",
            "Proposals this node made.",
        )
        .sample(&[], report.proposed as f64),
        Family::counter("geodns_consensus_votes_total", "Votes this node sent.")
            .sample(&[], report.votes_sent as f64),
        Family::counter(
            "geodns_consensus_messages_received_total",
            "Proposals, votes and finalize messages accepted.",
        )
        .sample(&[], report.received as f64),
        Family::counter("geodns_consensus_decisions_total", "Decisions made here.")
            .sample(&[("outcome", "passed")], report.passed as f64)
            .sample(&[("outcome", "failed")], report.failed as f64),
        latency,
        Family::counter(
            "geodns_consensus_outdated_decisions_total",
            "Passed decisions not applied because they were older than the official result in force (replays, outdated copies).",
        )
        .sample(&[], report.outdated as f64),
        Family::counter(
            "geodns_consensus_sync_refused_total",
            "Official results in peers' sync replies refused (no valid proof, or decided in the future).",
        )
        .sample(&[], report.sync_refused as f64),
        Family::counter(
            "geodns_consensus_official_changes_total",
            "Official result changes applied.",
        )
        .sample(&[], report.applied as f64),
        rejected,
        Family::gauge(
            "geodns_consensus_frozen",
            "1 when too few monitors are active to change official results.",
        )
        .sample(&[], flag(report.frozen)),
        Family::gauge("geodns_consensus_open_proposals", "Proposals in flight.")
            .sample(&[], report.open_proposals as f64),
        Family::gauge(
            "geodns_official_results",
            "Official results held, by status.",
        )
        .sample(
            &[("status", "up")],
            (report.official - report.official_down.min(report.official)) as f64,
        )
        .sample(&[("status", "down")], report.official_down as f64),
        Family::gauge(
            "geodns_official_age_seconds",
            "Seconds since the official results were last confirmed.",
        )
        .sample(&[], report.official_age_secs as f64),
    ]
}
