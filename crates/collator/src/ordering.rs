//! Closes that overtook their opens. A recovery decided after an outage can reach the
//! collator before the outage's own decision (two monitors finalizing, a slow bus path);
//! the store then has nothing to close. The close waits here, for a while, for its open:
//! when the open arrives the outage is recorded already closed, with both times.
//!
//! The waiting closes are also kept in the cluster's key-value state
//! (`outage.pending_close.<sha256 of the check>`, see [`stored`]), so a collator that
//! restarts in the meantime, or another collator, still finds the close when the open
//! arrives. The in-memory table is pure (time is an argument) and bounded: past
//! [`LIMIT`] the oldest waiting close is dropped.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use geodns_core::records::CheckKey;

use crate::decision::Decision;

/// How long a close waits for its open (the consensus engine forgets a proposal after
/// ten minutes; no copy of its open can arrive later than that).
pub const WAIT: Duration = Duration::from_secs(600);
/// Closes held at most.
pub const LIMIT: usize = 10_000;

/// Closes waiting for their opens, one (the latest) per check.
#[derive(Debug, Default)]
pub struct PendingCloses {
    waiting: HashMap<CheckKey, (Decision, DateTime<Utc>)>,
}

impl PendingCloses {
    /// Holds `close`, received at `now`; a later close of the same check replaces it.
    pub fn hold(&mut self, close: Decision, now: DateTime<Utc>) {
        if let Some((held, _)) = self.waiting.get(&close.key)
            && held.decided_at >= close.decided_at
        {
            return;
        }
        if self.waiting.len() >= LIMIT && !self.waiting.contains_key(&close.key) {
            let oldest = self
                .waiting
                .iter()
                .min_by_key(|(_, (_, since))| *since)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                self.waiting.remove(&oldest);
                tracing::warn!(check = %oldest, "too many closes waiting for their opens: the oldest is dropped");
            }
        }
        self.waiting.insert(close.key.clone(), (close, now));
    }

    /// The waiting close that ends the outage `open` starts, if one does.
    pub fn closing(&self, open: &Decision) -> Option<&Decision> {
        self.waiting
            .get(&open.key)
            .map(|(close, _)| close)
            .filter(|close| close.decided_at >= open.decided_at)
    }

    /// Forgets the close of `key` (its outage is recorded).
    pub fn done(&mut self, key: &CheckKey) {
        self.waiting.remove(key);
    }

    /// Drops closes that waited longer than [`WAIT`] at `now`; returns them.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Vec<Decision> {
        let wait = TimeDelta::from_std(WAIT).unwrap_or(TimeDelta::MAX);
        let expired: Vec<CheckKey> = self
            .waiting
            .iter()
            .filter(|(_, (_, since))| now - *since > wait)
            .map(|(key, _)| key.clone())
            .collect();
        expired
            .into_iter()
            .filter_map(|key| self.waiting.remove(&key).map(|(close, _)| close))
            .collect()
    }

    /// Closes waiting.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// No close is waiting.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

/// The closes waiting in the cluster's key-value state: a close that overtook its open is
/// written there too, so it outlives this process.
pub mod stored {
    use chrono::{DateTime, TimeDelta, Utc};
    use geodns_core::records::CheckKey;
    use geodns_store::{ClusterStore, StoreError};
    use serde::{Deserialize, Serialize};
    use sha2::{Digest, Sha256};

    use super::WAIT;
    use crate::decision::Decision;
    use crate::history::Entry;

    /// Key prefix.
    pub const PREFIX: &str = "outage.pending_close.";

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Held {
        held_at: DateTime<Utc>,
        close: Entry,
    }

    /// The state key of `key`'s waiting close.
    pub fn key(check: &CheckKey) -> String {
        let digest = Sha256::digest(check.canonical().as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("{PREFIX}{hex}")
    }

    /// Keeps `close`, held at `now`.
    pub async fn hold<S: ClusterStore>(
        store: &S,
        close: &Decision,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let held = Held {
            held_at: now,
            close: Entry::of(close),
        };
        let bytes = serde_json::to_vec(&held).unwrap_or_default();
        store.store_state(&key(&close.key), &bytes).await
    }

    /// The waiting close of `open`'s check that ends it, if one was held within [`WAIT`]
    /// of `now`.
    pub async fn closing<S: ClusterStore>(
        store: &S,
        open: &Decision,
        now: DateTime<Utc>,
    ) -> Result<Option<Decision>, StoreError> {
        let Some(bytes) = store.state(&key(&open.key)).await? else {
            return Ok(None);
        };
        let wait = TimeDelta::from_std(WAIT).unwrap_or(TimeDelta::MAX);
        let close = serde_json::from_slice::<Held>(&bytes)
            .ok()
            .filter(|held| now - held.held_at <= wait)
            .and_then(|held| held.close.decision().ok())
            .filter(|close| close.key == open.key && close.decided_at >= open.decided_at);
        Ok(close)
    }

    /// Forgets the waiting close of `check`.
    pub async fn done<S: ClusterStore>(store: &S, check: &CheckKey) -> Result<(), StoreError> {
        store.delete_state(&key(check)).await.map(|_| ())
    }

    /// Deletes closes held longer than [`WAIT`] (and unreadable ones); returns how many.
    pub async fn expire<S: ClusterStore>(
        store: &S,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let wait = TimeDelta::from_std(WAIT).unwrap_or(TimeDelta::MAX);
        let mut deleted = 0;
        for (state_key, bytes) in store.states_with_prefix(PREFIX).await? {
            let expired = serde_json::from_slice::<Held>(&bytes)
                .map(|held| now - held.held_at > wait)
                .unwrap_or(true);
            if expired && store.delete_state(&state_key).await? {
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use geodns_consensus::message::ProposalId;
    use geodns_core::ids::{MemberId, NodeId};
    use geodns_core::model::CheckKind;
    use geodns_core::records::Votes;
    use serde_json::Map;

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    fn decision(member: &str, healthy: bool, seconds: i64) -> Decision {
        Decision {
            proposal: ProposalId::parse(&format!("p-{member}-{seconds}")).unwrap(),
            key: CheckKey {
                kind: CheckKind::Site,
                check: "ping".to_owned(),
                member: MemberId::parse(member).unwrap(),
                domain: String::new(),
                endpoint: String::new(),
                ipv6: false,
            },
            healthy,
            decided_at: at(seconds),
            decided_by: NodeId::parse("m1").unwrap(),
            error: String::new(),
            votes: Votes::new(),
            data: Map::new(),
        }
    }

    #[test]
    fn a_close_matches_only_an_open_decided_before_it() {
        let mut pending = PendingCloses::default();
        pending.hold(decision("a", true, 60), at(61));
        assert!(pending.closing(&decision("a", false, 30)).is_some());
        assert!(pending.closing(&decision("a", false, 90)).is_none());
        assert!(pending.closing(&decision("b", false, 30)).is_none());
        pending.done(&decision("a", false, 30).key);
        assert!(pending.is_empty());
    }

    #[test]
    fn the_latest_close_is_kept_and_old_ones_expire() {
        let mut pending = PendingCloses::default();
        pending.hold(decision("a", true, 60), at(61));
        pending.hold(decision("a", true, 30), at(62));
        assert_eq!(
            pending
                .closing(&decision("a", false, 0))
                .unwrap()
                .decided_at,
            at(60)
        );
        pending.hold(decision("b", true, 100), at(500));
        let expired = pending.expire(at(61 + 601));
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].key.member.as_str(), "a");
        assert_eq!(pending.len(), 1);
    }
}
