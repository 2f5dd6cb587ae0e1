//! The consensus task's loop: messages in (decoded once, this node's own echoes never),
//! the engine stepped with the node's clock, its outputs carried out, the status report
//! refreshed every tick and the cache files saved every `cache_interval` and at the end.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use geodns_bus::consensus::{
    decode_finalize, decode_proposal, decode_vote, encode_finalize, encode_proposal, encode_vote,
};
use geodns_bus::membership::MalformedLog;
use geodns_bus::wire::WireRole;
use geodns_bus::{Bus, BusMessage, ClusterHandle, Subscription, subjects};
use geodns_consensus::engine::{Observation, Outgoing, Proven};
use geodns_consensus::results::Snapshot;
use geodns_consensus::{Engine, Input, Output};
use geodns_core::config::{Config, ConsensusSection};
use geodns_core::ids::NodeId;
use tokio::sync::{mpsc, watch};

use super::status::{StatusParts, StatusReport};
use super::sync::Synced;
use super::{Accepted, AcceptedMessage, ConsensusError, cache, rules};
use crate::bus::subscribe;
use crate::{LiveConfig, NodeCtx, Tasks};

/// The shell's outputs: official results, local results, official results with proofs.
pub(super) type Channels = (
    watch::Sender<Arc<Snapshot>>,
    watch::Sender<Arc<Snapshot>>,
    watch::Sender<Arc<Vec<Proven>>>,
);

/// How often the engine is ticked (timeouts, republishing, membership).
const TICK: Duration = Duration::from_secs(1);

/// Every consensus subject on one subscription, taken before the shell starts: one
/// subscription keeps each sender's messages in the order they were sent (a vote before
/// the finalize that follows it), which separate subscriptions would not.
pub(super) struct Subscriptions {
    consensus: Subscription,
}

impl Subscriptions {
    pub(super) async fn take<B: Bus>(bus: &B) -> Result<Subscriptions, ConsensusError> {
        Ok(Subscriptions {
            consensus: subscribe(bus, subjects::CONSENSUS).await?,
        })
    }

    fn dropped(&self) -> u64 {
        self.consensus.dropped()
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
    proven: watch::Sender<Arc<Vec<Proven>>>,
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
            status,
            parts,
            tap,
            tap_dropped: 0,
            malformed: MalformedLog::default(),
            bus_dropped: 0,
            ticks: 0,
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
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => self.tick(subscriptions.dropped()).await,
                _ = save.tick() => {
                    // Two saves never write the same files at once: a save still running
                    // (it had a whole interval) is waited for first.
                    if let Some(previous) = saving.take() {
                        previous.await.ok();
                    }
                    saving = Some(self.save_caches());
                }
                Some(message) = subscriptions.consensus.next() => self.on_message(message).await,
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
        if let Some(previous) = saving.take() {
            previous.await.ok();
        }
        self.save_caches().await.ok();
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

    async fn on_message(&mut self, message: BusMessage) {
        // This node's own messages come back from the bus: the engine knows them already.
        if message.sender.as_deref() == Some(self.node.as_str()) {
            return;
        }
        let decoded = match message.subject.as_str() {
            subjects::PROPOSE => decode_proposal(&message.payload).map(AcceptedMessage::Proposal),
            subjects::VOTE => decode_vote(&message.payload).map(AcceptedMessage::Vote),
            subjects::FINALIZE => decode_finalize(&message.payload).map(AcceptedMessage::Finalize),
            // Membership (`consensus.cluster`) is the membership task's.
            _ => return,
        };
        let decoded = match decoded {
            Ok(decoded) => decoded,
            Err(error) => {
                let sender = message.sender.as_deref().unwrap_or("unknown");
                if self.malformed.record(sender, crate::clock::now()) {
                    tracing::warn!(%sender, subject = %message.subject, %error, "malformed consensus message");
                }
                return;
            }
        };
        let (signer, input) = match &decoded {
            AcceptedMessage::Proposal(p) => (&p.message.sender, Input::Proposal(p.clone())),
            AcceptedMessage::Vote(v) => (&v.message.voter, Input::Vote(v.clone())),
            AcceptedMessage::Finalize(f) => (&f.message.sender, Input::Finalize(f.clone())),
        };
        // A copy of this node's own message under another sender header, or a forgery of
        // its id: never applied or recorded.
        if *signer == self.node {
            return;
        }
        let signer = signer.to_string();
        if self.input(input).await {
            self.cluster.heard(&signer);
            let subject = subject_of(&decoded);
            self.forward(Accepted {
                subject,
                payload: message.payload,
                message: decoded,
            });
        }
    }

    /// Hands an accepted or published message to the collator on this node; never waits.
    fn forward(&mut self, accepted: Accepted) {
        let Some(tap) = &self.tap else { return };
        if tap.try_send(accepted).is_err() {
            self.tap_dropped += 1;
            if self.tap_dropped.is_power_of_two() {
                tracing::warn!(
                    dropped = self.tap_dropped,
                    "the collator is behind: consensus messages not recorded"
                );
            }
        }
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
        if local_changed {
            self.local.send_replace(self.engine.local());
        }
        accepted
    }

    async fn publish(&mut self, message: Outgoing) {
        let (payload, decoded) = match message {
            Outgoing::Proposal(p) => (encode_proposal(&p), AcceptedMessage::Proposal(p)),
            Outgoing::Vote(v) => (encode_vote(&v), AcceptedMessage::Vote(v)),
            Outgoing::Finalize(f) => (encode_finalize(&f), AcceptedMessage::Finalize(f)),
        };
        let subject = subject_of(&decoded);
        let payload = Bytes::from(payload);
        if let Err(error) = self.bus.publish(subject, payload.clone()).await {
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
    fn save_caches(&self) -> tokio::task::JoinHandle<()> {
        let now = crate::clock::now();
        let files = [
            (self.data_dir.join(cache::OFFICIAL), self.engine.proven()),
            (
                self.data_dir.join(cache::LOCAL),
                cache::unproven(&self.engine.local()),
            ),
        ];
        let node = self.node.to_string();
        self.tasks.spawn_blocking("consensus: save caches", move || {
            for (path, rows) in files {
                if let Err(error) = cache::save(&path, &node, &rows, now) {
                    tracing::warn!(path = %path.display(), %error, "cannot save the cache file");
                }
            }
        })
    }

    /// Shares the official results (and their proofs, for sync replies) after a change.
    pub(super) fn official_changed(&mut self) {
        self.official.send_replace(self.engine.official());
        self.proven.send_replace(Arc::new(self.engine.proven()));
    }

    pub(super) fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    pub(super) fn live(&self) -> &LiveConfig {
        &self.live
    }
}

fn subject_of(message: &AcceptedMessage) -> &'static str {
    match message {
        AcceptedMessage::Proposal(_) => subjects::PROPOSE,
        AcceptedMessage::Vote(_) => subjects::VOTE,
        AcceptedMessage::Finalize(_) => subjects::FINALIZE,
    }
}
