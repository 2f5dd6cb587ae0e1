//! The monitor role's runtime: the check plan follows the live configuration, the
//! scheduler's results go to the consensus shell (a fresh UUID each, for a proposal it
//! may start), official changes go to the monitor's outage log, downtime requests over
//! the bus are answered from it, and the check counters are in the node's metrics.

mod downtime;
mod log;
mod metrics;
pub mod scripted;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use geodns_bus::Bus;
use geodns_consensus::engine::Observation;
use geodns_consensus::message::ProposalId;
use geodns_core::config::Config;
use geodns_node::NodeCtx;
use geodns_node::consensus::{ConsensusHandle, MAX_ERROR_CHARS, ObserveError};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::runner::Plan;
use crate::{CheckResult, Counters, Env, EnvError};

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
    #[error("cannot answer downtime requests: {0}")]
    Bus(#[from] geodns_node::bus::SubscribeError),
}

/// The checks' shared environment: public roots plus `[monitor] ca_file`, read on a
/// blocking thread.
pub async fn env(config: &Config) -> Result<Env, MonitorError> {
    let pem = match &config.monitor.ca_file {
        Some(path) => Some(read(path).await?),
        None => None,
    };
    let env = Env::new(pem.as_deref(), Arc::new(geodns_node::clock::now))?;
    if let crate::check::PingMode::TcpFallback(why) = env.ping_mode() {
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
        items: crate::plan(&config.catalog, &BTreeSet::new()),
        workers: usize::try_from(config.monitor.workers).unwrap_or(usize::MAX),
        separation: config.monitor.separation,
    }
}

/// Starts the monitor role on `ctx`: the plan follower, the scheduler, the feed into
/// consensus, the outage log (unless this node is also the collator, whose outages carry
/// the votes) and the downtime responder; the check counters join the node's metrics.
pub async fn start<B: Bus>(
    ctx: &NodeCtx<B>,
    consensus: ConsensusHandle,
    collating: bool,
) -> Result<(), MonitorError> {
    let config = ctx.config.current();
    let env = Arc::new(env(&config).await?);
    let counters = Arc::new(Counters::default());
    let shutdown = ctx.shutdown().clone();
    let requests =
        geodns_node::bus::subscribe(&ctx.bus, geodns_bus::subjects::DOWNTIME_REQUEST).await?;
    let (plan_tx, plan_rx) = watch::channel(plan(&config));
    let follow = follow_config(ctx.config.subscribe(), plan_tx, shutdown.clone());
    ctx.tasks.spawn("monitor: plan", follow);
    let official = consensus.official.clone();
    if let Some(script) = std::env::var_os(scripted::VARIABLE) {
        let run = scripted::run(script.into(), plan_rx, consensus, shutdown.clone());
        ctx.tasks.spawn("monitor: scripted observations", run);
    } else {
        let (results_tx, results_rx) = mpsc::channel(1024);
        let scheduler =
            crate::run_scheduler(plan_rx, env, counters.clone(), results_tx, shutdown.clone());
        ctx.tasks.spawn("monitor: scheduler", scheduler);
        ctx.tasks
            .spawn("monitor: results", feed_consensus(results_rx, consensus));
    }
    if collating {
        tracing::info!("the collator records outages on this node; the monitor log is its record");
    } else {
        let log = log::run_outage_log(official, ctx.store.clone(), shutdown.clone());
        ctx.tasks.spawn_cancellable("monitor: outage log", log);
    }
    let node = config.node.id.to_string();
    let downtime =
        downtime::answer_downtime(ctx.bus.clone(), requests, ctx.store.clone(), node, shutdown);
    ctx.tasks
        .spawn_cancellable("monitor: downtime responder", downtime);
    ctx.metrics
        .register(Arc::new(metrics::CheckFamilies(counters)));
    Ok(())
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
        let Some(observation) = observation(&result) else {
            tracing::error!(check = %result.item.key(), "no randomness for a proposal id: check result dropped");
            continue;
        };
        tracing::debug!(check = %observation.key, ok = observation.ok, error = %observation.error, "check result");
        if let Err(error) = consensus.observe(observation).await {
            tracing::warn!(%error, "check result not taken by consensus");
            if matches!(error, ObserveError::Stopped) {
                return;
            }
        }
    }
}

/// A check result as the consensus engine takes it, with a fresh proposal id (`None`
/// when the system has no randomness for one).
pub fn observation(result: &CheckResult) -> Option<Observation> {
    let id = crate::new_proposal_id()?;
    Some(Observation {
        key: result.item.key(),
        ok: result.outcome.is_ok(),
        // Longer texts are cut rather than refused: the result itself must count.
        error: result
            .outcome
            .error()
            .chars()
            .take(MAX_ERROR_CHARS)
            .collect(),
        data: Some(result.outcome.data.clone()),
        new_id: ProposalId::parse(&id).ok()?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    use geodns_core::ids::MemberId;
    use geodns_core::model::{Check, CheckKind, Probe, TcpOptions};

    use super::*;
    use crate::outcome::{Failure, Reason};
    use crate::target::Target;
    use crate::{Item, Outcome};

    fn result(outcome: Outcome) -> CheckResult {
        let target = Target {
            member: MemberId::parse("Near").unwrap(),
            service: None,
            domain: "rpc.test.example".into(),
            endpoint: None,
            address: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            ipv6: false,
            port: Some(443),
            network: None,
            state_root: None,
        };
        let check = Check {
            name: "tcp".into(),
            kind: CheckKind::Domain,
            enabled: true,
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
            probe: Probe::Tcp(TcpOptions {
                connect_timeout: Duration::from_secs(5),
                port: None,
            }),
        };
        CheckResult {
            item: Item {
                check: Arc::new(check),
                target: Arc::new(target),
            },
            outcome,
        }
    }

    #[test]
    fn a_result_becomes_an_observation_with_a_fresh_id_and_a_bounded_error() {
        let long = "x".repeat(MAX_ERROR_CHARS * 2);
        let failed = Outcome::of(Err(Failure::new(Reason::Connect, long)), Default::default());
        let first = observation(&result(failed.clone())).unwrap();
        assert!(!first.ok);
        assert_eq!(first.error.chars().count(), MAX_ERROR_CHARS);
        assert_eq!(first.key.member.as_str(), "Near");
        assert_eq!(first.key.domain, "rpc.test.example");
        let second = observation(&result(failed)).unwrap();
        assert_ne!(first.new_id, second.new_id, "every result gets its own id");
        assert_eq!(first.new_id.as_str().len(), 36, "a UUID");
        let healthy = observation(&result(Outcome::of(Ok(()), Default::default()))).unwrap();
        assert!(healthy.ok);
        assert!(healthy.error.is_empty());
    }
}
