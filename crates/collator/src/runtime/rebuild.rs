//! Rebuilding the official results from the consensus log the collators keep (run on
//! every node at start): a node that starts with no
//! official cache file (a fresh install, a lost data directory) takes the latest logged
//! decision of every check, instead of knowing nothing until its peers answer. Peers'
//! answers and new decisions, when they come, win if newer.

use std::path::Path;

use geodns_node::consensus::{ConsensusHandle, cache};
use geodns_store::SqlStore;

use crate::history;

/// Adopts the consensus log's state if `data_dir` has no official cache file. Returns how
/// many checks were taken from the log (0 when there was a cache file or no log).
pub async fn rebuild_if_fresh(
    data_dir: &Path,
    store: &SqlStore,
    consensus: &ConsensusHandle,
) -> usize {
    if data_dir.join(cache::OFFICIAL).exists() {
        return 0;
    }
    let replayed = match history::replay_log(store).await {
        Ok(replayed) => replayed,
        Err(error) => {
            tracing::warn!(%error, "no official cache file, and the consensus log cannot be read");
            return 0;
        }
    };
    for (index, error) in &replayed.skipped {
        tracing::warn!(index, %error, "consensus log entry skipped");
    }
    let rows = replayed.rows;
    if rows.is_empty() {
        return 0;
    }
    let checks = rows.len();
    tracing::info!(
        entries = replayed.entries,
        checks,
        "no official cache file: official results rebuilt from the consensus log"
    );
    consensus.adopt("consensus log", rows).await;
    checks
}
