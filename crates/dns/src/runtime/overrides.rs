//! The DNS role's copy of the country overrides set at run time: taken from the store at
//! start (this node's file `dns-overrides.json` when the store has none or cannot say),
//! changed by each `geodns.override.update` message, and kept in that file so a restart
//! without the store keeps them (the original lost them).

use std::path::Path;

use geodns_core::model::CountryOverrides;
use geodns_node::runtime_values::overrides::{self, Saved};
use geodns_store::SqlStore;

/// File in the data directory.
const FILE: &str = "dns-overrides.json";

/// The overrides to start with.
pub(super) async fn initial(store: &SqlStore, data_dir: &Path) -> CountryOverrides {
    match overrides::load_saved(store).await {
        Ok(Some(saved)) => return saved,
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(%error, "cannot read the saved country overrides; using this node's file");
        }
    }
    match geodns_node::fs::read_json::<Saved>(data_dir.join(FILE)).await {
        Some(saved) => overrides::decode_saved(saved),
        None => CountryOverrides::new(),
    }
}

/// Applies one bus message; true if the overrides changed (then they are saved). A bad
/// message is logged with what was wrong and changes nothing.
pub(super) async fn apply(table: &mut CountryOverrides, payload: &[u8], data_dir: &Path) -> bool {
    if !overrides::update(table, payload) {
        return false;
    }
    let saved = overrides::encode_saved(table);
    let bytes = serde_json::to_vec_pretty(&saved).unwrap_or_default();
    geodns_node::fs::save(data_dir.join(FILE), bytes, "the country overrides").await;
    true
}
