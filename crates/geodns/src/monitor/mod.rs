//! The monitor role's wiring: the check plan follows the live configuration, the
//! scheduler's results go to the consensus engine (a fresh UUID each, for a proposal it
//! may start), official changes go to the monitor's outage log, and downtime requests
//! over the bus are answered from it.

mod downtime;
mod log;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use geodns_bus::Bus;
use geodns_consensus::engine::Observation;
use geodns_consensus::message::ProposalId;
use geodns_core::config::Config;
use geodns_monitor::runner::Plan;
use geodns_monitor::{CheckResult, Counters, Env, EnvError};
use geodns_store::SqlStore;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::consensus::ConsensusHandle;
use crate::reload::LiveConfig;

pub use downtime::answer_downtime;

/// Why the monitor role could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// `[monitor] ca_file` cannot be read.
    #[error("cannot read [monitor] ca_file {path}: {source}")]
    CaFile {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The checks' TLS or CA setup failed.
    #[error("[monitor] ca_file: {0}")]
    Env(#[from] EnvError),
    /// Subscribing to downtime requests failed.
    #[error("cannot subscribe to downtime requests: {0}")]
    Bus(#[from] geodns_bus::BusError),
}

/// The checks' shared environment: public roots plus `[monitor] ca_file`, read on a
/// blocking thread.
pub async fn env(config: &Config) -> Result<Env, MonitorError> {
    let pem = match &config.monitor.ca_file {
        Some(path) => Some(read(path).await?),
        None => None,
    };
    let env = Env::new(pem.as_deref(), Arc::new(crate::clock::now))?;
    if let geodns_monitor::check::PingMode::TcpFallback(why) = env.ping_mode() {
        tracing::warn!(%why, "ping checks use a TCP connect probe instead of ICMP");
    }
    Ok(env)
}

async fn read(path: &Path) -> Result<Vec<u8>, MonitorError> {
    let owned = path.to_owned();
    let result = tokio::task::spawn_blocking(move || std::fs::read(owned))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    result.map_err(|source| MonitorError::CaFile {
        path: path.display().to_string(),
        source,
    })
}

/// The check plan of a configuration.
pub fn plan(config: &Config) -> Plan {
    Plan {
        items: geodns_monitor::plan(&config.catalog, &BTreeSet::new()),
        workers: usize::try_from(config.monitor.workers).unwrap_or(usize::MAX),
        separation: config.monitor.separation,
    }
}

/// Starts the monitor role's tasks on `tasks`: the plan follower, the scheduler, the
/// feed into consensus, the outage log (unless this node is also the collator, whose
/// outages carry the votes) and the downtime responder.
pub async fn start<B: Bus>(
    tasks: &TaskTracker,
    bus: B,
    live: &LiveConfig,
    consensus: ConsensusHandle,
    store: SqlStore,
    collating: bool,
    shutdown: &CancellationToken,
) -> Result<Arc<Counters>, MonitorError> {
    let config = live.current();
    let env = Arc::new(env(&config).await?);
    let counters = Arc::new(Counters::default());
    let (plan_tx, plan_rx) = watch::channel(plan(&config));
    tasks.spawn(follow_config(live.subscribe(), plan_tx, shutdown.clone()));
    let (results_tx, results_rx) = mpsc::channel(1024);
    tasks.spawn(geodns_monitor::run_scheduler(
        plan_rx,
        env,
        counters.clone(),
        results_tx,
        shutdown.clone(),
    ));
    let official = consensus.official.clone();
    tasks.spawn(feed_consensus(results_rx, consensus));
    if collating {
        tracing::info!("the collator records outages on this node; the monitor log is its record");
    } else {
        tasks.spawn(log::run_outage_log(
            official,
            store.clone(),
            shutdown.clone(),
        ));
    }
    let requests = bus
        .subscribe(geodns_bus::subjects::DOWNTIME_REQUEST)
        .await?;
    let node = config.node.id.to_string();
    tasks.spawn(answer_downtime(
        bus,
        requests,
        store,
        node,
        shutdown.clone(),
    ));
    Ok(counters)
}

/// Rebuilds the plan whenever the configuration changes.
async fn follow_config(
    mut configs: watch::Receiver<Arc<Config>>,
    plan: watch::Sender<Plan>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = configs.changed() => {
                if changed.is_err() {
                    return;
                }
                let next = self::plan(&configs.borrow_and_update());
                if plan.send(next).is_err() {
                    return;
                }
            }
        }
    }
}

/// Hands every result to the consensus engine; ends when the scheduler does.
async fn feed_consensus(mut results: mpsc::Receiver<CheckResult>, consensus: ConsensusHandle) {
    while let Some(result) = results.recv().await {
        let observation = observation(&result);
        tracing::debug!(check = %observation.key, ok = observation.ok, error = %observation.error, "check result");
        if let Err(error) = consensus.observe(observation).await {
            tracing::warn!(%error, "check result not taken by consensus");
            if matches!(error, crate::consensus::ObserveError::Stopped) {
                return;
            }
        }
    }
}

/// A check result as the consensus engine takes it.
pub fn observation(result: &CheckResult) -> Observation {
    let id = geodns_monitor::new_proposal_id();
    Observation {
        key: result.item.key(),
        ok: result.outcome.is_ok(),
        // Longer texts are cut rather than refused: the result itself must count.
        error: result
            .outcome
            .error()
            .chars()
            .take(crate::consensus::MAX_ERROR_CHARS)
            .collect(),
        data: Some(result.outcome.data.clone()),
        new_id: ProposalId::parse(&id).expect("a UUID is a valid proposal id"),
    }
}
