//! The consensus state machine: `step(input, now) -> outputs`. It holds this node's
//! debounced local results, the official results, the proposals in flight and the
//! votes that arrived early; it does no I/O and reads no clock.

mod decide;
mod inbound;
mod proofs;
mod turn;
mod types;
mod verified;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use geodns_core::ids::{MemberId, NodeId};
use geodns_core::records::CheckKey;

use crate::auth::{NodeKey, Trust};
use crate::hysteresis::Debounced;
use crate::message::{ProposalId, Signed, SigningBytes};
use crate::results::{ResultEntry, Results, Snapshot};

pub use proofs::{Proven, ProvenSet};
pub use types::{
    DECISION_BUCKETS_MS, DecideReason, EngineConfig, Event, Input, Merged, Observation,
    OfficialChange, Outgoing, Output, Pending, Stats,
};

/// A proposal this node tracks until it is decided.
#[derive(Debug, Clone)]
struct Tracked {
    proposal: Signed<crate::message::Proposal>,
    /// Latest vote of each node, signed, for the quorum certificate of a finalize.
    votes: BTreeMap<NodeId, Signed<crate::message::Vote>>,
    created: DateTime<Utc>,
    deadline: DateTime<Utc>,
    attempts: u32,
    mine: bool,
    /// Own proposals: when last sent. Others': when last received or relayed.
    /// Own proposals: when last sent. Others': when last received or relayed.
    last_broadcast: DateTime<Utc>,
    my_vote_sent: Option<DateTime<Utc>>,
}

/// A vote that arrived before its proposal, with when it arrived.
type EarlyVote = (Signed<crate::message::Vote>, DateTime<Utc>);

/// A decided proposal, remembered so late votes, duplicate proposals and repeated
/// finalize messages are recognised; holds a finalize to resend to a node that missed it.
#[derive(Debug, Clone)]
struct DecidedRecord {
    at: DateTime<Utc>,
    closure: Closure,
    last_resend: Option<DateTime<Utc>>,
}

/// How a remembered proposal ended, and so what to resend to a node still acting on it.
#[derive(Debug, Clone)]
enum Closure {
    /// Decided (here or elsewhere): resend this finalize.
    Finalize(Signed<crate::message::Finalize>),
    /// Ended because the same change passed in another proposal. Its proposer may see it
    /// differently (its official state may have moved since), so it gets a finalize that
    /// closes this proposal without applying it (`passed = false`) and proposes afresh.
    Moot(crate::message::Proposal),
}

impl Closure {
    /// Whether this ending applied the proposal (a passed finalize).
    fn passed(&self) -> bool {
        matches!(self, Closure::Finalize(finalize) if finalize.message.passed)
    }
}

/// Durations of the configuration, as chrono deltas.
#[derive(Debug, Clone, Copy)]
struct Timing {
    timeout: TimeDelta,
    republish: TimeDelta,
    /// Half the republish interval: how often a node holding another's open proposal
    /// re-sends its vote, and how soon after a decision a finalize is re-sent on request.
    repair: TimeDelta,
    proposal_ttl: TimeDelta,
    orphan_ttl: TimeDelta,
    holdoff: TimeDelta,
}

/// One node's consensus state. Monitors (`config.voter`) observe, propose, vote and
/// decide; other roles only apply finalized decisions.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    timing: Timing,
    trust: Trust,
    key: Option<NodeKey>,
    /// Active monitors that count toward the quorum (this node included when a voter).
    monitors: BTreeSet<NodeId>,
    frozen: bool,
    debounce: HashMap<CheckKey, Debounced>,
    local: Results,
    official: Results,
    proposals: HashMap<ProposalId, Tracked>,
    open_by_key: HashMap<(CheckKey, bool), Vec<ProposalId>>,
    decided: HashMap<ProposalId, DecidedRecord>,
    decided_order: VecDeque<(DateTime<Utc>, ProposalId)>,
    orphans: HashMap<ProposalId, Vec<EarlyVote>>,
    orphan_order: VecDeque<(DateTime<Utc>, ProposalId)>,
    orphan_count: usize,
    stats: Stats,
    /// For each official entry applied from a passed decision, the signed finalize that
    /// decided it: what a sync reply carries so its receiver can verify it.
    proofs: Arc<proofs::Proofs>,
    /// Changes this monitor would propose but whose turn has not come (see
    /// `EngineConfig::proposal_holdoff`), by check.
    waiting: HashMap<CheckKey, turn::Waiting>,
    /// Proposals and votes verified here, not verified again (repairs, certificates).
    verified: verified::Verified,
}

impl Timing {
    fn of(config: &EngineConfig) -> Self {
        Timing {
            timeout: delta(config.proposal_timeout),
            republish: delta(config.republish_interval),
            repair: delta(config.republish_interval / 2),
            proposal_ttl: delta(config.proposal_ttl),
            orphan_ttl: delta(config.orphan_vote_ttl),
            holdoff: delta(config.proposal_holdoff),
        }
    }
}

/// A configured duration as a delta, capped at 100 years so that `now + delta` and
/// `2 * delta` can never overflow whatever the configuration says.
fn delta(duration: std::time::Duration) -> TimeDelta {
    const CAP: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 86_400);
    TimeDelta::from_std(duration.min(CAP)).unwrap_or(TimeDelta::zero())
}

impl Engine {
    /// A node with no results and no peers. `key` signs what it sends (none: unsigned).
    pub fn new(config: EngineConfig, trust: Trust, key: Option<NodeKey>) -> Self {
        let timing = Timing::of(&config);
        let mut monitors = BTreeSet::new();
        if config.voter {
            monitors.insert(config.node.clone());
        }
        let frozen = config.voter && monitors.len() < config.min_votes;
        Engine {
            config,
            timing,
            trust,
            key,
            monitors,
            frozen,
            debounce: HashMap::new(),
            local: Results::new(),
            official: Results::new(),
            proposals: HashMap::new(),
            open_by_key: HashMap::new(),
            decided: HashMap::new(),
            decided_order: VecDeque::new(),
            orphans: HashMap::new(),
            orphan_order: VecDeque::new(),
            orphan_count: 0,
            stats: Stats::default(),
            proofs: Arc::default(),
            waiting: HashMap::new(),
            verified: verified::Verified::default(),
        }
    }

    /// Takes new rules and a new trust table (a configuration reload). The node id and
    /// role stay as they are; proposals in flight are decided under the new rules.
    pub fn reconfigure(
        &mut self,
        mut config: EngineConfig,
        trust: Trust,
        now: DateTime<Utc>,
    ) -> Vec<Output> {
        config.node = self.config.node.clone();
        config.voter = self.config.voter;
        self.timing = Timing::of(&config);
        self.config = config;
        self.trust = trust;
        self.verified.clear();
        let mut out = Vec::new();
        // Re-filter the active monitors through the new trust table, then re-decide.
        let monitors = std::mem::take(&mut self.monitors);
        self.on_monitors(monitors, now, &mut out);
        self.check_frozen(&mut out);
        out
    }

    /// Feeds one input; returns what to publish, apply and record.
    pub fn step(&mut self, input: Input, now: DateTime<Utc>) -> Vec<Output> {
        let mut out = Vec::new();
        self.step_into(input, now, &mut out);
        out
    }

    /// As [`Engine::step`], appending to a caller's buffer.
    pub fn step_into(&mut self, input: Input, now: DateTime<Utc>, out: &mut Vec<Output>) {
        match input {
            Input::Observed(observation) => self.on_observed(observation, now, out),
            Input::Proposal(proposal) => self.on_proposal(proposal, now, out),
            Input::Vote(vote) => self.on_vote(vote, now, out),
            Input::Finalize(finalize) => self.on_finalize(finalize, now, out),
            Input::Monitors(monitors) => self.on_monitors(monitors, now, out),
            Input::Maintenance(members) => self.on_maintenance(members, out),
            Input::Tick => self.on_tick(now, out),
        }
    }

    /// The official results, for readers (DNS, API, cache file).
    pub fn official(&self) -> Arc<Snapshot> {
        self.official.snapshot()
    }

    /// This node's own (debounced) results.
    pub fn local(&self) -> Arc<Snapshot> {
        self.local.snapshot()
    }

    /// Loads official results saved before a restart (cache file); outputs nothing.
    pub fn restore_official(&mut self, entries: impl IntoIterator<Item = (CheckKey, ResultEntry)>) {
        for (key, entry) in entries {
            self.official.set(key, entry);
        }
    }

    /// Anti-entropy: adopts another node's official results that are newer than ours
    /// (decided later) or that we lack. Older ones are ignored, so a peer that missed a
    /// decision cannot undo it here; one decided after `now` (beyond `max_skew`) is
    /// refused, so a peer cannot pin a result with a date no later decision can beat.
    pub fn merge_official(
        &mut self,
        entries: impl IntoIterator<Item = (CheckKey, ResultEntry)>,
        now: DateTime<Utc>,
    ) -> Merged {
        let latest = self.horizon(now);
        let mut merged = Merged::default();
        for (key, entry) in entries {
            // Decided after now (beyond the clocks' allowance): no honest node has it.
            if entry.at > latest {
                merged.from_the_future += 1;
                continue;
            }
            let newer = match self.official.get(&key) {
                None => true,
                Some(current) => entry.at > current.at,
            };
            if newer {
                // A local source (the store, the consensus log) has no proof to keep.
                self.proofs_mut().remove(&key);
                self.official.set(key, entry);
                merged.changed += 1;
            }
        }
        merged
    }

    /// The latest decision time a node whose clock says `now` can have seen:
    /// `now + max_skew` (also how much older than the entry in force a decision may be).
    pub(super) fn horizon(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let skew = TimeDelta::from_std(self.config.max_skew).unwrap_or(TimeDelta::MAX);
        now.checked_add_signed(skew)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Loads local results saved before a restart; each counts as a first result.
    pub fn restore_local(&mut self, entries: impl IntoIterator<Item = (CheckKey, ResultEntry)>) {
        for (key, entry) in entries {
            self.debounce
                .insert(key.clone(), Debounced::first(entry.status));
            self.local.set(key, entry);
        }
    }

    /// Counters since start.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// How much state is held now.
    pub fn pending(&self) -> Pending {
        Pending {
            proposals: self.proposals.len(),
            orphan_votes: self.orphan_count,
            decided: self.decided.len(),
        }
    }

    /// Active monitors counting toward the quorum.
    pub fn monitors(&self) -> &BTreeSet<NodeId> {
        &self.monitors
    }

    /// Too few active monitors to decide anything: the official state is frozen.
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// How inbound messages are authenticated.
    pub fn auth_mode(&self) -> crate::auth::AuthMode {
        self.trust.mode()
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    fn sign<M: SigningBytes>(&self, message: M) -> Signed<M> {
        match &self.key {
            Some(key) => key.sign(message),
            None => Signed::unsigned(message),
        }
    }

    fn on_maintenance(&mut self, members: BTreeSet<MemberId>, out: &mut Vec<Output>) {
        self.local.set_maintenance(members.clone());
        for (member, on) in self.official.set_maintenance(members) {
            out.push(Output::Event(Event::Maintenance { member, on }));
        }
    }

    fn on_monitors(
        &mut self,
        monitors: BTreeSet<NodeId>,
        now: DateTime<Utc>,
        out: &mut Vec<Output>,
    ) {
        let mode = self.trust.mode();
        let mut counted: BTreeSet<NodeId> = monitors
            .into_iter()
            .filter(|id| {
                mode == crate::auth::AuthMode::Off
                    || self.trust.node(id).is_some_and(|node| node.monitor)
            })
            .collect();
        if self.config.voter {
            counted.insert(self.config.node.clone());
        }
        if counted == self.monitors {
            return;
        }
        self.monitors = counted;
        self.check_frozen(out);
        let open: Vec<ProposalId> = self.proposals.keys().cloned().collect();
        for id in open {
            self.decide(&id, DecideReason::Votes, now, out);
        }
    }

    fn check_frozen(&mut self, out: &mut Vec<Output>) {
        let frozen = self.config.voter && self.monitors.len() < self.config.min_votes;
        if frozen != self.frozen {
            self.frozen = frozen;
            out.push(Output::Event(Event::Frozen {
                frozen,
                active: self.monitors.len(),
                min_votes: self.config.min_votes,
            }));
        }
    }
}

#[cfg(test)]
mod freshness_tests;
#[cfg(test)]
mod repair_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod turn_tests;
