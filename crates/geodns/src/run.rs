//! `geodns run`: loads the configuration, keeps it reloaded, and runs the configured roles
//! until the shutdown token is cancelled.

use std::time::Duration;

use anyhow::Context as _;
use geodns_bus::redis::{EventPublisher, RedisClient, RedisConfig};
use std::sync::Arc;

use geodns_bus::{
    Bus, ClusterHandle, ConnectionState, MemoryBus, NatsBus, SelfInfo, run_membership,
};
use geodns_core::config::{BusMode, Summary};
use geodns_core::model::NodeRole;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config_source::Loader;
use crate::consensus::CollatorQueue;
use crate::reload::{LiveConfig, run_reloader};

/// How long shutdown waits for tasks to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Runs until `shutdown` is cancelled. Fails at start if the configuration is invalid.
pub async fn run(loader: Loader, shutdown: CancellationToken) -> anyhow::Result<()> {
    let config = loader
        .load()
        .await
        .context("cannot start with this configuration")?;
    for warning in &config.warnings {
        tracing::warn!(%warning, "configuration warning");
    }
    let summary = Summary::of(&config);
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
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let store_config = crate::storage::store_config(&config, &env)?;
    let store = geodns_store::SqlStore::open(store_config.clone())
        .await
        .context("cannot open the database")?;
    tracing::info!(backend = store.backend().name(), url = %store_config.url, "database ready");
    let tasks = TaskTracker::new();
    let cluster = crate::bus::cluster_handle(&config);
    let live = LiveConfig::new(config);
    tasks.spawn(run_reloader(loader, live.clone(), shutdown.clone()));
    let config = live.current();
    match config.bus.mode {
        BusMode::Embedded => {
            let bus = MemoryBus::new(config.node.id.as_str());
            let state: crate::api::BusState = Arc::new(|| (true, "in-process bus".to_owned()));
            let handles = (&cluster, store.clone(), state);
            spawn_roles(&tasks, bus, &live, handles, &shutdown).await?;
        }
        BusMode::Nats => {
            let nats = crate::bus::nats_config(&config.bus, &format!("geodns {}", config.node.id));
            // A refused login or a failed TLS handshake ends the start with the reason; an
            // unreachable server does not (the bus keeps trying). The first attempt can take
            // `connect_timeout` per server, so a signal meanwhile must still stop the node.
            let bus = tokio::select! {
                bus = NatsBus::connect(config.node.id.as_str(), &nats) => {
                    bus.context("cannot start with this NATS bus")?
                }
                () = shutdown.cancelled() => {
                    tracing::info!("stopped while connecting to NATS");
                    store.close().await;
                    return Ok(());
                }
            };
            tracing::info!(servers = ?config.bus.urls, state = ?bus.state(), "NATS bus configured");
            let watched = bus.clone();
            let state: crate::api::BusState = Arc::new(move || {
                let state = watched.state();
                (
                    state == ConnectionState::Connected,
                    format!("NATS {state:?}"),
                )
            });
            let handles = (&cluster, store.clone(), state);
            spawn_roles(&tasks, bus, &live, handles, &shutdown).await?;
        }
    }
    tasks.close();

    shutdown.cancelled().await;
    tracing::info!("shutting down");
    if tokio::time::timeout(SHUTDOWN_GRACE, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(grace = ?SHUTDOWN_GRACE, "tasks did not finish in time");
    }
    store.close().await;
    Ok(())
}

/// Spawns membership, consensus, the checks (for monitors) and outage recording (for
/// collators) on `bus`.
async fn spawn_roles<B: Bus>(
    tasks: &TaskTracker,
    bus: B,
    live: &LiveConfig,
    (cluster, store, bus_state): (&ClusterHandle, geodns_store::SqlStore, crate::api::BusState),
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    // Maintenance set at run time applies on every node, before it checks or answers.
    crate::maintenance::restore(&store, live).await;
    tasks.spawn(crate::maintenance::follow(
        bus.clone(),
        live.clone(),
        shutdown.clone(),
    ));
    let config = live.current();
    let me = crate::bus::self_info(&config);
    tasks.spawn(membership(
        bus.clone(),
        me,
        cluster.clone(),
        shutdown.clone(),
    ));
    let collating = config.node.roles.contains(&NodeRole::Collator);
    let queue = collating.then(CollatorQueue::default);
    let inbox = match collating {
        true => Some(crate::collator::Inbox::subscribe(&bus).await?),
        false => None,
    };
    let (consensus, handle) = crate::consensus::start(
        bus.clone(),
        live.clone(),
        cluster.clone(),
        queue.clone(),
        shutdown.clone(),
    )
    .await?;
    tasks.spawn(consensus);
    let telemetry = crate::telemetry::Telemetry::default();
    if config.node.roles.contains(&NodeRole::Monitor) {
        let counters = crate::monitor::start(
            tasks,
            bus.clone(),
            live,
            handle.clone(),
            store.clone(),
            collating,
            shutdown,
        )
        .await
        .context("cannot start the monitor role")?;
        telemetry.set_checks(counters);
    }
    let mut dns: Option<Arc<dyn geodns_api::pdns::Backend>> = None;
    if config.node.roles.contains(&NodeRole::Dns) {
        let server = crate::dns::start(
            tasks,
            bus.clone(),
            live,
            (handle.clone(), telemetry.clone()),
            store.clone(),
            shutdown,
        )
        .await
        .context("cannot start the DNS role")?;
        dns = Some(Arc::new(crate::dns::backend::DnsBackend::new(server)));
    }
    if config.node.roles.contains(&NodeRole::Api) {
        let tokens = crate::maintenance::tokens(&config)
            .await
            .context("cannot start the API role")?;
        if tokens.is_empty() {
            tracing::info!(
                "no [api] token configured: maintenance and overrides cannot be changed through the API"
            );
        }
        let node = crate::api::Node {
            bus_handle: bus.clone(),
            tokens: Arc::new(tokens),
            consensus: handle.clone(),
            cluster: cluster.clone(),
            store: store.clone(),
            bus: bus_state,
            live: live.clone(),
            tls: None,
            telemetry: telemetry.clone(),
            dns,
        };
        crate::api::start(tasks, node, shutdown)
            .await
            .context("cannot start the API role")?;
    }
    let data_dir = config.node.data_dir.clone();
    {
        let (store, handle) = (store.clone(), handle.clone());
        tasks.spawn(async move {
            crate::consensus::history::rebuild_if_fresh(&data_dir, &store, &handle).await;
        });
    }
    if let (Some(queue), Some(inbox)) = (queue, inbox) {
        let wiring = crate::collator::Wiring {
            cluster: cluster.clone(),
            official: handle.official.clone(),
            events: redis_events(&config).await,
            telemetry,
        };
        let collator = crate::collator::run_collator(
            (bus, inbox),
            store,
            wiring,
            live.clone(),
            queue,
            shutdown.clone(),
        );
        tasks.spawn(async move {
            if let Err(error) = collator.await {
                tracing::error!(error = format!("{error:#}"), "collator stopped");
            }
        });
    }
    Ok(())
}

/// The Redis Streams publisher, when `[redis]` is configured and reachable.
async fn redis_events(config: &geodns_core::config::Config) -> Option<EventPublisher> {
    let section = config.redis.as_ref()?;
    // The seed's REDIS_CLUSTER_* variables win over the URL, as for the data layer.
    let env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    let redis = match RedisConfig::from_env(&env) {
        Ok(Some(from_env)) => from_env,
        Ok(None) => RedisConfig::from_url(section.url.clone()),
        Err(error) => {
            tracing::warn!(%error, "REDIS_CLUSTER_* variables are invalid; using [redis] url");
            RedisConfig::from_url(section.url.clone())
        }
    };
    match RedisClient::connect(&redis).await {
        Ok(client) => Some(EventPublisher::new(
            client,
            &section.stream_prefix,
            section.stream_max_len,
        )),
        Err(error) => {
            tracing::warn!(%error, "Redis unreachable: outage events are not published");
            None
        }
    }
}

async fn membership<B: Bus>(
    bus: B,
    me: SelfInfo,
    cluster: ClusterHandle,
    shutdown: CancellationToken,
) {
    if let Err(error) = run_membership(bus, me, cluster, shutdown).await {
        tracing::error!(%error, "cluster membership stopped");
    }
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
