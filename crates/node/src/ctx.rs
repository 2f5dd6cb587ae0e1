//! [`NodeCtx`]: the handles every role's `start` takes: the live configuration, the bus,
//! the store, membership, the task owner, the metrics registry and this node's key. Also
//! the node-wide metric families (roles, bus, store).

use std::fmt;
use std::sync::Arc;

use geodns_bus::{Bus, ClusterHandle};
use geodns_store::SqlStore;
use tokio_util::sync::CancellationToken;

use crate::keys::Keys;
use crate::live::LiveConfig;
use crate::metrics::{Family, Metrics, Source};
use crate::tasks::Tasks;

/// Whether the bus is usable now, and what it is doing (for `/ready` and `/metrics`).
pub type BusState = Arc<dyn Fn() -> (bool, String) + Send + Sync>;

/// What a role runs on. Cheap to clone; clones share every handle.
#[derive(Clone)]
pub struct NodeCtx<B> {
    /// The configuration in force (with maintenance set at run time).
    pub config: LiveConfig,
    /// The bus (NATS, or in-process).
    pub bus: B,
    /// The bus's state.
    pub bus_state: BusState,
    /// The database.
    pub store: SqlStore,
    /// Cluster membership.
    pub cluster: ClusterHandle,
    /// The owner of every task and thread; its token is the node's shutdown.
    pub tasks: Tasks,
    /// Where each role adds its metric families.
    pub metrics: Metrics,
    /// This node's signing key (monitors), loaded once.
    pub keys: Keys,
}

impl<B> fmt::Debug for NodeCtx<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeCtx")
            .field("node", &self.config.current().node.id)
            .field("store", &self.store)
            .field("tasks", &self.tasks)
            .finish_non_exhaustive()
    }
}

impl<B: Bus> NodeCtx<B> {
    /// The node's shutdown token.
    pub fn shutdown(&self) -> &CancellationToken {
        self.tasks.token()
    }

    /// Adds the node-wide families (roles, bus state and drops, store errors and pool)
    /// to the registry; the roles add theirs as they start.
    pub fn register_node_metrics(&self) {
        self.metrics.register(Arc::new(NodeFamilies {
            config: self.config.clone(),
            cluster: self.cluster.clone(),
            bus: self.bus.clone(),
            bus_state: self.bus_state.clone(),
            store: self.store.clone(),
        }));
    }
}

struct NodeFamilies<B> {
    config: LiveConfig,
    cluster: ClusterHandle,
    bus: B,
    bus_state: BusState,
    store: SqlStore,
}

impl<B> fmt::Debug for NodeFamilies<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeFamilies").finish_non_exhaustive()
    }
}

impl<B: Bus> Source for NodeFamilies<B> {
    fn families(&self) -> Vec<Family> {
        let mut roles = Family::gauge(
            "geodns_node_roles",
            "The roles this node runs (1 per role).",
        );
        for role in &self.config.current().node.roles {
            roles.push(&[("role", role.as_str())], 1.0);
        }
        let (connected, state) = (self.bus_state)();
        let mut errors = Family::counter(
            "geodns_store_errors_total",
            "Failed store operations, by kind.",
        );
        let counted = self.store.error_counts();
        // Every kind has a sample from the start.
        for kind in geodns_store::ErrorKind::ALL.map(geodns_store::ErrorKind::as_str) {
            let count = counted.get(kind).copied().unwrap_or(0);
            errors.push(&[("kind", kind)], count as f64);
        }
        let mut refused = Family::counter(
            "geodns_bus_refused_total",
            "Operations the NATS server refused this node (its user's permissions).",
        );
        for (what, count) in self.bus.refused() {
            let (operation, subject) = what.split_once(' ').unwrap_or(("", &what));
            refused.push(
                &[("operation", operation), ("subject", subject)],
                count as f64,
            );
        }
        let mut gated = Family::counter(
            "geodns_bus_messages_refused_total",
            "Bus messages this node refused before reading them (envelope, sender, role, \
             freshness, replay, signature), by subject and reason.",
        );
        if let Some(gate) = self.bus.gate() {
            for ((subject, reason), count) in gate.refusals() {
                gated.push(&[("subject", subject), ("reason", reason)], count as f64);
            }
        }
        let (open, idle, most) = self.store.pool_state();
        let open = open as usize;
        vec![
            roles,
            Family::gauge(
                "geodns_bus_connected",
                "1 when the bus is connected, with its state.",
            )
            .sample(
                &[("state", state.as_str())],
                if connected { 1.0 } else { 0.0 },
            ),
            Family::counter(
                "geodns_bus_dropped_messages_total",
                "Bus messages dropped because this node's consumer was behind.",
            )
            .sample(&[], self.bus.dropped() as f64),
            refused,
            gated,
            Family::counter(
                "geodns_membership_refused_total",
                "Joins refused because the membership table was full (of configured nodes).",
            )
            .sample(&[], self.cluster.refused() as f64),
            errors,
            Family::gauge(
                "geodns_store_connections",
                "Store pool connections: idle, busy, and the most the pool opens.",
            )
            .sample(&[("state", "idle")], idle as f64)
            .sample(&[("state", "busy")], open.saturating_sub(idle) as f64)
            .sample(&[("state", "max")], f64::from(most)),
        ]
    }
}
