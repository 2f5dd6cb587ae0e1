//! Safety of each decision a node makes in the simulation: the votes it counted were
//! really sent by monitors in its view, and the outcome is the one the independent oracle
//! (`oracle.rs`) gives for those votes.

use std::collections::BTreeMap;

use geodns_consensus::engine::DecideReason;
use geodns_consensus::message::ProposalId;
use geodns_core::ids::NodeId;

use super::oracle::{Verdict, verdict};
use super::{MIN_VOTES, Sim};

/// A decision event, as far as the oracle needs it.
pub(super) struct Decided<'a> {
    pub(super) proposal: &'a ProposalId,
    pub(super) status: bool,
    pub(super) passed: bool,
    pub(super) reason: DecideReason,
}

impl Sim {
    /// Safety: every decision rests on votes that monitors in the decider's view really
    /// sent, and is what the independent oracle says of them: a pass passes, a fail on
    /// votes fails, a fail on timeout was still open. A pass also has `MIN_VOTES`
    /// agreeing votes.
    pub(super) fn check_decision(
        &self,
        index: usize,
        decision: &Decided<'_>,
        votes: &BTreeMap<NodeId, bool>,
        active: usize,
    ) -> Result<(), String> {
        let node = &self.nodes[index];
        let Decided {
            proposal,
            status,
            passed,
            reason,
        } = *decision;
        let outcome = if passed { "passed" } else { "failed" };
        let fail = |what: String| Err(format!("{} {outcome} {proposal}: {what}", node.id));
        if active != node.view.len() {
            return fail(format!(
                "counted {active} active monitors, its view has {}",
                node.view.len()
            ));
        }
        let (mut yes, mut no) = (0, 0);
        for (voter, agree) in votes {
            if !node.view.contains(voter) {
                return fail(format!("counted {voter}, not in its view"));
            }
            let sent = self.sent_votes.get(proposal).and_then(|v| v.get(voter));
            if !sent.is_some_and(|values| values.contains(agree)) {
                return fail(format!("counted a vote {agree} that {voter} never sent"));
            }
            if *agree { yes += 1 } else { no += 1 }
        }
        if passed && yes < MIN_VOTES {
            return fail(format!("only {yes} agreeing votes"));
        }
        let policy = self.params.policy;
        let expected = match (passed, reason) {
            (true, _) => Verdict::Pass,
            (false, DecideReason::Votes) => Verdict::Fail,
            (false, DecideReason::Timeout) => Verdict::Open,
        };
        let oracle = verdict(policy, status, active, yes, no, MIN_VOTES);
        if oracle != expected {
            return fail(format!(
                "{reason:?} with {yes} agreeing and {no} disagreeing of {active} under \
                 {policy} (proposed {status}): the oracle says {oracle:?}"
            ));
        }
        Ok(())
    }
}
