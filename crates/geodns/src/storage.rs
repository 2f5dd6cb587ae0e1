//! Which database a node uses: `[storage] url`, else the seed's `MYSQL_*` environment
//! variables, else a SQLite file in the data directory; with the pool settings and the
//! outage flap rule from the configuration.

use std::collections::BTreeMap;

use geodns_core::config::Config;
use geodns_core::secret::SecretUrl;
use geodns_store::{PoolSettings, StoreConfig, StoreError, mysql_from_env};

/// The store settings for `config`, reading `MYSQL_*` from `env` when no URL is configured.
pub fn store_config(
    config: &Config,
    env: &BTreeMap<String, String>,
) -> Result<StoreConfig, StoreError> {
    let storage = &config.storage;
    let mut pool = PoolSettings {
        max_connections: storage.max_connections,
        min_idle: storage.min_idle.min(storage.max_connections),
        max_lifetime: storage.max_lifetime,
        idle_timeout: storage.idle_timeout,
        ..PoolSettings::default()
    };
    let url = match &storage.url {
        Some(url) => url.clone(),
        None => match mysql_from_env(env)? {
            Some(mysql) => {
                if let Some(max) = mysql.max_connections {
                    pool.max_connections = max;
                    pool.min_idle = pool.min_idle.min(max);
                }
                mysql.url
            }
            None => SecretUrl::new(format!(
                "sqlite://{}",
                config.node.data_dir.join("geodns.db").display()
            )),
        },
    };
    let minimum = config.monitor.minimum_offline;
    Ok(StoreConfig {
        url,
        pool,
        connect_retry: storage.connect_retry,
        drop_outages_shorter_than: (!minimum.is_zero()).then_some(minimum),
        flap_tombstone: config.collator.flap_tombstone,
    })
}
