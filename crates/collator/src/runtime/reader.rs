//! The collator's reader of the consensus messages its node's shell accepted (verified
//! there, once) or published: every message goes to the message log (through a bounded
//! channel, so a slow database never stalls reading); proposals and votes feed the
//! proposal cache; a passed finalize becomes one decision, which the caller journals and
//! queues for the writer.

use chrono::{DateTime, Utc};
use geodns_consensus::proposal_cache::ProposalCache;
use geodns_node::consensus::{Accepted, AcceptedMessage};
use geodns_store::Message;
use tokio::sync::mpsc;

use crate::Decision;

/// Handles one accepted message at `now`; returns the decision it made, if any.
pub(super) fn on_message(
    cache: &mut ProposalCache,
    accepted: Accepted,
    log: &mpsc::Sender<Message>,
    now: DateTime<Utc>,
) -> Option<Decision> {
    if log.try_send(log_row(&accepted, now)).is_err() {
        tracing::debug!("message log behind: a consensus message is not logged");
    }
    match accepted.message {
        AcceptedMessage::Proposal(p) => cache.on_proposal(&p.message, now),
        AcceptedMessage::Vote(v) => cache.on_vote(&v.message, now),
        AcceptedMessage::Finalize(f) => return Decision::from_finalize(cache, f, now),
    }
    None
}

/// The message log row of a message: one id per proposal, per vote and per finalize of
/// a sender, so repeats and other collators' copies are stored once.
pub(super) fn log_row(accepted: &Accepted, now: DateTime<Utc>) -> Message {
    let (id, from) = match &accepted.message {
        AcceptedMessage::Proposal(p) => (format!("propose/{}", p.message.id), &p.message.sender),
        AcceptedMessage::Vote(v) => (
            format!("vote/{}/{}", v.message.proposal, v.message.voter),
            &v.message.voter,
        ),
        AcceptedMessage::Finalize(f) => (
            format!("finalize/{}/{}", f.message.proposal.id, f.message.sender),
            &f.message.sender,
        ),
    };
    Message {
        id,
        from: from.to_string(),
        to: accepted.subject.to_owned(),
        content: accepted.payload.to_vec(),
        timestamp: now,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use bytes::Bytes;
    use geodns_bus::subjects;
    use geodns_consensus::message::{Finalize, Proposal, ProposalId, Signed, Vote};
    use geodns_consensus::proposal_cache::CacheLimits;
    use geodns_core::ids::{MemberId, NodeId};
    use geodns_core::model::CheckKind;
    use geodns_core::records::CheckKey;

    use super::*;

    fn proposal(now: DateTime<Utc>) -> Proposal {
        Proposal {
            id: ProposalId::parse("p-1").unwrap(),
            sender: NodeId::parse("m1").unwrap(),
            key: CheckKey {
                kind: CheckKind::Site,
                check: "ping".into(),
                member: MemberId::parse("Near").unwrap(),
                domain: String::new(),
                endpoint: String::new(),
                ipv6: false,
            },
            status: false,
            error: "100% packet loss".into(),
            data: None,
            timestamp: now,
        }
    }

    fn accepted(subject: &'static str, message: AcceptedMessage) -> Accepted {
        Accepted {
            subject,
            payload: Bytes::from_static(b"{}"),
            message,
        }
    }

    #[test]
    fn votes_are_cached_and_a_passed_finalize_is_one_decision() {
        let now = DateTime::UNIX_EPOCH;
        let (log, mut logged) = mpsc::channel(16);
        let mut cache = ProposalCache::new(CacheLimits::default());
        let p = proposal(now);
        let incoming = [
            accepted(
                subjects::PROPOSE,
                AcceptedMessage::Proposal(Signed::unsigned(p.clone())),
            ),
            accepted(
                subjects::VOTE,
                AcceptedMessage::Vote(Signed::unsigned(Vote {
                    proposal: p.id.clone(),
                    voter: NodeId::parse("m2").unwrap(),
                    agree: true,
                    timestamp: now,
                })),
            ),
            accepted(
                subjects::FINALIZE,
                AcceptedMessage::Finalize(Signed::unsigned(Finalize {
                    proposal: p.clone(),
                    sender: NodeId::parse("m1").unwrap(),
                    passed: true,
                    decided_at: now,
                    votes: Vec::new(),
                })),
            ),
        ];
        let decisions: Vec<Decision> = incoming
            .into_iter()
            .filter_map(|message| on_message(&mut cache, message, &log, now))
            .collect();
        let ids: Vec<String> = std::iter::from_fn(|| logged.try_recv().ok())
            .map(|m| m.id)
            .collect();
        assert_eq!(ids, ["propose/p-1", "vote/p-1/m2", "finalize/p-1/m1"]);
        assert_eq!(decisions.len(), 1, "one decision: {decisions:?}");
        assert_eq!(decisions[0].votes.len(), 1);
    }
}
