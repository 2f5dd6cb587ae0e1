//! A node started in-process from a config file, as `geodns run` wires it: store,
//! membership, consensus, and the monitor and DNS roles when asked.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use geodns::consensus::ConsensusHandle;
use geodns::reload::LiveConfig;
use geodns_bus::{Bus, ClusterHandle, run_membership};
use geodns_store::SqlStore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::support::load_config;

/// Which roles [`Node::start`] runs besides membership and consensus.
#[derive(Debug, Clone, Copy)]
pub struct Roles {
    pub monitor: bool,
    pub dns: bool,
}

pub struct Node {
    pub live: LiveConfig,
    pub handle: ConsensusHandle,
    pub cluster: ClusterHandle,
    pub store: SqlStore,
    dns: Option<SocketAddr>,
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
}

impl Node {
    pub async fn start<B: Bus>(bus: B, path: &Path, roles: Roles) -> Node {
        let config = load_config(path).await;
        let env = std::collections::BTreeMap::new();
        let store = SqlStore::open(geodns::storage::store_config(&config, &env).unwrap())
            .await
            .unwrap();
        let cluster = geodns::bus::cluster_handle(&config);
        let me = geodns::bus::self_info(&config);
        let shutdown = CancellationToken::new();
        let live = LiveConfig::new(config);
        let tasks = TaskTracker::new();
        let membership = run_membership(bus.clone(), me, cluster.clone(), shutdown.clone());
        tasks.spawn(async move { membership.await.unwrap() });
        let (task, handle) = geodns::consensus::start(
            bus.clone(),
            live.clone(),
            cluster.clone(),
            None,
            shutdown.clone(),
        )
        .await
        .unwrap();
        tasks.spawn(task);
        // As `geodns run`: no official cache file → the consensus log's state.
        let data_dir = live.current().node.data_dir.clone();
        let (log_store, log_handle) = (store.clone(), handle.clone());
        tasks.spawn(async move {
            geodns::consensus::history::rebuild_if_fresh(&data_dir, &log_store, &log_handle).await;
        });
        if roles.monitor {
            let store = store.clone();
            geodns::monitor::start(
                &tasks,
                bus.clone(),
                &live,
                handle.clone(),
                store,
                false,
                &shutdown,
            )
            .await
            .unwrap();
        }
        let dns = match roles.dns {
            true => {
                let store = store.clone();
                let started = geodns::dns::start(
                    &tasks,
                    bus,
                    &live,
                    (handle.clone(), Default::default()),
                    store,
                    &shutdown,
                );
                Some(started.await.unwrap().local_addr)
            }
            false => None,
        };
        Node {
            live,
            handle,
            cluster,
            store,
            dns,
            shutdown,
            tasks,
        }
    }

    /// The DNS server's address (a node started with the DNS role).
    pub fn dns(&self) -> SocketAddr {
        self.dns.expect("started with the DNS role")
    }

    /// Asks the node's tasks to stop without waiting.
    pub fn cancel(&self) {
        self.shutdown.cancel();
        self.tasks.close();
    }

    /// Waits until the node's tasks stopped (after [`Node::cancel`]).
    pub async fn stopped(&self) {
        tokio::time::timeout(Duration::from_secs(10), self.tasks.wait())
            .await
            .expect("the node stops within 10 s");
    }

    /// Stops the node and waits for it.
    pub async fn stop(self) {
        self.cancel();
        self.stopped().await;
    }
}
