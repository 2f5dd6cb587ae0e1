//! [`LiveNode`]: what the router reads and changes, over this node's consensus handle,
//! membership, store, bus and metrics registry.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use geodns_bus::{Bus, ClusterHandle};
use geodns_consensus::results::Snapshot;
use geodns_core::pdns::Backend;
use geodns_core::records::Outage;
use geodns_node::consensus::{ConsensusHandle, StatusReport};
use geodns_node::metrics::Family;
use geodns_node::{BusState, LiveConfig, NodeCtx};
use geodns_store::{ClusterStore, HealthCheck, OutageStore, SqlStore, UsageStore};

use super::convert;
use crate::auth::Tokens;
use crate::change::{ChangeError, OverrideChange};
use crate::downtime::DowntimeQuery;
use crate::requests::{DailyHits, Dimension, RequestFilter, RequestTotals};
use crate::stats::{UsageBy, UsageTotal};
use crate::tls::{Certificates, TlsState};
use crate::{Check, Node, Readiness};

/// How long the store's readiness probe may take.
const STORE_PROBE: Duration = Duration::from_secs(2);

/// This node, as the API sees it. Cheap to clone.
#[derive(Clone)]
pub struct LiveNode<B> {
    ctx: NodeCtx<B>,
    consensus: ConsensusHandle,
    /// The operators' tokens, swapped whole when the configuration or a token file
    /// changes (`tokens::run_reload`).
    tokens: Arc<ArcSwap<Tokens>>,
    /// The HTTPS certificate, when the API is served over TLS.
    tls: Option<Arc<Certificates>>,
    /// The DNS role on this node, for the PowerDNS backend.
    dns: Option<Arc<dyn Backend>>,
}

impl<B> std::fmt::Debug for LiveNode<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveNode")
            .field("consensus", &self.consensus)
            .field("store", &self.ctx.store)
            .finish_non_exhaustive()
    }
}

impl<B: Bus> LiveNode<B> {
    /// The node of `ctx`.
    pub fn new(
        ctx: &NodeCtx<B>,
        consensus: ConsensusHandle,
        tokens: Arc<ArcSwap<Tokens>>,
        dns: Option<Arc<dyn Backend>>,
    ) -> Self {
        LiveNode {
            ctx: ctx.clone(),
            consensus,
            tokens,
            tls: None,
            dns,
        }
    }

    /// Serves over HTTPS with `certificates` (for `/api/health`).
    pub fn set_tls(&mut self, certificates: Arc<Certificates>) {
        self.tls = Some(certificates);
    }

    fn store(&self) -> &SqlStore {
        &self.ctx.store
    }

    fn live(&self) -> &LiveConfig {
        &self.ctx.config
    }

    fn cluster_handle(&self) -> &ClusterHandle {
        &self.ctx.cluster
    }

    fn bus_state(&self) -> &BusState {
        &self.ctx.bus_state
    }

    /// Outages open now, read from the store within [`STORE_PROBE`].
    async fn open_outages(&self) -> Family {
        let mut open = Family::gauge(
            "geodns_outages_open",
            "Outages in the store not over yet (absent when the store cannot say).",
        );
        let ongoing = convert::ongoing();
        let read = OutageStore::outages(self.store(), &ongoing);
        if let Ok(Ok(outages)) = tokio::time::timeout(STORE_PROBE, read).await {
            open.push(&[], outages.len() as f64);
        }
        open
    }

    fn report(&self) -> StatusReport {
        self.consensus.report()
    }
}

impl<B: Bus> Node for LiveNode<B> {
    async fn outages(&self, query: &DowntimeQuery) -> Result<Vec<Outage>, String> {
        // A name no member can have has no outages.
        let Some(filter) = convert::outage_filter(query) else {
            return Ok(Vec::new());
        };
        OutageStore::outages(self.store(), &filter)
            .await
            .map_err(|error| error.to_string())
    }

    async fn member_usage(
        &self,
        member: &str,
        days: (chrono::NaiveDate, chrono::NaiveDate),
        by: UsageBy,
    ) -> Result<Vec<UsageTotal>, String> {
        let (filter, group) = convert::member_usage(member, days, by);
        let buckets = UsageStore::usage(self.store(), &filter, group)
            .await
            .map_err(|error| error.to_string())?;
        Ok(convert::sum_by_key(buckets))
    }

    async fn requests(
        &self,
        filter: &RequestFilter,
        by: Dimension,
    ) -> Result<Vec<DailyHits>, String> {
        let (filter, group) = convert::requests(filter, by);
        let buckets = UsageStore::usage(self.store(), &filter, group)
            .await
            .map_err(|error| error.to_string())?;
        Ok(buckets.into_iter().map(convert::daily_hits).collect())
    }

    async fn requests_summary(
        &self,
        (first, last): (chrono::NaiveDate, chrono::NaiveDate),
    ) -> Result<RequestTotals, String> {
        let filter = geodns_store::UsageFilter::between(first, last);
        let summary = UsageStore::usage_summary(self.store(), &filter)
            .await
            .map_err(|error| error.to_string())?;
        Ok(convert::request_totals(summary))
    }

    async fn routes(&self, countries: &[&str]) -> Result<Vec<serde_json::Value>, String> {
        let stored = ClusterStore::routes(self.store())
            .await
            .map_err(|error| error.to_string())?;
        Ok(convert::routes_of(stored, countries))
    }

    fn config(&self) -> Arc<geodns_core::config::Config> {
        self.live().current()
    }

    fn service_of(&self, domain: &str) -> Option<String> {
        let config = self.live().current();
        let host = geodns_core::ids::Fqdn::parse(domain).ok()?;
        let services = config.catalog.hostnames.get(&host)?;
        services.iter().next().map(|s| s.to_string())
    }

    fn tokens(&self) -> Arc<Tokens> {
        self.tokens.load_full()
    }

    async fn set_maintenance(&self, member: &str, on: bool, by: &str) -> Result<(), ChangeError> {
        super::changes::set_maintenance(&self.ctx, member, on, by).await
    }

    async fn change_override(&self, change: OverrideChange, by: &str) -> Result<(), ChangeError> {
        super::changes::change_override(&self.ctx, change, by).await
    }

    fn official(&self) -> Arc<Snapshot> {
        self.consensus.official.borrow().clone()
    }

    fn local(&self) -> Arc<Snapshot> {
        self.consensus.local.borrow().clone()
    }

    fn cluster(&self) -> serde_json::Value {
        serde_json::to_value(self.cluster_handle().status()).unwrap_or_default()
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
        geodns_node::clock::now()
    }

    fn dns(&self) -> Option<Arc<dyn Backend>> {
        self.dns.clone()
    }

    async fn metrics(&self) -> Vec<Family> {
        let mut families = self.ctx.metrics.families();
        families.push(self.open_outages().await);
        families
    }

    async fn readiness(&self) -> Readiness {
        let store = match self.store().health(STORE_PROBE).await {
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
        let (bus_ok, bus_detail) = (self.bus_state())();
        let limit = self.live().current().dns.max_snapshot_age;
        let snapshot = convert::snapshot_check(&self.report(), limit);
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
