//! Inputs that start or feed a proposal: this monitor's own results and the proposals,
//! votes and finalize messages of others.

use chrono::{DateTime, Utc};

use super::types::{DecideReason, Event, Observation, Outgoing, Output};
use super::{Closure, Engine, Tracked};
use crate::auth::Rejection;
use crate::hysteresis::Debounced;
use crate::message::{Finalize, Proposal, ProposalId, Signed, SigningBytes, Vote};
use crate::results::ResultEntry;

impl Engine {
    pub(super) fn on_observed(
        &mut self,
        observation: Observation,
        now: DateTime<Utc>,
        out: &mut Vec<Output>,
    ) {
        let Observation {
            key,
            ok,
            error,
            data,
            new_id,
        } = observation;
        if !self.config.voter || self.official.in_maintenance(&key.member) {
            return;
        }
        let hysteresis = self.config.hysteresis;
        let (status, changed) = match self.debounce.get_mut(&key) {
            Some(debounced) => {
                let changed = debounced.feed(ok, hysteresis);
                (debounced.status(), changed)
            }
            None => {
                self.debounce.insert(key.clone(), Debounced::first(ok));
                (ok, true)
            }
        };
        // The entry keeps the error and data of the latest result with the reported
        // status, so a down check keeps showing why it is down while it recovers.
        if ok == status || changed {
            let entry = ResultEntry {
                status,
                error: if status { String::new() } else { error },
                data,
                at: now,
            };
            self.local.set(key.clone(), entry);
        }
        if changed {
            out.push(Output::Local {
                key: key.clone(),
                status,
            });
        }
        if self.official.get(&key).is_some_and(|o| o.status == status) {
            return;
        }
        self.propose(key, status, new_id, now, out);
    }

    pub(super) fn propose(
        &mut self,
        key: geodns_core::records::CheckKey,
        status: bool,
        new_id: ProposalId,
        now: DateTime<Utc>,
        out: &mut Vec<Output>,
    ) {
        let index = (key, status);
        let existing = self
            .open_by_key
            .get(&index)
            .and_then(|ids| ids.first())
            .cloned();
        if let Some(id) = existing {
            let republish = self.timing.republish;
            if let Some(tracked) = self.proposals.get_mut(&id)
                && tracked.mine
                && now - tracked.last_broadcast >= republish
            {
                tracked.last_broadcast = now;
                self.stats.republished += 1;
                out.push(Output::Publish(Outgoing::Proposal(
                    tracked.proposal.clone(),
                )));
                // The proposer's own vote goes with its proposal (as on a tick).
                if let Some(vote) = tracked.votes.get(&self.config.node) {
                    self.stats.votes_sent += 1;
                    out.push(Output::Publish(Outgoing::Vote(vote.clone())));
                }
            }
            self.cast_vote(&id, now, out);
            self.decide(&id, DecideReason::Votes, now, out);
            return;
        }
        if self.proposals.contains_key(&new_id) || self.decided.contains_key(&new_id) {
            return;
        }
        if !self.my_turn(&index.0, index.1, &new_id, now) {
            return;
        }
        if self.proposals.len() >= self.config.max_proposals {
            self.stats.dropped += 1;
            out.push(Output::Event(Event::Dropped { what: "proposal" }));
            return;
        }
        let (key, status) = index;
        let (error, data) = match self.local.get(&key) {
            Some(entry) => (entry.error.clone(), entry.data.clone()),
            None => (String::new(), None),
        };
        let proposal = self.sign(Proposal {
            id: new_id.clone(),
            sender: self.config.node.clone(),
            key,
            status,
            error,
            data,
            timestamp: now,
        });
        self.stats.proposed += 1;
        out.push(Output::Publish(Outgoing::Proposal(proposal.clone())));
        self.track(proposal, true, now);
        self.cast_vote(&new_id, now, out);
        self.decide(&new_id, DecideReason::Votes, now, out);
    }

    fn track(&mut self, proposal: Signed<Proposal>, mine: bool, now: DateTime<Utc>) {
        let id = proposal.message.id.clone();
        let index = (proposal.message.key.clone(), proposal.message.status);
        self.open_by_key.entry(index).or_default().push(id.clone());
        let tracked = Tracked {
            proposal,
            votes: Default::default(),
            created: now,
            deadline: now + self.timing.timeout,
            attempts: 0,
            mine,
            last_broadcast: now,
            my_vote_sent: None,
        };
        self.proposals.insert(id.clone(), tracked);
        if let Some(early) = self.orphans.remove(&id) {
            self.orphan_count -= early.len();
            let tracked = self.proposals.get_mut(&id).expect("just inserted");
            for (vote, _) in early {
                tracked.votes.insert(vote.message.voter.clone(), vote);
            }
        }
    }

    /// Records and sends this monitor's vote: agree when its local result equals the
    /// proposed status; abstain without a local result or for a member in maintenance.
    /// An unchanged vote is re-sent at most once per republish interval.
    fn cast_vote(&mut self, id: &ProposalId, now: DateTime<Utc>, out: &mut Vec<Output>) {
        let Some(tracked) = self.proposals.get(id) else {
            return;
        };
        let key = &tracked.proposal.message.key;
        if !self.config.voter || self.official.in_maintenance(&key.member) {
            return;
        }
        let Some(local) = self.debounce.get(key).map(Debounced::status) else {
            return;
        };
        let agree = local == tracked.proposal.message.status;
        let me = self.config.node.clone();
        // An unchanged vote is neither signed afresh nor sent: re-sending it to repair a
        // loss is the tick's (`on_tick`, bounded per tick), not every check result's.
        if tracked.votes.get(&me).map(|old| old.message.agree) == Some(agree) {
            return;
        }
        let vote = self.sign(Vote {
            proposal: id.clone(),
            voter: me.clone(),
            agree,
            timestamp: now,
        });
        self.verified.insert(&vote);
        let tracked = self.proposals.get_mut(id).expect("looked up above");
        tracked.votes.insert(me, vote.clone());
        tracked.my_vote_sent = Some(now);
        self.stats.votes_sent += 1;
        out.push(Output::Publish(Outgoing::Vote(vote)));
    }

    /// Authenticates a message; a rejection is counted and reported.
    fn accept<M: SigningBytes>(
        &mut self,
        kind: &'static str,
        signed: &Signed<M>,
        out: &mut Vec<Output>,
    ) -> bool {
        if self.verified.contains(signed) {
            self.stats.received += 1;
            return true;
        }
        let verdict = self.trust.check(signed);
        let accepted = self.count_verdict(kind, signed.message.signer(), verdict, out);
        if accepted {
            self.verified.insert(signed);
        }
        accepted
    }

    fn count_verdict(
        &mut self,
        kind: &'static str,
        sender: &geodns_core::ids::NodeId,
        verdict: Result<(), Rejection>,
        out: &mut Vec<Output>,
    ) -> bool {
        match verdict {
            Ok(()) => {
                self.stats.received += 1;
                true
            }
            Err(reason) => {
                self.reject(kind, sender.clone(), reason, out);
                false
            }
        }
    }

    fn reject(
        &mut self,
        kind: &'static str,
        sender: geodns_core::ids::NodeId,
        reason: Rejection,
        out: &mut Vec<Output>,
    ) {
        *self.stats.rejected.entry(reason.as_str()).or_default() += 1;
        out.push(Output::Event(Event::Rejected {
            kind,
            sender,
            reason,
        }));
    }

    pub(super) fn on_proposal(
        &mut self,
        signed: Signed<Proposal>,
        now: DateTime<Utc>,
        out: &mut Vec<Output>,
    ) {
        if signed.message.sender == self.config.node || !self.accept("proposal", &signed, out) {
            return;
        }
        let id = signed.message.id.clone();
        if self.decided.contains_key(&id) {
            // The proposer re-sent a decided proposal: it missed the finalize.
            self.resend_finalize(&id, now, out);
            return;
        }
        if !self.config.voter {
            return;
        }
        if let Some(tracked) = self.proposals.get_mut(&id) {
            tracked.last_broadcast = now;
        } else {
            if self.proposals.len() >= self.config.max_proposals {
                self.stats.dropped += 1;
                out.push(Output::Event(Event::Dropped { what: "proposal" }));
                return;
            }
            self.track(signed, false, now);
        }
        self.cast_vote(&id, now, out);
        self.decide(&id, DecideReason::Votes, now, out);
    }

    pub(super) fn on_vote(
        &mut self,
        signed: Signed<Vote>,
        now: DateTime<Utc>,
        out: &mut Vec<Output>,
    ) {
        // Authenticated on every node, voter or not: a node that only observes still
        // reports forged votes, and what it accepted is what its collator records.
        if signed.message.voter == self.config.node || !self.accept("vote", &signed, out) {
            return;
        }
        if !self.config.voter {
            return;
        }
        let id = signed.message.proposal.clone();
        if self.decided.contains_key(&id) {
            // A vote on a decided proposal: the voter missed the finalize.
            self.resend_finalize(&id, now, out);
            return;
        }
        match self.proposals.get_mut(&id) {
            Some(tracked) => {
                tracked.votes.insert(signed.message.voter.clone(), signed);
                self.decide(&id, DecideReason::Votes, now, out);
            }
            None => self.buffer_orphan(signed, now, out),
        }
    }

    /// Re-sends the finalize of a decided proposal to a node that still acts on it, at
    /// most once per half republish interval. Within half an interval of the decision,
    /// votes and copies still in flight are normal and get nothing. Nodes that hold an
    /// open proposal re-send their vote every half interval (see `on_tick`), so a node
    /// that missed a finalize has it again within one republish interval.
    fn resend_finalize(&mut self, id: &ProposalId, now: DateTime<Utc>, out: &mut Vec<Output>) {
        let gap = self.timing.repair;
        let Some(record) = self.decided.get_mut(id) else {
            return;
        };
        let recent = now - record.at < gap;
        if recent || record.last_resend.is_some_and(|sent| now - sent < gap) {
            return;
        }
        record.last_resend = Some(now);
        let finalize = match &record.closure {
            Closure::Finalize(finalize) => finalize.clone(),
            Closure::Moot(proposal) => {
                let closing = Finalize {
                    proposal: proposal.clone(),
                    sender: self.config.node.clone(),
                    passed: false,
                    decided_at: record.at,
                    votes: Vec::new(),
                };
                self.sign(closing)
            }
        };
        out.push(Output::Publish(Outgoing::Finalize(finalize)));
    }

    pub(super) fn on_finalize(
        &mut self,
        signed: Signed<Finalize>,
        now: DateTime<Utc>,
        out: &mut Vec<Output>,
    ) {
        if signed.message.sender == self.config.node {
            return;
        }
        if self.is_copy(&signed.message) {
            self.stats.copies += 1;
            out.push(Output::Event(Event::Copy));
            return;
        }
        let verified = &self.verified;
        let verdict = self
            .trust
            .check_finalize_with(&signed, self.config.min_votes, |vote| {
                verified.contains(vote)
            });
        if !self.count_verdict("finalize", &signed.message.sender, verdict, out) {
            return;
        }
        let id = signed.message.proposal.id.clone();
        // Votes change as monitors catch up, so two nodes can decide one proposal
        // differently. A passed finalize outranks a failed or moot ending here: it was
        // decided with a quorum (and, in strict mode, carries it), and ignoring it would
        // leave this node on the old official state while the others move on.
        let superseded = signed.message.passed
            && self
                .decided
                .get(&id)
                .is_some_and(|record| !record.closure.passed());
        if self.decided.contains_key(&id) && !superseded {
            return;
        }
        self.untrack(&id);
        let finalize = &signed.message;
        let moot = if finalize.passed && !self.outdated(finalize, out) {
            let moot = self.apply_official(&finalize.proposal, finalize.decided_at, out);
            self.record_proof(&signed);
            moot
        } else {
            Vec::new()
        };
        for (moot, proposal) in moot {
            self.remember_decided(moot, Closure::Moot(proposal), now);
        }
        self.remember_decided(id, Closure::Finalize(signed), now);
    }

    /// Another copy of the finalize of a proposal decided here that could change nothing
    /// (not a passed one ending a failed or moot record), when copies are not kept.
    fn is_copy(&self, finalize: &Finalize) -> bool {
        !self.config.keep_copies
            && self
                .decided
                .get(&finalize.proposal.id)
                .is_some_and(|record| !finalize.passed || record.closure.passed())
    }

    /// True (counted and reported) when a passed decision is older, beyond `max_skew`,
    /// than the official entry it would replace: applying it would undo a newer one.
    fn outdated(&mut self, finalize: &Finalize, out: &mut Vec<Output>) -> bool {
        let Some(official_at) = self.official.get(&finalize.proposal.key).map(|e| e.at) else {
            return false;
        };
        let latest = self.horizon(finalize.decided_at);
        if latest >= official_at {
            return false;
        }
        self.stats.outdated += 1;
        out.push(Output::Event(Event::Outdated {
            proposal: finalize.proposal.id.clone(),
            key: finalize.proposal.key.clone(),
            decided_at: finalize.decided_at,
            official_at,
        }));
        true
    }
}
