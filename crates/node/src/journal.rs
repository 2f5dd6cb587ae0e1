//! A journal file in the data directory: lines appended and synced one write at a time,
//! replaced by a snapshot (written atomically) when the caller compacts it. What a role
//! keeps in memory until the store took it (the DNS role's usage counts, the collator's
//! decisions) survives a crash this way. All file work runs on the blocking pool.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Bytes appended since the last snapshot beyond which [`Journal::grown`] holds even
/// when the snapshot is smaller.
const MIN_GROWTH: u64 = 1 << 20;

/// One journal file.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    /// Bytes appended since the last snapshot.
    appended: u64,
    /// The last snapshot's size.
    snapshot: u64,
}

impl Journal {
    /// The journal `file` in `data_dir`.
    pub fn new(data_dir: &Path, file: &str) -> Journal {
        Journal {
            path: data_dir.join(file),
            appended: 0,
            snapshot: 0,
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when the lines appended since the last snapshot outgrew it (and 1 MiB):
    /// time to compact, whether or not the store answers.
    pub fn grown(&self) -> bool {
        self.appended > self.snapshot.max(MIN_GROWTH)
    }

    /// The file's text: `None` when there is none; unreadable, logged and `None`.
    pub async fn read(&self) -> Option<String> {
        let path = self.path.clone();
        let read = tokio::task::spawn_blocking(move || std::fs::read_to_string(&path)).await;
        match read {
            Ok(Ok(text)) => Some(text),
            Ok(Err(error)) if error.kind() == std::io::ErrorKind::NotFound => None,
            Ok(Err(error)) => {
                tracing::error!(path = %self.path.display(), %error, "cannot read a journal; starting without it");
                None
            }
            Err(error) => {
                tracing::error!(%error, "journal task failed");
                None
            }
        }
    }

    /// Appends `line` and syncs it to disk.
    pub async fn append(&mut self, line: String) -> std::io::Result<()> {
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
    pub async fn compact(&mut self, snapshot: String) -> std::io::Result<()> {
        let size = snapshot.len() as u64;
        crate::fs::write(self.path.clone(), snapshot.into_bytes(), false).await?;
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
        let mut journal = Journal::new(dir.path(), "test.journal");
        assert_eq!(journal.read().await, None);
        journal.compact("{\"snapshot\":[]}\n".into()).await.unwrap();
        let line = format!("{}\n", "x".repeat(4095));
        for _ in 0..256 {
            assert!(!journal.grown(), "at most 1 MiB appended");
            journal.append(line.clone()).await.unwrap();
        }
        journal.append(line.clone()).await.unwrap();
        assert!(journal.grown());
        assert_eq!(journal.read().await.unwrap().len(), 16 + 257 * 4096);
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
