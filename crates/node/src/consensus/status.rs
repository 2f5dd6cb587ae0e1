//! `geodns consensus status`: the consensus task answers `geodns.consensus.status.<node>`
//! with a [`StatusReport`]; the command asks over NATS and prints it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use std::sync::{Arc, Mutex, PoisonError};

use geodns_consensus::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A part of the node that reports with the consensus status.
type Part = Arc<dyn Fn() -> Value + Send + Sync>;

/// Other parts of the node that report with the consensus status, by name (the
/// collator's queue as `collator`). Cheap to clone.
#[derive(Clone, Default)]
pub struct StatusParts(Arc<Mutex<Vec<(&'static str, Part)>>>);

impl std::fmt::Debug for StatusParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StatusParts").finish_non_exhaustive()
    }
}

impl StatusParts {
    /// Reports `part()` under `name` from the next tick on.
    pub fn add(&self, name: &'static str, part: Part) {
        let mut parts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        parts.push((name, part));
    }

    /// Every part's report now.
    pub(super) fn collect(&self) -> BTreeMap<String, Value> {
        let parts = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        parts
            .iter()
            .map(|(name, part)| ((*name).to_owned(), part()))
            .collect()
    }
}

/// One node's consensus state, as JSON on the bus and with `--json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// Node answering.
    pub node: String,
    /// It votes (monitor role).
    pub voter: bool,
    /// Too few active monitors: official results cannot change.
    pub frozen: bool,
    /// Fewest agreeing monitors for a change.
    pub min_votes: usize,
    /// Monitors counted toward the quorum.
    pub active_monitors: Vec<String>,
    /// Agreement policy.
    pub policy: String,
    /// Authentication mode.
    pub auth: String,
    /// Official results held, and how many of them are down.
    pub official: usize,
    /// Official results that are down.
    pub official_down: usize,
    /// Open proposals.
    pub open_proposals: usize,
    /// Buffered early votes.
    pub early_votes: usize,
    /// Proposals this node created.
    pub proposed: u64,
    /// Votes this node sent.
    pub votes_sent: u64,
    /// Decisions here that passed.
    pub passed: u64,
    /// Decisions here that failed.
    pub failed: u64,
    /// Official changes applied.
    pub applied: u64,
    /// Rejected messages per reason.
    pub rejected: BTreeMap<String, u64>,
    /// Bus messages that could not be read.
    pub malformed: u64,
    /// Dropped at a bound of the engine.
    pub dropped: u64,
    /// Passed decisions not applied: older than the official result in force.
    #[serde(default)]
    pub outdated: u64,
    /// Official results from peers' sync replies refused: without a valid proof, or
    /// decided in the future.
    #[serde(default)]
    pub sync_refused: u64,
    /// Consensus messages the bus dropped because this node fell behind.
    #[serde(default)]
    pub bus_dropped: u64,
    /// Accepted consensus messages not handed to this node's collator because it was
    /// behind (they are not in its message log; decisions among them are repaired by
    /// re-sends).
    #[serde(default)]
    pub collator_behind: u64,
    /// Engine ticks (one a second) since start: a task that stopped ticking is stuck.
    #[serde(default)]
    pub ticks: u64,
    /// Seconds since the official results were last confirmed (a decision or a peer's
    /// sync) or loaded.
    #[serde(default)]
    pub official_age_secs: u64,
    /// A DNS-only node whose official results are older than `[dns] max_snapshot_age`.
    #[serde(default)]
    pub stale: bool,
    /// Decisions made here by time taken, per bucket of
    /// `geodns_consensus::engine::DECISION_BUCKETS_MS` then the rest.
    #[serde(default)]
    pub decision_ms: Vec<u64>,
    /// Sum of those times, milliseconds.
    #[serde(default)]
    pub decision_ms_sum: u64,
    /// Accepted proposals, votes and finalize messages received.
    #[serde(default)]
    pub received: u64,
    /// Timeouts that re-armed a proposal.
    #[serde(default)]
    pub retries: u64,
    /// Other parts of the node, by name: on a collator, `collator` (outage decisions
    /// waiting for the database, its counters, the last usage collection).
    #[serde(flatten)]
    pub parts: BTreeMap<String, Value>,
}

impl StatusReport {
    /// The report of an engine.
    pub fn of(engine: &Engine, malformed: u64) -> Self {
        let config = engine.config();
        let stats = engine.stats();
        let pending = engine.pending();
        let official = engine.official();
        StatusReport {
            node: config.node.to_string(),
            voter: config.voter,
            frozen: engine.is_frozen(),
            min_votes: config.min_votes,
            active_monitors: engine.monitors().iter().map(|m| m.to_string()).collect(),
            policy: config.policy.to_string(),
            auth: engine.auth_mode().as_str().to_owned(),
            official: official.len(),
            official_down: official.iter().filter(|(_, e)| !e.status).count(),
            open_proposals: pending.proposals,
            early_votes: pending.orphan_votes,
            proposed: stats.proposed,
            votes_sent: stats.votes_sent,
            passed: stats.passed,
            failed: stats.failed,
            applied: stats.applied,
            rejected: stats
                .rejected
                .iter()
                .map(|(reason, count)| ((*reason).to_owned(), *count))
                .collect(),
            malformed,
            dropped: stats.dropped,
            outdated: stats.outdated,
            sync_refused: 0,
            bus_dropped: 0,
            collator_behind: 0,
            ticks: 0,
            official_age_secs: 0,
            stale: false,
            decision_ms: stats.decision_ms.to_vec(),
            decision_ms_sum: stats.decision_ms_sum,
            received: stats.received,
            retries: stats.retries,
            parts: BTreeMap::new(),
        }
    }

    /// Human-readable form.
    pub fn render(&self) -> String {
        let mut text = String::new();
        let state = match (self.voter, self.frozen) {
            (false, _) => "observer (applies decisions, does not vote)",
            (true, true) => "FROZEN: too few active monitors, official results cannot change",
            (true, false) => "deciding",
        };
        let _ = writeln!(text, "node:            {}", self.node);
        let _ = writeln!(text, "state:           {state}");
        let _ = writeln!(
            text,
            "monitors:        {} active, min_votes {} ({})",
            self.active_monitors.len(),
            self.min_votes,
            self.active_monitors.join(", ")
        );
        let _ = writeln!(text, "policy, auth:    {}, {}", self.policy, self.auth);
        let _ = writeln!(
            text,
            "official:        {} results, {} down",
            self.official, self.official_down
        );
        let _ = writeln!(
            text,
            "in flight:       {} open proposals, {} early votes",
            self.open_proposals, self.early_votes
        );
        let _ = writeln!(
            text,
            "since start:     {} proposed, {} votes sent, {} passed, {} failed, {} applied",
            self.proposed, self.votes_sent, self.passed, self.failed, self.applied
        );
        let rejected: Vec<String> = self
            .rejected
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        let _ = writeln!(
            text,
            "rejected:        {} (malformed {}, dropped {}, dropped by the bus {}, not handed to the collator {})",
            if rejected.is_empty() {
                "none".to_owned()
            } else {
                rejected.join(", ")
            },
            self.malformed,
            self.dropped,
            self.bus_dropped,
            self.collator_behind
        );
        text
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use geodns_consensus::auth::{AuthMode, Trust};
    use geodns_consensus::{EngineConfig, Input};
    use geodns_core::ids::NodeId;
    use serde_json::json;

    use super::*;

    fn engine(voter: bool) -> Engine {
        let node = NodeId::parse("m1").unwrap();
        let trust = Trust::new(AuthMode::Off, BTreeMap::new());
        Engine::new(EngineConfig::new(node, voter), trust, None)
    }

    #[test]
    fn the_report_of_an_engine_and_its_text() {
        let mut voter = engine(true);
        let now = chrono::DateTime::UNIX_EPOCH;
        voter.step(Input::Monitors([NodeId::parse("m1").unwrap()].into()), now);
        let report = StatusReport::of(&voter, 3);
        assert_eq!(report.node, "m1");
        assert!(report.voter);
        assert_eq!(report.malformed, 3);
        assert_eq!(report.auth, "off");
        assert_eq!(report.active_monitors, ["m1"]);
        let text = report.render();
        assert!(text.contains("node:            m1"), "{text}");
        let observer = StatusReport::of(&engine(false), 0);
        assert!(
            observer
                .render()
                .contains("observer (applies decisions, does not vote)")
        );
    }

    #[test]
    fn parts_travel_as_top_level_fields() {
        let parts = StatusParts::default();
        parts.add("collator", Arc::new(|| json!({"pending": 2})));
        let mut report = StatusReport::of(&engine(true), 0);
        report.parts = parts.collect();
        let value = serde_json::to_value(&report).unwrap();
        assert_eq!(value["collator"], json!({"pending": 2}));
        assert_eq!(value["node"], "m1");
        let back: StatusReport = serde_json::from_value(value).unwrap();
        assert_eq!(back, report);
    }
}
