//! Whose turn it is to propose a change: every monitor orders the active monitors the
//! same way for a check (a hash of the check and each monitor's id), the first proposes
//! at once and each one after it waits `proposal_holdoff` longer, then proposes only if
//! nobody's proposal for the change has reached it. A change all monitors see at once is
//! then one proposal that the others vote on, not one proposal per monitor racing to a
//! quorum (each with its own votes and finalize messages for every node to verify).

use chrono::{DateTime, TimeDelta, Utc};
use geodns_core::ids::NodeId;
use geodns_core::records::CheckKey;

use super::Engine;
use super::types::Output;
use crate::hysteresis::Debounced;
use crate::message::ProposalId;

/// A change this monitor would propose once its turn comes.
#[derive(Debug, Clone)]
pub(super) struct Waiting {
    /// The proposed status.
    status: bool,
    /// Since when it waits.
    since: DateTime<Utc>,
    /// The id the observation that started the wait brought.
    id: ProposalId,
}

/// FNV-1a, 64 bits: the same on every platform and every run.
fn fnv(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The place of `monitor` in the proposer order of `key`.
fn weight(key: &CheckKey, monitor: &NodeId) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325;
    for part in [
        key.kind.as_str(),
        &key.check,
        key.member.as_str(),
        &key.domain,
        &key.endpoint,
    ] {
        hash = fnv(hash, part.as_bytes());
        hash = fnv(hash, &[0]);
    }
    hash = fnv(hash, &[u8::from(key.ipv6)]);
    fnv(hash, monitor.as_str().as_bytes())
}

impl Engine {
    /// How many active monitors come before this one in `key`'s proposer order.
    fn place(&self, key: &CheckKey) -> usize {
        let me = weight(key, &self.config.node);
        self.monitors
            .iter()
            .filter(|monitor| **monitor != self.config.node)
            .filter(|monitor| {
                let theirs = weight(key, monitor);
                (theirs, monitor.as_str()) < (me, self.config.node.as_str())
            })
            .count()
    }

    /// Whether this monitor may propose `status` for `key` now; if not yet, remembers the
    /// change (and the id it would use) for [`Engine::turns`].
    pub(super) fn my_turn(
        &mut self,
        key: &CheckKey,
        status: bool,
        id: &ProposalId,
        now: DateTime<Utc>,
    ) -> bool {
        let holdoff = self.timing.holdoff;
        let place = self.place(key);
        if holdoff <= TimeDelta::zero() || place == 0 {
            self.waiting.remove(key);
            return true;
        }
        let wait = holdoff * i32::try_from(place).unwrap_or(i32::MAX);
        let waiting = self.waiting.entry(key.clone()).or_insert(Waiting {
            status,
            since: now,
            id: id.clone(),
        });
        if waiting.status != status {
            *waiting = Waiting {
                status,
                since: now,
                id: id.clone(),
            };
        }
        if now - waiting.since >= wait {
            self.waiting.remove(key);
            return true;
        }
        false
    }

    /// On a tick: proposes the waiting changes whose turn came and that still want
    /// proposing (this monitor still sees them, nobody proposed or decided them).
    pub(super) fn turns(&mut self, now: DateTime<Utc>, out: &mut Vec<Output>) {
        if self.waiting.is_empty() {
            return;
        }
        let waiting = std::mem::take(&mut self.waiting);
        for (key, waited) in waiting {
            let local = self.debounce.get(&key).map(Debounced::status);
            let official = self.official.get(&key).map(|entry| entry.status);
            let open = self.open_by_key.contains_key(&(key.clone(), waited.status));
            let resting = self.official.in_maintenance(&key.member);
            if local != Some(waited.status) || official == Some(waited.status) || open || resting {
                continue;
            }
            let id = waited.id.clone();
            self.waiting.insert(key.clone(), waited);
            self.propose(key, local.unwrap_or_default(), id, now, out);
        }
    }
}
