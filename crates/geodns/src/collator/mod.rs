//! The collator role, wired: the bus reader (message log, proposal cache, decisions),
//! the writer (outage history and consensus log, from `geodns-collator`), the notifier
//! (Redis stream and Matrix outbox), the Matrix sender, the hourly usage collection and
//! the cluster tables. Any number of collators may run against one database: every write
//! is idempotent and only the writer that changed the history alerts.

mod notify;
mod reader;
pub mod tables;
pub mod usage;

use std::time::Duration;

use geodns_bus::redis::EventPublisher;
use geodns_bus::{Bus, ClusterHandle, Subscription, subjects};
use geodns_collator::CollatorQueue;
use geodns_collator::alerts::matrix::{Credentials, MatrixClient};
use geodns_collator::alerts::outbox::{self, Outbox};
use geodns_consensus::proposal_cache::{CacheLimits, ProposalCache};
use geodns_consensus::results::Snapshot;
use geodns_core::config::Config;
use geodns_core::model::CountryOverrides;
use geodns_store::SqlStore;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::consensus::{ConsensusError, subscribe};
use crate::reload::LiveConfig;

/// How often expired cache entries are dropped.
const JANITOR: Duration = Duration::from_secs(30);
/// Changes waiting for the notifier at most.
const CHANGES: usize = 10_000;
/// Consensus messages waiting for the message log at most.
const LOG_BACKLOG: usize = 10_000;

/// Handles the collator needs from the rest of the node.
#[derive(Debug, Clone)]
pub struct Wiring {
    /// Membership, for the DNS nodes to collect from and the node state table.
    pub cluster: ClusterHandle,
    /// The official results, for the routes table.
    pub official: watch::Receiver<std::sync::Arc<Snapshot>>,
    /// The Redis Streams publisher, when configured.
    pub events: Option<EventPublisher>,
    /// Where deliveries are counted, for `/metrics`.
    pub telemetry: crate::telemetry::Telemetry,
}

/// The collator's subscriptions, taken before the node starts deciding, so no decision
/// of its first seconds is missed.
#[derive(Debug)]
pub struct Inbox {
    messages: Subscription,
    override_updates: Subscription,
}

impl Inbox {
    /// Subscribes to consensus messages and override updates.
    pub async fn subscribe<B: Bus>(bus: &B) -> Result<Inbox, ConsensusError> {
        Ok(Inbox {
            messages: subscribe(bus, "consensus.*").await?,
            override_updates: subscribe(bus, subjects::OVERRIDE_UPDATE).await?,
        })
    }
}

/// Runs until `shutdown`: reads consensus messages, records decided outages, alerts,
/// collects usage hourly and keeps the cluster tables.
pub async fn run_collator<B: Bus>(
    (bus, inbox): (B, Inbox),
    store: SqlStore,
    wiring: Wiring,
    live: LiveConfig,
    queue: CollatorQueue,
    shutdown: CancellationToken,
) -> Result<(), ConsensusError> {
    let Inbox {
        mut messages,
        mut override_updates,
    } = inbox;
    let tasks = TaskTracker::new();
    let (changes_tx, changes_rx) = mpsc::channel(CHANGES);
    let (log_tx, log_rx) = mpsc::channel(LOG_BACKLOG);
    tasks.spawn(geodns_collator::writer::run(
        store.clone(),
        queue.clone(),
        changes_tx,
        crate::clock::now,
        shutdown.clone(),
    ));
    let outbox = matrix(&tasks, &live.current(), &store, &shutdown).await;
    if let Some(outbox) = &outbox {
        wiring.telemetry.set_outbox(outbox.clone());
    }
    tasks.spawn(notify::run(
        store.clone(),
        changes_rx,
        (wiring.events, wiring.telemetry.clone()),
        outbox,
        live.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(tables::run_message_log(
        store.clone(),
        log_rx,
        shutdown.clone(),
    ));
    let (overrides_tx, overrides_rx) = watch::channel(saved_overrides(&store).await);
    tasks.spawn(tables::run(
        store.clone(),
        live.clone(),
        wiring.cluster.clone(),
        wiring.official,
        overrides_rx,
        shutdown.clone(),
    ));
    tasks.spawn(usage::run_hourly(
        bus.clone(),
        wiring.cluster,
        store.clone(),
        live.clone(),
        queue.clone(),
        shutdown.clone(),
    ));
    tasks.close();
    let mut cache = ProposalCache::new(CacheLimits::default());
    let mut janitor = tokio::time::interval(JANITOR);
    let mut configs = live.subscribe();
    let mut trust = crate::consensus::keys::trust_with_self(&live.current())?;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Ok(()) = configs.changed() => {
                let config = configs.borrow_and_update().clone();
                match crate::consensus::keys::trust_with_self(&config) {
                    Ok(reloaded) => trust = reloaded,
                    Err(error) => {
                        let error = format!("{error:#}");
                        tracing::warn!(%error, "collator keeps its trusted nodes");
                    }
                }
            }
            _ = janitor.tick() => {
                let dropped = cache.expire(crate::clock::now());
                tracing::debug!(dropped, cached = cache.len(), evicted = cache.evicted(), "proposal cache janitor");
            }
            Some(message) = override_updates.next() => {
                overrides_tx.send_if_modified(|current| crate::dns::overrides::update(current, &message.payload));
            }
            Some(message) = messages.next() => {
                let min_votes = live.current().consensus.effective_min_votes();
                reader::on_message(&mut cache, &trust, min_votes, &message, &queue, &log_tx);
            }
        }
    }
    drop(log_tx);
    tasks.wait().await;
    Ok(())
}

/// The country overrides the runtime config holds (what an earlier collator saw).
async fn saved_overrides(store: &SqlStore) -> CountryOverrides {
    match crate::dns::overrides::load_saved(store).await {
        Ok(saved) => saved.unwrap_or_default(),
        Err(error) => {
            tracing::warn!(%error, "cannot read the runtime config; starting without country overrides");
            CountryOverrides::new()
        }
    }
}

/// Starts the Matrix sender when `[matrix]` and a room are configured; returns its outbox.
async fn matrix(
    tasks: &TaskTracker,
    config: &Config,
    store: &SqlStore,
    shutdown: &CancellationToken,
) -> Option<Outbox> {
    let section = config.matrix.as_ref()?;
    let room = config
        .catalog
        .alerts
        .room
        .clone()
        .or_else(|| section.room.clone());
    let Some(room) = room else {
        tracing::warn!(
            "[matrix] is configured without a room ([alerts] room or [matrix] room): no alerts are sent"
        );
        return None;
    };
    let credentials = match (&section.access_token, &section.user, &section.password) {
        (Some(token), _, _) => Credentials::Token(token.expose().to_owned()),
        (None, Some(user), Some(password)) => Credentials::Password {
            user: user.clone(),
            password: password.expose().to_owned(),
        },
        _ => {
            tracing::error!(
                "[matrix] needs access_token, or user and password: no alerts are sent"
            );
            return None;
        }
    };
    let http = match crate::http::client(geodns_collator::alerts::matrix::TIMEOUT) {
        Ok(http) => http,
        Err(error) => {
            tracing::error!(%error, "cannot build the Matrix HTTP client: no alerts are sent");
            return None;
        }
    };
    let device = format!("GEODNS-{}", config.node.id);
    let client = match MatrixClient::new(http, &section.homeserver, credentials, &device) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "no alerts are sent");
            return None;
        }
    };
    let outbox = Outbox::new(outbox::LIMIT, config.node.id.as_str());
    match outbox.restore(store).await {
        Ok(0) => {}
        Ok(restored) => tracing::info!(
            restored,
            "unsent Matrix alerts of an earlier run are queued"
        ),
        Err(error) => {
            tracing::warn!(%error, "cannot read the unsent Matrix alerts of an earlier run")
        }
    }
    tasks.spawn(outbox::run(
        client,
        room,
        store.clone(),
        outbox.clone(),
        crate::clock::now,
        shutdown.clone(),
    ));
    Some(outbox)
}
