//! The DNS role's wiring: binds the server, rebuilds its view whenever the
//! configuration, the official results, the country overrides, the GeoIP files or the
//! fetched ACME texts change, flushes usage to the store and answers usage requests.

mod acme;
pub mod backend;
mod geoip;
pub(crate) mod overrides;
pub mod usage;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use geodns_bus::{Bus, subjects};
use geodns_consensus::results::Snapshot;
use geodns_core::config::Config;
use geodns_core::model::CountryOverrides;
use geodns_dns::geo::GeoDb;
use geodns_dns::serial::SerialBook;
use geodns_dns::server::{Server, Settings};
use geodns_dns::view::{Inputs, Mode, View};
use geodns_dns::zone::Zones;
use geodns_store::SqlStore;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::consensus::ConsensusHandle;
use crate::reload::LiveConfig;

/// File in the data directory holding the zones' serials.
const SERIALS: &str = "zone-serials.json";

/// Starts the DNS role: the server is bound when this returns.
pub async fn start<B: Bus>(
    tasks: &TaskTracker,
    bus: B,
    live: &LiveConfig,
    (consensus, telemetry): (ConsensusHandle, crate::telemetry::Telemetry),
    store: SqlStore,
    shutdown: &CancellationToken,
) -> anyhow::Result<Arc<Server>> {
    let config = live.current();
    let data_dir = config.node.data_dir.clone();
    let serials: SerialBook = read_json(&data_dir.join(SERIALS)).unwrap_or_default();
    let runtime = from_store(&store)
        .await
        .unwrap_or_else(|| overrides::load(&data_dir));
    let geo = Arc::new(geoip::open(&config, 1));
    let mut builder = ViewBuilder {
        serials,
        acme: Default::default(),
        overrides: runtime,
        geo,
        data_dir: data_dir.clone(),
        zones: None,
    };
    let official = consensus.official.borrow().clone();
    let view = Arc::new(ArcSwap::from_pointee(builder.build(&config, &official)));
    let settings = Settings {
        listen: config.listen.dns,
        workers: workers(&config),
        tcp_max_connections: config.dns.tcp_max_connections,
        tcp_idle_timeout: config.dns.tcp_idle_timeout,
    };
    let server = Server::start(&settings, view.clone(), usage::today(), shutdown.clone())
        .await
        .map_err(|error| {
            anyhow::anyhow!("cannot listen for DNS on {}: {error}", settings.listen)
        })?;
    tracing::info!(address = %server.local_addr, workers = settings.workers, "DNS server listening (UDP and TCP)");
    let server = Arc::new(server);
    let (acme_tx, acme_rx) = mpsc::channel(4);
    tasks.spawn(acme::run(live.clone(), acme_tx, shutdown.clone()));
    let override_updates = bus.subscribe(subjects::OVERRIDE_UPDATE).await?;
    let usage_requests = bus.subscribe(subjects::USAGE_REQUEST).await?;
    tasks.spawn(usage::answer_usage(
        bus.clone(),
        usage_requests,
        store.clone(),
        config.node.id.to_string(),
        shutdown.clone(),
    ));
    tasks.spawn(usage::run_flusher(
        (server.clone(), telemetry),
        live.clone(),
        store.clone(),
        shutdown.clone(),
    ));
    if config.geoip.downloads() {
        tasks.spawn(geoip::run_downloads(live.clone(), shutdown.clone()));
    }
    tasks.spawn(official_from_store(
        consensus.clone(),
        store,
        shutdown.clone(),
    ));
    let started = server.clone();
    let loop_ = ViewLoop {
        live: live.clone(),
        official: consensus.official,
        view,
        server,
        acme: acme_rx,
        overrides: override_updates,
    };
    tasks.spawn(loop_.run(builder, shutdown.clone()));
    Ok(started)
}

fn workers(config: &Config) -> usize {
    match config.dns.workers {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => usize::from(n),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "ignoring an unreadable file");
            None
        }
    }
}

/// What a view is built from besides the configuration and the official results.
struct ViewBuilder {
    serials: SerialBook,
    acme: std::collections::BTreeMap<url::Url, String>,
    overrides: CountryOverrides,
    geo: Arc<GeoDb>,
    data_dir: std::path::PathBuf,
    /// The zones of the current configuration and ACME texts; `None` when one of them
    /// changed. Health, override and GeoIP changes reuse them.
    zones: Option<Arc<Zones>>,
}

impl ViewBuilder {
    fn build(&mut self, config: &Config, official: &Snapshot) -> View {
        let zones = match &self.zones {
            Some(zones) => zones.clone(),
            None => self.build_zones(config),
        };
        let inputs = Inputs {
            config,
            official: Some(official),
            runtime_overrides: &self.overrides,
            geo: self.geo.clone(),
        };
        let (view, unhealthy) = View::build(zones, &inputs);
        for item in unhealthy {
            let answer = match item.mode {
                Mode::Nearest => "the nearest member regardless of health",
                Mode::All => "every member",
                _ => "no address",
            };
            tracing::warn!(host = %item.host, ipv6 = item.ipv6, answer, "no healthy member");
        }
        view
    }

    /// Builds the zones (and saves serials that changed).
    fn build_zones(&mut self, config: &Config) -> Arc<Zones> {
        let now = crate::clock::now()
            .timestamp()
            .clamp(0, i64::from(u32::MAX)) as u32;
        let zones = Arc::new(Zones::build(
            &config.catalog,
            &self.acme,
            &mut self.serials,
            now,
        ));
        for warning in &zones.warnings {
            tracing::warn!(%warning, "zone");
        }
        if self.serials.take_changed() {
            let bytes = serde_json::to_vec_pretty(&self.serials).unwrap_or_default();
            let path = self.data_dir.join(SERIALS);
            if let Err(error) = crate::consensus::cache::write_atomically(&path, &bytes, false) {
                tracing::warn!(path = %path.display(), %error, "cannot save the zone serials");
            }
        }
        self.zones = Some(zones.clone());
        zones
    }
}

struct ViewLoop {
    live: LiveConfig,
    official: watch::Receiver<Arc<Snapshot>>,
    view: Arc<ArcSwap<View>>,
    server: Arc<Server>,
    acme: mpsc::Receiver<std::collections::BTreeMap<url::Url, String>>,
    overrides: geodns_bus::Subscription,
}

impl ViewLoop {
    async fn run(mut self, mut builder: ViewBuilder, shutdown: CancellationToken) {
        let mut configs = self.live.subscribe();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut files = geoip::Files::of(&self.live.current());
        let mut last_check = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                Ok(()) = self.official.changed() => {}
                Ok(()) = configs.changed() => {
                    files = geoip::Files::of(&self.live.current());
                    builder.zones = None;
                }
                Some(fetched) = self.acme.recv() => {
                    builder.acme = fetched;
                    builder.zones = None;
                }
                Some(message) = self.overrides.next() => {
                    if !overrides::apply(&mut builder.overrides, &message.payload, &builder.data_dir) {
                        continue;
                    }
                }
                _ = tick.tick() => {
                    self.server.shared().day.store(usage::today(), std::sync::atomic::Ordering::Relaxed);
                    let config = self.live.current();
                    if last_check.elapsed() < config.geoip.watch {
                        continue;
                    }
                    last_check = tokio::time::Instant::now();
                    if !files.changed() {
                        continue;
                    }
                    let generation = builder.geo.generation + 1;
                    let Some(db) = geoip::reopen(&config, generation) else {
                        continue;
                    };
                    builder.geo = Arc::new(db);
                    tracing::info!(generation, "GeoIP databases reloaded");
                }
            }
            let config = self.live.current();
            let official = self.official.borrow_and_update().clone();
            self.view.store(Arc::new(builder.build(&config, &official)));
        }
    }
}

/// The country overrides the cluster saved in the store's runtime config (set through
/// the API or seen by a collator); `None` when there are none or the store cannot say,
/// and then this node's own file is used.
async fn from_store(store: &SqlStore) -> Option<CountryOverrides> {
    overrides::load_saved(store).await.unwrap_or_else(|error| {
        tracing::warn!(%error, "cannot read the saved country overrides; using this node's file");
        None
    })
}

/// A fresh node whose peers did not answer (none up yet, or all fresh too) takes the
/// open outages of the store as its official results, so it does not answer with a
/// provider the collator knows is down. Peers' answers, when they come, win if newer.
async fn official_from_store(
    consensus: ConsensusHandle,
    store: SqlStore,
    shutdown: CancellationToken,
) {
    tokio::select! {
        () = shutdown.cancelled() => return,
        () = tokio::time::sleep(STORE_FALLBACK_AFTER) => {}
    }
    if !consensus.official.borrow().is_empty() {
        return;
    }
    let outages = match geodns_store::OutageStore::current_outages(&store).await {
        Ok(outages) => outages,
        Err(error) => {
            tracing::warn!(%error, "no official results from peers, and the store cannot be read");
            return;
        }
    };
    if outages.is_empty() {
        return;
    }
    tracing::info!(
        open = outages.len(),
        "no peer answered: official results taken from the store's open outages"
    );
    let rows = outages
        .into_iter()
        .map(|outage| {
            let entry = geodns_consensus::results::ResultEntry {
                status: false,
                error: outage.error,
                data: Some(outage.data),
                at: outage.start,
            };
            (outage.key, entry)
        })
        .collect();
    consensus.adopt("store", rows).await;
}

/// How long a fresh node waits for a peer's official results before it reads the store.
const STORE_FALLBACK_AFTER: Duration = Duration::from_secs(3);
