//! The monitor's outage log (the original's `RecordEvent`): each official change this
//! monitor sees opens or closes an outage. Pure: two snapshots in, changes out; the
//! binary writes them to the store (which drops outages shorter than
//! `[monitor] minimum_offline`).

use chrono::{DateTime, Utc};
use geodns_consensus::results::Snapshot;
use geodns_core::records::CheckKey;
use serde_json::{Map, Value};

/// One change to write.
#[derive(Debug, Clone, PartialEq)]
pub enum OutageChange {
    /// The check went down officially.
    Open {
        /// What.
        key: CheckKey,
        /// When it was decided.
        at: DateTime<Utc>,
        /// The check's error text.
        error: String,
        /// The check's data.
        data: Map<String, Value>,
    },
    /// The check came back (or left the official results).
    Close {
        /// What.
        key: CheckKey,
        /// When.
        at: DateTime<Utc>,
    },
}

/// The changes from `before` to `after`. A check that was down and is gone from the
/// results is closed at `now`.
pub fn changes(before: &Snapshot, after: &Snapshot, now: DateTime<Utc>) -> Vec<OutageChange> {
    let mut out = Vec::new();
    for (key, entry) in after.iter() {
        let was_down = before.get(key).is_some_and(|old| !old.status);
        if !entry.status && !was_down {
            out.push(OutageChange::Open {
                key: key.clone(),
                at: entry.at,
                error: entry.error.clone(),
                data: entry.data.clone().unwrap_or_default(),
            });
        } else if entry.status && was_down {
            out.push(OutageChange::Close {
                key: key.clone(),
                at: entry.at,
            });
        }
    }
    for (key, entry) in before.iter() {
        if !entry.status && after.get(key).is_none() {
            out.push(OutageChange::Close {
                key: key.clone(),
                at: now,
            });
        }
    }
    out
}
