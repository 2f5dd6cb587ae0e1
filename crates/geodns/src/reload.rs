//! The configuration reloader: loads the configuration again every
//! `[sources] reload_interval` and swaps it into the node's `LiveConfig` when it validates.

use geodns_node::LiveConfig;
use tokio_util::sync::CancellationToken;

use crate::config_source::{LoadError, Loader};

/// Reloads every `reload_interval` until `shutdown` is cancelled. A failed reload keeps
/// the configuration in force and logs why.
pub async fn run_reloader(loader: Loader, live: LiveConfig, shutdown: CancellationToken) {
    loop {
        let interval = live.current().sources.reload_interval;
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        reload_once(&loader, &live).await.ok();
    }
}

/// One reload attempt, logged either way.
pub async fn reload_once(loader: &Loader, live: &LiveConfig) -> Result<(), LoadError> {
    match loader.load().await {
        Ok(next) => {
            for warning in &next.warnings {
                tracing::warn!(%warning, "configuration warning");
            }
            let restart_needed = live.replace(next);
            if !restart_needed.is_empty() {
                tracing::warn!(
                    sections = ?restart_needed,
                    "changed settings take effect only after a restart; keeping the running values"
                );
            }
            tracing::debug!("configuration reloaded");
            Ok(())
        }
        Err(error) => {
            tracing::warn!(%error, "configuration reload failed; keeping the previous configuration");
            Err(error)
        }
    }
}
