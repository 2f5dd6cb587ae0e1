//! Proposals and votes this node verified, remembered exactly (signature and signed
//! bytes), so the same message is not verified a second time: a vote inside a finalize's
//! quorum certificate (a monitor, an API node or a collator sees each vote on its own
//! first), and a proposal or vote re-sent for repair. Bounded; emptied when the trust
//! table changes.

use std::collections::{HashMap, VecDeque};

use crate::message::{Signed, SigningBytes};

/// Messages remembered at most (about 100 bytes for a vote, 300 for a proposal).
const CAPACITY: usize = 32_768;

/// Verified messages: signature → the bytes it signed.
#[derive(Debug, Default)]
pub(super) struct Verified {
    votes: HashMap<[u8; 64], Vec<u8>>,
    order: VecDeque<[u8; 64]>,
}

impl Verified {
    /// Remembers a message that verified (or that this node signed).
    pub(super) fn insert<M: SigningBytes>(&mut self, vote: &Signed<M>) {
        let Some(signature) = vote.signature else {
            return;
        };
        if self
            .votes
            .insert(signature.0, vote.message.signing_bytes())
            .is_none()
        {
            self.order.push_back(signature.0);
        }
        while self.votes.len() > CAPACITY {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.votes.remove(&oldest);
        }
    }

    /// Whether exactly this signed message verified here before.
    pub(super) fn contains<M: SigningBytes>(&self, vote: &Signed<M>) -> bool {
        vote.signature.is_some_and(|signature| {
            self.votes
                .get(&signature.0)
                .is_some_and(|bytes| *bytes == vote.message.signing_bytes())
        })
    }

    /// Forgets everything (the trust table changed).
    pub(super) fn clear(&mut self) {
        self.votes.clear();
        self.order.clear();
    }
}
