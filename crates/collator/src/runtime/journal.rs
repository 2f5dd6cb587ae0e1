//! The collator's decision journal (`decisions.journal` in the data directory): each
//! decision is appended (and synced) before it is queued, and the file is emptied once
//! the queue is (everything in it is stored). At start its decisions are queued again;
//! recording is idempotent, so one that was stored before a crash changes nothing. So the
//! decisions that wait for the database (up to the queue's 100,000) survive a restart, a
//! crash or a power loss. While the database stays away the file is rewritten from the
//! queue whenever its appends outgrow the last rewrite (and 1 MiB), so it holds about
//! what the queue holds, never more than twice.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use geodns_node::journal::Journal;
use tokio_util::sync::CancellationToken;

use crate::history::Entry;
use crate::{CollatorQueue, Decision};

/// The journal's file name in the data directory.
pub const FILE: &str = "decisions.journal";

/// How often an empty queue empties the journal.
const SETTLE: Duration = Duration::from_secs(1);

/// The journal, shared by the reader (appends) and the settler (empties it). Appending
/// and queueing happen under one lock, and so do looking at the queue and emptying the
/// file, so a decision is never in the queue without being in the file.
#[derive(Debug, Clone)]
pub(super) struct Decisions(Arc<tokio::sync::Mutex<Inner>>);

#[derive(Debug)]
struct Inner {
    journal: Journal,
    /// The file may hold lines.
    dirty: bool,
}

impl Decisions {
    pub(super) fn open(data_dir: &Path) -> Decisions {
        Decisions(Arc::new(tokio::sync::Mutex::new(Inner {
            journal: Journal::new(data_dir, FILE),
            dirty: true,
        })))
    }

    /// Queues the decisions the file holds; returns how many (unreadable lines, as a
    /// write cut by a crash, are logged and skipped).
    pub(super) async fn restore(&self, queue: &CollatorQueue) -> usize {
        let inner = self.0.lock().await;
        let Some(text) = inner.journal.read().await else {
            return 0;
        };
        let mut restored = 0;
        for (number, line) in text.lines().enumerate() {
            let decision = serde_json::from_str::<Entry>(line)
                .map_err(|e| e.to_string())
                .and_then(|entry| entry.decision());
            match decision {
                Ok(decision) => {
                    queue.push(decision);
                    restored += 1;
                }
                Err(error) => {
                    tracing::warn!(line = number + 1, %error, path = %inner.journal.path().display(), "a journaled decision cannot be read; skipped")
                }
            }
        }
        if restored > 0 {
            tracing::info!(
                decisions = restored,
                "decisions not stored before the last stop queued again"
            );
        }
        restored
    }

    /// Journals `decision`, then queues it.
    pub(super) async fn push(&self, queue: &CollatorQueue, decision: Decision) {
        let mut inner = self.0.lock().await;
        if let Err(error) = inner.journal.append(line(&decision)).await {
            tracing::error!(%error, check = %decision.key, "cannot journal a decision: a crash before it is stored would lose it");
        }
        inner.dirty = true;
        queue.push(decision);
        if inner.journal.grown() {
            // Stored and dropped decisions are still in the file: keep the queue's.
            let waiting: String = queue.waiting().iter().map(line).collect();
            if let Err(error) = inner.journal.compact(waiting).await {
                tracing::warn!(%error, "cannot rewrite the decision journal");
            }
        }
    }

    /// Empties the file when the queue is empty.
    async fn settle(&self, queue: &CollatorQueue) {
        let mut inner = self.0.lock().await;
        if !inner.dirty || queue.report().pending > 0 {
            return;
        }
        match inner.journal.compact(String::new()).await {
            Ok(()) => inner.dirty = false,
            Err(error) => tracing::warn!(%error, "cannot empty the decision journal"),
        }
    }
}

/// The journal line of `decision`.
fn line(decision: &Decision) -> String {
    serde_json::to_string(&Entry::of(decision)).unwrap_or_default() + "\n"
}

/// Empties the journal whenever the queue is empty, until `shutdown` (and once more
/// then).
pub(super) async fn run_settler(
    decisions: Decisions,
    queue: CollatorQueue,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(SETTLE);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => decisions.settle(&queue).await,
        }
    }
    decisions.settle(&queue).await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{DateTime, TimeDelta};

    use super::*;

    fn decision(n: i64) -> Decision {
        let at = DateTime::UNIX_EPOCH + TimeDelta::seconds(n);
        Decision {
            error: "x".repeat(200),
            ..crate::decision::sample("Near", &format!("p-{n}"), n % 2 == 1, at)
        }
    }

    #[tokio::test]
    async fn the_journal_holds_what_the_queue_holds_and_comes_back_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let decisions = Decisions::open(dir.path());
        let queue = CollatorQueue::new(10);
        // About 4 MB of decisions while the database is away; the queue keeps 10.
        for n in 0..10_000 {
            decisions.push(&queue, decision(n)).await;
        }
        let size = std::fs::metadata(dir.path().join(FILE)).unwrap().len();
        assert!(size < 2 << 20, "{size} bytes: rewritten from the queue");
        let restarted = CollatorQueue::new(10);
        assert!(Decisions::open(dir.path()).restore(&restarted).await >= 10);
        assert_eq!(restarted.waiting(), queue.waiting());
        // Stored: the file is emptied.
        while queue.report().pending > 0 {
            queue.with(|q| q.stored());
        }
        decisions.settle(&queue).await;
        assert_eq!(std::fs::metadata(dir.path().join(FILE)).unwrap().len(), 0);
    }
}
