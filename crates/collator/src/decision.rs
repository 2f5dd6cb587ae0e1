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
            decided_at: finalize.decided_at,
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
