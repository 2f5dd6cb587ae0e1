//! The collator role's runtime: the reader of the consensus messages the node's shell
//! accepted (message log, proposal cache, decisions), the writer (outage history and
//! consensus log), the notifier (Redis stream), the Matrix sender (the outbox the writer fills), the
//! hourly usage collection and the cluster tables. Any number of collators may run
//! against one database: every write is idempotent and only the writer that changed the
//! history owes an alert (stored with the change).

pub mod journal;
mod metrics;
mod notify;
mod reader;
pub mod rebuild;
mod setup;
pub mod tables;
pub mod usage;

use std::sync::Arc;
use std::time::Duration;

use geodns_bus::{Bus, subjects};
use geodns_consensus::proposal_cache::{CacheLimits, ProposalCache};
use geodns_node::NodeCtx;
use geodns_node::bus::{SubscribeError, subscribe};
use geodns_node::consensus::{ConsensusHandle, Tapped};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::CollatorQueue;

pub use metrics::Deliveries;

/// How often expired cache entries are dropped.
const JANITOR: Duration = Duration::from_secs(30);
/// Changes waiting for the notifier at most.
const CHANGES: usize = 10_000;
/// Consensus messages waiting for the message log at most.
const LOG_BACKLOG: usize = 10_000;

/// Starts the collator on `ctx`, reading what the node's consensus shell hands it on
/// `tapped` (see `geodns_node::consensus::tap`). Its queue reports with the consensus
/// status (`collator`), its deliveries in the node's metrics.
pub async fn start<B: Bus>(
    ctx: &NodeCtx<B>,
    consensus: &ConsensusHandle,
    tapped: Tapped,
) -> Result<CollatorQueue, SubscribeError> {
    let override_updates = subscribe(&ctx.bus, subjects::OVERRIDE_UPDATE).await?;
    let config = ctx.config.current();
    let shutdown = ctx.shutdown().clone();
    let queue = CollatorQueue::default();
    let decisions = journal::Decisions::open(&config.node.data_dir);
    decisions.restore(&queue).await;
    let reported = queue.clone();
    consensus.parts.add(
        "collator",
        Arc::new(move || serde_json::to_value(reported.report()).unwrap_or_default()),
    );
    let (changes_tx, changes_rx) = mpsc::channel(CHANGES);
    let (log_tx, log_rx) = mpsc::channel(LOG_BACKLOG);
    let outbox = setup::matrix(ctx, &config).await;
    let alerting = outbox.clone().map(|outbox| {
        let live = ctx.config.clone();
        let render: crate::writer::Render = Arc::new(move |decision| {
            let config = live.current();
            let catalog = &config.catalog;
            crate::alerts::Alert::of_decision(decision, &catalog.alerts, &catalog.members)
        });
        crate::writer::Alerting { outbox, render }
    });
    let writer = crate::writer::run(
        ctx.store.clone(),
        queue.clone(),
        (changes_tx, alerting),
        geodns_node::clock::now,
        shutdown.clone(),
    );
    ctx.tasks.spawn_cancellable("collator: writer", writer);
    let deliveries = Deliveries::default();
    ctx.metrics.register(Arc::new(metrics::CollatorFamilies {
        queue: queue.clone(),
        outbox: outbox.clone(),
        deliveries: deliveries.clone(),
    }));
    let events = setup::redis_events(&config).await;
    let notifier = notify::run(changes_rx, (events, deliveries), shutdown.clone());
    ctx.tasks.spawn_cancellable("collator: notifier", notifier);
    let log = tables::run_message_log(ctx.store.clone(), log_rx, shutdown.clone());
    ctx.tasks.spawn_cancellable("collator: message log", log);
    let tables = tables::run(
        ctx.store.clone(),
        ctx.config.clone(),
        (ctx.cluster.clone(), consensus.official.clone()),
        override_updates,
        shutdown.clone(),
    );
    ctx.tasks.spawn_cancellable("collator: tables", tables);
    let collections = usage::run_collections(
        ctx.bus.clone(),
        (ctx.cluster.clone(), ctx.store.clone()),
        ctx.config.clone(),
        queue.clone(),
        shutdown.clone(),
    );
    ctx.tasks
        .spawn_cancellable("collator: usage collection", collections);
    let settler = journal::run_settler(decisions.clone(), queue.clone(), shutdown.clone());
    ctx.tasks.spawn("collator: decision journal", settler);
    let reading = read(tapped, (queue.clone(), decisions, log_tx), shutdown);
    ctx.tasks.spawn("collator: reader", reading);
    Ok(queue)
}

/// Reads accepted consensus messages until `shutdown`, journaling and queueing their
/// decisions and dropping expired cache entries.
async fn read(
    mut tapped: Tapped,
    (queue, decisions, log): (
        CollatorQueue,
        journal::Decisions,
        mpsc::Sender<geodns_store::Message>,
    ),
    shutdown: CancellationToken,
) {
    let mut cache = ProposalCache::new(CacheLimits::default());
    let mut janitor = tokio::time::interval(JANITOR);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = janitor.tick() => {
                let dropped = cache.expire(geodns_node::clock::now());
                tracing::debug!(dropped, cached = cache.len(), evicted = cache.evicted(), "proposal cache janitor");
            }
            accepted = tapped.recv() => match accepted {
                Some(accepted) => {
                    let now = geodns_node::clock::now();
                    if let Some(decision) = reader::on_message(&mut cache, accepted, &log, now) {
                        decisions.push(&queue, decision).await;
                    }
                }
                None => return,
            },
        }
    }
}
