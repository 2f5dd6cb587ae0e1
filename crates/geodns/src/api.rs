//! The API role, wired: [`geodns_api::NodeInfo`] over this node's consensus handle,
//! membership table, store and bus, served on `[listen] api` until shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use geodns_api::{Check, NodeInfo, Readiness};
use geodns_bus::ClusterHandle;
use geodns_consensus::results::Snapshot;
use geodns_store::{HealthCheck, SqlStore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::consensus::ConsensusHandle;
use crate::reload::LiveConfig;

/// How long the store's readiness probe may take.
const STORE_PROBE: Duration = Duration::from_secs(2);

/// Whether the bus is usable, and what it is doing.
pub type BusState = Arc<dyn Fn() -> (bool, String) + Send + Sync>;

/// This node, as the API sees it.
#[derive(Clone)]
pub struct Node {
    /// Official and local results, consensus state.
    pub consensus: ConsensusHandle,
    /// Membership.
    pub cluster: ClusterHandle,
    /// The database.
    pub store: SqlStore,
    /// The bus's state.
    pub bus: BusState,
    /// The configuration.
    pub live: LiveConfig,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("consensus", &self.consensus)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl NodeInfo for Node {
    fn official(&self) -> Arc<Snapshot> {
        self.consensus.official.borrow().clone()
    }

    fn local(&self) -> Arc<Snapshot> {
        self.consensus.local.borrow().clone()
    }

    fn cluster(&self) -> serde_json::Value {
        serde_json::to_value(self.cluster.status()).unwrap_or_default()
    }

    fn consensus(&self) -> serde_json::Value {
        let report = self
            .consensus
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        serde_json::to_value(report).unwrap_or_default()
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        crate::clock::now()
    }

    async fn readiness(&self) -> Readiness {
        let store = match self.store.health(STORE_PROBE).await {
            Ok(took) => Check {
                name: "store".into(),
                ok: true,
                detail: format!(
                    "wrote, read and deleted a probe row in {} ms",
                    took.as_millis()
                ),
            },
            Err(error) => Check {
                name: "store".into(),
                ok: false,
                detail: error.to_string(),
            },
        };
        let (bus_ok, bus_detail) = (self.bus)();
        let report = self
            .consensus
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let limit = self.live.current().dns.max_snapshot_age.as_secs();
        let snapshot = Check {
            name: "snapshot".into(),
            ok: !report.stale,
            detail: if report.stale {
                format!(
                    "official results are {} s old, more than [dns] max_snapshot_age ({limit} s)",
                    report.official_age_secs
                )
            } else {
                format!(
                    "official results confirmed {} s ago",
                    report.official_age_secs
                )
            },
        };
        Readiness::of(vec![
            store,
            Check {
                name: "bus".into(),
                ok: bus_ok,
                detail: bus_detail,
            },
            snapshot,
        ])
    }
}

/// Binds `[listen] api` and serves the API until `shutdown`.
pub async fn start(
    tasks: &TaskTracker,
    node: Node,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let address = node.live.current().listen.api;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen for the API on {address}"))?;
    tracing::info!(%address, "API listening");
    let shutdown = shutdown.clone();
    let app = geodns_api::router(node);
    tasks.spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "the API stopped");
        }
    });
    Ok(())
}
