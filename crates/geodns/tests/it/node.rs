//! A node started in-process from a config file, as `geodns run` wires it: store,
//! membership, consensus, and the monitor and DNS roles when asked.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use geodns_bus::{Bus, ClusterHandle, run_membership};
use geodns_node::consensus::ConsensusHandle;
use geodns_node::keys::Keys;
use geodns_node::{BusState, LiveConfig, NodeCtx, Tasks};
use geodns_store::SqlStore;
use tokio_util::sync::CancellationToken;

use crate::support::load_config;

/// Which roles [`Node::start`] runs besides membership and consensus.
#[derive(Debug, Clone, Copy)]
pub struct Roles {
    pub monitor: bool,
    pub dns: bool,
}

/// The handles a node's roles run on, over `bus` and `store`, as `geodns run` makes them
/// (the key is loaded for monitors).
pub async fn ctx<B: Bus>(bus: B, live: &LiveConfig, store: SqlStore) -> NodeCtx<B> {
    let keys = Keys::load(&live.current()).await.unwrap();
    let state: BusState = Arc::new(|| (true, "test bus".to_owned()));
    let tasks = Tasks::new(CancellationToken::new());
    geodns::run::node_ctx(live, (bus, state), (store, keys), &tasks)
}

pub struct Node {
    pub live: LiveConfig,
    pub handle: ConsensusHandle,
    pub cluster: ClusterHandle,
    pub store: SqlStore,
    dns: Option<SocketAddr>,
    pub shutdown: CancellationToken,
    pub tasks: Tasks,
    metrics: geodns_node::metrics::Metrics,
}

impl Node {
    pub async fn start<B: Bus>(bus: B, path: &Path, roles: Roles) -> Node {
        let config = load_config(path).await;
        let env = std::collections::BTreeMap::new();
        let store = SqlStore::open(geodns::storage::store_config(&config, &env).unwrap())
            .await
            .unwrap();
        let live = LiveConfig::new(config);
        let ctx = ctx(bus.clone(), &live, store.clone()).await;
        let me = geodns_node::bus::self_info(&live.current());
        let membership = run_membership(bus, me, ctx.cluster.clone(), ctx.shutdown().clone());
        ctx.tasks
            .spawn("membership", async move { membership.await.unwrap() });
        let handle = geodns_node::consensus::start(&ctx, None).await.unwrap();
        // As `geodns run`: no official cache file → the consensus log's state.
        let data_dir = live.current().node.data_dir.clone();
        let (log_store, log_handle) = (store.clone(), handle.clone());
        ctx.tasks.spawn("rebuild", async move {
            geodns_collator::runtime::rebuild::rebuild_if_fresh(&data_dir, &log_store, &log_handle)
                .await;
        });
        if roles.monitor {
            geodns_monitor::runtime::start(&ctx, handle.clone(), false)
                .await
                .unwrap();
        }
        let dns = match roles.dns {
            true => {
                let started = geodns_dns::runtime::start(&ctx, handle.clone());
                Some(started.await.unwrap().local_addr)
            }
            false => None,
        };
        Node {
            live,
            handle,
            cluster: ctx.cluster.clone(),
            store,
            dns,
            shutdown: ctx.shutdown().clone(),
            tasks: ctx.tasks.clone(),
            metrics: ctx.metrics.clone(),
        }
    }

    /// The DNS server's address (a node started with the DNS role).
    pub fn dns(&self) -> SocketAddr {
        self.dns.expect("started with the DNS role")
    }

    /// The value of `series` (a metric name with its labels, as `/metrics` writes it).
    pub fn metric(&self, series: &str) -> Option<f64> {
        let text = geodns_node::metrics::encode(&self.metrics.families());
        let wanted = format!("{series} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&wanted))
            .and_then(|value| value.trim().parse().ok())
    }

    /// Asks the node's tasks to stop without waiting.
    pub fn cancel(&self) {
        self.shutdown.cancel();
    }

    /// Waits until the node's tasks stopped (after [`Node::cancel`]).
    pub async fn stopped(&self) {
        self.tasks
            .stop(Duration::from_secs(10))
            .await
            .expect("the node stops within 10 s");
    }

    /// Stops the node and waits for it.
    pub async fn stop(self) {
        self.cancel();
        self.stopped().await;
    }
}
