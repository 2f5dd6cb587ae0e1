//! The consensus log: every passed decision, once, in the order the collators recorded
//! them, under an increasing index. A node starting with no cache file replays it into
//! its official state (the latest decision of every check wins).
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
    let Some(last) = store.last_log_index().await? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut start = from;
    while start <= last {
        let end = start.saturating_add(PAGE - 1).min(last);
        for LogEntry { index, entry, .. } in store.logs(start, end).await? {
            let decoded = serde_json::from_value::<Entry>(entry)
                .map_err(|e| e.to_string())
                .and_then(|entry| entry.key().map(|_| entry));
            out.push((index, decoded));
        }
        start = end + 1;
    }
    Ok(out)
}

/// The official state the log describes: for every check, its latest decision.
pub fn replay<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Vec<(CheckKey, ResultEntry)> {
    let mut latest: std::collections::BTreeMap<CheckKey, &Entry> = Default::default();
    for entry in entries {
        let Ok(key) = entry.key() else { continue };
        match latest.get(&key) {
            Some(seen) if seen.decided_at > entry.decided_at => {}
            _ => {
                latest.insert(key, entry);
            }
        }
    }
    latest
        .into_iter()
        .map(|(key, entry)| {
            let result = ResultEntry {
                status: entry.status,
                error: entry.error.clone(),
                data: Some(entry.data.clone()),
                at: entry.decided_at,
            };
            (key, result)
        })
        .collect()
}
