//! The usage journal in the data directory (`usage.journal`): what the store may not
//! hold yet survives a crash. Increments are appended (and synced) every
//! `[dns] usage_journal`; after each write the store took, and at start, the file is
//! replaced by one snapshot line (written atomically). All file work runs on the
//! blocking pool.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::usage_totals::Totals;

/// The journal's file name in the data directory.
pub(super) const FILE: &str = "usage.journal";

/// The journal of one node.
#[derive(Debug)]
pub(super) struct Journal {
    path: PathBuf,
}

impl Journal {
    pub(super) fn new(data_dir: &Path) -> Journal {
        Journal {
            path: data_dir.join(FILE),
        }
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
    pub(super) async fn append(&self, line: String) -> std::io::Result<()> {
        let path = self.path.clone();
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
    pub(super) async fn compact(&self, snapshot: String) -> std::io::Result<()> {
        geodns_node::fs::write(self.path.clone(), snapshot.into_bytes(), false).await
    }
}
