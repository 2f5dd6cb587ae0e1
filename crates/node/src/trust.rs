//! This node's bus gate: its key and the trust table of `[consensus]` (which follows
//! every reload), so that every message it publishes is sealed and every message it
//! receives is admitted before any role decodes it.

use std::sync::Arc;

use geodns_bus::envelope::{Gate, TrustTable};
use geodns_core::config::Config;
use tokio_util::sync::CancellationToken;

use crate::consensus::ConsensusError;
use crate::keys::Keys;
use crate::live::LiveConfig;

/// The gate of this node, signing with its key.
pub fn gate(config: &Config, keys: &Keys) -> Result<Arc<Gate>, ConsensusError> {
    let table = table(config)?;
    let mut boot = [0u8; 8];
    getrandom::fill(&mut boot).map_err(|e| ConsensusError::Randomness(e.to_string()))?;
    Ok(Arc::new(Gate::new(
        (config.node.id.as_str(), keys.own().cloned()),
        table,
        u64::from_be_bytes(boot),
        Arc::new(crate::clock::now),
    )))
}

/// The trust table of `[consensus]` (its keys checked as ed25519 points).
pub fn table(config: &Config) -> Result<TrustTable, ConsensusError> {
    TrustTable::from_config(config).map_err(|(index, error)| ConsensusError::TrustedKey {
        index,
        reason: error.to_string(),
    })
}

/// Gives `gate` each reloaded trust table until `shutdown` (a table with a bad key is
/// refused and the one in force kept: validation normally catches it first).
pub async fn follow(live: LiveConfig, gate: Arc<Gate>, shutdown: CancellationToken) {
    let mut configs = live.subscribe();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = configs.changed() => if changed.is_err() { return },
        }
        let config = configs.borrow_and_update().clone();
        match table(&config) {
            Ok(table) => gate.set_table(table),
            Err(error) => {
                tracing::error!(%error, "trusted nodes not reloaded; the previous list stays in force");
            }
        }
    }
}
