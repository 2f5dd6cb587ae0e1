//! The API role, wired: [`geodns_api::NodeInfo`] over this node's consensus handle,
//! membership table, store and bus, served on `[listen] api` until shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use std::path::PathBuf;

use geodns_api::auth::Tokens;
use geodns_api::change::{ChangeError, OverrideChange};
use geodns_api::downtime::DowntimeQuery;
use geodns_api::requests::{DailyHits, Dimension, RequestFilter, RequestTotals};
use geodns_api::stats::{UsageBy, UsageTotal};
use geodns_api::tls::{Certificates, TlsListener, TlsState};
use geodns_api::{Check, NodeInfo, Readiness};
use geodns_bus::Bus;
use geodns_bus::ClusterHandle;
use geodns_consensus::results::Snapshot;
use geodns_core::records::Outage;
use geodns_store::{ClusterStore, HealthCheck, SqlStore};
use geodns_store::{OutageFilter, OutageState, OutageStore, UsageFilter, UsageGroup, UsageStore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::consensus::ConsensusHandle;
use crate::reload::LiveConfig;

/// How long the store's readiness probe may take.
const STORE_PROBE: Duration = Duration::from_secs(2);

/// Whether the bus is usable, and what it is doing.
pub type BusState = Arc<dyn Fn() -> (bool, String) + Send + Sync>;

/// This node, as the API sees it.
#[derive(Clone)]
pub struct Node<B> {
    /// The bus changes are published on.
    pub bus_handle: B,
    /// Who may change things.
    pub tokens: Arc<Tokens>,
    /// Official and local results, consensus state.
    pub consensus: ConsensusHandle,
    /// Membership.
    pub cluster: ClusterHandle,
    /// The database.
    pub store: SqlStore,
    /// The bus's state.
    pub bus: BusState,
    /// The configuration.
    pub live: LiveConfig,
    /// The HTTPS certificate, when the API is served over TLS (set by [`start`]).
    pub tls: Option<Arc<Certificates>>,
    /// The roles' counters, for `/metrics`.
    pub telemetry: crate::telemetry::Telemetry,
    /// The DNS role on this node, for the PowerDNS backend.
    pub dns: Option<Arc<dyn geodns_api::pdns::Backend>>,
}

impl<B> std::fmt::Debug for Node<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("consensus", &self.consensus)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl<B> Node<B> {
    /// Outages open now, read from the store within [`STORE_PROBE`].
    async fn open_outages(&self) -> Option<usize> {
        let filter = OutageFilter {
            state: OutageState::Ongoing,
            limit: Some(100_000),
            ..OutageFilter::default()
        };
        let read = OutageStore::outages(&self.store, &filter);
        match tokio::time::timeout(STORE_PROBE, read).await {
            Ok(Ok(outages)) => Some(outages.len()),
            _ => None,
        }
    }

    /// The consensus report now.
    fn report(&self) -> crate::consensus::status::StatusReport {
        self.consensus
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl<B: Bus> NodeInfo for Node<B> {
    async fn outages(&self, query: &DowntimeQuery) -> Result<Vec<Outage>, String> {
        let member = match query
            .member
            .as_deref()
            .map(geodns_core::ids::MemberId::parse)
        {
            None => None,
            Some(Ok(member)) => Some(member),
            // A name no member can have has no outages.
            Some(Err(_)) => return Ok(Vec::new()),
        };
        let filter = OutageFilter {
            member,
            domain: query.domain.clone(),
            kind: query.kind,
            from: Some(query.from),
            to: Some(query.to),
            state: match query.ongoing {
                None => OutageState::All,
                Some(true) => OutageState::Ongoing,
                Some(false) => OutageState::Resolved,
            },
            limit: Some(query.limit),
        };
        OutageStore::outages(&self.store, &filter)
            .await
            .map_err(|error| error.to_string())
    }

    async fn member_usage(
        &self,
        member: &str,
        (first, last): (chrono::NaiveDate, chrono::NaiveDate),
        by: UsageBy,
    ) -> Result<Vec<UsageTotal>, String> {
        let filter = UsageFilter {
            members: vec![member.to_owned()],
            ..UsageFilter::between(first, last)
        };
        let group = match by {
            UsageBy::Country => UsageGroup::Country,
            UsageBy::Domain => UsageGroup::Domain,
        };
        let buckets = UsageStore::usage(&self.store, &filter, group)
            .await
            .map_err(|error| error.to_string())?;
        let mut sums: std::collections::BTreeMap<String, (String, i64)> = Default::default();
        for bucket in buckets {
            let entry = sums.entry(bucket.key).or_default();
            entry.0 = entry.0.clone().max(bucket.label);
            entry.1 += bucket.hits;
        }
        let mut totals: Vec<UsageTotal> = sums
            .into_iter()
            .map(|(key, (label, hits))| (key, label, hits))
            .collect();
        totals.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        Ok(totals)
    }

    async fn requests(
        &self,
        filter: &RequestFilter,
        by: Dimension,
    ) -> Result<Vec<DailyHits>, String> {
        let store_filter = UsageFilter {
            countries: filter.countries.clone(),
            asns: filter.asns.clone(),
            networks: filter.networks.clone(),
            members: filter.members.clone(),
            domains: filter.domains.clone(),
            limit: Some(filter.limit),
            ..UsageFilter::between(filter.from, filter.to)
        };
        let group = match by {
            Dimension::Country => UsageGroup::Country,
            Dimension::Asn => UsageGroup::Asn,
            Dimension::Domain => UsageGroup::Domain,
            Dimension::Member => UsageGroup::Member,
        };
        let buckets = UsageStore::usage(&self.store, &store_filter, group)
            .await
            .map_err(|error| error.to_string())?;
        Ok(buckets
            .into_iter()
            .map(|b| DailyHits {
                date: b.date,
                key: b.key,
                label: b.label,
                hits: b.hits,
            })
            .collect())
    }

    async fn requests_summary(
        &self,
        (first, last): (chrono::NaiveDate, chrono::NaiveDate),
    ) -> Result<RequestTotals, String> {
        let summary = UsageStore::usage_summary(&self.store, &UsageFilter::between(first, last))
            .await
            .map_err(|error| error.to_string())?;
        Ok(RequestTotals {
            requests: summary.total_hits,
            countries: summary.countries,
            asns: summary.asns,
            members: summary.members,
            domains: summary.domains,
        })
    }

    async fn routes(&self, countries: &[&str]) -> Result<Vec<serde_json::Value>, String> {
        let stored = ClusterStore::routes(&self.store)
            .await
            .map_err(|error| error.to_string())?;
        Ok(stored
            .into_iter()
            .filter(|(destination, _)| {
                let country = destination.rsplit('/').next().unwrap_or_default();
                countries.contains(&country)
            })
            .map(|(_, route)| serde_json::Value::Object(route))
            .collect())
    }

    fn config(&self) -> Arc<geodns_core::config::Config> {
        self.live.current()
    }

    fn service_of(&self, domain: &str) -> Option<String> {
        let config = self.live.current();
        let host = geodns_core::ids::Fqdn::parse(domain).ok()?;
        let services = config.catalog.hostnames.get(&host)?;
        services.iter().next().map(|s| s.to_string())
    }

    fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    async fn set_maintenance(&self, member: &str, on: bool, by: &str) -> Result<(), ChangeError> {
        let handles = (&self.bus_handle, &self.store, &self.live);
        crate::maintenance::set_maintenance(handles, member, on, by).await
    }

    async fn change_override(&self, change: OverrideChange, by: &str) -> Result<(), ChangeError> {
        let handles = (&self.bus_handle, &self.store, &self.live);
        crate::maintenance::change_override(handles, change, by).await
    }

    fn official(&self) -> Arc<Snapshot> {
        self.consensus.official.borrow().clone()
    }

    fn local(&self) -> Arc<Snapshot> {
        self.consensus.local.borrow().clone()
    }

    fn cluster(&self) -> serde_json::Value {
        serde_json::to_value(self.cluster.status()).unwrap_or_default()
    }

    fn consensus(&self) -> serde_json::Value {
        serde_json::to_value(self.report()).unwrap_or_default()
    }

    fn ssl(&self) -> &'static str {
        self.tls
            .as_ref()
            .map_or(TlsState::Disabled, |tls| tls.state())
            .as_str()
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        crate::clock::now()
    }

    fn dns(&self) -> Option<Arc<dyn geodns_api::pdns::Backend>> {
        self.dns.clone()
    }

    async fn metrics(&self) -> Vec<geodns_api::metrics::Family> {
        let report = self.report();
        let (connected, state) = (self.bus)();
        let config = self.live.current();
        let sources = crate::telemetry::Sources {
            report: &report,
            bus: (connected, state, self.bus_handle.dropped()),
            store_errors: self.store.error_counts(),
            pool: self.store.pool_state(),
            open_outages: self.open_outages().await,
            roles: config.node.roles.iter().map(|r| r.as_str()).collect(),
        };
        crate::telemetry::families(&self.telemetry, &sources)
    }

    async fn readiness(&self) -> Readiness {
        let store = match self.store.health(STORE_PROBE).await {
            Ok(took) => Check {
                name: "store".into(),
                ok: true,
                detail: format!(
                    "wrote, read and deleted a probe row in {} ms",
                    took.as_millis()
                ),
            },
            Err(error) => Check {
                name: "store".into(),
                ok: false,
                detail: error.to_string(),
            },
        };
        let (bus_ok, bus_detail) = (self.bus)();
        let report = self.report();
        let limit = self.live.current().dns.max_snapshot_age.as_secs();
        let snapshot = Check {
            name: "snapshot".into(),
            ok: !report.stale,
            detail: if report.stale {
                format!(
                    "official results are {} s old, more than [dns] max_snapshot_age ({limit} s)",
                    report.official_age_secs
                )
            } else {
                format!(
                    "official results confirmed {} s ago",
                    report.official_age_secs
                )
            },
        };
        Readiness::of(vec![
            store,
            Check {
                name: "bus".into(),
                ok: bus_ok,
                detail: bus_detail,
            },
            snapshot,
        ])
    }
}

/// The certificate and key files: `[listen] api_tls_cert`/`api_tls_key`, else the
/// original's `SSL_CERT`/`SSL_KEY` environment variables.
fn tls_files(config: &geodns_core::config::Config) -> Option<(PathBuf, PathBuf)> {
    let listen = &config.listen;
    if let (Some(cert), Some(key)) = (&listen.api_tls_cert, &listen.api_tls_key) {
        return Some((cert.clone(), key.clone()));
    }
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    Some((env("SSL_CERT")?.into(), env("SSL_KEY")?.into()))
}

/// Binds `[listen] api` and serves the API until `shutdown`, over HTTPS when a
/// certificate is configured (reloaded when its files change).
pub async fn start<B: Bus>(
    tasks: &TaskTracker,
    mut node: Node<B>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let config = node.live.current();
    let address = config.listen.api;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen for the API on {address}"))?;
    let shutdown = shutdown.clone();
    let Some((cert, key)) = tls_files(&config) else {
        tracing::info!(%address, "API listening (HTTP)");
        let app = geodns_api::router(node);
        tasks.spawn(serve(listener, app, shutdown));
        return Ok(());
    };
    let opened = {
        let (cert, key) = (cert.clone(), key.clone());
        tokio::task::spawn_blocking(move || Certificates::open(&cert, &key)).await?
    };
    let certificates = opened.context("cannot serve the API over HTTPS")?;
    tasks.spawn(
        certificates
            .clone()
            .watch(config.listen.api_tls_reload, shutdown.clone()),
    );
    let tls = TlsListener::new(listener, certificates.server_config(), shutdown.clone())?;
    node.tls = Some(certificates);
    tracing::info!(%address, cert = %cert.display(), "API listening (HTTPS)");
    tasks.spawn(serve(tls, geodns_api::router(node), shutdown));
    Ok(())
}

async fn serve<L>(listener: L, app: axum::Router, shutdown: CancellationToken)
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    if let Err(error) = served {
        tracing::error!(%error, "the API stopped");
    }
}
