//! The consensus task: the thin I/O shell around [`geodns_consensus::Engine`]. It feeds
//! the engine bus messages, check results, membership, maintenance and ticks; publishes
//! what it asks; shares the official results as `Arc<Snapshot>` on a watch channel; and
//! saves and loads the cache files.

pub mod cache;
mod error;
pub mod history;
pub mod keys;
mod observe;
pub mod status;
mod sync;

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
use geodns_bus::{Bus, BusMessage, ClusterHandle, subjects};
use geodns_consensus::engine::{Event, Observation, Outgoing};
use geodns_consensus::hysteresis::Hysteresis;
use geodns_consensus::policy::Policy;
use geodns_consensus::results::Snapshot;
use geodns_consensus::{Engine, EngineConfig, Input, Output};
use geodns_core::config::{Config, ConsensusSection, PolicyName};
use geodns_core::ids::{MemberId, NodeId};
use geodns_core::model::NodeRole;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

pub use error::ConsensusError;
pub use geodns_collator::{CollatorQueue, QueueReport};
pub use observe::{MAX_ERROR_CHARS, ObserveError};
use status::StatusReport;

use crate::reload::LiveConfig;

/// How often the engine is ticked (timeouts, republishing, membership).
const TICK: Duration = Duration::from_secs(1);

/// Handles on a running consensus task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ConsensusHandle {
    /// The official results; readers `borrow()` the current `Arc<Snapshot>`.
    pub official: watch::Receiver<Arc<Snapshot>>,
    /// This node's own (debounced) check results, for `/results` before any decision.
    pub local: watch::Receiver<Arc<Snapshot>>,
    /// Where [`ConsensusHandle::observe`] sends check results that passed validation.
    observations: mpsc::Sender<Observation>,
    /// The consensus state as of the last tick (what `consensus status` reports).
    pub status: Arc<Mutex<StatusReport>>,
    /// Official results from elsewhere (a peer's sync, the store) to merge.
    adopt: mpsc::Sender<sync::Synced>,
}

impl ConsensusHandle {
    /// Merges official results from `from` (entries decided later than ours win), e.g.
    /// the open outages of the store when no peer answered at start.
    pub async fn adopt(&self, from: &str, rows: Vec<cache::Cached>) {
        let synced = sync::Synced {
            from: from.to_owned(),
            rows,
        };
        self.adopt.send(synced).await.ok();
    }
}

/// The engine's rules from `[consensus]`.
pub fn engine_config(config: &Config) -> EngineConfig {
    let section = &config.consensus;
    let voter = config.node.roles.contains(&NodeRole::Monitor);
    let mut engine = EngineConfig::new(config.node.id.clone(), voter);
    engine.policy = match section.policy {
        PolicyName::Majority => Policy::Majority,
        PolicyName::HealthyAbove => Policy::HealthyAbove {
            percent: section.healthy_above_percent,
        },
        PolicyName::All => Policy::All,
        PolicyName::Any => Policy::Any,
    };
    engine.min_votes = section.effective_min_votes();
    engine.proposal_timeout = section.proposal_timeout;
    engine.republish_interval = section.republish_interval;
    engine.max_retries = section.max_retries;
    engine.hysteresis = Hysteresis {
        fall: section.fall,
        rise: section.rise,
    };
    engine
}

/// The task's inputs, built at start.
struct Shell<B> {
    bus: B,
    engine: Engine,
    cluster: ClusterHandle,
    official: watch::Sender<Arc<Snapshot>>,
    local: watch::Sender<Arc<Snapshot>>,
    status: Arc<Mutex<StatusReport>>,
    malformed: MalformedLog,
    /// The collator's queue on a collator node, for the status report.
    collator: Option<CollatorQueue>,
    /// Consensus messages the bus dropped because this task fell behind (its bounded
    /// subscriptions were full); the lost ones are repaired, this makes them visible.
    bus_dropped: u64,
    /// Ticks since start, for the status report.
    ticks: u64,
    data_dir: PathBuf,
    node: String,
    live_config: LiveConfig,
    /// When the official results were last confirmed (a decision or a peer's sync).
    confirmed_at: tokio::time::Instant,
    /// The age warning was logged and not yet cleared.
    stale_reported: bool,
}

/// Starts the engine from the configuration and the cache files; returns the task's
/// future and its handle. The key file is created on first start for monitors. The files
/// are read on a blocking thread.
pub async fn start<B: Bus>(
    bus: B,
    live: LiveConfig,
    cluster: ClusterHandle,
    collator: Option<CollatorQueue>,
    shutdown: CancellationToken,
) -> Result<(impl Future<Output = ()> + Send, ConsensusHandle), ConsensusError> {
    let config = live.current();
    let trust = keys::trust(&config)?;
    let files = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || StartFiles::read(&config))
            .await
            .map_err(|error| ConsensusError::Task(error.to_string()))??
    };
    let mut engine = Engine::new(engine_config(&config), trust, files.key);
    let data_dir = config.node.data_dir.clone();
    for (path, loaded, local) in files.caches {
        match loaded {
            Ok(rows) if local => engine.restore_local(rows),
            Ok(rows) => engine.restore_official(rows),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "ignoring an unreadable cache file")
            }
        }
    }
    let (official, official_rx) = watch::channel(engine.official());
    let (local, local_rx) = watch::channel(engine.local());
    let (observations, observations_rx) = mpsc::channel(4096);
    let (synced_tx, synced_rx) = mpsc::channel(4);
    let status = Arc::new(Mutex::new(StatusReport::of(&engine, 0, None)));
    let handle = ConsensusHandle {
        official: official_rx,
        local: local_rx,
        observations,
        adopt: synced_tx.clone(),
        status: status.clone(),
    };
    let shell = Shell {
        bus,
        engine,
        cluster,
        official,
        local,
        status,
        malformed: MalformedLog::default(),
        collator,
        bus_dropped: 0,
        ticks: 0,
        data_dir,
        node: config.node.id.to_string(),
        live_config: live.clone(),
        confirmed_at: tokio::time::Instant::now(),
        stale_reported: false,
    };
    let task = async move {
        if let Err(error) = shell
            .run(live, observations_rx, (synced_tx, synced_rx), shutdown)
            .await
        {
            tracing::error!(error = format!("{error:#}"), "consensus stopped");
        }
    };
    Ok((task, handle))
}

/// Subscribes to `subject`; the error names it.
pub(crate) async fn subscribe<B: Bus>(
    bus: &B,
    subject: &str,
) -> Result<geodns_bus::Subscription, ConsensusError> {
    bus.subscribe(subject)
        .await
        .map_err(|source| ConsensusError::Subscribe {
            subject: subject.to_owned(),
            source,
        })
}

/// What a start reads from disk: this monitor's key and the two cache files.
struct StartFiles {
    key: Option<geodns_consensus::auth::NodeKey>,
    /// Path, rows or why unreadable, and whether it is the local cache.
    caches: Vec<(PathBuf, Result<Vec<cache::Cached>, String>, bool)>,
}

impl StartFiles {
    /// Blocking reads (and the key file's creation on first start).
    fn read(config: &Config) -> Result<StartFiles, ConsensusError> {
        let key = if config.node.roles.contains(&NodeRole::Monitor) {
            let path = keys::key_path(config);
            let (key, created) = keys::load_or_create(&path)?;
            tracing::info!(
                path = %path.display(),
                public_key = %key.public().to_base64(),
                created,
                "consensus key"
            );
            Some(key)
        } else {
            None
        };
        let caches = [(cache::OFFICIAL, false), (cache::LOCAL, true)]
            .into_iter()
            .map(|(name, local)| {
                let path = config.node.data_dir.join(name);
                let loaded = cache::load(&path);
                (path, loaded, local)
            })
            .collect();
        Ok(StartFiles { key, caches })
    }
}

fn maintenance_of(config: &Config) -> BTreeSet<MemberId> {
    config
        .catalog
        .members
        .iter()
        .filter(|(_, member)| member.maintenance)
        .map(|(id, _)| id.clone())
        .collect()
}

impl<B: Bus> Shell<B> {
    async fn run(
        mut self,
        live: LiveConfig,
        mut observations: mpsc::Receiver<Observation>,
        (synced_tx, mut synced): (mpsc::Sender<sync::Synced>, mpsc::Receiver<sync::Synced>),
        shutdown: CancellationToken,
    ) -> Result<(), ConsensusError> {
        let mut proposals = subscribe(&self.bus, subjects::PROPOSE).await?;
        let mut votes = subscribe(&self.bus, subjects::VOTE).await?;
        let mut finalizes = subscribe(&self.bus, subjects::FINALIZE).await?;
        let status_subject = subjects::consensus_status(&self.node);
        let mut status_requests = subscribe(&self.bus, &status_subject).await?;
        let mut sync_requests = subscribe(&self.bus, subjects::OFFICIAL_SYNC).await?;
        let config = live.current();
        if config.node.roles.contains(&NodeRole::Dns) {
            let trusted = config
                .consensus
                .nodes
                .iter()
                .map(|n| n.id.to_string())
                .collect();
            tokio::spawn(sync::run_sync(
                self.bus.clone(),
                config.dns.sync_interval,
                trusted,
                synced_tx,
                shutdown.child_token(),
            ));
        }
        let mut configs = live.subscribe();
        let cache_every = live.current().consensus.cache_interval;
        self.input(Input::Maintenance(maintenance_of(&live.current())))
            .await;
        let mut tick = tokio::time::interval(TICK);
        let mut save = tokio::time::interval(cache_every);
        save.tick().await;
        let mut saving: Option<tokio::task::JoinHandle<()>> = None;
        let mut section = live.current().consensus.clone();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    let dropped = proposals.dropped() + votes.dropped() + finalizes.dropped();
                    if dropped > self.bus_dropped {
                        tracing::warn!(
                            dropped = dropped - self.bus_dropped,
                            total = dropped,
                            "consensus fell behind: the bus dropped messages (repaired by re-sends)"
                        );
                        self.bus_dropped = dropped;
                    }
                    self.tick().await;
                }
                _ = save.tick() => {
                    // Two saves never write the same files at once: a save still running
                    // (it had a whole interval) is waited for first.
                    if let Some(previous) = saving.take() {
                        previous.await.ok();
                    }
                    saving = Some(self.save_caches());
                }
                Some(message) = proposals.next() => self.on_message(message).await,
                Some(message) = votes.next() => self.on_message(message).await,
                Some(message) = finalizes.next() => self.on_message(message).await,
                Some(request) = status_requests.next() => self.answer_status(request).await,
                Some(request) = sync_requests.next() => self.answer_sync(request).await,
                Some(synced) = synced.recv() => self.merge(synced),
                // Validated by `ConsensusHandle::observe`, the channel's only sender.
                Some(observation) = observations.recv() => {
                    self.input(Input::Observed(observation)).await;
                }
                Ok(()) = configs.changed() => {
                    let config = configs.borrow_and_update().clone();
                    self.input(Input::Maintenance(maintenance_of(&config))).await;
                    self.reload(&config, &mut section).await;
                }
            }
        }
        if let Some(previous) = saving.take() {
            previous.await.ok();
        }
        self.save_caches().await.ok();
        Ok(())
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
        let trust = match keys::trust(config) {
            Ok(trust) => trust,
            Err(error) => {
                let error = format!("{error:#}");
                tracing::warn!(%error, "reloaded [consensus] not applied; keeping the running one");
                return;
            }
        };
        let outputs = self
            .engine
            .reconfigure(engine_config(config), trust, crate::clock::now());
        self.carry_out(outputs).await;
        tracing::info!(
            trusted = next.nodes.len(),
            policy = ?next.policy,
            min_votes = next.effective_min_votes(),
            "consensus settings reloaded"
        );
        *running = next.clone();
    }

    async fn tick(&mut self) {
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
        let decoded = match message.subject.as_str() {
            subjects::PROPOSE => decode_proposal(&message.payload).map(Input::Proposal),
            subjects::VOTE => decode_vote(&message.payload).map(Input::Vote),
            _ => decode_finalize(&message.payload).map(Input::Finalize),
        };
        match decoded {
            Ok(input) => {
                let sender = match &input {
                    Input::Proposal(p) => p.message.sender.to_string(),
                    Input::Vote(v) => v.message.voter.to_string(),
                    Input::Finalize(f) => f.message.sender.to_string(),
                    _ => String::new(),
                };
                if self.input(input).await {
                    self.cluster.heard(&sender);
                }
            }
            Err(error) => {
                let sender = message.sender.as_deref().unwrap_or("unknown");
                if self.malformed.record(sender, crate::clock::now()) {
                    tracing::warn!(%sender, subject = %message.subject, %error, "malformed consensus message");
                }
            }
        }
    }

    /// Steps the engine and carries out its outputs; false if the input was rejected.
    async fn input(&mut self, input: Input) -> bool {
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
                    official_changed |= matches!(event, Event::Maintenance { .. });
                    accepted &= log_event(event);
                }
            }
        }
        if official_changed {
            self.official.send_replace(self.engine.official());
            self.confirmed_at = tokio::time::Instant::now();
        }
        if local_changed {
            self.local.send_replace(self.engine.local());
        }
        accepted
    }

    async fn publish(&self, message: Outgoing) {
        let (subject, payload) = match &message {
            Outgoing::Proposal(p) => (subjects::PROPOSE, encode_proposal(p)),
            Outgoing::Vote(v) => (subjects::VOTE, encode_vote(v)),
            Outgoing::Finalize(f) => (subjects::FINALIZE, encode_finalize(f)),
        };
        if let Err(error) = self.bus.publish(subject, Bytes::from(payload)).await {
            tracing::warn!(%subject, %error, "cannot publish a consensus message");
        }
    }

    async fn answer_status(&self, request: BusMessage) {
        let Some(reply) = request.reply else {
            return;
        };
        let report = self.report();
        let body = serde_json::to_vec(&report).unwrap_or_default();
        if let Err(error) = self.bus.publish(&reply, Bytes::from(body)).await {
            tracing::debug!(%error, "cannot answer a consensus status request");
        }
    }

    fn report(&self) -> StatusReport {
        let collator = self.collator.as_ref().map(CollatorQueue::report);
        let mut report = StatusReport::of(&self.engine, self.malformed.total, collator);
        report.bus_dropped = self.bus_dropped;
        report.ticks = self.ticks;
        report.official_age_secs = self.confirmed_at.elapsed().as_secs();
        report.stale = self.stale_reported;
        report
    }

    /// Saves both cache files off the runtime's threads (serialising and syncing a large
    /// result set takes a while); the snapshots are `Arc`s, so nothing is copied here.
    fn save_caches(&self) -> tokio::task::JoinHandle<()> {
        let now = crate::clock::now();
        let files = [
            (self.data_dir.join(cache::OFFICIAL), self.engine.official()),
            (self.data_dir.join(cache::LOCAL), self.engine.local()),
        ];
        let node = self.node.clone();
        tokio::task::spawn_blocking(move || {
            for (path, snapshot) in files {
                if let Err(error) = cache::save(&path, &node, &snapshot, now) {
                    tracing::warn!(path = %path.display(), %error, "cannot save the cache file");
                }
            }
        })
    }
}

/// Logs an engine event; returns false for a rejection.
fn log_event(event: Event) -> bool {
    match event {
        Event::Decided {
            proposal,
            key,
            status,
            passed,
            reason,
            votes,
            active,
        } => {
            tracing::info!(%proposal, check = %key, status, passed, ?reason, ?votes, active, "decided");
        }
        Event::Rejected {
            kind,
            sender,
            reason,
        } => {
            tracing::warn!(kind, %sender, %reason, "rejected a consensus message");
            return false;
        }
        Event::Frozen {
            frozen: true,
            active,
            min_votes,
        } => tracing::error!(
            active,
            min_votes,
            "too few active monitors: official results are frozen"
        ),
        Event::Frozen { active, .. } => {
            tracing::info!(active, "enough monitors again: official results can change")
        }
        Event::Maintenance { member, on } => {
            tracing::info!(%member, maintenance = on, "member maintenance changed")
        }
        Event::Dropped { what } => tracing::warn!(what, "consensus bound reached; dropped"),
    }
    true
}
