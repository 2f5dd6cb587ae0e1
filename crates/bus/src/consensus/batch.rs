//! geodns extension: many consensus messages of one monitor in one NATS message.
//! `consensus.batch` carries proposals and votes, `consensus.decided` finalize messages,
//! so a node that only applies decisions (a DNS node) subscribes to decisions alone. Each
//! element is exactly the original's JSON of that message with its own signature, so a
//! quorum certificate stays one signed vote per monitor; batching saves the per-message
//! cost of the bus (a NATS message, an envelope, its signature, a delivery per
//! subscriber), not the checks of what is inside. Monitors send batches only while every
//! active node announced [`crate::wire::FEATURE_BATCH`] in its join.
//!
//! ```json
//! {"proposals": [<consensus.propose>, …], "votes": [<consensus.vote>, …],
//!  "finalizes": [<consensus.finalize>, …]}
//! ```
//!
//! A batch is read whole or not at all: one element that cannot be a message refuses
//! the batch, naming the element.

use geodns_consensus::message::{self as typed, Signed};
use serde::Deserialize;

use super::{
    ConsensusDecodeError, finalize_from_wire, proposal_from_wire, signature, vote_from_wire,
};
use crate::wire::{self, decode};

/// A batch, read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// Proposals, in the order sent.
    pub proposals: Vec<Signed<typed::Proposal>>,
    /// Votes, in the order sent (after the proposals: a vote may be on one of them).
    pub votes: Vec<Signed<typed::Vote>>,
    /// Finalize messages, in the order sent.
    pub finalizes: Vec<Signed<typed::Finalize>>,
}

impl Batch {
    /// How many messages it holds.
    pub fn len(&self) -> usize {
        self.proposals.len() + self.votes.len() + self.finalizes.len()
    }

    /// Holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Deserialize)]
struct WireBatch {
    #[serde(default)]
    proposals: Vec<wire::Proposal>,
    #[serde(default)]
    votes: Vec<wire::Vote>,
    #[serde(default)]
    finalizes: Vec<wire::FinalizeMessage>,
}

fn each<W, T>(
    list: &'static str,
    items: &[W],
    read: impl Fn(&W) -> Result<T, typed::MessageError>,
) -> Result<Vec<T>, ConsensusDecodeError> {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            read(item).map_err(|source| ConsensusDecodeError::InBatch {
                list,
                index,
                source,
            })
        })
        .collect()
}

/// Reads a `consensus.batch` or `consensus.decided` payload.
pub fn decode_batch(payload: &[u8]) -> Result<Batch, ConsensusDecodeError> {
    let batch: WireBatch = decode("batch", payload)?;
    let proposals = each("proposals", &batch.proposals, |message| {
        Ok(Signed {
            message: proposal_from_wire(message)?,
            signature: signature(&message.signature)?,
        })
    })?;
    Ok(Batch {
        proposals,
        votes: each("votes", &batch.votes, vote_from_wire)?,
        finalizes: each("finalizes", &batch.finalizes, finalize_from_wire)?,
    })
}

/// Builds a batch from messages already encoded as their single-message payloads
/// (`encode_proposal`, `encode_vote`, `encode_finalize`), without encoding them again.
#[derive(Debug, Default)]
pub struct BatchWriter {
    proposals: Vec<u8>,
    votes: Vec<u8>,
    finalizes: Vec<u8>,
    count: usize,
}

fn append(list: &mut Vec<u8>, encoded: &[u8]) {
    if !list.is_empty() {
        list.push(b',');
    }
    list.extend_from_slice(encoded);
}

impl BatchWriter {
    /// Adds an encoded proposal.
    pub fn proposal(&mut self, encoded: &[u8]) {
        append(&mut self.proposals, encoded);
        self.count += 1;
    }

    /// Adds an encoded vote.
    pub fn vote(&mut self, encoded: &[u8]) {
        append(&mut self.votes, encoded);
        self.count += 1;
    }

    /// Adds an encoded finalize.
    pub fn finalize(&mut self, encoded: &[u8]) {
        append(&mut self.finalizes, encoded);
        self.count += 1;
    }

    /// Messages added since the last [`BatchWriter::take`].
    pub fn count(&self) -> usize {
        self.count
    }

    /// Bytes the batch will have, about.
    pub fn bytes(&self) -> usize {
        self.proposals.len() + self.votes.len() + self.finalizes.len() + 48
    }

    /// The batch's payload; the writer is empty again.
    pub fn take(&mut self) -> Vec<u8> {
        let mut payload = Vec::with_capacity(self.bytes());
        payload.push(b'{');
        let lists = [
            ("proposals", std::mem::take(&mut self.proposals)),
            ("votes", std::mem::take(&mut self.votes)),
            ("finalizes", std::mem::take(&mut self.finalizes)),
        ];
        let mut first = true;
        for (name, list) in lists {
            if list.is_empty() {
                continue;
            }
            if !first {
                payload.push(b',');
            }
            first = false;
            payload.extend_from_slice(format!("\"{name}\":[").as_bytes());
            payload.extend_from_slice(&list);
            payload.push(b']');
        }
        payload.push(b'}');
        self.count = 0;
        payload
    }
}
