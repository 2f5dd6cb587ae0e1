//! Consensus messages from the bus into the engine: single messages (the original's
//! subjects) and batches (`consensus.batch`, `consensus.decided`), decoded once; this
//! node's own echoes and copies of its messages never applied; what the engine accepted
//! handed on to the collator on this node.

use bytes::Bytes;
use geodns_bus::consensus::{
    Batch, decode_batch, decode_finalize, decode_proposal, decode_vote, encode_finalize,
    encode_proposal, encode_vote,
};
use geodns_bus::{Bus, BusMessage, subjects};
use geodns_consensus::Input;

use super::Shell;
use crate::consensus::{Accepted, AcceptedMessage};

impl AcceptedMessage {
    /// The subject a single message of this kind travels on.
    pub(super) fn subject(&self) -> &'static str {
        match self {
            AcceptedMessage::Proposal(_) => subjects::PROPOSE,
            AcceptedMessage::Vote(_) => subjects::VOTE,
            AcceptedMessage::Finalize(_) => subjects::FINALIZE,
        }
    }

    /// Its single-message payload (the original's JSON, signature included).
    pub(super) fn encode(&self) -> Vec<u8> {
        match self {
            AcceptedMessage::Proposal(p) => encode_proposal(p),
            AcceptedMessage::Vote(v) => encode_vote(v),
            AcceptedMessage::Finalize(f) => encode_finalize(f),
        }
    }

    fn signer(&self) -> &geodns_core::ids::NodeId {
        match self {
            AcceptedMessage::Proposal(p) => &p.message.sender,
            AcceptedMessage::Vote(v) => &v.message.voter,
            AcceptedMessage::Finalize(f) => &f.message.sender,
        }
    }

    fn input(&self) -> Input {
        match self {
            AcceptedMessage::Proposal(p) => Input::Proposal(p.clone()),
            AcceptedMessage::Vote(v) => Input::Vote(v.clone()),
            AcceptedMessage::Finalize(f) => Input::Finalize(f.clone()),
        }
    }

    fn into_input(self) -> Input {
        match self {
            AcceptedMessage::Proposal(p) => Input::Proposal(p),
            AcceptedMessage::Vote(v) => Input::Vote(v),
            AcceptedMessage::Finalize(f) => Input::Finalize(f),
        }
    }
}

fn messages(batch: Batch) -> Vec<AcceptedMessage> {
    let mut messages = Vec::with_capacity(batch.len());
    messages.extend(batch.proposals.into_iter().map(AcceptedMessage::Proposal));
    messages.extend(batch.votes.into_iter().map(AcceptedMessage::Vote));
    messages.extend(batch.finalizes.into_iter().map(AcceptedMessage::Finalize));
    messages
}

impl<B: Bus> Shell<B> {
    pub(super) async fn on_message(&mut self, message: BusMessage) {
        // This node's own messages come back from the bus: the engine knows them already.
        if message.sender.as_deref() == Some(self.node.as_str()) {
            return;
        }
        let payload = &message.payload;
        let decoded = match message.subject.as_str() {
            subjects::PROPOSE => {
                decode_proposal(payload).map(|p| vec![AcceptedMessage::Proposal(p)])
            }
            subjects::VOTE => decode_vote(payload).map(|v| vec![AcceptedMessage::Vote(v)]),
            subjects::FINALIZE => {
                decode_finalize(payload).map(|f| vec![AcceptedMessage::Finalize(f)])
            }
            subjects::BATCH | subjects::DECIDED => decode_batch(payload).map(messages),
            // Membership (`consensus.cluster`) is the membership task's.
            _ => return,
        };
        let decoded = match decoded {
            Ok(decoded) => decoded,
            Err(error) => {
                let sender = message.sender.as_deref().unwrap_or("unknown");
                if self.malformed.record(sender, crate::clock::now()) {
                    tracing::warn!(%sender, subject = %message.subject, %error, "malformed consensus message");
                }
                return;
            }
        };
        // A single message is handed on as it came; a batch's are each encoded alone.
        let single = decoded.len() == 1 && !is_batch(&message.subject);
        let mut heard = None;
        for decoded in decoded {
            // A copy of this node's own message under another sender header, or a
            // forgery of its id: never applied or recorded.
            if *decoded.signer() == self.node {
                continue;
            }
            let signer = decoded.signer().to_string();
            if self.tap.is_none() {
                if self.input(decoded.into_input()).await {
                    heard = Some(signer);
                }
                continue;
            }
            if self.input(decoded.input()).await {
                heard = Some(signer);
                let payload = match single {
                    true => message.payload.clone(),
                    false => Bytes::from(decoded.encode()),
                };
                self.forward(Accepted {
                    subject: decoded.subject(),
                    payload,
                    message: decoded,
                });
            }
        }
        if let Some(signer) = heard {
            self.cluster.heard(&signer);
        }
    }

    /// Hands an accepted or published message to the collator on this node; never waits.
    pub(super) fn forward(&mut self, accepted: Accepted) {
        let Some(tap) = &self.tap else { return };
        if tap.try_send(accepted).is_err() {
            self.tap_dropped += 1;
            if self.tap_dropped.is_power_of_two() {
                tracing::warn!(
                    dropped = self.tap_dropped,
                    "the collator is behind: consensus messages not recorded"
                );
            }
        }
    }
}

fn is_batch(subject: &str) -> bool {
    subject == subjects::BATCH || subject == subjects::DECIDED
}
