//! The consensus task's loop: messages in (decoded once, this node's own echoes never),
//! the engine stepped with the node's clock, its outputs carried out, the status report
//! refreshed every tick and the cache files saved every `cache_interval` and at the end.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use geodns_bus::membership::MalformedLog;
use geodns_bus::wire::{FEATURE_BATCH, WireRole};
use geodns_bus::{Bus, BusMessage, ClusterHandle, Subscription, subjects};
use geodns_consensus::engine::{Observation, Outgoing, ProvenSet};
use geodns_consensus::results::Snapshot;
use geodns_consensus::{Engine, Input, Output};
use geodns_core::config::{Config, ConsensusSection};
use geodns_core::ids::NodeId;
use tokio::sync::{mpsc, watch};

use super::status::{StatusParts, StatusReport};
use super::sync::Synced;
use super::{Accepted, AcceptedMessage, ConsensusError, cache, rules};

mod inbound;
mod outbox;
use crate::bus::subscribe;
use crate::{LiveConfig, NodeCtx, Tasks};

/// The shell's outputs: official results, local results, official results with proofs.
pub(super) type Channels = (
    watch::Sender<Arc<Snapshot>>,
    watch::Sender<Arc<Snapshot>>,
    watch::Sender<ProvenSet>,
);

/// How often the engine is ticked (timeouts, republishing, membership).
const TICK: Duration = Duration::from_secs(1);

/// Official results are shared with readers (the DNS view, the API, sync replies) at
/// once after a quiet spell, and at most this often while decisions keep coming (each
/// sharing makes the next change copy the result map).
const OFFICIAL_EVERY: Duration = Duration::from_millis(200);

/// The consensus subscriptions, taken before the shell starts. A node that votes, keeps
/// history or serves the API takes every consensus subject on one subscription, which
/// keeps each sender's messages in the order they were sent (a vote before the finalize
/// that follows it); a node that only applies decisions (DNS) takes the finalize
/// subjects alone, single and batched, and never sees a proposal or a vote.
pub(super) struct Subscriptions {
    consensus: Subscription,
    decided: Option<Subscription>,
}

impl Subscriptions {
    pub(super) async fn take<B: Bus>(bus: &B, all: bool) -> Result<Subscriptions, ConsensusError> {
        if all {
            return Ok(Subscriptions {
                consensus: subscribe(bus, subjects::CONSENSUS).await?,
                decided: None,
            });
        }
        Ok(Subscriptions {
            consensus: subscribe(bus, subjects::FINALIZE).await?,
            decided: Some(subscribe(bus, subjects::DECIDED).await?),
        })
    }

    async fn next(&mut self) -> Option<BusMessage> {
        match &mut self.decided {
            None => self.consensus.next().await,
            Some(decided) => tokio::select! {
                message = self.consensus.next() => message,
                message = decided.next() => message,
            },
        }
    }

    fn dropped(&self) -> u64 {
        self.consensus.dropped() + self.decided.as_ref().map_or(0, Subscription::dropped)
    }
}

/// Sleeps until `at`, or forever.
async fn until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The task's state.
pub(super) struct Shell<B> {
    bus: B,
    engine: Engine,
    node: NodeId,
    cluster: ClusterHandle,
    live: LiveConfig,
    tasks: Tasks,
    official: watch::Sender<Arc<Snapshot>>,
    local: watch::Sender<Arc<Snapshot>>,
    proven: watch::Sender<ProvenSet>,
    /// Official results changed since they were last shared.
    official_dirty: bool,
    /// This node's own results changed since they were last shared.
    local_dirty: bool,
    /// When they were last shared.
    official_shared: tokio::time::Instant,
    /// Every active node reads batches: publish through the outbox.
    batching: bool,
    outbox: outbox::Outbox,
    status: Arc<Mutex<StatusReport>>,
    parts: StatusParts,
    /// The collator on this node, when there is one.
    tap: Option<mpsc::Sender<Accepted>>,
    tap_dropped: u64,
    malformed: MalformedLog,
    /// Consensus messages the bus dropped because this task fell behind (its bounded
    /// subscriptions were full); the lost ones are repaired, this makes them visible.
    bus_dropped: u64,
    ticks: u64,
    data_dir: PathBuf,
    /// The versions of the official and local results last saved.
    saved: Option<(u64, u64)>,
    /// When the official results were last confirmed (a decision or a peer's sync).
    pub(super) confirmed_at: tokio::time::Instant,
    /// The age warning was logged and not yet cleared.
    pub(super) stale_reported: bool,
    /// Official results from peers refused (no valid proof, or from the future).
    pub(super) refused_rows: u64,
}

impl<B: Bus> Shell<B> {
    pub(super) fn new(
        ctx: &NodeCtx<B>,
        engine: Engine,
        (official, local, proven): Channels,
        (status, parts): (Arc<Mutex<StatusReport>>, StatusParts),
        tap: Option<mpsc::Sender<Accepted>>,
    ) -> Self {
        let config = ctx.config.current();
        Shell {
            bus: ctx.bus.clone(),
            engine,
            node: config.node.id.clone(),
            cluster: ctx.cluster.clone(),
            live: ctx.config.clone(),
            tasks: ctx.tasks.clone(),
            official,
            local,
            proven,
            official_dirty: false,
            local_dirty: false,
            official_shared: tokio::time::Instant::now(),
            batching: false,
            outbox: outbox::Outbox::default(),
            status,
            parts,
            tap,
            tap_dropped: 0,
            malformed: MalformedLog::default(),
            bus_dropped: 0,
            ticks: 0,
            saved: None,
            data_dir: config.node.data_dir.clone(),
            confirmed_at: tokio::time::Instant::now(),
            stale_reported: false,
            refused_rows: 0,
        }
    }

    pub(super) async fn run(
        mut self,
        mut subscriptions: Subscriptions,
        (mut observations, mut synced): (mpsc::Receiver<Observation>, mpsc::Receiver<Synced>),
    ) {
        let shutdown = self.tasks.token().clone();
        let mut configs = self.live.subscribe();
        let mut section = self.live.current().consensus.clone();
        let maintenance = rules::maintenance_of(&self.live.current());
        self.input(Input::Maintenance(maintenance)).await;
        let mut tick = tokio::time::interval(TICK);
        let mut save = tokio::time::interval(section.cache_interval);
        save.tick().await;
        let mut saving: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            let flush_at = self.flush_at();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                () = until(flush_at) => self.flush().await,
                _ = tick.tick() => self.tick(subscriptions.dropped()).await,
                _ = save.tick() => {
                    // Two saves never write the same files at once: a save still running
                    // (it had a whole interval) is waited for first.
                    if let Some(previous) = saving.take() {
                        previous.await.ok();
                    }
                    saving = Some(self.save_caches());
                }
                Some(message) = subscriptions.next() => self.on_message(message).await,
                Some(synced) = synced.recv() => self.merge(synced),
                // Validated by `ConsensusHandle::observe`, the channel's only sender.
                Some(observation) = observations.recv() => {
                    self.input(Input::Observed(observation)).await;
                }
                Ok(()) = configs.changed() => {
                    let config = configs.borrow_and_update().clone();
                    self.input(Input::Maintenance(rules::maintenance_of(&config))).await;
                    self.reload(&config, &mut section).await;
                }
            }
        }
        self.flush().await;
        if let Some(previous) = saving.take() {
            previous.await.ok();
        }
        self.save_caches().await.ok();
    }

    /// When waiting batches or official results are due to go out, if anything waits.
    fn flush_at(&self) -> Option<tokio::time::Instant> {
        let official = (self.official_dirty || self.local_dirty)
            .then(|| self.official_shared + OFFICIAL_EVERY);
        match (self.outbox.due(), official) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Publishes the waiting batches and shares changed official results, when due.
    async fn flush(&mut self) {
        let now = tokio::time::Instant::now();
        if self.outbox.due().is_some_and(|due| due <= now) {
            self.send_batches().await;
        }
        if (self.official_dirty || self.local_dirty) && self.official_shared + OFFICIAL_EVERY <= now
        {
            self.share_official();
        }
    }

    async fn send_batches(&mut self) {
        for (subject, payload, count) in self.outbox.take() {
            if let Err(error) = self.bus.publish(subject, payload).await {
                tracing::warn!(%subject, count, %error, "cannot publish a batch of consensus messages");
            }
        }
    }

    /// Applies a reloaded `[consensus]`: rules and trusted nodes at once; the key file and
    /// the cache interval only at the next start.
    async fn reload(&mut self, config: &Config, running: &mut ConsensusSection) {
        let next = &config.consensus;
        if next == running {
            return;
        }
        if next.key_file != running.key_file || next.cache_interval != running.cache_interval {
            tracing::warn!(
                "consensus.key_file and consensus.cache_interval take effect only after a restart"
            );
        }
        let trust = match crate::keys::trust(config) {
            Ok(trust) => trust,
            Err(error) => {
                tracing::warn!(%error, "reloaded [consensus] not applied; keeping the running one");
                return;
            }
        };
        let rules = rules::engine_config(config);
        let outputs = self.engine.reconfigure(rules, trust, crate::clock::now());
        self.carry_out(outputs).await;
        tracing::info!(
            trusted = next.nodes.len(),
            policy = ?next.policy,
            min_votes = next.effective_min_votes(),
            "consensus settings reloaded"
        );
        *running = next.clone();
    }

    async fn tick(&mut self, bus_dropped: u64) {
        // Batches only while every active node reads them; an original node (or an older
        // geodns) gets the original's one message per proposal, vote and finalize.
        let batching = self.cluster.all_active_have(FEATURE_BATCH);
        if batching != self.batching {
            tracing::info!(batching, "consensus messages batched: {batching}");
            if !batching {
                self.send_batches().await;
            }
            self.batching = batching;
        }
        if bus_dropped > self.bus_dropped {
            tracing::warn!(
                dropped = bus_dropped - self.bus_dropped,
                total = bus_dropped,
                "consensus fell behind: the bus dropped messages (repaired by re-sends)"
            );
            self.bus_dropped = bus_dropped;
        }
        let monitors: BTreeSet<NodeId> = self
            .cluster
            .active_ids(&WireRole::Monitor)
            .iter()
            .filter_map(|id| NodeId::parse(id).ok())
            .collect();
        self.input(Input::Monitors(monitors)).await;
        self.input(Input::Tick).await;
        self.ticks += 1;
        self.report_staleness();
        let report = self.report();
        *self.status.lock().unwrap_or_else(PoisonError::into_inner) = report;
    }

    /// Steps the engine and carries out its outputs; false if the input was rejected.
    pub(super) async fn input(&mut self, input: Input) -> bool {
        let outputs = self.engine.step(input, crate::clock::now());
        self.carry_out(outputs).await
    }

    /// Publishes, shares and logs what the engine asked for; false if it rejected a message.
    async fn carry_out(&mut self, outputs: Vec<Output>) -> bool {
        let mut accepted = true;
        let mut official_changed = false;
        let mut local_changed = false;
        for output in outputs {
            match output {
                Output::Publish(message) => self.publish(message).await,
                Output::Official(change) => {
                    official_changed = true;
                    tracing::info!(
                        check = %change.key,
                        status = change.entry.status,
                        previous = ?change.previous,
                        proposal = %change.proposal,
                        "official status changed"
                    );
                }
                Output::Local { key, status } => {
                    tracing::debug!(check = %key, status, "local status changed");
                    local_changed = true;
                }
                Output::Event(event) => {
                    // Maintenance is part of the snapshot readers answer from.
                    official_changed |=
                        matches!(event, geodns_consensus::engine::Event::Maintenance { .. });
                    accepted &= rules::log_event(event);
                }
            }
        }
        if official_changed {
            self.official_changed();
            self.confirmed_at = tokio::time::Instant::now();
        }
        // Shared with the official results (a shared snapshot makes the next change copy
        // the whole map, so not after every one of a burst of first results).
        self.local_dirty |= local_changed;
        accepted
    }

    async fn publish(&mut self, message: Outgoing) {
        let decoded = match message {
            Outgoing::Proposal(p) => AcceptedMessage::Proposal(p),
            Outgoing::Vote(v) => AcceptedMessage::Vote(v),
            Outgoing::Finalize(f) => AcceptedMessage::Finalize(f),
        };
        let subject = decoded.subject();
        let payload = Bytes::from(decoded.encode());
        if self.batching {
            if self.outbox.push(&decoded, &payload) {
                self.send_batches().await;
            }
        } else if let Err(error) = self.bus.publish(subject, payload.clone()).await {
            tracing::warn!(%subject, %error, "cannot publish a consensus message");
        }
        self.forward(Accepted {
            subject,
            payload,
            message: decoded,
        });
    }

    fn report(&self) -> StatusReport {
        let mut report = StatusReport::of(&self.engine, self.malformed.total);
        report.bus_dropped = self.bus_dropped;
        report.collator_behind = self.tap_dropped;
        report.sync_refused = self.refused_rows;
        report.ticks = self.ticks;
        report.official_age_secs = self.confirmed_at.elapsed().as_secs();
        report.stale = self.stale_reported;
        report.parts = self.parts.collect();
        report
    }

    /// Saves both cache files off the runtime's threads (serialising and syncing a large
    /// result set takes a while); the snapshots are `Arc`s, so nothing is copied here.
    /// A file whose results did not change since it was last saved is not written again.
    fn save_caches(&mut self) -> tokio::task::JoinHandle<()> {
        let now = crate::clock::now();
        let (official, local) = (self.engine.proven_set(), self.engine.local());
        let versions = (official.version(), local.version());
        let last = (self.saved.map(|(o, _)| o), self.saved.map(|(_, l)| l));
        let official = (last.0 != Some(versions.0)).then_some(official);
        let local = (last.1 != Some(versions.1)).then_some(local);
        self.saved = Some(versions);
        let (official_path, local_path) = (
            self.data_dir.join(cache::OFFICIAL),
            self.data_dir.join(cache::LOCAL),
        );
        let node = self.node.to_string();
        self.tasks.spawn_blocking("consensus: save caches", move || {
            let files = [
                official.map(|set| (official_path, set.rows())),
                local.map(|snapshot| (local_path, cache::unproven(&snapshot))),
            ];
            for (path, rows) in files.into_iter().flatten() {
                if let Err(error) = cache::save(&path, &node, &rows, now) {
                    tracing::warn!(path = %path.display(), %error, "cannot save the cache file");
                }
            }
        })
    }

    /// Marks the official results changed: shared at once after a quiet spell, else
    /// within `OFFICIAL_EVERY` (see [`Shell::flush`]).
    pub(super) fn official_changed(&mut self) {
        self.official_dirty = true;
    }

    /// Shares the official results (and their proofs, for sync replies).
    fn share_official(&mut self) {
        if self.official_dirty {
            self.official.send_replace(self.engine.official());
            self.proven.send_replace(self.engine.proven_set());
        }
        if self.local_dirty {
            self.local.send_replace(self.engine.local());
        }
        (self.official_dirty, self.local_dirty) = (false, false);
        self.official_shared = tokio::time::Instant::now();
    }

    pub(super) fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    pub(super) fn live(&self) -> &LiveConfig {
        &self.live
    }
}
