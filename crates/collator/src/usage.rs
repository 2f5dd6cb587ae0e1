//! Usage collection (every `[collator] usage_every`): which days to ask every DNS node for, storing each node's
//! answer under that node, and remembering per node when it was last collected.
//!
//! A node is asked from the day it was last collected (that day may have had hits after
//! the pull) to today, so the last hour of every UTC day is collected after midnight and
//! a node that was silent is caught up at its next answer. Rows are stored in max
//! mode (the larger of stored and collected, both the node's cumulative count): asking
//! again, two collators asking, or a node writing its own rows to the same store never
//! changes the totals. IPv4 and IPv6
//! stay apart (the family is part of the row's key).

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use geodns_core::ids::NodeId;
use geodns_core::records::UsageRow;
use geodns_store::{ClusterStore, StoreError, UsageStore, WriteMode};
use serde::{Deserialize, Serialize};

/// Days asked for a node never collected before (today and the six before it).
pub const FIRST_DAYS: u64 = 7;
/// Most days asked at once (a node silent for longer is caught up for the last month).
pub const MAX_DAYS: u64 = 31;
/// Key-value state prefix of the per-node collection times.
pub const STATE_PREFIX: &str = "usage.collected.";
/// Key-value state of the last run's report.
pub const LAST_RUN: &str = "usage.last_run";

/// Days to ask for, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
}

/// The days to ask a node last collected at `last` for, at `now`.
pub fn window(last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Window {
    let to = now.date_naive();
    let back = |days: u64| to.checked_sub_days(Days::new(days - 1)).unwrap_or(to);
    let from = last
        .map(|at| at.date_naive())
        .unwrap_or_else(|| back(FIRST_DAYS))
        .max(back(MAX_DAYS))
        .min(to);
    Window { from, to }
}

/// The one window a fan-out asks every node for: from the earliest day any of them
/// needs (asking a node for days it has already given is harmless).
pub fn fan_out_window(
    last: &BTreeMap<String, Option<DateTime<Utc>>>,
    now: DateTime<Utc>,
) -> Window {
    let today = window(Some(now), now);
    last.values()
        .map(|at| window(*at, now))
        .fold(today, |w, node| Window {
            from: w.from.min(node.from),
            to: w.to,
        })
}

/// What one collection did, for the log, `consensus status` and the key-value state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionReport {
    /// When it ran.
    pub at: Option<DateTime<Utc>>,
    /// The days asked for.
    pub window: Option<Window>,
    /// Rows stored per node that answered.
    pub stored: BTreeMap<String, usize>,
    /// Nodes that did not answer in time; collected at a later run.
    pub missing: Vec<String>,
    /// Nodes whose answer could not be stored, with why; collected at a later run.
    pub failed: BTreeMap<String, String>,
}

/// When each node was last collected (`None`: never).
pub async fn last_collected<S: ClusterStore>(
    store: &S,
    nodes: impl IntoIterator<Item = String>,
) -> Result<BTreeMap<String, Option<DateTime<Utc>>>, StoreError> {
    let mut out = BTreeMap::new();
    for node in nodes {
        let at = store
            .state(&format!("{STATE_PREFIX}{node}"))
            .await?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| DateTime::parse_from_rfc3339(&text).ok())
            .map(|at| at.with_timezone(&Utc));
        out.insert(node, at);
    }
    Ok(out)
}

/// Stores one node's answer under `node` (whatever node ids the rows carried), keeping
/// the larger of each stored and collected total (a node writing its own rows to this
/// store is never set back by an older copy; asking again changes nothing) and, if every row was taken, records that the node was collected at `asked_at`.
/// Returns the number of rows stored, or why the node must be asked again.
pub async fn store_answer<S: UsageStore + ClusterStore>(
    store: &S,
    node: &NodeId,
    mut rows: Vec<UsageRow>,
    asked_at: DateTime<Utc>,
) -> Result<usize, String> {
    for row in &mut rows {
        row.key.node = node.clone();
    }
    let report = store
        .write_usage(&rows, WriteMode::Max)
        .await
        .map_err(|e| format!("cannot store its usage: {e}"))?;
    if let Some(failed) = report.failed.first() {
        return Err(format!(
            "{} of its rows were not stored, first: {}",
            report.failed.len(),
            failed.error
        ));
    }
    store
        .store_state(
            &format!("{STATE_PREFIX}{node}"),
            asked_at.to_rfc3339().as_bytes(),
        )
        .await
        .map_err(|e| format!("stored, but cannot record the collection time: {e}"))?;
    Ok(report.written)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use chrono::TimeZone;

    use super::*;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
    }

    fn date(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, day).unwrap()
    }

    #[test]
    fn after_midnight_the_previous_day_is_asked_again() {
        let w = window(Some(at(29, 23)), at(30, 0));
        assert_eq!((w.from, w.to), (date(29), date(30)));
        let w = window(Some(at(30, 0)), at(30, 1));
        assert_eq!((w.from, w.to), (date(30), date(30)));
    }

    #[test]
    fn a_new_node_is_asked_for_a_week_and_a_silent_one_for_at_most_a_month() {
        let w = window(None, at(30, 5));
        assert_eq!((w.from, w.to), (date(24), date(30)));
        let long_ago = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let w = window(Some(long_ago), at(30, 5));
        assert_eq!(w.from, NaiveDate::from_ymd_opt(2026, 10, 31).unwrap());
        // A clock that went back never asks for a window that ends before it starts.
        let w = window(Some(at(30, 5)), at(29, 5));
        assert!(w.from <= w.to);
    }

    #[test]
    fn one_fan_out_covers_the_node_that_needs_most() {
        let last = BTreeMap::from([
            ("dns-1".to_owned(), Some(at(30, 2))),
            ("dns-2".to_owned(), Some(at(28, 23))),
        ]);
        let w = fan_out_window(&last, at(30, 3));
        assert_eq!((w.from, w.to), (date(28), date(30)));
        assert_eq!(fan_out_window(&BTreeMap::new(), at(30, 3)).from, date(30));
    }
}
