//! A DNS node's usage as cumulative totals per counter (day, hostname, member, client
//! network, family), written to the store in replace mode: writing a total twice, or
//! again after a commit whose outcome was unknown, changes nothing, so every query is
//! counted once whatever the store or the network did. Counters changed since they were
//! last written are dirty until a write of their current total succeeds.
//!
//! The journal that keeps the totals across a crash is a file of JSON lines: a full
//! snapshot (after each successful write, and at start) followed by the increments
//! appended since. Pure: the runtime does the file and store I/O.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use geodns_core::ids::NodeId;
use geodns_core::records::{UsageKey, UsageRow};
use serde::{Deserialize, Serialize};

/// The cumulative totals and which of them the store may not hold yet.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Totals {
    rows: BTreeMap<UsageKey, i64>,
    dirty: BTreeSet<UsageKey>,
}

/// What pruning dropped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    /// Counters dropped while not yet written (their hits are lost).
    pub unwritten_rows: usize,
    /// Their hits.
    pub unwritten_hits: i64,
}

impl Totals {
    /// Adds increments (a collection from the workers); they become dirty.
    pub fn add(&mut self, increments: &BTreeMap<UsageKey, i64>) {
        for (key, hits) in increments {
            if *hits == 0 {
                continue;
            }
            *self.rows.entry(key.clone()).or_insert(0) += hits;
            self.dirty.insert(key.clone());
        }
    }

    /// Takes what the store already holds for this node: a counter's total is the larger
    /// of the two (the store never holds more than was counted, so the larger is the
    /// truth; a journal lost or older than the store cannot lower a stored total).
    pub fn seed(&mut self, stored: impl IntoIterator<Item = UsageRow>) {
        for row in stored {
            let total = self.rows.entry(row.key.clone()).or_insert(0);
            if row.hits > *total {
                *total = row.hits;
                // Equal to the store now, unless counted on top before the seed.
                self.dirty.remove(&row.key);
            }
        }
    }

    /// The current totals of the dirty counters, to write in replace mode.
    pub fn to_write(&self) -> Vec<UsageRow> {
        self.dirty
            .iter()
            .filter_map(|key| {
                self.rows.get(key).map(|hits| UsageRow {
                    key: key.clone(),
                    hits: *hits,
                })
            })
            .collect()
    }

    /// The store took `rows`: each is clean unless counted on since it was taken.
    pub fn written(&mut self, rows: &[UsageRow]) {
        for row in rows {
            if self.rows.get(&row.key) == Some(&row.hits) {
                self.dirty.remove(&row.key);
            }
        }
    }

    /// True when some counter is not written yet.
    pub fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Dirty counters.
    pub fn dirty_len(&self) -> usize {
        self.dirty.len()
    }

    /// Dirty counters and their hits.
    pub fn unwritten(&self) -> (usize, i64) {
        let hits = self.dirty.iter().filter_map(|k| self.rows.get(k)).sum();
        (self.dirty.len(), hits)
    }

    /// Counters held.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when no counter is held.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The days held, oldest first.
    pub fn days(&self) -> BTreeSet<NaiveDate> {
        self.rows.keys().map(|key| key.date).collect()
    }

    /// Drops written counters of days before `keep_from`, then, while more than
    /// `max_rows` counters are held, whole days from the oldest (written or not: what is
    /// dropped unwritten is returned, for a counter and a log line).
    pub fn prune(&mut self, keep_from: NaiveDate, max_rows: usize) -> Dropped {
        let dirty = &self.dirty;
        self.rows
            .retain(|key, _| key.date >= keep_from || dirty.contains(key));
        let mut dropped = Dropped::default();
        while self.rows.len() > max_rows {
            let Some(oldest) = self.rows.keys().next().map(|key| key.date) else {
                break;
            };
            let day: Vec<UsageKey> = self
                .rows
                .keys()
                .take_while(|key| key.date == oldest)
                .cloned()
                .collect();
            for key in day {
                let hits = self.rows.remove(&key).unwrap_or(0);
                if self.dirty.remove(&key) {
                    dropped.unwritten_rows += 1;
                    dropped.unwritten_hits += hits;
                }
            }
        }
        dropped
    }

    /// The journal's snapshot line: every counter with its total and whether it is
    /// written.
    pub fn snapshot_line(&self) -> String {
        let rows = self
            .rows
            .iter()
            .map(|(key, hits)| Line::of(key, *hits, !self.dirty.contains(key)))
            .collect();
        let entry = Entry::Snapshot { rows };
        serde_json::to_string(&entry).unwrap_or_default() + "\n"
    }

    /// A journal line with `increments`.
    pub fn increments_line(increments: &BTreeMap<UsageKey, i64>) -> String {
        let rows = increments
            .iter()
            .filter(|(_, hits)| **hits != 0)
            .map(|(key, hits)| Line::of(key, *hits, false))
            .collect();
        serde_json::to_string(&Entry::Add { rows }).unwrap_or_default() + "\n"
    }

    /// Rebuilds totals from a journal: the last snapshot, then the increments after it.
    /// A line that cannot be read ends the replay (a crash mid-append leaves at most the
    /// last line cut); the count of lines skipped is returned with the totals.
    pub fn replay(text: &str) -> (Totals, usize) {
        let mut totals = Totals::default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        for (index, line) in lines.iter().enumerate() {
            let Ok(entry) = serde_json::from_str::<Entry>(line) else {
                return (totals, lines.len() - index);
            };
            match entry {
                Entry::Snapshot { rows } => {
                    totals = Totals::default();
                    for line in rows {
                        let written = line.written;
                        let Some((key, hits)) = line.into_key() else {
                            continue;
                        };
                        if !written {
                            totals.dirty.insert(key.clone());
                        }
                        totals.rows.insert(key, hits);
                    }
                }
                Entry::Add { rows } => {
                    let increments: BTreeMap<UsageKey, i64> =
                        rows.into_iter().filter_map(Line::into_key).collect();
                    totals.add(&increments);
                }
            }
        }
        (totals, 0)
    }
}

/// One line of the journal.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Entry {
    /// Every counter's total.
    Snapshot { rows: Vec<Line> },
    /// Increments since the line before.
    Add { rows: Vec<Line> },
}

/// One counter in the journal.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    date: NaiveDate,
    node: String,
    domain: String,
    member: String,
    asn: String,
    network: String,
    country_code: String,
    country_name: String,
    ipv6: bool,
    hits: i64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    written: bool,
}

impl Line {
    fn of(key: &UsageKey, hits: i64, written: bool) -> Line {
        Line {
            date: key.date,
            node: key.node.to_string(),
            domain: key.domain.clone(),
            member: key.member.clone(),
            asn: key.asn.clone(),
            network: key.network.clone(),
            country_code: key.country_code.clone(),
            country_name: key.country_name.clone(),
            ipv6: key.ipv6,
            hits,
            written,
        }
    }

    /// The counter, or `None` for a line naming an invalid node id.
    fn into_key(self) -> Option<(UsageKey, i64)> {
        let key = UsageKey {
            date: self.date,
            node: NodeId::parse(&self.node).ok()?,
            domain: self.domain,
            member: self.member,
            asn: self.asn,
            network: self.network,
            country_code: self.country_code,
            country_name: self.country_name,
            ipv6: self.ipv6,
        };
        Some((key, self.hits))
    }
}

#[cfg(test)]
mod tests;
