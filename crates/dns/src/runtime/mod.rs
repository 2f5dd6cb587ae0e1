//! The DNS role's runtime: binds the server, rebuilds its view whenever the
//! configuration, the official results, the country overrides, the GeoIP files or the
//! fetched ACME texts change, flushes usage to the store, answers usage requests, and
//! adds its counters to the node's metrics.

mod acme;
pub mod backend;
mod geoip;
mod journal;
mod metrics;
mod official;
mod overrides;
pub mod usage;
mod view_builder;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use geodns_bus::{Bus, Subscription, subjects};
use geodns_consensus::results::Snapshot;
use geodns_core::config::Config;
use geodns_node::bus::{SubscribeError, subscribe};
use geodns_node::consensus::ConsensusHandle;
use geodns_node::{LiveConfig, NodeCtx};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::serial::SerialBook;
use crate::server::{Server, Settings};
use crate::view::View;

pub use metrics::{DnsCounters, Flush};
use view_builder::ViewBuilder;

/// File in the data directory holding the zones' serials.
const SERIALS: &str = "zone-serials.json";

/// Why the DNS role could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// The DNS port could not be bound.
    #[error("cannot listen for DNS on {address}: {source}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A bus subscription failed.
    #[error(transparent)]
    Subscribe(#[from] SubscribeError),
}

/// Starts the DNS role on `ctx`: the server is bound when this returns.
pub async fn start<B: Bus>(
    ctx: &NodeCtx<B>,
    consensus: ConsensusHandle,
) -> Result<Arc<Server>, DnsError> {
    let config = ctx.config.current();
    let data_dir = config.node.data_dir.clone();
    let serials: SerialBook = geodns_node::fs::read_json(data_dir.join(SERIALS))
        .await
        .unwrap_or_default();
    let runtime = overrides::initial(&ctx.store, &data_dir).await;
    let (geo, files) = geoip::open_watched(config.clone()).await;
    let geo = Arc::new(geo);
    let mut builder = ViewBuilder::new(serials, runtime, geo);
    let official = consensus.official.borrow().clone();
    let view = Arc::new(ArcSwap::from_pointee(builder.build(&config, &official)));
    builder.save_serials(&data_dir.join(SERIALS)).await;
    let settings = Settings {
        listen: config.listen.dns,
        workers: workers(&config),
        tcp_caps: tcp_caps(&config),
        tcp_idle_timeout: config.dns.tcp_idle_timeout,
        tcp_lifetime: config.dns.tcp_lifetime,
    };
    let server = Server::start(&settings, view.clone(), usage::today(), &ctx.tasks)
        .await
        .map_err(|source| DnsError::Listen {
            address: settings.listen,
            source,
        })?;
    tracing::info!(address = %server.local_addr, workers = settings.workers, "DNS server listening (UDP and TCP)");
    let server = Arc::new(server);
    let counters = DnsCounters::default();
    ctx.metrics.register(Arc::new(counters.clone()));
    ctx.metrics
        .register(Arc::new(geodns_node::slots::SlotMetrics {
            slots: server.shared().tcp_slots.clone(),
            open: ("geodns_dns_tcp_connections", "Open DNS TCP connections."),
            refused: (
                "geodns_dns_tcp_refused_total",
                "DNS TCP connections refused at once, by the cap that refused them.",
            ),
        }));
    let shutdown = ctx.shutdown().clone();
    let override_updates = subscribe(&ctx.bus, subjects::OVERRIDE_UPDATE).await?;
    let usage_requests = subscribe(&ctx.bus, subjects::USAGE_REQUEST).await?;
    let node = config.node.id.to_string();
    let answering = usage::answer_usage(
        ctx.bus.clone(),
        usage_requests,
        ctx.store.clone(),
        (node, ctx.config.clone()),
        shutdown.clone(),
    );
    ctx.tasks
        .spawn_cancellable("dns: usage responder", answering);
    let flusher = usage::run_flusher(
        (server.clone(), counters),
        ctx.config.clone(),
        ctx.store.clone(),
        shutdown.clone(),
    );
    ctx.tasks.spawn("dns: usage flusher", flusher);
    let (acme_tx, acme_rx) = mpsc::channel(4);
    let fetching = acme::run(ctx.config.clone(), acme_tx, shutdown.clone());
    ctx.tasks.spawn_cancellable("dns: acme texts", fetching);
    if config.geoip.downloads() {
        let downloads = geoip::run_downloads(ctx.config.clone(), shutdown.clone());
        ctx.tasks
            .spawn_cancellable("dns: geoip downloads", downloads);
    }
    let (geo_tx, geo_rx) = mpsc::channel(1);
    let watch = geoip::run_watch(ctx.config.clone(), files, geo_tx, shutdown.clone());
    ctx.tasks.spawn("dns: geoip watch", watch);
    let fallback = official::from_store(consensus.clone(), ctx.store.clone(), shutdown.clone());
    ctx.tasks
        .spawn_cancellable("dns: official results from the store", fallback);
    let started = server.clone();
    let view_loop = ViewLoop {
        live: ctx.config.clone(),
        official: consensus.official,
        view,
        server,
        acme: acme_rx,
        geo: geo_rx,
        overrides: override_updates,
        data_dir,
    };
    ctx.tasks
        .spawn("dns: view", view_loop.run(builder, shutdown));
    Ok(started)
}

/// The TCP caps of `config`.
fn tcp_caps(config: &Config) -> geodns_node::slots::Caps {
    geodns_node::slots::Caps {
        total: config.dns.tcp_max_connections as usize,
        per_client: config.dns.tcp_per_client as usize,
        per_network: config.dns.tcp_per_network as usize,
    }
}

fn workers(config: &Config) -> usize {
    match config.dns.workers {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => usize::from(n),
    }
}

struct ViewLoop {
    live: LiveConfig,
    official: watch::Receiver<Arc<Snapshot>>,
    view: Arc<ArcSwap<View>>,
    server: Arc<Server>,
    acme: mpsc::Receiver<std::collections::BTreeMap<url::Url, String>>,
    geo: mpsc::Receiver<crate::geo::GeoDb>,
    overrides: Subscription,
    data_dir: std::path::PathBuf,
}

impl ViewLoop {
    async fn run(mut self, mut builder: ViewBuilder, shutdown: CancellationToken) {
        let mut configs = self.live.subscribe();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                Ok(()) = self.official.changed() => {}
                Ok(()) = configs.changed() => builder.config_changed(),
                Some(fetched) = self.acme.recv() => builder.set_acme(fetched),
                Some(db) = self.geo.recv() => builder.set_geo(Arc::new(db)),
                Some(message) = self.overrides.next() => {
                    if !overrides::apply(builder.overrides_mut(), &message.payload, &self.data_dir).await {
                        continue;
                    }
                }
                _ = tick.tick() => {
                    let today = usage::today();
                    self.server.shared().day.store(today, std::sync::atomic::Ordering::Relaxed);
                    continue;
                }
            }
            let config = self.live.current();
            self.server.shared().tcp_slots.set_caps(tcp_caps(&config));
            let official = self.official.borrow_and_update().clone();
            self.view.store(Arc::new(builder.build(&config, &official)));
            builder.save_serials(&self.data_dir.join(SERIALS)).await;
        }
    }
}
