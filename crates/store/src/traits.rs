//! The store's seams: what the roles depend on. [`crate::SqlStore`] implements all of them;
//! test fakes can implement any one.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use geodns_core::ids::NodeId;
use geodns_core::records::{CheckKey, Outage, OutageStart, UsageRow};
use serde_json::{Map, Value};

use crate::alerts::{AlertKind, OwedAlert, PendingAlert};
use crate::cluster::{ClusterTx, LogEntry, Message, MessageQuery};
use crate::error::StoreError;
use crate::outages::{CloseOutcome, DowntimeSummary, OpenOutcome, OutageFilter, RecordOutcome};
use crate::usage::{BatchReport, UsageBucket, UsageFilter, UsageGroup, UsageSummary, WriteMode};

/// Result of a store operation.
pub(crate) type Result<T> = std::result::Result<T, StoreError>;

/// DNS usage counters (the `requests` table).
pub trait UsageStore: Send + Sync {
    /// Writes rows in batches: `Add` adds to stored counts (a DNS node flushing), `Replace`
    /// sets them (a collator importing totals; replaying is harmless). Invalid rows and
    /// rows the database refuses are returned in the report, never silently lost.
    fn write_usage(
        &self,
        rows: &[UsageRow],
        mode: WriteMode,
    ) -> impl Future<Output = Result<BatchReport>> + Send;
    /// Hits per day and per country, ASN, domain or member.
    fn usage(
        &self,
        filter: &UsageFilter,
        group: UsageGroup,
    ) -> impl Future<Output = Result<Vec<UsageBucket>>> + Send;
    /// Totals and distinct counts.
    fn usage_summary(
        &self,
        filter: &UsageFilter,
    ) -> impl Future<Output = Result<UsageSummary>> + Send;
}

/// Provider outages (the `member_events` table).
pub trait OutageStore: Send + Sync {
    /// Records the start of an outage; a second open for the same check while one is open
    /// changes nothing and says so.
    fn open_outage(&self, outage: &OutageStart)
    -> impl Future<Output = Result<OpenOutcome>> + Send;
    /// Records the end of the open outage of `key`, if any.
    fn close_outage(
        &self,
        key: &CheckKey,
        end: DateTime<Utc>,
    ) -> impl Future<Output = Result<CloseOutcome>> + Send;
    /// Records an outage that is already over at `end`: its close was decided before its
    /// open reached the caller. A copy of a stored outage changes nothing and says so.
    fn record_closed_outage(
        &self,
        outage: &OutageStart,
        end: DateTime<Utc>,
    ) -> impl Future<Output = Result<RecordOutcome>> + Send;
    /// [`OutageStore::open_outage`], owing `alert` (OFFLINE), if any, in the same
    /// transaction when it opens the outage.
    fn open_outage_alerting(
        &self,
        outage: &OutageStart,
        alert: Option<&OwedAlert>,
    ) -> impl Future<Output = Result<OpenOutcome>> + Send;
    /// [`OutageStore::close_outage`], owing `alert` (ONLINE), if any, in the same
    /// transaction when it ends (or drops) the outage.
    fn close_outage_alerting(
        &self,
        key: &CheckKey,
        end: DateTime<Utc>,
        alert: Option<&OwedAlert>,
    ) -> impl Future<Output = Result<CloseOutcome>> + Send;
    /// [`OutageStore::record_closed_outage`], owing `alert` (ONLINE), if any, in the
    /// same transaction when it records the outage.
    fn record_closed_outage_alerting(
        &self,
        outage: &OutageStart,
        end: DateTime<Utc>,
        alert: Option<&OwedAlert>,
    ) -> impl Future<Output = Result<RecordOutcome>> + Send;
    /// Deletes the tombstones of flaps that expired by `now` (see
    /// `StoreConfig::flap_tombstone`); returns how many.
    fn expire_tombstones(&self, now: DateTime<Utc>) -> impl Future<Output = Result<u64>> + Send;
    /// Outages matching `filter`, newest first.
    fn outages(&self, filter: &OutageFilter) -> impl Future<Output = Result<Vec<Outage>>> + Send;
    /// Outages still open.
    fn current_outages(&self) -> impl Future<Output = Result<Vec<Outage>>> + Send;
    /// Counts and downtime within `[from, to]`.
    fn downtime_summary(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = Result<DowntimeSummary>> + Send;
}

/// The alert outbox: alerts owed by changes of outage history (written with them by the
/// `*_alerting` methods of [`OutageStore`]), sent by their owner or by a collator that
/// claimed them.
pub trait AlertStore: Send + Sync {
    /// Unsent alerts of `owner`, by outage then kind (OFFLINE first), at most `limit`.
    fn owed_alerts(
        &self,
        owner: &str,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<PendingAlert>>> + Send;
    /// Marks an alert of `owner` sent at `at` as Matrix event `event` (`None`: refused);
    /// false when it is not `owner`'s unsent alert any more (claimed, or sent already).
    fn mark_alert_sent(
        &self,
        alert: (i64, AlertKind),
        owner: &str,
        event: Option<&str>,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// The collators that owe unsent alerts.
    fn alert_owners(&self) -> impl Future<Output = Result<Vec<String>>> + Send;
    /// Moves every unsent alert of `from` to `to`; returns how many moved (0 when another
    /// collator claimed them first).
    fn claim_alerts(&self, from: &str, to: &str) -> impl Future<Output = Result<u64>> + Send;
    /// Owes an alert for an outage already stored (alerts carried over from an older
    /// release); false when that outage owes that kind already.
    fn owe_alert(
        &self,
        alert: (i64, AlertKind),
        span: (DateTime<Utc>, Option<DateTime<Utc>>),
        owed: &OwedAlert,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Deletes the alerts of outages that are over and fully alerted, owed before
    /// `before`; returns how many.
    fn prune_sent_alerts(&self, before: DateTime<Utc>) -> impl Future<Output = Result<u64>> + Send;
}

/// Cluster state: messages, key-value state, node state, consensus log, routes, runtime
/// config, with transactions.
pub trait ClusterStore: Send + Sync {
    /// Stores a message; an existing id is a conflict.
    fn store_message(&self, message: &Message) -> impl Future<Output = Result<()>> + Send;
    /// One message by id.
    fn message(&self, id: &str) -> impl Future<Output = Result<Option<Message>>> + Send;
    /// Messages by time window and sender/receiver, oldest first.
    fn messages(&self, query: &MessageQuery) -> impl Future<Output = Result<Vec<Message>>> + Send;
    /// Deletes messages sent before `before`; returns how many.
    fn prune_messages(&self, before: DateTime<Utc>) -> impl Future<Output = Result<u64>> + Send;
    /// Sets a key.
    fn store_state(&self, key: &str, value: &[u8]) -> impl Future<Output = Result<()>> + Send;
    /// Reads a key.
    fn state(&self, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>>> + Send;
    /// Deletes a key; true if it existed.
    fn delete_state(&self, key: &str) -> impl Future<Output = Result<bool>> + Send;
    /// Keys starting with `prefix` (case-sensitive), in key order.
    fn states_with_prefix(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<(String, Vec<u8>)>>> + Send;
    /// Sets a node's runtime state (a JSON object).
    fn put_node_state(
        &self,
        node: &NodeId,
        state: Value,
    ) -> impl Future<Output = Result<()>> + Send;
    /// A node's runtime state.
    fn node_state(
        &self,
        node: &NodeId,
    ) -> impl Future<Output = Result<Option<Map<String, Value>>>> + Send;
    /// Every node's runtime state.
    fn node_states(&self)
    -> impl Future<Output = Result<Vec<(NodeId, Map<String, Value>)>>> + Send;
    /// Appends a consensus log entry; an existing (term, index) is a conflict.
    fn append_log(
        &self,
        term: u64,
        index: u64,
        entry: Value,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Entries with `from <= index <= to`, by index then term.
    fn logs(&self, from: u64, to: u64) -> impl Future<Output = Result<Vec<LogEntry>>> + Send;
    /// The highest index in the log.
    fn last_log_index(&self) -> impl Future<Output = Result<Option<u64>>> + Send;
    /// Deletes the log entries at `indices` (compaction); returns how many.
    fn delete_logs(&self, indices: &[u64]) -> impl Future<Output = Result<u64>> + Send;
    /// Sets the route to `destination` (a JSON object).
    fn put_route(&self, destination: &str, route: Value)
    -> impl Future<Output = Result<()>> + Send;
    /// The route to `destination`.
    fn route(
        &self,
        destination: &str,
    ) -> impl Future<Output = Result<Option<Map<String, Value>>>> + Send;
    /// Every route.
    fn routes(&self) -> impl Future<Output = Result<Vec<(String, Map<String, Value>)>>> + Send;
    /// Deletes a route; true if it existed.
    fn delete_route(&self, destination: &str) -> impl Future<Output = Result<bool>> + Send;
    /// Sets a runtime config value (any JSON).
    fn put_runtime_config(
        &self,
        key: &str,
        value: Value,
    ) -> impl Future<Output = Result<()>> + Send;
    /// A runtime config value.
    fn runtime_config(&self, key: &str) -> impl Future<Output = Result<Option<Value>>> + Send;
    /// Every runtime config value.
    fn runtime_configs(&self) -> impl Future<Output = Result<Vec<(String, Value)>>> + Send;
    /// Starts a transaction; dropping the handle without `commit` rolls back.
    fn begin(&self) -> impl Future<Output = Result<ClusterTx>> + Send;
}

/// Can the store write, read and delete right now?
pub trait HealthCheck: Send + Sync {
    /// Writes, reads and deletes a probe row within `timeout`; returns how long it took.
    fn health(&self, timeout: Duration) -> impl Future<Output = Result<Duration>> + Send;
}
