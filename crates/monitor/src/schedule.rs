//! The scheduler's state, without I/O: every item's next due time, which are running,
//! and rebuilding from a new plan while keeping each item's last start. Time and jitter
//! are arguments.

use std::collections::BTreeMap;
use std::time::Duration;

use geodns_core::records::CheckKey;
use tokio::time::Instant;

use crate::target::Item;

#[derive(Debug)]
struct Entry {
    item: Item,
    last_start: Option<Instant>,
    due: Instant,
    running: bool,
}

/// Every (check, target) with its next due time.
#[derive(Debug, Default)]
pub struct Schedule {
    entries: BTreeMap<CheckKey, Entry>,
}

impl Schedule {
    /// Replaces the plan. Items that stay keep their last start and due time (a reload
    /// does not run everything again); new items are due at once (the separation between
    /// starts spreads them); removed ones are forgotten, and their running checks'
    /// results are dropped when they end.
    pub fn rebuild(&mut self, items: Vec<Item>, now: Instant) {
        let mut next = BTreeMap::new();
        for item in items {
            let key = item.key();
            let entry = match self.entries.remove(&key) {
                Some(old) => Entry {
                    due: old
                        .last_start
                        .map_or(now, |start| start + item.check.interval)
                        .min(old.due.max(now)),
                    item,
                    last_start: old.last_start,
                    running: old.running,
                },
                None => Entry {
                    item,
                    last_start: None,
                    due: now,
                    running: false,
                },
            };
            next.insert(key, entry);
        }
        self.entries = next;
    }

    /// Items in the plan.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No items.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// When the next idle item is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter(|e| !e.running)
            .map(|e| e.due)
            .min()
    }

    /// The most overdue idle item due by `now`, marked running.
    pub fn take_due(&mut self, now: Instant) -> Option<Item> {
        let entry = self
            .entries
            .values_mut()
            .filter(|e| !e.running && e.due <= now)
            .min_by_key(|e| e.due)?;
        entry.running = true;
        entry.last_start = Some(now);
        Some(entry.item.clone())
    }

    /// The run of `key` ended at `now`; its next run is one interval after its start,
    /// moved by `jitter` (at most a tenth of the interval either way), never before `now`.
    /// `false` when the item left the plan meanwhile (drop its result).
    pub fn finished(&mut self, key: &CheckKey, now: Instant, jitter: f64) -> bool {
        let Some(entry) = self.entries.get_mut(key) else {
            return false;
        };
        entry.running = false;
        let interval = entry.item.check.interval;
        let shift = interval.mul_f64(jitter.clamp(-1.0, 1.0).abs() / 10.0);
        let start = entry.last_start.unwrap_or(now);
        let base = start + interval;
        let due = if jitter < 0.0 {
            base.checked_sub(shift).unwrap_or(base)
        } else {
            base + shift
        };
        entry.due = due.max(now + Duration::from_millis(1));
        true
    }
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
