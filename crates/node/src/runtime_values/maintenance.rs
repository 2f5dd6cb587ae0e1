//! Members put in maintenance at run time: saved under one runtime config key,
//! [`KEY`] (`{"member": true|false}`), applied to the live configuration at start
//! ([`restore`]) and whenever the bus says one changed ([`follow`]). Earlier versions
//! saved the same table under `maintenance_overrides` ([`LEGACY_KEY`]) and a list of the
//! members in maintenance under `maintenance`: the legacy table is still read until the
//! next change saves the table under [`KEY`], so an upgrade loses nothing.

use std::collections::BTreeMap;

use geodns_bus::wire::{MaintenanceUpdate, decode};
use geodns_bus::{Bus, subjects};
use geodns_store::{ClusterStore as _, SqlStore, StoreError};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::live::LiveConfig;

/// Runtime config key of the maintenance set at run time.
pub const KEY: &str = "maintenance";
/// Where versions before 0.2 saved the same table.
pub const LEGACY_KEY: &str = "maintenance_overrides";

/// The saved table, member → in maintenance. Values that are not booleans are skipped.
pub async fn load(store: &SqlStore) -> Result<BTreeMap<String, bool>, StoreError> {
    if let Some(table) = store.runtime_config(KEY).await?.and_then(table) {
        return Ok(table);
    }
    // Not saved under `KEY` yet (or only the old list of names is there).
    Ok(store
        .runtime_config(LEGACY_KEY)
        .await?
        .and_then(table)
        .unwrap_or_default())
}

fn table(value: Value) -> Option<BTreeMap<String, bool>> {
    let Value::Object(entries) = value else {
        return None;
    };
    Some(
        entries
            .into_iter()
            .filter_map(|(member, on)| Some((member, on.as_bool()?)))
            .collect(),
    )
}

/// Saves `member`'s maintenance in the table (under [`KEY`], with what the legacy key
/// held).
pub async fn save(store: &SqlStore, member: &str, on: bool) -> Result<(), StoreError> {
    let mut saved = load(store).await?;
    saved.insert(member.to_owned(), on);
    let value = Value::Object(
        saved
            .into_iter()
            .map(|(member, on)| (member, Value::Bool(on)))
            .collect(),
    );
    store.put_runtime_config(KEY, value).await
}

/// Applies the saved maintenance to `live` (at start, before any check or answer).
pub async fn restore(store: &SqlStore, live: &LiveConfig) {
    let saved = match load(store).await {
        Ok(saved) => saved,
        Err(error) => {
            tracing::warn!(%error, "cannot read the maintenance set at run time");
            return;
        }
    };
    for (member, on) in saved {
        match live.set_maintenance(&member, on) {
            Ok(()) => {
                tracing::info!(%member, maintenance = on, "maintenance restored from the store")
            }
            Err(error) => tracing::warn!(%error, "saved maintenance of an unknown member ignored"),
        }
    }
}

/// Applies maintenance changes from the bus until `shutdown`.
pub async fn follow<B: Bus>(bus: B, live: LiveConfig, shutdown: CancellationToken) {
    let mut updates = match bus.subscribe(subjects::MAINTENANCE_UPDATE).await {
        Ok(updates) => updates,
        Err(error) => {
            tracing::error!(%error, "cannot follow maintenance changes");
            return;
        }
    };
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => return,
            Some(message) = updates.next() => message,
            else => return,
        };
        // This node's own change was applied when it was made.
        if message.sender.as_deref() == Some(bus.node_id()) {
            continue;
        }
        match decode::<MaintenanceUpdate>("maintenance update", &message.payload) {
            Ok(update) => match live.set_maintenance(&update.member, update.maintenance) {
                Ok(()) => {
                    tracing::info!(member = %update.member, maintenance = update.maintenance, by = %update.by, "maintenance changed")
                }
                Err(error) => tracing::warn!(%error, "maintenance update ignored"),
            },
            Err(error) => tracing::warn!(%error, "maintenance update ignored"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use geodns_store::StoreConfig;
    use serde_json::json;

    use super::*;

    #[tokio::test]
    async fn the_legacy_table_is_read_until_a_change_saves_it_under_the_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/m.db", dir.path().display());
        let store = SqlStore::open(StoreConfig::new(url)).await.unwrap();
        assert!(load(&store).await.unwrap().is_empty());
        // What an older API node and an older collator saved.
        store
            .put_runtime_config(LEGACY_KEY, json!({"Near": true, "Far": false}))
            .await
            .unwrap();
        store
            .put_runtime_config(KEY, json!(["Near"]))
            .await
            .unwrap();
        let expected = BTreeMap::from([("Far".to_owned(), false), ("Near".to_owned(), true)]);
        assert_eq!(load(&store).await.unwrap(), expected);
        save(&store, "Mid", true).await.unwrap();
        assert_eq!(
            store.runtime_config(KEY).await.unwrap(),
            Some(json!({"Far": false, "Mid": true, "Near": true}))
        );
        // The legacy key is no longer read once the table is under `KEY`.
        store
            .put_runtime_config(LEGACY_KEY, json!({"Near": false}))
            .await
            .unwrap();
        assert_eq!(load(&store).await.unwrap().get("Near"), Some(&true));
        store.close().await;
    }
}
