//! Anti-entropy for official results, and the shell's two responders. A node that missed
//! a proposal and its finalize (started fresh, partitioned, dropped messages) asks a peer
//! for its official results at start and every `[dns] sync_interval`, and adopts entries
//! decided later than its own. Every node answers `geodns.official.sync` with the cache
//! file's JSON (never its own request) and `geodns.consensus.status.<node>` with its
//! status report, through the node's one responder.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use geodns_bus::{Bus, BusMessage, subjects};
use geodns_core::model::NodeRole;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::cache::{self, Cached};
use super::shell::Shell;
use super::{ConsensusError, ConsensusHandle};
use crate::NodeCtx;
use crate::bus::{answer_requests, subscribe};
use geodns_consensus::engine::{Proven, ProvenSet};

/// How long a sync request waits for the first reply.
const REPLY_WAIT: Duration = Duration::from_secs(2);

/// The most bytes of rows in one sync reply: a quarter of NATS's default message limit
/// (1 MiB), so a reply always fits. 1,000 checks with their proofs are ~1.8 MB: the whole
/// file in one reply never arrived (refused by the server, logged by the responder).
const PAGE_BYTES: usize = 256 * 1024;

/// Pages one sync round asks for at most (a peer cannot keep a node asking forever).
const MAX_PAGES: u32 = 10_000;

/// The pages of the official results, encoded once and served until the results change
/// and at least `REENCODE_AFTER` passed: a peer reading page after page, and every DNS
/// node asking at start, cost one encoding, and a burst of decisions cannot make every
/// page request encode every result again. A page a few seconds old is still proven
/// (each row carries its finalize), and the asker adopts only what is newer than its own.
#[derive(Clone, Default)]
struct Pages(Arc<Mutex<Option<Encoded>>>);

struct Encoded {
    version: u64,
    at: tokio::time::Instant,
    pages: Arc<Vec<Vec<u8>>>,
}

/// How long encoded pages are served after the results changed.
const REENCODE_AFTER: Duration = Duration::from_secs(30);

impl Pages {
    fn page(&self, me: &str, proven: &ProvenSet, page: u32) -> Option<Vec<u8>> {
        if proven.is_empty() {
            return None;
        }
        let mut cached = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let fresh = |encoded: &Encoded| {
            encoded.version == proven.version() || encoded.at.elapsed() < REENCODE_AFTER
        };
        let pages = match &*cached {
            Some(encoded) if fresh(encoded) => encoded.pages.clone(),
            _ => {
                let now = crate::clock::now();
                let pages = Arc::new(cache::encode_pages(me, &proven.rows(), now, PAGE_BYTES));
                *cached = Some(Encoded {
                    version: proven.version(),
                    at: tokio::time::Instant::now(),
                    pages: pages.clone(),
                });
                pages
            }
        };
        pages.get(usize::try_from(page).ok()?).cloned()
    }
}

/// A sync request: which page (`{"page": N}`). Nodes before paging send an empty body,
/// which asks for the first page.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct PageRequest {
    #[serde(default)]
    page: u32,
}

impl PageRequest {
    fn parse(body: &[u8]) -> PageRequest {
        serde_json::from_slice(body).unwrap_or_default()
    }
}

/// Results a peer sent, and who sent them.
#[derive(Debug)]
pub(super) struct Synced {
    /// The peer, or the local source.
    pub(super) from: String,
    /// Its official results.
    pub(super) rows: Rows,
}

/// Official results to merge.
#[derive(Debug)]
pub(super) enum Rows {
    /// From this node's own store or consensus log: taken as they are.
    Local(Vec<Cached>),
    /// From a peer: each must prove itself (see `Engine::merge_proven`).
    Peer(Vec<Proven>),
}

/// Subscribes the status and sync responders and, on a DNS node, starts asking peers.
pub(super) async fn start<B: Bus>(
    ctx: &NodeCtx<B>,
    handle: &ConsensusHandle,
    synced: mpsc::Sender<Synced>,
) -> Result<(), ConsensusError> {
    let config = ctx.config.current();
    let node = config.node.id.to_string();
    let status_requests = subscribe(&ctx.bus, &subjects::consensus_status(&node)).await?;
    let sync_requests = subscribe(&ctx.bus, subjects::OFFICIAL_SYNC).await?;
    let shutdown = ctx.shutdown().clone();
    let status = handle.clone();
    let answer_status = answer_requests(
        ctx.bus.clone(),
        status_requests,
        None,
        shutdown.clone(),
        move |_| {
            let report = status.report();
            async move { Some(serde_json::to_vec(&report).unwrap_or_default()) }
        },
    );
    ctx.tasks
        .spawn_cancellable("consensus: status responder", answer_status);
    let proven = handle.proven.clone();
    let me = node.clone();
    let pages = Pages::default();
    let answer_sync = answer_requests(
        ctx.bus.clone(),
        sync_requests,
        None,
        shutdown.clone(),
        move |request: BusMessage| {
            // A node never answers its own request: only a peer's answer confirms.
            let own = request.sender.as_deref() == Some(me.as_str());
            let page = PageRequest::parse(&request.payload).page;
            let body = match own {
                true => None,
                false => pages.page(&me, &proven.borrow().clone(), page),
            };
            async move { body }
        },
    );
    ctx.tasks
        .spawn_cancellable("consensus: sync responder", answer_sync);
    if config.node.roles.contains(&NodeRole::Dns) {
        let trusted = config
            .consensus
            .nodes
            .iter()
            .map(|n| n.id.to_string())
            .collect();
        let asking = run_sync(
            ctx.bus.clone(),
            (config.dns.sync_interval, trusted),
            synced,
            shutdown,
        );
        ctx.tasks
            .spawn_cancellable("consensus: sync with peers", asking);
    }
    Ok(())
}

/// Asks a peer for its official results now and every `interval`, page by page; sends
/// what arrives to the consensus task. Peers not in `trusted` (when it is not empty) are
/// ignored, and so is this node itself.
async fn run_sync<B: Bus>(
    bus: B,
    (interval, trusted): (Duration, Vec<String>),
    results: mpsc::Sender<Synced>,
    shutdown: CancellationToken,
) {
    let mut timer = tokio::time::interval(interval);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = timer.tick() => {}
        }
        let mut page = 0;
        while let Some(next) = tokio::select! {
            () = shutdown.cancelled() => return,
            next = sync_page(&bus, &trusted, page, &results) => next,
        } {
            if next <= page || next >= MAX_PAGES {
                break;
            }
            page = next;
        }
    }
}

/// Asks for one page and hands its rows over; the page to ask for next, if any.
async fn sync_page<B: Bus>(
    bus: &B,
    trusted: &[String],
    page: u32,
    results: &mpsc::Sender<Synced>,
) -> Option<u32> {
    let body = serde_json::to_vec(&PageRequest { page }).unwrap_or_default();
    let reply = match bus
        .request(subjects::OFFICIAL_SYNC, Bytes::from(body), REPLY_WAIT)
        .await
    {
        Ok(reply) => reply,
        Err(error) => {
            tracing::debug!(%error, page, "no peer answered an official-results sync");
            return None;
        }
    };
    let from = reply.sender.clone().unwrap_or_default();
    if from == bus.node_id() || (!trusted.is_empty() && !trusted.contains(&from)) {
        tracing::warn!(%from, "official results from a node that is not trusted; ignored");
        return None;
    }
    match cache::decode_page(&reply.payload) {
        Ok((rows, next)) => {
            let rows = Rows::Peer(rows);
            results.send(Synced { from, rows }).await.ok()?;
            next
        }
        Err(error) => {
            tracing::warn!(%from, %error, "unreadable official-results sync reply");
            None
        }
    }
}

impl<B: Bus> Shell<B> {
    /// Adopts a peer's newer official results.
    pub(super) fn merge(&mut self, synced: Synced) {
        let now = crate::clock::now();
        let merged = match synced.rows {
            Rows::Local(rows) => self.engine_mut().merge_official(rows, now),
            Rows::Peer(rows) => self.engine_mut().merge_proven(rows, now),
        };
        self.refused_rows += (merged.unproven + merged.from_the_future) as u64;
        if merged.unproven > 0 {
            tracing::warn!(from = %synced.from, refused = merged.unproven, "official results without a valid proof refused");
        }
        if merged.from_the_future > 0 {
            tracing::warn!(from = %synced.from, refused = merged.from_the_future, "official results decided in the future refused");
        }
        // Only a reply that verified whole confirms this node's results.
        if merged.unproven == 0 && merged.from_the_future == 0 {
            self.confirmed_at = tokio::time::Instant::now();
            self.stale_reported = false;
        }
        if merged.changed > 0 {
            tracing::info!(from = %synced.from, changed = merged.changed, "official results updated from a peer");
            self.official_changed();
        }
    }

    /// Logs once when a DNS node's official results have not been confirmed for longer
    /// than `[dns] max_snapshot_age` (a node that votes confirms them itself).
    pub(super) fn report_staleness(&mut self) {
        let config = self.live().current();
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
