//! The HTTP API of a geodns node. This first part serves what every node knows about
//! itself: liveness (`/health`), readiness with the reason when not ready (`/ready`),
//! the original monitor's `/results` (official results, else this node's own), and the
//! cluster and consensus state `geodns cluster status` and `consensus status` show
//! (`/api/cluster`, `/api/consensus`), plus the original collator's `/api/health`.
//!
//! The router knows the node only through [`Node`], which [`runtime::LiveNode`]
//! implements over the node's consensus handle, membership table, store and bus, so
//! every route is tested here against a plain fake. Every answer carries `Access-Control-Allow-Origin: *`, as the
//! original's API did.
#![forbid(unsafe_code)]

pub mod auth;
pub mod change;
pub mod downtime;
pub mod members;
pub mod node;
pub mod openapi;
pub mod pdns;
pub mod requests;
pub mod results;
pub mod routes;
pub mod runtime;
pub mod serve;
pub mod services;
pub mod stats;
pub mod status;
pub mod tls;

use std::future::Future;
use std::sync::Arc;

use geodns_consensus::results::Snapshot;
use serde::Serialize;

pub use node::router;

/// What the API reads from the node it runs in.
pub trait Node: Clone + Send + Sync + 'static {
    /// The official results.
    fn official(&self) -> Arc<Snapshot>;
    /// This node's own (debounced) results.
    fn local(&self) -> Arc<Snapshot>;
    /// The nodes this node sees (what `geodns cluster status --json` prints).
    fn cluster(&self) -> serde_json::Value;
    /// This node's consensus state (what `geodns consensus status --json` prints).
    fn consensus(&self) -> serde_json::Value;
    /// `enabled`, `disabled` or `error` (the last certificate reload failed), for the
    /// original's `/api/health`.
    fn ssl(&self) -> &'static str;
    /// The current time (the binary's clock).
    fn now(&self) -> chrono::DateTime<chrono::Utc>;
    /// The DNS role, for the PowerDNS backend (`None` when this node does not run it).
    fn dns(&self) -> Option<Arc<dyn pdns::Backend>>;
    /// Every metric family of this node, for `/metrics`.
    fn metrics(&self) -> impl Future<Output = Vec<geodns_node::metrics::Family>> + Send;
    /// Whether the node can do its job now, and why not.
    fn readiness(&self) -> impl Future<Output = Readiness> + Send;
    /// Outages matching `query`, newest first.
    fn outages(
        &self,
        query: &downtime::DowntimeQuery,
    ) -> impl Future<Output = Result<Vec<geodns_core::records::Outage>, String>> + Send;
    /// A member's usage over `days` (first, last), grouped by `by` and summed over the
    /// days, most hits first.
    fn member_usage(
        &self,
        member: &str,
        days: (chrono::NaiveDate, chrono::NaiveDate),
        by: stats::UsageBy,
    ) -> impl Future<Output = Result<Vec<stats::UsageTotal>, String>> + Send;
    /// Hits per day grouped `by`, for `filter`: by day, most hits first within a day,
    /// at most `filter.limit` rows.
    fn requests(
        &self,
        filter: &requests::RequestFilter,
        by: requests::Dimension,
    ) -> impl Future<Output = Result<Vec<requests::DailyHits>, String>> + Send;
    /// Totals over `days` (first, last).
    fn requests_summary(
        &self,
        days: (chrono::NaiveDate, chrono::NaiveDate),
    ) -> impl Future<Output = Result<requests::RequestTotals, String>> + Send;
    /// Which members answer each hostname for the clients of `countries` (the routes
    /// table the collator keeps): `{host, country, ipv4: {members, addresses, mode},
    /// ipv6: …}`.
    fn routes(
        &self,
        countries: &[&str],
    ) -> impl Future<Output = Result<Vec<serde_json::Value>, String>> + Send;
    /// The configuration in effect (with maintenance set at run time).
    fn config(&self) -> Arc<geodns_core::config::Config>;
    /// The service a hostname belongs to, if any.
    fn service_of(&self, domain: &str) -> Option<String>;
    /// The tokens that may change things.
    fn tokens(&self) -> std::sync::Arc<auth::Tokens>;
    /// Puts `member` in maintenance or takes it out, for the whole cluster and across
    /// restarts; `by` names who asked. All or nothing.
    fn set_maintenance(
        &self,
        member: &str,
        on: bool,
        by: &str,
    ) -> impl Future<Output = Result<(), change::ChangeError>> + Send;
    /// Sets, removes or clears country overrides, for the whole cluster and across
    /// restarts. All or nothing.
    fn change_override(
        &self,
        change: change::OverrideChange,
        by: &str,
    ) -> impl Future<Output = Result<(), change::ChangeError>> + Send;
}

/// The answer of `/ready`: ready when every check passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Readiness {
    /// Every check passed.
    pub ready: bool,
    /// Each check by name (`store`, `bus`, `snapshot`), with what it found.
    pub checks: Vec<Check>,
}

/// One readiness check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// It passed.
    pub ok: bool,
    /// What was found (the reason when it failed).
    pub detail: String,
}

impl Readiness {
    /// Ready exactly when every check passed.
    pub fn of(checks: Vec<Check>) -> Readiness {
        Readiness {
            ready: checks.iter().all(|c| c.ok),
            checks,
        }
    }
}
