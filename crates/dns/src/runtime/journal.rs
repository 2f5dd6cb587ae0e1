//! The usage journal in the data directory (`usage.journal`): what the store may not
//! hold yet survives a crash. Increments are appended (and synced) every
//! `[dns] usage_journal`; after each write the store took, at start, and whenever the
//! increments appended outgrow the last snapshot (and 1 MiB: a store down for long), the
//! file is replaced by one snapshot line (written atomically), so it stays within about
//! twice the snapshot's size. All file work runs on the blocking pool.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::usage_totals::Totals;

/// The journal's file name in the data directory.
pub(super) const FILE: &str = "usage.journal";

/// Bytes appended since the last snapshot beyond which [`Journal::grown`] holds even
/// when the snapshot is smaller.
const MIN_GROWTH: u64 = 1 << 20;

/// The journal of one node.
#[derive(Debug)]
pub(super) struct Journal {
    path: PathBuf,
    /// Bytes appended since the last snapshot.
    appended: u64,
    /// The last snapshot's size.
    snapshot: u64,
}

impl Journal {
    pub(super) fn new(data_dir: &Path) -> Journal {
        Journal {
            path: data_dir.join(FILE),
            appended: 0,
            snapshot: 0,
        }
    }

    /// True when the increments appended since the last snapshot outgrew it (and
    /// [`MIN_GROWTH`]): time to compact, whether or not the store answers.
    pub(super) fn grown(&self) -> bool {
        self.appended > self.snapshot.max(MIN_GROWTH)
    }

    /// The totals the file holds (none when it is missing or unreadable, logged).
    pub(super) async fn load(&self) -> Totals {
        let path = self.path.clone();
        let read = tokio::task::spawn_blocking(move || std::fs::read_to_string(&path)).await;
        let text = match read {
            Ok(Ok(text)) => text,
            Ok(Err(error)) if error.kind() == std::io::ErrorKind::NotFound => {
                return Totals::default();
            }
            Ok(Err(error)) => {
                tracing::error!(path = %self.path.display(), %error, "cannot read the usage journal; starting without it");
                return Totals::default();
            }
            Err(error) => {
                tracing::error!(%error, "usage journal task failed");
                return Totals::default();
            }
        };
        let (totals, skipped) = Totals::replay(&text);
        if skipped > 0 {
            tracing::warn!(path = %self.path.display(), lines = skipped, "unreadable lines at the end of the usage journal (a write cut by a crash); skipped");
        }
        let (rows, hits) = totals.unwritten();
        tracing::info!(
            counters = totals.len(),
            unwritten_rows = rows,
            unwritten_hits = hits,
            "usage journal replayed"
        );
        totals
    }

    /// Appends `line` and syncs it to disk.
    pub(super) async fn append(&mut self, line: String) -> std::io::Result<()> {
        let path = self.path.clone();
        self.appended += line.len() as u64;
        tokio::task::spawn_blocking(move || {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            file.write_all(line.as_bytes())?;
            file.sync_data()
        })
        .await
        .unwrap_or_else(|error| Err(std::io::Error::other(error.to_string())))
    }

    /// Replaces the file by `snapshot` (atomically).
    pub(super) async fn compact(&mut self, snapshot: String) -> std::io::Result<()> {
        let size = snapshot.len() as u64;
        geodns_node::fs::write(self.path.clone(), snapshot.into_bytes(), false).await?;
        (self.appended, self.snapshot) = (0, size);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn a_journal_is_compacted_once_appends_outgrow_its_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::new(dir.path());
        journal.compact("{\"snapshot\":[]}\n".into()).await.unwrap();
        let line = format!("{}\n", "x".repeat(4095));
        for _ in 0..256 {
            assert!(!journal.grown(), "at most 1 MiB appended");
            journal.append(line.clone()).await.unwrap();
        }
        journal.append(line.clone()).await.unwrap();
        assert!(journal.grown());
        let size = std::fs::metadata(dir.path().join(FILE)).unwrap().len();
        assert_eq!(size, 16 + 257 * 4096);
        // A snapshot larger than 1 MiB lets as much again be appended.
        let big = format!("{}\n", "s".repeat(3 << 20));
        journal.compact(big).await.unwrap();
        assert!(!journal.grown());
        for _ in 0..769 {
            journal.append(line.clone()).await.unwrap();
        }
        assert!(journal.grown(), "{} bytes appended", 769 * 4096);
    }
}
