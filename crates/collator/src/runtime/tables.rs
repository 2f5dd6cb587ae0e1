//! The cluster tables the collator keeps: the message log (with its retention), the
//! consensus log's compaction (daily, `[collator] log_retention`), node
//! state (cluster membership) and routes (for every service hostname and country, which
//! member answers now, computed with the DNS role's own selection from the configuration,
//! the official results and the country overrides saved in the runtime config). Written
//! every `[collator] tables_interval` and when an override changes, and only what
//! changed. The runtime config itself has one writer, the API's change routes.

use std::collections::BTreeMap;
use std::sync::Arc;

use geodns_bus::{ClusterHandle, Subscription};
use geodns_consensus::results::Snapshot;
use geodns_core::config::Config;
use geodns_core::model::CountryOverrides;
use geodns_dns::countries::{self, Country};
use geodns_dns::geo::GeoDb;
use geodns_dns::serial::SerialBook;
use geodns_dns::view::{Inputs, View};
use geodns_dns::zone::Zones;
use geodns_node::LiveConfig;
use geodns_node::runtime_values::overrides;
use geodns_store::{ClusterStore, ErrorKind, Message, SqlStore};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

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

/// Passes started by override notifications are at least this far apart.
const NOTIFIED_SPACING: std::time::Duration = std::time::Duration::from_secs(1);

/// What the tables were last written with, so only changes are written.
#[derive(Default)]
struct Written {
    nodes: BTreeMap<String, Value>,
    routes: BTreeMap<String, Value>,
    /// The inputs the routes were last written from in full; unchanged inputs give
    /// unchanged routes, so nothing is recomputed.
    routes_from: Option<(Arc<Config>, Arc<Snapshot>, CountryOverrides)>,
}

/// Keeps node state and routes until `shutdown`, and prunes the message log. An override
/// notification (`geodns.override.update`) starts a pass at once.
pub(super) async fn run(
    store: SqlStore,
    live: LiveConfig,
    (cluster, official): (ClusterHandle, watch::Receiver<Arc<Snapshot>>),
    mut override_updates: Subscription,
    shutdown: CancellationToken,
) {
    let mut written = Written::default();
    let countries = countries::all();
    let mut last_prune = None;
    let mut next_compaction = None;
    let mut runtime_overrides = CountryOverrides::new();
    loop {
        let config = live.current();
        nodes(&store, &cluster, &mut written).await;
        match overrides::load_saved(&store).await {
            Ok(saved) => runtime_overrides = saved.unwrap_or_default(),
            Err(error) => {
                tracing::warn!(%error, "cannot read the country overrides; routes use the last ones read")
            }
        }
        let snapshot = official.borrow().clone();
        let unchanged = written.routes_from.as_ref().is_some_and(|(c, o, r)| {
            Arc::ptr_eq(c, &config) && Arc::ptr_eq(o, &snapshot) && *r == runtime_overrides
        });
        let inputs = (&*config, &*snapshot, &runtime_overrides);
        if !unchanged && routes(&store, inputs, &countries, &mut written).await {
            written.routes_from = Some((config.clone(), snapshot, runtime_overrides.clone()));
        }
        prune(&store, &config, &mut last_prune).await;
        compact_log(&store, &config, &mut next_compaction).await;
        let passed = tokio::time::Instant::now();
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(config.collator.tables_interval) => {}
            Some(_) = override_updates.next() => {
                // The message is only a notification (the store is the source), and it
                // is not authenticated yet: a flood of them makes at most one pass a
                // second, never a store read each.
                let wait = NOTIFIED_SPACING.saturating_sub(passed.elapsed());
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

/// Prunes the message log once an hour.
async fn prune(
    store: &SqlStore,
    config: &Config,
    last: &mut Option<chrono::DateTime<chrono::Utc>>,
) {
    let now = geodns_node::clock::now();
    if last.is_some_and(|at| now - at <= chrono::TimeDelta::hours(1)) {
        return;
    }
    *last = Some(now);
    let retention = chrono::TimeDelta::from_std(config.collator.message_retention)
        .unwrap_or(chrono::TimeDelta::MAX);
    match store.prune_messages(now - retention).await {
        Ok(pruned) => tracing::debug!(pruned, "message log pruned"),
        Err(error) => tracing::warn!(%error, "cannot prune the message log"),
    }
}

/// Compacts the consensus log an hour after start, then once a day (`next`: when).
async fn compact_log(
    store: &SqlStore,
    config: &Config,
    next: &mut Option<chrono::DateTime<chrono::Utc>>,
) {
    let now = geodns_node::clock::now();
    let Some(due) = *next else {
        *next = Some(now + chrono::TimeDelta::hours(1));
        return;
    };
    if now < due {
        return;
    }
    *next = Some(now + chrono::TimeDelta::days(1));
    let retention = chrono::TimeDelta::from_std(config.collator.log_retention)
        .unwrap_or(chrono::TimeDelta::MAX);
    let keep_from = now
        .checked_sub_signed(retention)
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
    match crate::history::compact(store, keep_from).await {
        Ok(done) => tracing::info!(
            read = done.read,
            deleted = done.deleted,
            "consensus log compacted"
        ),
        Err(error) => tracing::warn!(%error, "cannot compact the consensus log"),
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

/// Writes the routes that changed; true when every write succeeded.
async fn routes(
    store: &SqlStore,
    (config, official, overrides): (&Config, &Snapshot, &CountryOverrides),
    countries: &[Country],
    written: &mut Written,
) -> bool {
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
    let current = compute_routes((config, official, overrides), countries);
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

/// Every route (`host/CC` → who answers, by family) for `countries`, with the DNS role's
/// own selection and no GeoIP (countries are the clients' locations).
pub fn compute_routes(
    (config, official, overrides): (&Config, &Snapshot, &CountryOverrides),
    countries: &[Country],
) -> BTreeMap<String, Value> {
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
    current
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use geodns_core::config::{Origin, SourceItems, build, parse_file};
    use geodns_core::ids::{CountryCode, Fqdn, MemberId};
    use geodns_core::model::CountryOverride;

    use super::*;

    const CONFIG: &str = r#"
[node]
id = "collator"
roles = ["collator"]

[dns]
zones = ["geo.example"]

[[services]]
name = "Polkadot"
type = "substrate_rpc"
endpoints = ["wss://rpc.geo.example"]

[[members]]
name = "Near"
ipv4 = "127.0.0.11"
latitude = 50.1
longitude = 8.7
services = ["Polkadot"]

[[members]]
name = "Far"
ipv4 = "127.0.0.12"
latitude = 40.7
longitude = -74.0
services = ["Polkadot"]
"#;

    fn members(routes: &BTreeMap<String, Value>, destination: &str) -> Value {
        routes[destination]["ipv4"]["members"].clone()
    }

    #[test]
    fn routes_follow_distance_and_overrides() {
        let origin = Origin("test.toml".to_owned());
        let config = build(
            parse_file(CONFIG, &origin).unwrap(),
            &origin,
            SourceItems::default(),
        )
        .unwrap();
        let countries: Vec<Country> = ["DE", "US"]
            .iter()
            .map(|code| countries::find(code).unwrap())
            .collect();
        let official = Snapshot::default();
        let mut table = CountryOverrides::new();
        let routes = compute_routes((&config, &official, &table), &countries);
        assert_eq!(routes.len(), 2, "{routes:?}");
        assert_eq!(members(&routes, "rpc.geo.example/DE"), json!(["Near"]));
        assert_eq!(members(&routes, "rpc.geo.example/US"), json!(["Far"]));
        table
            .entry(Fqdn::parse("rpc.geo.example").unwrap())
            .or_default()
            .insert(
                CountryCode::parse("DE").unwrap(),
                CountryOverride::Member(MemberId::parse("Far").unwrap()),
            );
        let routes = compute_routes((&config, &official, &table), &countries);
        assert_eq!(members(&routes, "rpc.geo.example/DE"), json!(["Far"]));
    }
}
