//! Storage for geodns: DNS usage counters, provider outages with their votes, and cluster
//! state (messages, key-value state, node state, consensus log, routes, runtime config),
//! on embedded SQLite, MariaDB/MySQL or PostgreSQL, chosen by URL at run time.
//!
//! One implementation ([`SqlStore`]) speaks all three through sqlx's `Any` driver with
//! per-dialect SQL where they differ (placeholders, upserts, casts) and per-dialect
//! migrations. Times are stored as UTC epoch milliseconds, so no server or session time
//! zone can shift them. The traits ([`UsageStore`], [`OutageStore`], [`ClusterStore`],
//! [`HealthCheck`]) are what the roles depend on; the shared test suite runs them against
//! every backend.

#![forbid(unsafe_code)]

mod alerts;
mod cluster;
mod config;
mod connect;
mod dialect;
mod error;
mod health;
mod outages;
mod time;
mod traits;
mod usage;
mod usage_totals;

pub use alerts::{AlertKind, Offline, OwedAlert, PendingAlert};
pub use cluster::{ClusterTx, LogEntry, Message, MessageQuery};
pub use config::{
    MySqlEnv, PoolSettings, PostgresConfig, StoreConfig, mysql_from_env, parse_mysql_dsn,
};
pub use connect::{MigrationReport, SqlStore};
pub use dialect::Backend;
pub use error::{ErrorKind, StoreError};
pub use outages::{
    CloseOutcome, DowntimeSummary, OpenOutcome, OutageFilter, OutageState, RecordOutcome,
};
pub use traits::{AlertStore, ClusterStore, HealthCheck, OutageStore, UsageStore};
pub use usage::{
    BatchReport, FailedRow, UsageBucket, UsageFilter, UsageGroup, UsageSummary, WriteMode,
};
pub use usage_totals::UsageTotal;
