//! The monitor's outage log: every official change this node sees opens or closes an
//! outage in its store (the store drops outages shorter than `[monitor]
//! minimum_offline`). A failed write is retried with the next change's pass, so the log
//! catches up after a database outage.

use std::sync::Arc;
use std::time::Duration;

use crate::events::{OutageChange, changes};
use geodns_consensus::results::Snapshot;
use geodns_core::records::OutageStart;
use geodns_store::{OutageStore, SqlStore};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How long to wait before retrying changes the store refused.
const RETRY: Duration = Duration::from_secs(5);

/// Follows the official snapshots until `shutdown`.
pub(super) async fn run_outage_log(
    mut official: watch::Receiver<Arc<Snapshot>>,
    store: SqlStore,
    shutdown: CancellationToken,
) {
    // Start from nothing: outages open in the cached snapshot are opened (a no-op when
    // the store has them already).
    let mut written = Arc::new(Snapshot::default());
    loop {
        let current = official.borrow_and_update().clone();
        let pending = changes(&written, &current, geodns_node::clock::now());
        match apply(&store, &pending).await {
            Ok(()) => written = current,
            Err(error) => {
                tracing::warn!(%error, "monitor outage log not written; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(RETRY) => continue,
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = official.changed() => if changed.is_err() { return },
        }
    }
}

async fn apply(store: &SqlStore, pending: &[OutageChange]) -> Result<(), geodns_store::StoreError> {
    for change in pending {
        match change {
            OutageChange::Open {
                key,
                at,
                error,
                data,
            } => {
                let start = OutageStart {
                    key: key.clone(),
                    start: *at,
                    error: error.clone(),
                    votes: Default::default(),
                    data: data.clone(),
                };
                let outcome = store.open_outage(&start).await?;
                tracing::info!(check = %key, ?outcome, "outage opened in the monitor log");
            }
            OutageChange::Close { key, at } => {
                let outcome = store.close_outage(key, *at).await?;
                tracing::info!(check = %key, ?outcome, "outage closed in the monitor log");
            }
        }
    }
    Ok(())
}
