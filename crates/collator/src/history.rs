//! The consensus log: every passed decision, once, in the order the collators recorded
//! them, under an increasing index. A node starting with no cache file replays it into
//! its official state (the latest decision of every check wins).
//!
//! Kept in full for `[collator] log_retention` (400 days); beyond it only the latest
//! decision of each check (`compact`, once a day from the tables pass).
//!
//! Several collators append to one database: each decision is claimed by its proposal id
//! in the same transaction as its entry (a message row `log/<proposal>`, unique), so it
//! is logged once; two appends racing for one index retry with the next.

use chrono::{DateTime, Utc};
use geodns_consensus::results::ResultEntry;
use geodns_core::ids::{MemberId, NodeId};
use geodns_core::model::CheckKind;
use geodns_core::records::CheckKey;
use geodns_store::{ClusterStore, ErrorKind, LogEntry, Message, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::decision::Decision;

/// The term of entries written by collators (the log has no leader elections).
pub const TERM: u64 = 1;
/// Entries read per query when replaying.
const PAGE: u64 = 5_000;
/// Attempts at an index before giving up (others keep taking the next one).
const ATTEMPTS: usize = 8;

/// One decision as the log stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Entry {
    /// The decided proposal.
    pub proposal: String,
    /// `site`, `domain` or `endpoint`.
    pub check_type: String,
    /// Check name.
    pub check_name: String,
    /// Member.
    pub member: String,
    /// Hostname (domain and endpoint checks).
    #[serde(default)]
    pub domain: String,
    /// Endpoint URL (endpoint checks).
    #[serde(default)]
    pub endpoint: String,
    /// IPv6 family.
    pub ipv6: bool,
    /// Decided up (`true`) or down.
    pub status: bool,
    /// Error text.
    #[serde(default)]
    pub error: String,
    /// Check data.
    #[serde(default)]
    pub data: Map<String, Value>,
    /// When it was decided.
    pub decided_at: DateTime<Utc>,
    /// The finalizing monitor.
    pub decided_by: String,
    /// Who voted how.
    #[serde(default)]
    pub votes: Map<String, Value>,
}

impl Entry {
    /// The entry of `decision`.
    pub fn of(decision: &Decision) -> Entry {
        let key = &decision.key;
        Entry {
            proposal: decision.proposal.to_string(),
            check_type: key.kind.as_str().to_owned(),
            check_name: key.check.clone(),
            member: key.member.to_string(),
            domain: key.domain.clone(),
            endpoint: key.endpoint.clone(),
            ipv6: key.ipv6,
            status: decision.healthy,
            error: decision.error.clone(),
            data: decision.data.clone(),
            decided_at: decision.decided_at,
            decided_by: decision.decided_by.to_string(),
            votes: decision
                .votes
                .iter()
                .map(|(node, agree)| (node.to_string(), Value::Bool(*agree)))
                .collect(),
        }
    }

    /// The check this entry decided.
    pub fn key(&self) -> Result<CheckKey, String> {
        let kind = CheckKind::parse(&self.check_type)
            .ok_or_else(|| format!("checkType `{}`", self.check_type))?;
        let key = CheckKey {
            kind,
            check: self.check_name.clone(),
            member: MemberId::parse(&self.member).map_err(|e| format!("member: {e}"))?,
            domain: self.domain.clone(),
            endpoint: self.endpoint.clone(),
            ipv6: self.ipv6,
        };
        key.validate().map_err(|e| e.to_string())?;
        NodeId::parse(&self.decided_by).map_err(|e| format!("decidedBy: {e}"))?;
        Ok(key)
    }
}

impl Entry {
    /// The decision this entry records.
    pub fn decision(&self) -> Result<Decision, String> {
        let mut votes = geodns_core::records::Votes::new();
        for (node, agree) in &self.votes {
            let node = NodeId::parse(node).map_err(|e| format!("votes: {e}"))?;
            votes.insert(node, agree.as_bool().ok_or("votes: not a boolean")?);
        }
        Ok(Decision {
            proposal: geodns_consensus::message::ProposalId::parse(&self.proposal)
                .map_err(|e| format!("proposal: {e}"))?,
            key: self.key()?,
            healthy: self.status,
            decided_at: self.decided_at,
            decided_by: NodeId::parse(&self.decided_by).map_err(|e| format!("decidedBy: {e}"))?,
            error: self.error.clone(),
            votes,
            data: self.data.clone(),
        })
    }
}

/// What appending did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Logged at this index.
    At(u64),
    /// Already in the log (another collator, or a retry).
    AlreadyLogged,
}

/// Appends `decision` unless it is logged already.
pub async fn append<S: ClusterStore>(
    store: &S,
    decision: &Decision,
    now: DateTime<Utc>,
) -> Result<Appended, StoreError> {
    let entry = serde_json::to_value(Entry::of(decision)).unwrap_or(Value::Null);
    let claim = Message {
        id: format!("log/{}", decision.proposal),
        from: decision.decided_by.to_string(),
        to: "consensus.log".to_owned(),
        content: Vec::new(),
        timestamp: now,
    };
    let mut last_error = None;
    for _ in 0..ATTEMPTS {
        let index = store.last_log_index().await?.map_or(1, |last| last + 1);
        let mut tx = store.begin().await?;
        match tx.store_message(&claim).await {
            Err(error) if error.kind() == ErrorKind::Conflict => {
                tx.rollback().await.ok();
                return Ok(Appended::AlreadyLogged);
            }
            Err(error) => return Err(error),
            Ok(()) => {}
        }
        match tx.append_log(TERM, index, entry.clone()).await {
            // Another collator took this index first: try the next.
            Err(error) if error.kind() == ErrorKind::Conflict => {
                tx.rollback().await.ok();
                last_error = Some(error);
                continue;
            }
            Err(error) => return Err(error),
            Ok(()) => {}
        }
        match tx.commit().await {
            Ok(()) => return Ok(Appended::At(index)),
            // A concurrent claim of the same decision or index surfaced at commit.
            Err(error) if error.kind() == ErrorKind::Conflict => last_error = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(last_error.unwrap_or(StoreError::Conflict {
        what: "consensus log index".to_owned(),
    }))
}

/// Every entry with an index of at least `from`, in index order, read in pages. Entries
/// that cannot be read are returned as errors naming their index.
pub async fn read<S: ClusterStore>(
    store: &S,
    from: u64,
) -> Result<Vec<(u64, Result<Entry, String>)>, StoreError> {
    let mut out = Vec::new();
    for_each(store, from, |index, entry| out.push((index, entry))).await?;
    Ok(out)
}

/// Calls `f` with every entry from index `from` on, in index order, read a page at a
/// time (so memory does not grow with the log).
async fn for_each<S: ClusterStore>(
    store: &S,
    from: u64,
    mut f: impl FnMut(u64, Result<Entry, String>),
) -> Result<(), StoreError> {
    let Some(last) = store.last_log_index().await? else {
        return Ok(());
    };
    let mut start = from;
    while start <= last {
        let end = start.saturating_add(PAGE - 1).min(last);
        for LogEntry { index, entry, .. } in store.logs(start, end).await? {
            let decoded = serde_json::from_value::<Entry>(entry)
                .map_err(|e| e.to_string())
                .and_then(|entry| entry.key().map(|_| entry));
            f(index, decoded);
        }
        start = end + 1;
    }
    Ok(())
}

/// The official state the whole log describes, read a page at a time (memory grows with
/// the checks, not the log), with how many entries were read and the ones that could
/// not be, by index.
pub async fn replay_log<S: ClusterStore>(store: &S) -> Result<Replayed, StoreError> {
    let mut latest = Latest::default();
    let mut replayed = Replayed::default();
    for_each(store, 1, |index, entry| {
        replayed.entries += 1;
        match entry {
            Ok(entry) => {
                latest.add(index, entry);
            }
            Err(error) => replayed.skipped.push((index, error)),
        }
    })
    .await?;
    replayed.rows = latest.rows();
    Ok(replayed)
}

/// What [`replay_log`] read.
#[derive(Debug, Default)]
pub struct Replayed {
    /// Entries read.
    pub entries: usize,
    /// Entries that could not be read, by index, with why.
    pub skipped: Vec<(u64, String)>,
    /// The latest decision of every check.
    pub rows: Vec<(CheckKey, ResultEntry)>,
}

/// The latest decision of every check seen so far, with its index.
#[derive(Debug, Default)]
struct Latest(std::collections::BTreeMap<CheckKey, (u64, Entry)>);

impl Latest {
    /// Takes `entry`, logged at `index`, when it is its check's latest so far (decided
    /// later; on a tie, logged later, as entries come in index order). Returns its check
    /// (`None` when the entry names none).
    fn add(&mut self, index: u64, entry: Entry) -> Option<CheckKey> {
        let key = entry.key().ok()?;
        match self.0.get(&key) {
            Some((_, seen)) if seen.decided_at > entry.decided_at => {}
            _ => {
                self.0.insert(key.clone(), (index, entry));
            }
        }
        Some(key)
    }

    /// The index of the latest entry of `key`.
    fn index_of(&self, key: &CheckKey) -> Option<u64> {
        self.0.get(key).map(|(index, _)| *index)
    }

    fn rows(self) -> Vec<(CheckKey, ResultEntry)> {
        self.0
            .into_iter()
            .map(|(key, (_, entry))| {
                let result = ResultEntry {
                    status: entry.status,
                    error: entry.error,
                    data: Some(entry.data),
                    at: entry.decided_at,
                };
                (key, result)
            })
            .collect()
    }
}

/// What a compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compacted {
    /// Entries read.
    pub read: usize,
    /// Entries older than the retention that a later decision of their check superseded,
    /// deleted.
    pub deleted: u64,
}

/// Compacts the log: every entry decided at or after `keep_from` stays, and of the older
/// ones only the latest decision of each check (what a replay takes). Entries that cannot
/// be read are kept.
pub async fn compact<S: ClusterStore>(
    store: &S,
    keep_from: DateTime<Utc>,
) -> Result<Compacted, StoreError> {
    let mut latest = Latest::default();
    let mut old = Vec::new();
    let mut read = 0;
    for_each(store, 1, |index, entry| {
        read += 1;
        let Ok(entry) = entry else { return };
        let decided_at = entry.decided_at;
        let Some(key) = latest.add(index, entry) else {
            return;
        };
        if decided_at < keep_from {
            old.push((index, key));
        }
    })
    .await?;
    let superseded: Vec<u64> = old
        .into_iter()
        .filter(|(index, key)| latest.index_of(key) != Some(*index))
        .map(|(index, _)| index)
        .collect();
    let deleted = store.delete_logs(&superseded).await?;
    Ok(Compacted { read, deleted })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeDelta;
    use geodns_store::{SqlStore, StoreConfig};

    use super::*;

    use crate::decision::sample as decision;

    #[tokio::test]
    async fn compaction_keeps_the_retention_and_each_checks_latest_decision() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/log.db", dir.path().display());
        let store = SqlStore::open(StoreConfig::new(url)).await.unwrap();
        let now = DateTime::parse_from_rfc3339("2026-12-07T12:00:00Z")
            .unwrap()
            .to_utc();
        let days = |n: i64| now - TimeDelta::days(n);
        // (member, proposal, healthy, decided days ago).
        let log = [
            ("A", "a1", false, 500),
            ("B", "b1", false, 500),
            ("A", "a2", true, 450),
            ("B", "b2", true, 420),
            ("A", "a3", false, 10),
            ("C", "c1", false, 5),
        ];
        for (member, proposal, healthy, ago) in log {
            let decided = decision(member, proposal, healthy, days(ago));
            append(&store, &decided, days(ago)).await.unwrap();
        }
        let before = replay_log(&store).await.unwrap().rows;

        let done = compact(&store, days(400)).await.unwrap();
        assert_eq!(
            done,
            Compacted {
                read: 6,
                deleted: 3
            }
        );
        let left = read(&store, 1).await.unwrap();
        let proposals: Vec<String> = left.into_iter().map(|(_, e)| e.unwrap().proposal).collect();
        assert_eq!(
            proposals,
            ["b2", "a3", "c1"],
            "B's latest is kept, however old"
        );
        let after = replay_log(&store).await.unwrap().rows;
        assert_eq!(after, before, "a replay sees the same state");
        // Again: nothing more to do.
        let again = compact(&store, days(400)).await.unwrap();
        assert_eq!(
            again,
            Compacted {
                read: 3,
                deleted: 0
            }
        );
        store.close().await;
    }
}
