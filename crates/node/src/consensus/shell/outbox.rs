//! What the shell publishes while every active node reads batches: proposals and votes
//! gathered for a few milliseconds into one `consensus.batch` message, finalize messages
//! into one `consensus.decided`, so a burst of decisions (a mass outage) costs the bus a
//! few messages instead of one per proposal, vote and finalize for every subscriber.

use std::time::Duration;

use bytes::Bytes;
use geodns_bus::consensus::BatchWriter;
use geodns_bus::subjects;
use tokio::time::Instant;

use crate::consensus::AcceptedMessage;

/// How long the first message of a batch waits for others.
const GATHER: Duration = Duration::from_millis(5);

/// A batch is sent once it holds this many bytes (NATS refuses more than `max_payload`,
/// 1 MiB by default; a smaller batch also spreads a burst's work over the receivers).
pub(super) const BATCH_BYTES: usize = 128 * 1024;

/// Messages waiting to be sent as batches.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    /// Proposals and votes, for `consensus.batch`.
    votes: BatchWriter,
    /// Finalize messages, for `consensus.decided`.
    decided: BatchWriter,
    /// When the oldest waiting message was added.
    since: Option<Instant>,
}

impl Outbox {
    /// Adds a message (`encoded` is its single-message payload); true when a batch is full
    /// and should be sent now.
    pub(super) fn push(&mut self, message: &AcceptedMessage, encoded: &[u8]) -> bool {
        match message {
            AcceptedMessage::Proposal(_) => self.votes.proposal(encoded),
            AcceptedMessage::Vote(_) => self.votes.vote(encoded),
            AcceptedMessage::Finalize(_) => self.decided.finalize(encoded),
        }
        self.since.get_or_insert_with(Instant::now);
        self.votes.bytes() >= BATCH_BYTES || self.decided.bytes() >= BATCH_BYTES
    }

    /// When the waiting messages are due, if any wait.
    pub(super) fn due(&self) -> Option<Instant> {
        self.since.map(|since| since + GATHER)
    }

    /// The batches to publish, in order (proposals and votes before the decisions that
    /// may follow from them); the outbox is empty again.
    pub(super) fn take(&mut self) -> Vec<(&'static str, Bytes, usize)> {
        self.since = None;
        let mut batches = Vec::with_capacity(2);
        for (subject, writer) in [
            (subjects::BATCH, &mut self.votes),
            (subjects::DECIDED, &mut self.decided),
        ] {
            let count = writer.count();
            if count > 0 {
                batches.push((subject, Bytes::from(writer.take()), count));
            }
        }
        batches
    }
}
