//! `geodns consensus status`: the consensus task answers `geodns.consensus.status.<node>`
//! with a [`StatusReport`]; the command asks over NATS and prints it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use geodns_consensus::Engine;

use super::QueueReport;
use serde::{Deserialize, Serialize};

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
    /// Consensus messages the bus dropped because this node fell behind.
    #[serde(default)]
    pub bus_dropped: u64,
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
    /// On a collator: outage decisions waiting for the database, and its counters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collator: Option<QueueReport>,
}

impl StatusReport {
    /// The report of an engine.
    pub fn of(engine: &Engine, malformed: u64, collator: Option<QueueReport>) -> Self {
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
            bus_dropped: 0,
            ticks: 0,
            official_age_secs: 0,
            stale: false,
            decision_ms: stats.decision_ms.to_vec(),
            decision_ms_sum: stats.decision_ms_sum,
            received: stats.received,
            retries: stats.retries,
            collator,
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
            "rejected:        {} (malformed {}, dropped {}, dropped by the bus {})",
            if rejected.is_empty() {
                "none".to_owned()
            } else {
                rejected.join(", ")
            },
            self.malformed,
            self.dropped,
            self.bus_dropped
        );
        if let Some(queue) = &self.collator {
            let _ = writeln!(
                text,
                "collator:        {} waiting for the database, {} stored, {} retries, {} dropped, {} refused{}",
                queue.pending,
                queue.stored,
                queue.retries,
                queue.dropped,
                queue.refused,
                queue
                    .last_error
                    .as_deref()
                    .map(|e| format!(" (last error: {e})"))
                    .unwrap_or_default()
            );
            if let Some(run) = &queue.last_collection {
                let at = run.at.map(|at| at.to_rfc3339()).unwrap_or_default();
                let missing = if run.missing.is_empty() && run.failed.is_empty() {
                    "every DNS node answered".to_owned()
                } else {
                    let failed: Vec<&str> = run.failed.keys().map(String::as_str).collect();
                    format!("missing {:?}, failed {:?}", run.missing, failed)
                };
                let _ = writeln!(
                    text,
                    "usage collected: {at}, {} nodes stored, {missing}",
                    run.stored.len()
                );
            }
        }
        text
    }
}
