//! Deciding: counting votes under the policy, finalizing, applying passed proposals to
//! the official results, timeouts, and collecting what is no longer needed.

use chrono::{DateTime, Utc};

use super::types::{DecideReason, Event, OfficialChange, Outgoing, Output};
use super::{Closure, DecidedRecord, Engine};
use crate::message::{Finalize, Proposal, ProposalId, Signed, Vote};
use crate::policy::{Ruling, Tally};
use crate::results::ResultEntry;

/// Proposals and votes one tick re-sends at most (see `on_tick`).
const MAX_RESENDS_PER_TICK: usize = 1024;

impl Engine {
    fn tally(
        &self,
        votes: &std::collections::BTreeMap<geodns_core::ids::NodeId, Signed<Vote>>,
    ) -> Tally {
        let mut tally = Tally {
            active: self.monitors.len(),
            yes: 0,
            no: 0,
        };
        for (node, vote) in votes {
            if self.monitors.contains(node) {
                if vote.message.agree {
                    tally.yes += 1;
                } else {
                    tally.no += 1;
                }
            }
        }
        tally
    }

    /// Decides a tracked proposal if its votes allow; returns whether it was decided.
    pub(super) fn decide(
        &mut self,
        id: &ProposalId,
        reason: DecideReason,
        now: DateTime<Utc>,
        out: &mut Vec<Output>,
    ) -> bool {
        let Some(tracked) = self.proposals.get(id) else {
            return false;
        };
        let tally = self.tally(&tracked.votes);
        let status = tracked.proposal.message.status;
        let passed = match self
            .config
            .policy
            .decide(status, tally, self.config.min_votes)
        {
            Ruling::Open => return false,
            Ruling::Pass => true,
            Ruling::Fail => false,
        };
        self.finalize_here(id, passed, reason, now, out);
        true
    }

    /// Ends a proposal with this node's decision: apply, broadcast, remember.
    fn finalize_here(
        &mut self,
        id: &ProposalId,
        passed: bool,
        reason: DecideReason,
        now: DateTime<Utc>,
        out: &mut Vec<Output>,
    ) {
        let Some(tracked) = self.untrack(id) else {
            return;
        };
        let tally = self.tally(&tracked.votes);
        let took = (now - tracked.created).num_milliseconds().max(0);
        self.stats.decided_in(u64::try_from(took).unwrap_or(0));
        let proposal = tracked.proposal.message;
        let moot = if passed {
            self.stats.passed += 1;
            self.apply_official(&proposal, now, out)
        } else {
            self.stats.failed += 1;
            Vec::new()
        };
        let counted: Vec<Signed<Vote>> = tracked
            .votes
            .into_values()
            .filter(|vote| self.monitors.contains(&vote.message.voter))
            .collect();
        let votes = counted
            .iter()
            .map(|vote| (vote.message.voter.clone(), vote.message.agree))
            .collect();
        // A passed decision carries the agreeing votes: its quorum certificate.
        let certificate = match passed {
            true => counted.into_iter().filter(|v| v.message.agree).collect(),
            false => Vec::new(),
        };
        out.push(Output::Event(Event::Decided {
            proposal: id.clone(),
            key: proposal.key.clone(),
            status: proposal.status,
            passed,
            reason,
            votes,
            active: tally.active,
        }));
        let finalize = self.sign(Finalize {
            proposal,
            sender: self.config.node.clone(),
            passed,
            decided_at: now,
            votes: certificate,
        });
        out.push(Output::Publish(Outgoing::Finalize(finalize.clone())));
        if passed {
            self.record_proof(&finalize);
        }
        for (moot, proposal) in moot {
            self.remember_decided(moot, Closure::Moot(proposal), now);
        }
        self.remember_decided(id.clone(), Closure::Finalize(finalize), now);
    }

    /// Stops tracking a proposal; returns it.
    pub(super) fn untrack(&mut self, id: &ProposalId) -> Option<super::Tracked> {
        let tracked = self.proposals.remove(id)?;
        let index = (
            tracked.proposal.message.key.clone(),
            tracked.proposal.message.status,
        );
        if let Some(ids) = self.open_by_key.get_mut(&index) {
            ids.retain(|open| open != id);
            if ids.is_empty() {
                self.open_by_key.remove(&index);
            }
        }
        Some(tracked)
    }

    /// Applies a passed proposal to the official results; reports a status change.
    /// Returns the other open proposals of the same change, which it ended: the caller
    /// remembers them as moot.
    pub(super) fn apply_official(
        &mut self,
        proposal: &Proposal,
        decided_at: DateTime<Utc>,
        out: &mut Vec<Output>,
    ) -> Vec<(ProposalId, Proposal)> {
        let entry = ResultEntry {
            status: proposal.status,
            error: proposal.error.clone(),
            data: proposal.data.clone(),
            at: decided_at,
        };
        let previous = self
            .official
            .set(proposal.key.clone(), entry.clone())
            .map(|old| old.status);
        self.stats.applied += 1;
        // Other open proposals of the same change are moot now: passing them would change
        // nothing, so they end here without a vote or a finalize (the original lets each
        // run to its own decision, multiplying traffic when several monitors propose).
        let index = (proposal.key.clone(), proposal.status);
        let moot: Vec<(ProposalId, Proposal)> = self
            .open_by_key
            .remove(&index)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|id| {
                let tracked = self.proposals.remove(&id)?;
                Some((id, tracked.proposal.message))
            })
            .collect();
        if previous != Some(proposal.status) {
            out.push(Output::Official(OfficialChange {
                key: proposal.key.clone(),
                entry,
                previous,
                proposal: proposal.id.clone(),
            }));
        }
        moot
    }

    pub(super) fn remember_decided(
        &mut self,
        id: ProposalId,
        closure: Closure,
        now: DateTime<Utc>,
    ) {
        let record = DecidedRecord {
            at: now,
            closure,
            last_resend: None,
        };
        if self.decided.insert(id.clone(), record).is_none() {
            self.decided_order.push_back((now, id));
        }
        while self.decided.len() > self.config.max_decided {
            let Some((_, oldest)) = self.decided_order.pop_front() else {
                break;
            };
            self.decided.remove(&oldest);
        }
    }

    pub(super) fn buffer_orphan(
        &mut self,
        vote: Signed<Vote>,
        now: DateTime<Utc>,
        out: &mut Vec<Output>,
    ) {
        if self.orphan_count >= self.config.max_orphan_votes {
            self.stats.dropped += 1;
            out.push(Output::Event(Event::Dropped { what: "vote" }));
            return;
        }
        let id = vote.message.proposal.clone();
        let early = self.orphans.entry(id.clone()).or_default();
        if early.is_empty() {
            self.orphan_order.push_back((now, id));
        }
        early.push((vote, now));
        self.orphan_count += 1;
    }

    /// Timeouts, republishing own open proposals, and garbage collection.
    pub(super) fn on_tick(&mut self, now: DateTime<Utc>, out: &mut Vec<Output>) {
        let due: Vec<ProposalId> = self
            .proposals
            .iter()
            .filter(|(_, tracked)| tracked.deadline <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            self.time_out(&id, now, out);
        }
        self.turns(now, out);
        let republish = self.timing.republish;
        let repair = self.timing.repair;
        let me = self.config.node.clone();
        // Re-sends repair lost messages; with thousands of proposals open at once (a mass
        // outage) they would outnumber the messages they repair, so a tick re-sends at
        // most this many and the rest, still due, go on the next ticks.
        let mut budget = MAX_RESENDS_PER_TICK;
        for tracked in self.proposals.values_mut() {
            if budget == 0 {
                break;
            }
            // Another node's proposal still open here: re-send this node's vote every
            // half interval. A node that decided it answers with the finalize, so a
            // finalize lost on the way here is repaired within one republish interval.
            if !tracked.mine
                && let Some(sent) = tracked.my_vote_sent
                && now - sent >= repair
                && let Some(vote) = tracked.votes.get(&me)
            {
                tracked.my_vote_sent = Some(now);
                self.stats.votes_sent += 1;
                budget -= 1;
                out.push(Output::Publish(Outgoing::Vote(vote.clone())));
            }
            // Own proposals are re-sent every interval. Another node's proposal that has
            // not been heard for two intervals lost its proposer (crashed, restarted, cut
            // off): relay it, signature and all, so nodes that missed it can vote.
            let every = if tracked.mine {
                republish
            } else {
                republish * 2
            };
            if now - tracked.last_broadcast >= every {
                tracked.last_broadcast = now;
                self.stats.republished += 1;
                budget = budget.saturating_sub(1);
                out.push(Output::Publish(Outgoing::Proposal(
                    tracked.proposal.clone(),
                )));
                // The proposer's own vote goes with its proposal.
                if tracked.mine
                    && let Some(vote) = tracked.votes.get(&me)
                {
                    self.stats.votes_sent += 1;
                    budget = budget.saturating_sub(1);
                    out.push(Output::Publish(Outgoing::Vote(vote.clone())));
                }
            }
        }
        self.collect(now, out);
    }

    /// A proposal reached its deadline: decide if the votes now allow, else retry, else
    /// fail.
    fn time_out(&mut self, id: &ProposalId, now: DateTime<Utc>, out: &mut Vec<Output>) {
        if self.decide(id, DecideReason::Votes, now, out) {
            return;
        }
        let timeout = self.timing.timeout;
        let max_retries = self.config.max_retries;
        let Some(tracked) = self.proposals.get_mut(id) else {
            return;
        };
        if tracked.attempts < max_retries {
            tracked.attempts += 1;
            tracked.deadline = now + timeout;
            self.stats.retries += 1;
        } else {
            self.finalize_here(id, false, DecideReason::Timeout, now, out);
        }
    }

    fn collect(&mut self, now: DateTime<Utc>, out: &mut Vec<Output>) {
        let ttl = self.timing.proposal_ttl;
        while let Some((at, id)) = self.decided_order.front() {
            if now - *at < ttl {
                break;
            }
            if self.decided.get(id).is_some_and(|record| record.at == *at) {
                self.decided.remove(id);
            }
            self.decided_order.pop_front();
        }
        let orphan_ttl = self.timing.orphan_ttl;
        while let Some((at, id)) = self.orphan_order.front() {
            if now - *at < orphan_ttl {
                break;
            }
            let first = self.orphans.get(id).and_then(|early| early.first());
            if first.is_some_and(|(_, buffered)| buffered == at)
                && let Some(early) = self.orphans.remove(id)
            {
                self.orphan_count -= early.len();
            }
            self.orphan_order.pop_front();
        }
        // A proposal cannot outlive its retries, but a clock jump could strand one.
        let stale: Vec<ProposalId> = self
            .proposals
            .iter()
            .filter(|(_, tracked)| now - tracked.created >= ttl)
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            self.finalize_here(&id, false, DecideReason::Timeout, now, out);
        }
    }
}
