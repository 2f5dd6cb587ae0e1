//! The usage journal in the data directory (`usage.journal`, a
//! `geodns_node::journal::Journal`): what the store may not hold yet survives a crash.
//! Increments are appended (and synced) every `[dns] usage_journal`; after each write
//! the store took, at start, and whenever the increments appended outgrow the last
//! snapshot (and 1 MiB: a store down for long), the file is replaced by one snapshot line,
//! so it stays within about twice the snapshot's size.

use std::path::Path;

use geodns_node::journal::Journal;

use crate::usage_totals::Totals;

/// The journal's file name in the data directory.
pub(super) const FILE: &str = "usage.journal";

/// The usage journal of this node.
pub(super) fn open(data_dir: &Path) -> Journal {
    Journal::new(data_dir, FILE)
}

/// The totals the journal holds (none when it is missing or unreadable, logged).
pub(super) async fn load(journal: &Journal) -> Totals {
    let Some(text) = journal.read().await else {
        return Totals::default();
    };
    let (totals, skipped) = Totals::replay(&text);
    if skipped > 0 {
        tracing::warn!(path = %journal.path().display(), lines = skipped, "unreadable lines at the end of the usage journal (a write cut by a crash); skipped");
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
