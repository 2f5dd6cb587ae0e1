//! Official results that prove themselves: the engine keeps, for each official entry a
//! passed decision set, the signed finalize behind it, and a peer's entries are adopted
//! only with such a proof that verifies as a live finalize would (in strict mode; compat
//! also takes entries without one, as the original's nodes send; off takes anything).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use geodns_core::records::CheckKey;

use super::Engine;
use super::types::Merged;
use crate::auth::AuthMode;
use crate::message::{Finalize, Signed};
use crate::results::{ResultEntry, Snapshot};

/// An official entry with the finalize that decided it, when known.
pub type Proven = (CheckKey, ResultEntry, Option<Signed<Finalize>>);

/// The finalize behind each official entry a passed decision set.
pub(super) type Proofs = HashMap<CheckKey, Arc<Signed<Finalize>>>;

/// The official results with their proofs as of one moment: two reference counts, so
/// sharing it after every change costs nothing; [`ProvenSet::rows`] copies out the rows
/// when they are needed (a sync reply, the cache file).
#[derive(Debug, Clone, Default)]
pub struct ProvenSet {
    official: Arc<Snapshot>,
    proofs: Arc<Proofs>,
}

impl ProvenSet {
    /// Every official entry with its proof.
    pub fn rows(&self) -> Vec<Proven> {
        self.official
            .iter()
            .map(|(key, entry)| {
                let proof = self.proofs.get(key).map(|p| (**p).clone());
                (key.clone(), entry.clone(), proof)
            })
            .collect()
    }

    /// No official entries.
    pub fn is_empty(&self) -> bool {
        self.official.is_empty()
    }

    /// The official results' version (it rises with every change of them or a proof).
    pub fn version(&self) -> u64 {
        self.official.version()
    }
}

impl Engine {
    /// Remembers the finalize behind an official entry it just set.
    pub(super) fn record_proof(&mut self, finalize: &Signed<Finalize>) {
        let key = finalize.message.proposal.key.clone();
        self.proofs_mut().insert(key, Arc::new(finalize.clone()));
    }

    /// The finalize behind the official entry of `key`, if it came from a decision.
    pub fn proof(&self, key: &CheckKey) -> Option<&Arc<Signed<Finalize>>> {
        self.proofs.get(key)
    }

    /// Every official entry with its proof, for a sync reply or the cache file.
    pub fn proven(&self) -> Vec<Proven> {
        self.proven_set().rows()
    }

    /// The official results with their proofs, shared (see [`ProvenSet`]).
    pub fn proven_set(&self) -> ProvenSet {
        ProvenSet {
            official: self.official.snapshot(),
            proofs: Arc::clone(&self.proofs),
        }
    }

    /// The proofs, to change (copied first if a [`ProvenSet`] still shares them).
    pub(super) fn proofs_mut(&mut self) -> &mut Proofs {
        Arc::make_mut(&mut self.proofs)
    }

    /// Loads official results with their proofs (the cache file); outputs nothing.
    pub fn restore_proven(&mut self, entries: impl IntoIterator<Item = Proven>) {
        for (key, entry, proof) in entries {
            if let Some(proof) = proof {
                self.proofs_mut().insert(key.clone(), Arc::new(proof));
            }
            self.official.set(key, entry);
        }
    }

    /// Anti-entropy from a peer: adopts entries newer than ours whose proof verifies
    /// (`check_finalize` with `min_votes`, and the finalize decided exactly this entry);
    /// an entry without a proof only outside strict mode. Entries decided after `now`
    /// (beyond `max_skew`) are refused.
    pub fn merge_proven(
        &mut self,
        entries: impl IntoIterator<Item = Proven>,
        now: DateTime<Utc>,
    ) -> Merged {
        let latest = self.horizon(now);
        let mut merged = Merged::default();
        for (key, entry, proof) in entries {
            if entry.at > latest {
                merged.from_the_future += 1;
                continue;
            }
            // Only an entry that would change something is verified: a peer's results
            // mostly equal ours, and each proof costs a few signature checks.
            let newer = self.official.get(&key).is_none_or(|c| entry.at > c.at);
            if !newer {
                continue;
            }
            if !self.proves(&key, &entry, proof.as_ref()) {
                merged.unproven += 1;
                continue;
            }
            match proof {
                Some(proof) => self.proofs_mut().insert(key.clone(), Arc::new(proof)),
                None => self.proofs_mut().remove(&key),
            };
            self.official.set(key, entry);
            merged.changed += 1;
        }
        merged
    }

    fn proves(
        &self,
        key: &CheckKey,
        entry: &ResultEntry,
        proof: Option<&Signed<Finalize>>,
    ) -> bool {
        let mode = self.trust.mode();
        let Some(proof) = proof else {
            return mode != AuthMode::Strict;
        };
        if mode == AuthMode::Off {
            return true;
        }
        let decided = &proof.message;
        let matches = decided.passed
            && decided.proposal.key == *key
            && decided.proposal.status == entry.status
            && decided.decided_at == entry.at;
        matches
            && self
                .trust
                .check_finalize(proof, self.config.min_votes)
                .is_ok()
    }
}
