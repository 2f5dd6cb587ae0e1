//! A passed decision the collator records: an outage opens (`healthy` false) or closes,
//! with who voted how. Built once per proposal from a passed finalize and the votes the
//! collator saw on the bus.

use chrono::{DateTime, Utc};
use geodns_consensus::message::{Finalize, ProposalId, Signed};
use geodns_consensus::proposal_cache::{Popped, ProposalCache};
use geodns_core::ids::NodeId;
use geodns_core::records::{CheckKey, OutageStart, Votes};
use serde_json::{Map, Value};

/// A passed decision to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The decided proposal.
    pub proposal: ProposalId,
    /// What changed.
    pub key: CheckKey,
    /// The new status: false opens an outage, true closes it.
    pub healthy: bool,
    /// When it was decided.
    pub decided_at: DateTime<Utc>,
    /// The monitor that finalized it.
    pub decided_by: NodeId,
    /// The check's error text.
    pub error: String,
    /// Who voted how.
    pub votes: Votes,
    /// The check's data.
    pub data: Map<String, Value>,
}

impl Decision {
    /// The decision a passed finalize records, once per proposal: a repeat (every
    /// deciding monitor sends one) or a failed finalize gives `None`. A failed finalize
    /// leaves the cache alone, so a passed one arriving later still finds its votes.
    /// A decision dated after `now` (its monitor's clock is ahead, within the engine's
    /// `max_skew`) is dated `now`: nothing was decided after it arrived, and a close
    /// dated in the future would make the check's next outage look like a stale copy of
    /// an older one, which is not recorded.
    pub fn from_finalize(
        cache: &mut ProposalCache,
        signed: Signed<Finalize>,
        now: DateTime<Utc>,
    ) -> Option<Decision> {
        let finalize = signed.message;
        if !finalize.passed {
            return None;
        }
        let certificate: Votes = finalize
            .votes
            .iter()
            .map(|vote| (vote.message.voter.clone(), vote.message.agree))
            .collect();
        let votes = match cache.pop(&finalize.proposal.id, now) {
            Popped::AlreadyHandled => return None,
            Popped::Votes(mut seen) => {
                // The certificate's signed votes count even if their bus copies were missed.
                seen.extend(certificate);
                seen
            }
            Popped::Unknown => certificate,
        };
        let proposal = finalize.proposal;
        Some(Decision {
            proposal: proposal.id,
            key: proposal.key,
            healthy: proposal.status,
            decided_at: finalize.decided_at.min(now),
            decided_by: finalize.sender,
            error: proposal.error,
            votes,
            data: proposal.data.unwrap_or_default(),
        })
    }

    /// The outage this decision opens (for a down decision).
    pub fn outage(&self) -> OutageStart {
        OutageStart {
            key: self.key.clone(),
            start: self.decided_at,
            error: self.error.clone(),
            votes: self.votes.clone(),
            data: self.data.clone(),
        }
    }
}

/// A decision on member `member`'s ping site check, for the crate's tests.
#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
pub(crate) fn sample(member: &str, proposal: &str, healthy: bool, at: DateTime<Utc>) -> Decision {
    use geodns_core::ids::MemberId;
    use geodns_core::model::CheckKind;
    Decision {
        proposal: ProposalId::parse(proposal).unwrap(),
        key: CheckKey {
            kind: CheckKind::Site,
            check: "ping".into(),
            member: MemberId::parse(member).unwrap(),
            domain: String::new(),
            endpoint: String::new(),
            ipv6: false,
        },
        healthy,
        decided_at: at,
        decided_by: NodeId::parse("m1").unwrap(),
        error: String::new(),
        votes: Votes::new(),
        data: Map::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use chrono::TimeDelta;
    use geodns_consensus::message::Proposal;
    use geodns_consensus::proposal_cache::CacheLimits;

    use super::*;

    fn finalize(decided_at: DateTime<Utc>) -> Signed<Finalize> {
        let decision = sample("Amforc", "p-1", true, decided_at);
        let proposal = Proposal {
            id: decision.proposal,
            sender: NodeId::parse("m1").unwrap(),
            key: decision.key,
            status: true,
            error: String::new(),
            data: None,
            timestamp: decided_at,
        };
        Signed {
            message: Finalize {
                proposal,
                sender: NodeId::parse("m1").unwrap(),
                passed: true,
                decided_at,
                votes: Vec::new(),
            },
            signature: None,
        }
    }

    #[test]
    fn a_decision_dated_ahead_of_the_collator_is_recorded_when_it_arrived() {
        let now = DateTime::UNIX_EPOCH + TimeDelta::days(20_000);
        let mut cache = ProposalCache::new(CacheLimits::default());
        let ahead = finalize(now + TimeDelta::seconds(3));
        let decision = Decision::from_finalize(&mut cache, ahead, now).unwrap();
        assert_eq!(decision.decided_at, now);

        let mut cache = ProposalCache::new(CacheLimits::default());
        let earlier = now - TimeDelta::seconds(2);
        let decision = Decision::from_finalize(&mut cache, finalize(earlier), now).unwrap();
        assert_eq!(decision.decided_at, earlier, "a past date is kept");
    }
}
