//! The GeoIP databases of the DNS role: opened (memory-mapped) from `[geoip]`, reopened
//! when a file is replaced (watched every `[geoip] watch`, the file system touched only on
//! the blocking pool), and downloaded from MaxMind when an account is configured.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::download::{Edition, Fetched, refresh};
use crate::geo::GeoDb;
use geodns_core::config::Config;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use geodns_node::LiveConfig;

/// Opens the configured databases that exist (a missing one is left out).
fn try_open(config: &Config, generation: u64) -> Result<GeoDb, crate::geo::GeoError> {
    let city = config.geoip.city.as_deref().filter(|p| p.exists());
    let asn = config.geoip.asn.as_deref().filter(|p| p.exists());
    GeoDb::open(city, asn, generation)
}

/// Opens the configured databases again after a file changed; when they cannot be opened
/// (a broken download, a half-copied file) the running ones stay in use.
fn reopen(config: &Config, generation: u64) -> Option<GeoDb> {
    try_open(config, generation)
        .inspect_err(|error| {
            tracing::warn!(%error, "replaced GeoIP database not usable; keeping the running one")
        })
        .ok()
}

/// Opens what can be opened; a database that cannot is logged and left out (answers then
/// use the `unknown_client` policy for every client).
fn open(config: &Config, generation: u64) -> GeoDb {
    for (name, path) in [("city", &config.geoip.city), ("asn", &config.geoip.asn)] {
        if let Some(path) = path.as_ref().filter(|p| !p.exists()) {
            tracing::warn!(database = name, path = %path.display(), "GeoIP database missing");
        }
    }
    try_open(config, generation).unwrap_or_else(|error| {
        tracing::warn!(%error, "GeoIP databases not used");
        GeoDb::empty()
    })
}

/// Modification times of the configured files, to notice replacements.
#[derive(Debug, Default)]
pub(super) struct Files {
    paths: Vec<PathBuf>,
    seen: Vec<Option<SystemTime>>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Files {
    fn of(config: &Config) -> Self {
        let paths: Vec<PathBuf> = [&config.geoip.city, &config.geoip.asn]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        let seen = paths.iter().map(|p| modified(p)).collect();
        Files { paths, seen }
    }

    /// True if any file changed since the last call.
    fn changed(&mut self) -> bool {
        let now: Vec<Option<SystemTime>> = self.paths.iter().map(|p| modified(p)).collect();
        let changed = now != self.seen;
        self.seen = now;
        changed
    }
}

/// Opens the databases and notes the files' modification times, on the blocking pool.
pub(super) async fn open_watched(config: Arc<Config>) -> (GeoDb, Files) {
    tokio::task::spawn_blocking(move || (open(&config, 1), Files::of(&config)))
        .await
        .unwrap_or_else(|_| (GeoDb::empty(), Files::default()))
}

/// Checks the files every `[geoip] watch` until `shutdown`; sends the databases opened
/// again after a file changed (the running ones stay when they cannot be opened).
pub(super) async fn run_watch(
    live: LiveConfig,
    mut files: Files,
    reopened: mpsc::Sender<GeoDb>,
    shutdown: CancellationToken,
) {
    let mut generation = 1;
    loop {
        let wait = live.current().geoip.watch;
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        let config = live.current();
        let next = generation + 1;
        let checked = tokio::task::spawn_blocking(move || {
            let db = files.changed().then(|| reopen(&config, next)).flatten();
            (files, db)
        })
        .await;
        let Ok((checked, db)) = checked else { return };
        files = checked;
        if let Some(db) = db {
            generation = next;
            tracing::info!(generation, "GeoIP databases reloaded");
            if reopened.send(db).await.is_err() {
                return;
            }
        }
    }
}

/// Downloads the City and ASN editions at start and every `[geoip] refresh`; the file
/// watcher then picks the new files up.
pub(super) async fn run_downloads(live: LiveConfig, shutdown: CancellationToken) {
    let client = match geodns_node::http::client(std::time::Duration::from_secs(300)) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "MaxMind downloads disabled: no HTTP client");
            return;
        }
    };
    loop {
        let config = live.current();
        download_all(&client, &config).await;
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(config.geoip.refresh) => {}
        }
    }
}

async fn download_all(client: &reqwest::Client, config: &Config) {
    let section = &config.geoip;
    let (Some(account), Some(key)) = (section.account_id.as_deref(), license_key(config)) else {
        return;
    };
    let wanted = [
        (&section.city, section.city_edition.as_str(), "City"),
        (&section.asn, section.asn_edition.as_str(), "ASN"),
    ];
    for (path, edition, expect_type) in wanted {
        let Some(destination) = path else { continue };
        let edition = Edition {
            url_template: &section.download_url,
            edition,
            account_id: account,
            license_key: &key,
            destination,
            expect_type,
        };
        match refresh(client, &edition).await {
            Ok(Fetched::Unchanged) => {
                tracing::debug!(edition = edition.edition, "GeoIP database up to date")
            }
            Ok(Fetched::Replaced {
                last_modified,
                bytes,
            }) => {
                tracing::info!(
                    edition = edition.edition,
                    ?last_modified,
                    bytes,
                    "GeoIP database downloaded"
                )
            }
            Err(error) => {
                tracing::warn!(edition = edition.edition, %error, "GeoIP download failed")
            }
        }
    }
}

fn license_key(config: &Config) -> Option<String> {
    if let Some(path) = &config.geoip.license_key_file {
        return match std::fs::read_to_string(path) {
            Ok(text) => Some(text.trim().to_owned()),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot read [geoip] license_key_file");
                None
            }
        };
    }
    config
        .geoip
        .license_key
        .as_ref()
        .map(|k| k.expose().to_owned())
}
