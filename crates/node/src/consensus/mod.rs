//! The consensus shell: the task around the pure [`geodns_consensus::Engine`]. It feeds
//! the engine bus messages (never this node's own echoes), check results, membership,
//! maintenance and ticks; publishes what the engine asks; shares the official results as
//! `Arc<Snapshot>` on a watch channel; saves and loads the cache files; answers status
//! and official-results sync requests; and hands every message it accepted or published
//! to the collator on the same node ([`tap`]), so those are decoded and verified once.

pub mod cache;
mod error;
mod metrics;
mod observe;
pub mod rules;
mod shell;
pub mod status;
mod sync;

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use geodns_bus::Bus;
use geodns_consensus::Engine;
use geodns_consensus::engine::{Observation, ProvenSet};
use geodns_consensus::message::{Finalize, Proposal, Signed, Vote};
use geodns_consensus::results::Snapshot;
use tokio::sync::{mpsc, watch};

pub use error::ConsensusError;
pub use observe::{MAX_ERROR_CHARS, ObserveError};
pub use status::{StatusParts, StatusReport};

use crate::NodeCtx;
use geodns_core::model::NodeRole;

/// Accepted messages waiting for the collator at most.
const TAP_CAPACITY: usize = 10_000;

/// Handles on a running consensus task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ConsensusHandle {
    /// The official results; readers `borrow()` the current `Arc<Snapshot>`.
    pub official: watch::Receiver<Arc<Snapshot>>,
    /// This node's own (debounced) check results, for `/results` before any decision.
    pub local: watch::Receiver<Arc<Snapshot>>,
    /// The official results with the finalize behind each (what a sync reply carries).
    pub proven: watch::Receiver<ProvenSet>,
    /// Where [`ConsensusHandle::observe`] sends check results that passed validation.
    observations: mpsc::Sender<Observation>,
    /// The consensus state as of the last tick (what `consensus status` reports).
    pub status: Arc<Mutex<StatusReport>>,
    /// Official results from elsewhere (a peer's sync, the store) to merge.
    adopt: mpsc::Sender<sync::Synced>,
    /// Other parts of the node reporting with the consensus status (the collator).
    pub parts: StatusParts,
}

impl ConsensusHandle {
    /// Merges official results from `from` (entries decided later than ours win), e.g.
    /// the open outages of the store when no peer answered at start.
    pub async fn adopt(&self, from: &str, rows: Vec<cache::Cached>) {
        let synced = sync::Synced {
            from: from.to_owned(),
            rows: sync::Rows::Local(rows),
        };
        self.adopt.send(synced).await.ok();
    }

    /// The consensus report as of the last tick.
    pub fn report(&self) -> StatusReport {
        self.status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// A consensus message this node's engine accepted from a peer (authenticated once,
/// there) or that this node published, with its bytes as they travel.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The subject it travels on.
    pub subject: &'static str,
    /// The message as sent.
    pub payload: Bytes,
    /// The message, decoded.
    pub message: AcceptedMessage,
}

/// The decoded message of an [`Accepted`].
#[derive(Debug, Clone)]
pub enum AcceptedMessage {
    /// A proposal.
    Proposal(Signed<Proposal>),
    /// A vote.
    Vote(Signed<Vote>),
    /// A finalize (passed or not).
    Finalize(Signed<Finalize>),
}

/// The receiving end of the shell's tap (the collator's input).
pub type Tapped = mpsc::Receiver<Accepted>;

/// A tap for a collator on this node: the sender goes to [`start`], the receiver to the
/// collator.
pub fn tap() -> (mpsc::Sender<Accepted>, Tapped) {
    mpsc::channel(TAP_CAPACITY)
}

/// Starts the consensus shell on `ctx` from the configuration and the cache files (read
/// on a blocking thread), its status and sync responders, and (on a DNS node) the
/// periodic sync with peers. Subscriptions are taken before this returns.
pub async fn start<B: Bus>(
    ctx: &NodeCtx<B>,
    tap: Option<mpsc::Sender<Accepted>>,
) -> Result<ConsensusHandle, ConsensusError> {
    let config = ctx.config.current();
    let trust = crate::keys::trust(&config)?;
    let caches = {
        let data_dir = config.node.data_dir.clone();
        ctx.tasks
            .spawn_blocking("consensus: read caches", move || {
                cache::read_both(&data_dir)
            })
            .await
            .map_err(|error| ConsensusError::Task(error.to_string()))?
    };
    let key = ctx.keys.own().cloned();
    let mut engine = Engine::new(rules::engine_config(&config), trust, key);
    for (path, loaded, local) in caches {
        match loaded {
            Ok(rows) if local => engine.restore_local(rows.into_iter().map(|(k, e, _)| (k, e))),
            Ok(rows) => engine.restore_proven(rows),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "ignoring an unreadable cache file")
            }
        }
    }
    let (official, official_rx) = watch::channel(engine.official());
    let (local, local_rx) = watch::channel(engine.local());
    let (proven, proven_rx) = watch::channel(engine.proven_set());
    let (observations, observations_rx) = mpsc::channel(4096);
    let (synced_tx, synced_rx) = mpsc::channel(4);
    let parts = StatusParts::default();
    let status = Arc::new(Mutex::new(StatusReport::of(&engine, 0)));
    let handle = ConsensusHandle {
        official: official_rx,
        local: local_rx,
        proven: proven_rx,
        observations,
        adopt: synced_tx.clone(),
        status: status.clone(),
        parts: parts.clone(),
    };
    // Nodes that vote, keep history or serve the API see every consensus message; the
    // others (DNS) only decisions.
    let all = [NodeRole::Monitor, NodeRole::Collator, NodeRole::Api]
        .iter()
        .any(|role| config.node.roles.contains(role));
    let subscriptions = shell::Subscriptions::take(&ctx.bus, all).await?;
    let shell = shell::Shell::new(ctx, engine, (official, local, proven), (status, parts), tap);
    let inputs = (observations_rx, synced_rx);
    ctx.tasks
        .spawn("consensus", shell.run(subscriptions, inputs));
    sync::start(ctx, &handle, synced_tx).await?;
    ctx.metrics
        .register(Arc::new(metrics::ConsensusFamilies(handle.clone())));
    Ok(handle)
}
