//! What goes into and comes out of the state machine, its configuration and counters.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};

use geodns_core::ids::{MemberId, NodeId};
use geodns_core::records::CheckKey;
use serde_json::{Map, Value};

use crate::auth::Rejection;
use crate::hysteresis::Hysteresis;
use crate::message::{Finalize, Proposal, ProposalId, Signed, Vote};
use crate::policy::Policy;
use crate::results::ResultEntry;

/// Rules and limits of one node's consensus (the original's defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// This node.
    pub node: NodeId,
    /// Runs the monitor role: observes, proposes, votes and decides.
    pub voter: bool,
    /// Agreement policy.
    pub policy: Policy,
    /// Fewest agreeing monitors for any change (2; 1 only in single-node mode).
    pub min_votes: usize,
    /// An undecided proposal is re-examined after this long (30 s).
    pub proposal_timeout: Duration,
    /// Own open proposals are re-sent, and own votes may be re-sent, this often (10 s).
    pub republish_interval: Duration,
    /// Timeouts after the first before an undecided proposal fails (3).
    pub max_retries: u32,
    /// Decided proposals are remembered this long (10 min).
    pub proposal_ttl: Duration,
    /// Votes for unknown proposals are kept this long (2 min).
    pub orphan_vote_ttl: Duration,
    /// Debouncing of this monitor's own results (fall 2, rise 2).
    pub hysteresis: Hysteresis,
    /// At most this many open proposals are tracked; more are dropped and counted.
    pub max_proposals: usize,
    /// At most this many early votes are buffered; more are dropped and counted.
    pub max_orphan_votes: usize,
    /// At most this many decided proposals are remembered.
    pub max_decided: usize,
    /// How much older than the official entry it would replace a received decision may
    /// be and still apply (the monitors' clocks differ by this much at most). Older: a
    /// replay or an outdated copy, not applied (`Event::Outdated`).
    pub max_skew: Duration,
    /// How long a monitor that is not first in a check's proposer order waits, per place
    /// behind the first, before proposing a change itself (0: everyone proposes at once,
    /// as the original does). The order is a hash of the check and the monitor ids, the
    /// same on every monitor, so usually one proposal is made per change and the others
    /// vote on it instead of racing with their own.
    pub proposal_holdoff: Duration,
    /// Verify and report every copy of a finalize (a collator on this node logs each
    /// monitor's). Otherwise another copy of a decided proposal's finalize, which can
    /// change nothing here, is ignored unverified ([`Event::Copy`]).
    pub keep_copies: bool,
}

impl EngineConfig {
    /// The original's rules with hysteresis 2/2, for a node.
    pub fn new(node: NodeId, voter: bool) -> Self {
        EngineConfig {
            node,
            voter,
            policy: Policy::Majority,
            min_votes: 2,
            proposal_timeout: Duration::from_secs(30),
            republish_interval: Duration::from_secs(10),
            max_retries: 3,
            proposal_ttl: Duration::from_secs(600),
            orphan_vote_ttl: Duration::from_secs(120),
            hysteresis: Hysteresis::default(),
            max_proposals: 100_000,
            max_orphan_votes: 100_000,
            max_decided: 200_000,
            max_skew: Duration::from_secs(5),
            proposal_holdoff: Duration::ZERO,
            keep_copies: true,
        }
    }
}

/// A raw result of one of this monitor's checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// What was checked.
    pub key: CheckKey,
    /// It passed.
    pub ok: bool,
    /// Why it failed.
    pub error: String,
    /// Check data.
    pub data: Option<Map<String, Value>>,
    /// The id to use if this result starts a new proposal (the caller owns randomness).
    pub new_id: ProposalId,
}

/// Something that happened to a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// One of this monitor's checks returned.
    Observed(Observation),
    /// A `consensus.propose` message arrived.
    Proposal(Signed<Proposal>),
    /// A `consensus.vote` message arrived.
    Vote(Signed<Vote>),
    /// A `consensus.finalize` message arrived.
    Finalize(Signed<Finalize>),
    /// The set of active monitors changed (from cluster membership).
    Monitors(BTreeSet<NodeId>),
    /// The set of members in maintenance changed (from configuration).
    Maintenance(BTreeSet<MemberId>),
    /// Time passed: timeouts, republishing, garbage collection.
    Tick,
}

/// A message to publish.
#[derive(Debug, Clone, PartialEq)]
pub enum Outgoing {
    /// On `consensus.propose`.
    Proposal(Signed<Proposal>),
    /// On `consensus.vote`.
    Vote(Signed<Vote>),
    /// On `consensus.finalize`.
    Finalize(Signed<Finalize>),
}

/// An official status changed (a passed proposal was applied).
#[derive(Debug, Clone, PartialEq)]
pub struct OfficialChange {
    /// What changed.
    pub key: CheckKey,
    /// The new official result.
    pub entry: ResultEntry,
    /// The status before, `None` when the check had no official result.
    pub previous: Option<bool>,
    /// The proposal that changed it.
    pub proposal: ProposalId,
}

/// Why a proposal was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecideReason {
    /// Enough votes.
    Votes,
    /// Still undecided after the last retry.
    Timeout,
}

/// Something worth a log line, a metric or a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// This node decided a proposal.
    Decided {
        /// The proposal.
        proposal: ProposalId,
        /// What it was about.
        key: CheckKey,
        /// Proposed status.
        status: bool,
        /// Passed or failed.
        passed: bool,
        /// Why.
        reason: DecideReason,
        /// Votes of active monitors.
        votes: BTreeMap<NodeId, bool>,
        /// Active monitors at the decision.
        active: usize,
    },
    /// A message was not accepted.
    Rejected {
        /// `proposal`, `vote` or `finalize`.
        kind: &'static str,
        /// Who it claimed to be from.
        sender: NodeId,
        /// Why.
        reason: Rejection,
    },
    /// Fewer active monitors than `min_votes` (`frozen`), or enough again.
    Frozen {
        /// The official state cannot change.
        frozen: bool,
        /// Active monitors.
        active: usize,
        /// Needed.
        min_votes: usize,
    },
    /// A member entered (`on`) or left maintenance.
    Maintenance {
        /// The member.
        member: MemberId,
        /// Entered.
        on: bool,
    },
    /// Another copy of a finalize for a proposal already decided here, which could
    /// change nothing: ignored without verifying it (see `EngineConfig::keep_copies`).
    /// Neither accepted nor rejected.
    Copy,
    /// A bound was hit and something was dropped.
    Dropped {
        /// `proposal` or `vote`.
        what: &'static str,
    },
    /// An authenticated passed decision older (beyond `max_skew`) than the official
    /// entry it would replace: a replay or an outdated copy. Not applied; still a valid
    /// message (the collator records history in any order).
    Outdated {
        /// The decided proposal.
        proposal: ProposalId,
        /// Its check.
        key: CheckKey,
        /// When it was decided.
        decided_at: DateTime<Utc>,
        /// When the official entry in force was decided.
        official_at: DateTime<Utc>,
    },
}

/// What [`crate::Engine::merge_official`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Merged {
    /// Entries adopted (newer than ours, or new).
    pub changed: usize,
    /// Entries refused: decided after now, beyond `max_skew`.
    pub from_the_future: usize,
    /// Entries refused: no proof where one is required, or one that does not verify.
    pub unproven: usize,
}

/// What one step asks of the I/O layer.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Publish a message.
    Publish(Outgoing),
    /// This node's own debounced result of a check changed.
    Local {
        /// The check.
        key: CheckKey,
        /// Its new local status.
        status: bool,
    },
    /// An official result changed.
    Official(OfficialChange),
    /// Record or count something.
    Event(Event),
}

/// Upper bounds of the decision-time histogram, milliseconds (the last bucket is
/// everything above).
pub const DECISION_BUCKETS_MS: [u64; 10] =
    [50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000];

/// Counters since start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Proposals this node created.
    pub proposed: u64,
    /// Own proposals re-sent.
    pub republished: u64,
    /// Votes this node sent.
    pub votes_sent: u64,
    /// Accepted proposals, votes and finalize messages received.
    pub received: u64,
    /// Proposals decided here that passed.
    pub passed: u64,
    /// Proposals decided here that failed.
    pub failed: u64,
    /// Timeouts that re-armed a proposal.
    pub retries: u64,
    /// Official changes applied (own decisions and received finalize messages).
    pub applied: u64,
    /// Copies of decided proposals' finalize messages ignored unverified.
    pub copies: u64,
    /// Messages rejected, per reason.
    pub rejected: BTreeMap<&'static str, u64>,
    /// Things dropped at a bound.
    pub dropped: u64,
    /// Passed decisions not applied because they were older than the official entry.
    pub outdated: u64,
    /// Decisions made here, by time from the proposal reaching this node to the
    /// decision: one count per [`DECISION_BUCKETS_MS`] bucket, then the rest.
    pub decision_ms: [u64; DECISION_BUCKETS_MS.len() + 1],
    /// Sum of those times, milliseconds.
    pub decision_ms_sum: u64,
}

impl Stats {
    /// Counts one decision that took `ms` milliseconds.
    pub(crate) fn decided_in(&mut self, ms: u64) {
        let bucket = DECISION_BUCKETS_MS
            .iter()
            .position(|&bound| ms <= bound)
            .unwrap_or(DECISION_BUCKETS_MS.len());
        self.decision_ms[bucket] += 1;
        self.decision_ms_sum = self.decision_ms_sum.saturating_add(ms);
    }
}

/// State held now, to check it stays bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// Open proposals.
    pub proposals: usize,
    /// Buffered early votes.
    pub orphan_votes: usize,
    /// Remembered decided proposals.
    pub decided: usize,
}
