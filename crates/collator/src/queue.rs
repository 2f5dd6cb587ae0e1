//! The collator's retry queue: decided outage changes wait here, in decision order, until
//! the store accepts them. Pure (time is an argument): the writer task drains it, retrying
//! the head with exponential back-off while the database is unreachable, so a database
//! outage delays outage history but never loses it. Bounded: past `limit` the oldest
//! decision is dropped, counted and logged.

use std::collections::VecDeque;
use std::time::Duration;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::decision::Decision;
use crate::usage::CollectionReport;
use crate::writer::ChangeKind;

/// First retry delay after a failed write.
pub(crate) const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Longest retry delay.
pub(crate) const MAX_RETRY: Duration = Duration::from_secs(30);
/// Decisions held at most (a day of flapping for a large fleet).
pub(crate) const DEFAULT_LIMIT: usize = 100_000;

/// The collator's queue of decisions waiting for the store, shared by the bus reader, the
/// writer and `consensus status`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CollatorQueue {
    queue: Arc<Mutex<RetryQueue<Decision>>>,
    pub(crate) wake: Arc<Notify>,
    /// The last usage collection's report.
    collection: Arc<Mutex<Option<CollectionReport>>>,
    /// Usage collections that ran: every node stored, and some missing or failed.
    collections: Arc<[AtomicU64; 2]>,
    /// Changes of outage history this collator's writes made, by [`HISTORY_CHANGES`].
    history: Arc<[AtomicU64; 4]>,
}

/// The kinds of history change, in the order [`CollatorQueue::history_changes`] counts
/// them.
pub const HISTORY_CHANGES: [&str; 4] = ["opened", "closed", "dropped", "recorded"];

impl CollatorQueue {
    /// An empty queue holding at most `limit` decisions.
    pub fn new(limit: usize) -> Self {
        CollatorQueue {
            queue: Arc::new(Mutex::new(RetryQueue::new(limit))),
            wake: Arc::new(Notify::new()),
            collection: Arc::default(),
            collections: Arc::default(),
            history: Arc::default(),
        }
    }

    /// Runs `f` on the queue; the lock is never held across an `.await`.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut RetryQueue<Decision>) -> R) -> R {
        f(&mut self.queue.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Queues a decision and wakes the writer.
    pub fn push(&self, decision: Decision) {
        if let Some(evicted) = self.with(|queue| queue.push(decision)) {
            tracing::error!(
                check = %evicted.key,
                proposal = %evicted.proposal,
                "collator queue full: the oldest unstored decision is dropped"
            );
        }
        self.wake.notify_one();
    }

    /// The decisions waiting, in order.
    pub fn waiting(&self) -> Vec<Decision> {
        self.with(|queue| queue.items.iter().cloned().collect())
    }

    /// The queue's counters, with the last usage collection.
    pub fn report(&self) -> QueueReport {
        let mut report = self.with(|queue| queue.report());
        report.last_collection = self
            .collection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        report
    }

    /// Records the report of a usage collection.
    pub fn collected(&self, report: CollectionReport) {
        let complete = report.missing.is_empty() && report.failed.is_empty();
        self.collections[usize::from(!complete)].fetch_add(1, Ordering::Relaxed);
        *self
            .collection
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(report);
    }
}

impl CollatorQueue {
    /// Counts a change of outage history this collator made.
    pub fn changed(&self, kind: &ChangeKind) {
        let index = match kind {
            ChangeKind::Opened { .. } => 0,
            ChangeKind::Closed { dropped: false, .. } => 1,
            ChangeKind::Closed { dropped: true, .. } => 2,
            ChangeKind::Recorded { .. } => 3,
        };
        self.history[index].fetch_add(1, Ordering::Relaxed);
    }

    /// Changes of outage history this collator made since start, by [`HISTORY_CHANGES`].
    pub fn history_changes(&self) -> [u64; 4] {
        [0, 1, 2, 3].map(|i| self.history[i].load(Ordering::Relaxed))
    }

    /// Usage collections that ran since start: `[complete, incomplete]`.
    pub fn collections(&self) -> [u64; 2] {
        [0, 1].map(|i| self.collections[i].load(Ordering::Relaxed))
    }
}

impl Default for CollatorQueue {
    fn default() -> Self {
        CollatorQueue::new(DEFAULT_LIMIT)
    }
}

/// Counters of the queue, for `consensus status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueReport {
    /// Decisions waiting for the store.
    pub pending: usize,
    /// Decisions the store accepted.
    pub stored: u64,
    /// Failed writes that will be retried.
    pub retries: u64,
    /// Decisions dropped because the queue was full.
    pub dropped: u64,
    /// Decisions the store refused for good (an invalid record); logged, not retried.
    pub refused: u64,
    /// The last write error, if the head is waiting for a retry.
    pub last_error: Option<String>,
    /// The last usage collection (absent before the first, and from older nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_collection: Option<CollectionReport>,
}

impl QueueReport {
    /// The lines `geodns consensus status` prints for a collator.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut text = String::new();
        let _ = writeln!(
            text,
            "collator:        {} waiting for the database, {} stored, {} retries, {} dropped, {} refused{}",
            self.pending,
            self.stored,
            self.retries,
            self.dropped,
            self.refused,
            self.last_error
                .as_deref()
                .map(|e| format!(" (last error: {e})"))
                .unwrap_or_default()
        );
        if let Some(run) = &self.last_collection {
            let at = run.at.map(|at| at.to_rfc3339()).unwrap_or_default();
            let missing = if run.missing.is_empty() && run.failed.is_empty() {
                "every DNS node answered".to_owned()
            } else {
                let failed: Vec<&str> = run.failed.keys().map(String::as_str).collect();
                format!("missing {:?}, failed {:?}", run.missing, failed)
            };
            let _ = writeln!(
                text,
                "usage collected: {at}, {} nodes stored, {missing}",
                run.stored.len()
            );
        }
        text
    }
}

/// Items (decisions, alerts) in order, with the back-off of the head.
#[derive(Debug)]
pub(crate) struct RetryQueue<T> {
    items: VecDeque<T>,
    limit: usize,
    /// The head may be tried again from then on (`None`: now).
    not_before: Option<DateTime<Utc>>,
    delay: Duration,
    report: QueueReport,
}

impl<T> RetryQueue<T> {
    /// An empty queue holding at most `limit` decisions.
    pub(crate) fn new(limit: usize) -> Self {
        RetryQueue {
            items: VecDeque::new(),
            limit: limit.max(1),
            not_before: None,
            delay: FIRST_RETRY,
            report: QueueReport::default(),
        }
    }

    /// Adds a decision at the tail; returns the oldest one if it had to make room.
    pub(crate) fn push(&mut self, item: T) -> Option<T> {
        let evicted = if self.items.len() >= self.limit {
            self.report.dropped += 1;
            self.items.pop_front()
        } else {
            None
        };
        self.items.push_back(item);
        evicted
    }

    /// The head, if it may be written at `now`.
    pub(crate) fn due(&self, now: DateTime<Utc>) -> Option<&T> {
        match self.not_before {
            Some(at) if now < at => None,
            _ => self.items.front(),
        }
    }

    /// The head was stored: the next one may go at once.
    pub(crate) fn stored(&mut self) {
        if self.items.pop_front().is_some() {
            self.report.stored += 1;
        }
        self.reset_backoff();
    }

    /// The store refused the head for good: drop it and go on.
    pub(crate) fn refused(&mut self) {
        if self.items.pop_front().is_some() {
            self.report.refused += 1;
        }
        self.reset_backoff();
    }

    /// Writing the head failed at `now`: keep it and wait before the next try. Returns the
    /// wait.
    pub(crate) fn failed(&mut self, now: DateTime<Utc>, error: String) -> Duration {
        let wait = self.delay;
        self.not_before = TimeDelta::from_std(wait).ok().map(|d| now + d);
        self.delay = (self.delay * 2).min(MAX_RETRY);
        self.report.retries += 1;
        self.report.last_error = Some(error);
        wait
    }

    /// The counters, with the current length.
    pub(crate) fn report(&self) -> QueueReport {
        QueueReport {
            pending: self.items.len(),
            ..self.report.clone()
        }
    }

    fn reset_backoff(&mut self) {
        self.not_before = None;
        self.delay = FIRST_RETRY;
        self.report.last_error = None;
    }
}

#[cfg(test)]
mod tests {
    use geodns_consensus::message::ProposalId;
    use geodns_core::ids::NodeId;
    use geodns_core::records::{CheckKey, Votes};
    use serde_json::Map;

    use super::*;

    fn decision(id: &str) -> Decision {
        Decision {
            proposal: ProposalId::parse(id).unwrap(),
            key: CheckKey {
                kind: geodns_core::model::CheckKind::Site,
                check: "ping".to_owned(),
                member: geodns_core::ids::MemberId::parse("Member").unwrap(),
                domain: String::new(),
                endpoint: String::new(),
                ipv6: false,
            },
            healthy: false,
            decided_at: at(0),
            decided_by: NodeId::parse("m1").unwrap(),
            error: "down".to_owned(),
            votes: Votes::new(),
            data: Map::new(),
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn a_failed_head_waits_with_backoff_and_keeps_its_place() {
        let mut queue = RetryQueue::new(10);
        queue.push(decision("p1"));
        queue.push(decision("p2"));
        assert_eq!(queue.failed(at(0), "down".into()), Duration::from_secs(1));
        assert_eq!(queue.due(at(0)), None);
        assert_eq!(queue.due(at(1)).map(|d| d.proposal.as_str()), Some("p1"));
        assert_eq!(queue.failed(at(1), "down".into()), Duration::from_secs(2));
        assert_eq!(queue.failed(at(3), "down".into()), Duration::from_secs(4));
        for _ in 0..10 {
            queue.failed(at(3), "down".into());
        }
        assert_eq!(queue.failed(at(3), "down".into()), MAX_RETRY);
        assert_eq!(queue.report().last_error.as_deref(), Some("down"));
        queue.stored();
        assert_eq!(queue.due(at(3)).map(|d| d.proposal.as_str()), Some("p2"));
        let report = queue.report();
        assert_eq!((report.pending, report.stored, report.retries), (1, 1, 14));
        assert_eq!(report.last_error, None);
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts_it() {
        let mut queue = RetryQueue::new(2);
        assert!(queue.push(decision("p1")).is_none());
        assert!(queue.push(decision("p2")).is_none());
        let evicted = queue.push(decision("p3")).unwrap();
        assert_eq!(evicted.proposal.as_str(), "p1");
        assert_eq!((queue.report().pending, queue.report().dropped), (2, 1));
        queue.refused();
        assert_eq!(queue.report().refused, 1);
    }
}
