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

#[cfg(test)]
mod tests {
    use geodns_consensus::results::{ResultEntry, Results};
    use geodns_core::ids::MemberId;
    use geodns_core::model::CheckKind;

    use super::*;

    fn key(member: &str) -> CheckKey {
        CheckKey {
            kind: CheckKind::Site,
            check: "ping".into(),
            member: MemberId::parse(member).unwrap(),
            domain: String::new(),
            endpoint: String::new(),
            ipv6: false,
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn entry(status: bool, seconds: i64) -> ResultEntry {
        ResultEntry {
            status,
            error: if status {
                String::new()
            } else {
                "loss=100%".into()
            },
            data: None,
            at: at(seconds),
        }
    }

    #[test]
    fn official_changes_open_and_close_outages() {
        let mut results = Results::new();
        results.set(key("A"), entry(true, 0));
        results.set(key("B"), entry(false, 0));
        let first = results.snapshot();
        // From nothing: only what is down opens (at its decision time).
        let opened = changes(&Snapshot::default(), &first, at(5));
        assert_eq!(
            opened,
            [OutageChange::Open {
                key: key("B"),
                at: at(0),
                error: "loss=100%".into(),
                data: Map::new(),
            }]
        );
        assert!(
            changes(&first, &first, at(5)).is_empty(),
            "no change, nothing to write"
        );
        results.set(key("A"), entry(false, 10));
        results.set(key("B"), entry(true, 10));
        let second = results.snapshot();
        let mut found = changes(&first, &second, at(11));
        found.sort_by_key(|change| format!("{change:?}"));
        assert_eq!(found.len(), 2);
        assert!(
            matches!(&found[0], OutageChange::Close { key: k, at: t } if *k == key("B") && *t == at(10))
        );
        assert!(matches!(&found[1], OutageChange::Open { key: k, .. } if *k == key("A")));
        // A down check that leaves the results is closed now.
        results.remove(&key("A"));
        let third = results.snapshot();
        assert_eq!(
            changes(&second, &third, at(20)),
            [OutageChange::Close {
                key: key("A"),
                at: at(20)
            }]
        );
    }
}
