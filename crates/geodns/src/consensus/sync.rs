//! Anti-entropy for official results: a node that missed a proposal and its finalize
//! (started fresh, partitioned, dropped messages) asks a peer for its official results
//! at start and every `[dns] sync_interval`, and adopts entries decided later than its
//! own. Peers answer `geodns.official.sync` with the cache file's JSON. Here too: the
//! consensus task's side (answering, merging, reporting stale results).

use std::time::Duration;

use bytes::Bytes;
use geodns_bus::{Bus, subjects};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use geodns_bus::BusMessage;
use geodns_core::model::NodeRole;

use super::Shell;
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

impl<B: Bus> Shell<B> {
    /// Answers a sync request with the official results, when there are any.
    pub(super) async fn answer_sync(&self, request: BusMessage) {
        let official = self.engine.official();
        let (Some(reply), false) = (request.reply, official.is_empty()) else {
            return;
        };
        let body = cache::encode(&self.node, &official, crate::clock::now());
        if let Err(error) = self.bus.publish(&reply, Bytes::from(body)).await {
            tracing::debug!(%error, "cannot answer an official-results sync");
        }
    }

    /// Adopts a peer's newer official results.
    pub(super) fn merge(&mut self, synced: Synced) {
        let changed = self.engine.merge_official(synced.rows);
        self.confirmed_at = tokio::time::Instant::now();
        self.stale_reported = false;
        if changed > 0 {
            tracing::info!(from = %synced.from, changed, "official results updated from a peer");
            self.official.send_replace(self.engine.official());
        }
    }

    /// Logs once when a DNS node's official results have not been confirmed for longer
    /// than `[dns] max_snapshot_age` (a node that votes confirms them itself).
    pub(super) fn report_staleness(&mut self) {
        let config = self.live_config.current();
        let roles = &config.node.roles;
        if !roles.contains(&NodeRole::Dns) || roles.contains(&NodeRole::Monitor) {
            return;
        }
        let age = self.confirmed_at.elapsed();
        if age > config.dns.max_snapshot_age && !self.stale_reported {
            self.stale_reported = true;
            tracing::warn!(
                age_secs = age.as_secs(),
                limit_secs = config.dns.max_snapshot_age.as_secs(),
                "official results are stale: no decision or peer sync confirmed them lately"
            );
        }
    }
}
