//! `geodns run`: loads the configuration, keeps it reloaded, connects the store and the
//! bus, starts the configured roles in the order of [`STEPS`], and on shutdown joins
//! every task within [`SHUTDOWN_GRACE`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use geodns_bus::{Bus, ConnectionState, MemoryBus, NatsBus, run_membership};
use geodns_core::config::{BusMode, Config, Summary};
use geodns_core::model::NodeRole;
use geodns_core::pdns::Backend;
use geodns_node::consensus::{self, ConsensusHandle, Tapped};
use geodns_node::keys::Keys;
use geodns_node::metrics::Metrics;
use geodns_node::runtime_values::maintenance;
use geodns_node::{BusState, LiveConfig, NodeCtx, Tasks};
use geodns_store::SqlStore;
use tokio_util::sync::CancellationToken;

use crate::config_source::Loader;
use crate::reload::run_reloader;

/// How long shutdown waits for every task and thread (SIGTERM to exit within 3 s).
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(2500);
/// How long closing the store may take at exit (it may be unreachable).
const STORE_CLOSE: Duration = Duration::from_millis(400);

/// Runs until `shutdown` is cancelled. Fails at start if the configuration is invalid or
/// a role cannot start (then everything started is stopped first).
pub async fn run(loader: Loader, shutdown: CancellationToken) -> anyhow::Result<()> {
    run_on(loader, shutdown, None).await
}

/// [`run`], with an embedded bus that joins `hub` (several nodes in one process, as
/// `geodns demo` runs them) instead of a hub of its own.
pub async fn run_on(
    loader: Loader,
    shutdown: CancellationToken,
    hub: Option<MemoryBus>,
) -> anyhow::Result<()> {
    let config = loader
        .load()
        .await
        .context("cannot start with this configuration")?;
    log_loaded(&config);
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let store_config = crate::storage::store_config(&config, &env)?;
    let store = SqlStore::open(store_config.clone())
        .await
        .context("cannot open the database")?;
    tracing::info!(backend = store.backend().name(), url = %store_config.url, "database ready");
    let tasks = Tasks::new(shutdown.clone());
    let keys = Keys::load(&config).await?;
    let live = LiveConfig::new(config);
    tasks.spawn(
        "config reloader",
        run_reloader(loader, live.clone(), shutdown.clone()),
    );
    let started = connect_and_start(&live, (store.clone(), keys), &tasks, hub).await;
    if let Err(error) = &started {
        tracing::error!(error = format!("{error:#}"), "start failed; stopping");
    } else {
        shutdown.cancelled().await;
        tracing::info!("shutting down");
    }
    if let Err(unfinished) = tasks.stop(SHUTDOWN_GRACE).await {
        tracing::warn!(%unfinished, "stopping without them");
    }
    if tokio::time::timeout(STORE_CLOSE, store.close())
        .await
        .is_err()
    {
        tracing::warn!("the database did not close in time");
    }
    started
}

fn log_loaded(config: &Config) {
    for warning in &config.warnings {
        tracing::warn!(%warning, "configuration warning");
    }
    let summary = Summary::of(config);
    let roles: Vec<&str> = config.node.roles.iter().map(|r| r.as_str()).collect();
    tracing::info!(
        node = %config.node.id,
        roles = ?roles,
        members = summary.members,
        services = summary.services,
        hostnames = summary.hostnames,
        zones = summary.zones,
        "configuration loaded"
    );
}

/// Connects the configured bus and starts the roles on it.
async fn connect_and_start(
    live: &LiveConfig,
    (store, keys): (SqlStore, Keys),
    tasks: &Tasks,
    hub: Option<MemoryBus>,
) -> anyhow::Result<()> {
    let config = live.current();
    let gate = geodns_node::trust::gate(&config, &keys)?;
    tasks.spawn(
        "trust table reloader",
        geodns_node::trust::follow(live.clone(), gate.clone(), tasks.token().clone()),
    );
    match config.bus.mode {
        BusMode::Embedded => {
            let id = config.node.id.as_str();
            let bus = hub
                .map_or_else(|| MemoryBus::new(id), |hub| hub.join(id))
                .with_gate(gate);
            let state: BusState = Arc::new(|| (true, "in-process bus".to_owned()));
            let ctx = node_ctx(live, (bus, state), (store, keys), tasks);
            start_roles(&ctx).await
        }
        BusMode::Nats => {
            let nats =
                geodns_node::bus::nats_config(&config.bus, &format!("geodns {}", config.node.id));
            // A refused login or a failed TLS handshake ends the start with the reason; an
            // unreachable server does not (the bus keeps trying). The first attempt can take
            // `connect_timeout` per server, so a signal meanwhile must still stop the node.
            let connecting = NatsBus::connect(config.node.id.as_str(), &nats, tasks.tracker());
            let bus = tokio::select! {
                bus = connecting => bus.context("cannot start with this NATS bus")?.with_gate(gate),
                () = tasks.token().cancelled() => {
                    tracing::info!("stopped while connecting to NATS");
                    return Ok(());
                }
            };
            tracing::info!(servers = ?config.bus.urls, state = ?bus.state(), "NATS bus configured");
            let watched = bus.clone();
            let state: BusState = Arc::new(move || {
                let state = watched.state();
                (
                    state == ConnectionState::Connected,
                    format!("NATS {state:?}"),
                )
            });
            let ctx = node_ctx(live, (bus, state), (store, keys), tasks);
            start_roles(&ctx).await
        }
    }
}

/// The handles every role runs on.
pub fn node_ctx<B: Bus>(
    live: &LiveConfig,
    (bus, bus_state): (B, BusState),
    (store, keys): (SqlStore, Keys),
    tasks: &Tasks,
) -> NodeCtx<B> {
    let cluster = geodns_node::bus::cluster_handle(&live.current());
    let ctx = NodeCtx {
        config: live.clone(),
        bus,
        bus_state,
        store,
        cluster,
        tasks: tasks.clone(),
        metrics: Metrics::default(),
        keys,
    };
    ctx.register_node_metrics();
    ctx
}

/// One step of a node's start, in the order of [`STEPS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Maintenance set at run time, restored from the store and followed on the bus:
    /// first, so no check runs and no answer is given for a member in maintenance.
    Maintenance,
    /// Membership (heartbeats, joins, leaves): before consensus, which counts the active
    /// monitors from it.
    Membership,
    /// The consensus shell, with the collator's tap when this node collates: before every
    /// role that reads the official results or feeds results in.
    Consensus,
    /// The collator: right after consensus, so the first decisions are recorded.
    Collator,
    /// The monitor: its results go to consensus.
    Monitor,
    /// The DNS role: before the API, whose PowerDNS backend it is.
    Dns,
    /// The API: last of the roles, it serves what the others hold.
    Api,
    /// A node without an official cache file takes the consensus log's decisions.
    Rebuild,
}

/// The order a node starts in.
pub const STEPS: [Step; 8] = [
    Step::Maintenance,
    Step::Membership,
    Step::Consensus,
    Step::Collator,
    Step::Monitor,
    Step::Dns,
    Step::Api,
    Step::Rebuild,
];

/// What the steps so far started, for the steps after them.
#[derive(Default)]
struct Started {
    consensus: Option<ConsensusHandle>,
    tapped: Option<Tapped>,
    dns: Option<Arc<dyn Backend>>,
}

/// Starts every step of [`STEPS`] for the roles `ctx`'s configuration names.
pub async fn start_roles<B: Bus>(ctx: &NodeCtx<B>) -> anyhow::Result<()> {
    let mut started = Started::default();
    for step in STEPS {
        start_step(ctx, step, &mut started)
            .await
            .with_context(|| format!("cannot start {step:?}"))?;
    }
    Ok(())
}

async fn start_step<B: Bus>(
    ctx: &NodeCtx<B>,
    step: Step,
    started: &mut Started,
) -> anyhow::Result<()> {
    let config = ctx.config.current();
    let runs = |role: NodeRole| config.node.roles.contains(&role);
    let consensus = || {
        started
            .consensus
            .clone()
            .context("consensus is not started")
    };
    match step {
        Step::Maintenance => {
            maintenance::restore(&ctx.store, &ctx.config).await;
            let follow =
                maintenance::follow(ctx.bus.clone(), ctx.config.clone(), ctx.shutdown().clone());
            ctx.tasks.spawn("maintenance follower", follow);
        }
        Step::Membership => {
            let me = geodns_node::bus::self_info(&config);
            let membership = run_membership(
                ctx.bus.clone(),
                me,
                ctx.cluster.clone(),
                ctx.shutdown().clone(),
            );
            ctx.tasks.spawn("membership", async move {
                if let Err(error) = membership.await {
                    tracing::error!(%error, "cluster membership stopped");
                }
            });
        }
        Step::Consensus => {
            let (tap, tapped) = runs(NodeRole::Collator).then(consensus::tap).unzip();
            started.tapped = tapped;
            started.consensus = Some(consensus::start(ctx, tap).await?);
        }
        Step::Collator => {
            if let Some(tapped) = started.tapped.take() {
                geodns_collator::runtime::start(ctx, &consensus()?, tapped).await?;
            }
        }
        Step::Monitor if runs(NodeRole::Monitor) => {
            let collating = runs(NodeRole::Collator);
            geodns_monitor::runtime::start(ctx, consensus()?, collating).await?;
        }
        Step::Dns if runs(NodeRole::Dns) => {
            let server = geodns_dns::runtime::start(ctx, consensus()?).await?;
            started.dns = Some(Arc::new(geodns_dns::runtime::backend::DnsBackend::new(
                server,
            )));
        }
        Step::Api if runs(NodeRole::Api) => {
            geodns_api::runtime::start(ctx, consensus()?, started.dns.clone()).await?;
        }
        Step::Rebuild => {
            let (store, handle) = (ctx.store.clone(), consensus()?);
            let data_dir = config.node.data_dir.clone();
            ctx.tasks
                .spawn_cancellable("rebuild from the consensus log", async move {
                    geodns_collator::runtime::rebuild::rebuild_if_fresh(&data_dir, &store, &handle)
                        .await;
                });
        }
        Step::Monitor | Step::Dns | Step::Api => {}
    }
    Ok(())
}

/// Cancels `token` on SIGINT or SIGTERM.
pub async fn cancel_on_signal(token: CancellationToken) {
    tokio::select! {
        () = signalled() => token.cancel(),
        // Stopped some other way: stop listening too, so the task ends with the node.
        () = token.cancelled() => {}
    }
}

async fn signalled() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the node");
                interrupt.await.ok();
            }
        }
    }
    #[cfg(not(unix))]
    interrupt.await.ok();
}
