//! Closes that overtook their opens. A recovery decided after an outage can reach the
//! collator before the outage's own decision (two monitors finalizing, a slow bus path);
//! the store then has nothing to close. The close waits, for a while, for its open: when
//! the open arrives the outage is recorded already closed, with both times.
//!
//! The waiting closes live in the cluster's key-value state
//! (`outage.pending_close.<sha256 of the check>`, one per check, the latest), so a
//! collator that restarts in the meantime, or another collator, still finds the close
//! when the open arrives. The rules are pure functions of the times.

use chrono::{DateTime, TimeDelta, Utc};
use geodns_core::records::CheckKey;
use geodns_store::{ClusterStore, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::decision::Decision;
use crate::history::Entry;

/// How long a close waits for its open (the consensus engine forgets a proposal after
/// ten minutes; no copy of its open can arrive later than that).
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(600);
/// Key prefix.
pub const PREFIX: &str = "outage.pending_close.";

/// `close` ends the outage `open` starts: same check, decided at or after it.
pub fn ends(close: &Decision, open: &Decision) -> bool {
    close.key == open.key && close.decided_at >= open.decided_at
}

/// A close held since `held_at` has waited too long at `now`.
pub fn expired(held_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now - held_at > TimeDelta::from_std(WAIT).unwrap_or(TimeDelta::MAX)
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Held {
    held_at: DateTime<Utc>,
    close: Entry,
}

/// The state key of `check`'s waiting close.
pub fn key(check: &CheckKey) -> String {
    let digest = Sha256::digest(check.canonical().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{PREFIX}{hex}")
}

/// The close waiting for `check`, with when it was held, if one can be read.
async fn held<S: ClusterStore>(
    store: &S,
    check: &CheckKey,
) -> Result<Option<(DateTime<Utc>, Decision)>, StoreError> {
    let Some(bytes) = store.state(&key(check)).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice::<Held>(&bytes)
        .ok()
        .and_then(|held| Some((held.held_at, held.close.decision().ok()?))))
}

/// Keeps `close`, held at `now`, unless a later close of the same check waits already.
pub async fn hold<S: ClusterStore>(
    store: &S,
    close: &Decision,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if let Some((held_at, waiting)) = held(store, &close.key).await?
        && !expired(held_at, now)
        && waiting.decided_at >= close.decided_at
    {
        return Ok(());
    }
    let held = Held {
        held_at: now,
        close: Entry::of(close),
    };
    let bytes = serde_json::to_vec(&held).unwrap_or_default();
    store.store_state(&key(&close.key), &bytes).await
}

/// The waiting close that ends the outage `open` starts, if one was held within
/// [`WAIT`] of `now`.
pub async fn closing<S: ClusterStore>(
    store: &S,
    open: &Decision,
    now: DateTime<Utc>,
) -> Result<Option<Decision>, StoreError> {
    Ok(held(store, &open.key)
        .await?
        .filter(|(held_at, close)| !expired(*held_at, now) && ends(close, open))
        .map(|(_, close)| close))
}

/// Forgets the waiting close of `check`.
pub async fn done<S: ClusterStore>(store: &S, check: &CheckKey) -> Result<(), StoreError> {
    store.delete_state(&key(check)).await.map(|_| ())
}

/// Deletes closes held longer than [`WAIT`] (and unreadable ones); returns them.
pub async fn expire<S: ClusterStore>(
    store: &S,
    now: DateTime<Utc>,
) -> Result<Vec<CheckKey>, StoreError> {
    let mut dropped = Vec::new();
    for (state_key, bytes) in store.states_with_prefix(PREFIX).await? {
        let held = serde_json::from_slice::<Held>(&bytes).ok();
        if held.as_ref().is_none_or(|h| expired(h.held_at, now))
            && store.delete_state(&state_key).await?
        {
            dropped.extend(held.and_then(|h| h.close.key().ok()));
        }
    }
    Ok(dropped)
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
    fn a_close_matches_only_an_open_of_its_check_decided_before_it() {
        let close = decision("a", true, 60);
        assert!(ends(&close, &decision("a", false, 30)));
        assert!(!ends(&close, &decision("a", false, 90)));
        assert!(!ends(&close, &decision("b", false, 30)));
    }

    #[test]
    fn a_close_waits_ten_minutes() {
        assert!(!expired(at(61), at(61 + 600)));
        assert!(expired(at(61), at(61 + 601)));
    }

    #[test]
    fn each_check_has_its_own_key() {
        let (a, b) = (decision("a", true, 0).key, decision("b", true, 0).key);
        assert_ne!(key(&a), key(&b));
        assert!(key(&a).starts_with(PREFIX) && key(&a).len() == PREFIX.len() + 64);
    }
}
