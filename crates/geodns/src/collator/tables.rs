//! The cluster tables the collator keeps: the message log (with its retention), node
//! state (cluster membership), runtime config (maintenance and country overrides) and
//! routes (for every service hostname and country, which member answers now, computed
//! with the DNS role's own selection). Written every `[collator] tables_interval`, and
//! only what changed.

use std::collections::BTreeMap;
use std::sync::Arc;

use geodns_bus::ClusterHandle;
use geodns_consensus::results::Snapshot;
use geodns_core::config::Config;
use geodns_core::model::CountryOverrides;
use geodns_dns::countries::{self, Country};
use geodns_dns::geo::GeoDb;
use geodns_dns::serial::SerialBook;
use geodns_dns::view::{Inputs, View};
use geodns_dns::zone::Zones;
use geodns_store::{ClusterStore, ErrorKind, Message, SqlStore};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::reload::LiveConfig;

/// Runtime config key of the members in maintenance.
pub const MAINTENANCE: &str = "maintenance";

/// Writes consensus messages to the log until `shutdown`; a message already there (from
/// another collator) is skipped.
pub(super) async fn run_message_log(
    store: SqlStore,
    mut messages: mpsc::Receiver<Message>,
    shutdown: CancellationToken,
) {
    loop {
        let message = tokio::select! {
            Some(message) = messages.recv() => message,
            () = shutdown.cancelled() => return,
            else => return,
        };
        match store.store_message(&message).await {
            Ok(()) => {}
            Err(error) if error.kind() == ErrorKind::Conflict => {}
            Err(error) => {
                tracing::debug!(%error, id = %message.id, "cannot log a consensus message")
            }
        }
    }
}

/// What the tables were last written with, so only changes are written.
#[derive(Default)]
struct Written {
    nodes: BTreeMap<String, Value>,
    runtime: BTreeMap<&'static str, Value>,
    routes: BTreeMap<String, Value>,
    /// The inputs the routes were last written from in full; unchanged inputs give
    /// unchanged routes, so nothing is recomputed.
    routes_from: Option<(Arc<Config>, Arc<Snapshot>, CountryOverrides)>,
}

/// Keeps node state, runtime config and routes until `shutdown`, and prunes the message
/// log.
pub(super) async fn run(
    store: SqlStore,
    live: LiveConfig,
    cluster: ClusterHandle,
    official: watch::Receiver<Arc<Snapshot>>,
    overrides: watch::Receiver<CountryOverrides>,
    shutdown: CancellationToken,
) {
    let mut written = Written::default();
    let countries = countries::all();
    let mut last_prune = None;
    loop {
        let config = live.current();
        nodes(&store, &cluster, &mut written).await;
        let runtime_overrides = overrides.borrow().clone();
        runtime(&store, &config, &runtime_overrides, &mut written).await;
        let snapshot = official.borrow().clone();
        let unchanged = written.routes_from.as_ref().is_some_and(|(c, o, r)| {
            Arc::ptr_eq(c, &config) && Arc::ptr_eq(o, &snapshot) && *r == runtime_overrides
        });
        if !unchanged
            && routes(
                &store,
                (&config, &snapshot, &runtime_overrides),
                &countries,
                &mut written,
            )
            .await
        {
            written.routes_from = Some((config.clone(), snapshot, runtime_overrides));
        }
        let now = crate::clock::now();
        if last_prune.is_none_or(|at| now - at > chrono::TimeDelta::hours(1)) {
            last_prune = Some(now);
            let retention = chrono::TimeDelta::from_std(config.collator.message_retention)
                .unwrap_or(chrono::TimeDelta::MAX);
            match store.prune_messages(now - retention).await {
                Ok(pruned) => tracing::debug!(pruned, "message log pruned"),
                Err(error) => tracing::warn!(%error, "cannot prune the message log"),
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(config.collator.tables_interval) => {}
        }
    }
}

async fn nodes(store: &SqlStore, cluster: &ClusterHandle, written: &mut Written) {
    for node in cluster.status() {
        let state = json!({
            "role": node.role,
            "lastHeard": node.last_heard,
            "active": node.active,
        });
        if written.nodes.get(&node.node_id) == Some(&state) {
            continue;
        }
        let Ok(id) = geodns_core::ids::NodeId::parse(&node.node_id) else {
            continue;
        };
        match store.put_node_state(&id, state.clone()).await {
            Ok(()) => {
                written.nodes.insert(node.node_id, state);
            }
            Err(error) => tracing::warn!(%error, "cannot write node state"),
        }
    }
}

async fn runtime(
    store: &SqlStore,
    config: &geodns_core::config::Config,
    overrides: &CountryOverrides,
    written: &mut Written,
) {
    let maintenance: Vec<String> = config
        .catalog
        .members
        .values()
        .filter(|m| m.maintenance)
        .map(|m| m.id.to_string())
        .collect();
    let overrides = crate::dns::overrides::runtime_value(overrides);
    for (key, value) in [
        (MAINTENANCE, json!(maintenance)),
        (crate::dns::overrides::RUNTIME_KEY, overrides),
    ] {
        if written.runtime.get(key) == Some(&value) {
            continue;
        }
        match store.put_runtime_config(key, value.clone()).await {
            Ok(()) => {
                written.runtime.insert(key, value);
            }
            Err(error) => tracing::warn!(%error, key, "cannot write runtime config"),
        }
    }
}

/// Writes the routes that changed; true when every write succeeded.
async fn routes(
    store: &SqlStore,
    (config, official, overrides): (&Config, &Snapshot, &CountryOverrides),
    countries: &[Country],
    written: &mut Written,
) -> bool {
    let zones = Arc::new(Zones::build(
        &config.catalog,
        &BTreeMap::new(),
        &mut SerialBook::default(),
        0,
    ));
    let inputs = Inputs {
        config,
        official: Some(official),
        runtime_overrides: overrides,
        geo: Arc::new(GeoDb::empty()),
    };
    let (view, _) = View::build(zones, &inputs);
    if written.routes.is_empty() {
        // First run: what the table holds, so unchanged routes are not rewritten and
        // routes of removed hostnames are deleted.
        match store.routes().await {
            Ok(stored) => {
                for (destination, route) in stored {
                    written.routes.insert(destination, Value::Object(route));
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read routes"),
        }
    }
    let mut current = BTreeMap::new();
    for country in countries {
        for route in view.routes(country) {
            let destination = format!("{}/{}", route.host, route.country);
            current.insert(
                destination,
                serde_json::to_value(&route).unwrap_or(Value::Null),
            );
        }
    }
    for (destination, route) in &current {
        if written.routes.get(destination) == Some(route) {
            continue;
        }
        match store.put_route(destination, route.clone()).await {
            Ok(()) => {
                written.routes.insert(destination.clone(), route.clone());
            }
            Err(error) => {
                tracing::warn!(%error, "cannot write routes");
                return false;
            }
        }
    }
    let gone: Vec<String> = written
        .routes
        .keys()
        .filter(|d| !current.contains_key(*d))
        .cloned()
        .collect();
    let mut complete = true;
    for destination in gone {
        if store.delete_route(&destination).await.is_ok() {
            written.routes.remove(&destination);
        } else {
            complete = false;
        }
    }
    complete
}
