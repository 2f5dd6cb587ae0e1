//! Anti-entropy for official results: a node that missed a proposal and its finalize
//! (started fresh, partitioned, dropped messages) asks a peer for its official results
//! at start and every `[dns] sync_interval`, and adopts entries decided later than its
//! own. Peers answer `geodns.official.sync` with the cache file's JSON.

use std::time::Duration;

use bytes::Bytes;
use geodns_bus::{Bus, subjects};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::cache::{self, Cached};

/// How long a sync request waits for the first reply.
const REPLY_WAIT: Duration = Duration::from_secs(2);

/// Results a peer sent, and who sent them.
#[derive(Debug)]
pub(crate) struct Synced {
    /// The peer.
    pub(crate) from: String,
    /// Its official results.
    pub(crate) rows: Vec<Cached>,
}

/// Asks a peer for its official results now and every `interval`; sends what arrives to
/// the consensus task. Peers not in `trusted` (when it is not empty) are ignored.
pub(super) async fn run_sync<B: Bus>(
    bus: B,
    interval: Duration,
    trusted: Vec<String>,
    results: mpsc::Sender<Synced>,
    shutdown: CancellationToken,
) {
    let mut timer = tokio::time::interval(interval);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = timer.tick() => {}
        }
        let reply = match bus
            .request(subjects::OFFICIAL_SYNC, Bytes::new(), REPLY_WAIT)
            .await
        {
            Ok(reply) => reply,
            Err(error) => {
                tracing::debug!(%error, "no peer answered an official-results sync");
                continue;
            }
        };
        let from = reply.sender.clone().unwrap_or_default();
        if !trusted.is_empty() && !trusted.contains(&from) {
            tracing::warn!(%from, "official results from a node that is not trusted; ignored");
            continue;
        }
        match cache::decode(&reply.payload) {
            Ok(rows) => {
                if results.send(Synced { from, rows }).await.is_err() {
                    return;
                }
            }
            Err(error) => tracing::warn!(%from, %error, "unreadable official-results sync reply"),
        }
    }
}
