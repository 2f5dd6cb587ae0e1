//! The collator's bus reader: every consensus message goes to the message log (through
//! a bounded channel, so a slow database never stalls reading); proposals and votes feed
//! the proposal cache; a passed finalize becomes one decision for the writer.

use geodns_bus::consensus::{decode_finalize, decode_proposal, decode_vote};
use geodns_bus::{BusMessage, subjects};
use geodns_collator::{CollatorQueue, Decision};
use geodns_consensus::auth::Trust;
use geodns_consensus::message::{Finalize, Signed};
use geodns_consensus::proposal_cache::ProposalCache;
use geodns_store::Message;
use tokio::sync::mpsc;

/// Handles one consensus message.
pub(super) fn on_message(
    cache: &mut ProposalCache,
    trust: &Trust,
    min_votes: usize,
    message: &BusMessage,
    queue: &CollatorQueue,
    log: &mpsc::Sender<Message>,
) {
    let now = crate::clock::now();
    let Some((logged, finalize)) = accept(cache, trust, min_votes, message, now) else {
        return;
    };
    if log.try_send(logged).is_err() {
        tracing::debug!("message log behind: a consensus message is not logged");
    }
    if let Some(finalize) = finalize
        && let Some(decision) = Decision::from_finalize(cache, finalize, now)
    {
        queue.push(decision);
    }
}

/// Feeds proposals and votes to the cache; returns the accepted message as a log row,
/// with the finalize when it is one.
fn accept(
    cache: &mut ProposalCache,
    trust: &Trust,
    min_votes: usize,
    message: &BusMessage,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<(Message, Option<Signed<Finalize>>)> {
    let rejected = |kind: &str, error: &dyn std::fmt::Display| {
        tracing::debug!(kind, %error, "collator ignores a consensus message");
    };
    let row = |id: String, from: &str| Message {
        id,
        from: from.to_owned(),
        to: message.subject.clone(),
        content: message.payload.to_vec(),
        timestamp: now,
    };
    match message.subject.as_str() {
        subjects::PROPOSE => match decode_proposal(&message.payload) {
            Ok(p) if trust.check(&p).is_ok() => {
                cache.on_proposal(&p.message, now);
                let id = format!("propose/{}", p.message.id);
                Some((row(id, p.message.sender.as_str()), None))
            }
            Ok(p) => {
                rejected("proposal", &p.message.sender);
                None
            }
            Err(error) => {
                rejected("proposal", &error);
                None
            }
        },
        subjects::VOTE => match decode_vote(&message.payload) {
            Ok(v) if trust.check(&v).is_ok() => {
                cache.on_vote(&v.message, now);
                let id = format!("vote/{}/{}", v.message.proposal, v.message.voter);
                Some((row(id, v.message.voter.as_str()), None))
            }
            Ok(v) => {
                rejected("vote", &v.message.voter);
                None
            }
            Err(error) => {
                rejected("vote", &error);
                None
            }
        },
        subjects::FINALIZE => match decode_finalize(&message.payload) {
            Ok(f) if trust.check_finalize(&f, min_votes).is_ok() => {
                let id = format!("finalize/{}/{}", f.message.proposal.id, f.message.sender);
                Some((row(id, f.message.sender.as_str()), Some(f)))
            }
            Ok(f) => {
                rejected("finalize", &f.message.sender);
                None
            }
            Err(error) => {
                rejected("finalize", &error);
                None
            }
        },
        _ => None,
    }
}
