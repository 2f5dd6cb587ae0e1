//! A fresh DNS node whose peers did not answer (none up yet, or all fresh too) takes the
//! open outages of the store as its official results, so it does not answer with a
//! provider the collator knows is down. Peers' answers, when they come, win if newer.

use std::time::Duration;

use geodns_node::consensus::ConsensusHandle;
use geodns_store::SqlStore;
use tokio_util::sync::CancellationToken;

/// How long a fresh node waits for a peer's official results before it reads the store.
const STORE_FALLBACK_AFTER: Duration = Duration::from_secs(3);

/// Adopts the store's open outages after [`STORE_FALLBACK_AFTER`] when there are still
/// no official results.
pub(super) async fn from_store(
    consensus: ConsensusHandle,
    store: SqlStore,
    shutdown: CancellationToken,
) {
    tokio::select! {
        () = shutdown.cancelled() => return,
        () = tokio::time::sleep(STORE_FALLBACK_AFTER) => {}
    }
    if !consensus.official.borrow().is_empty() {
        return;
    }
    let outages = match geodns_store::OutageStore::current_outages(&store).await {
        Ok(outages) => outages,
        Err(error) => {
            tracing::warn!(%error, "no official results from peers, and the store cannot be read");
            return;
        }
    };
    if outages.is_empty() {
        return;
    }
    tracing::info!(
        open = outages.len(),
        "no peer answered: official results taken from the store's open outages"
    );
    let rows = outages
        .into_iter()
        .map(|outage| {
            let entry = geodns_consensus::results::ResultEntry {
                status: false,
                error: outage.error,
                data: Some(outage.data),
                at: outage.start,
            };
            (outage.key, entry)
        })
        .collect();
    consensus.adopt("store", rows).await;
}
