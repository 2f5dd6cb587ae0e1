//! Store errors, each with a [`ErrorKind`] callers can match on.

use geodns_core::records::RecordError;

/// What kind of failure, for callers that react differently (retry, report, give up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The URL or settings are wrong.
    Config,
    /// The database could not be reached.
    Connect,
    /// A migration failed.
    Migrate,
    /// A record was rejected before touching the database.
    InvalidRecord,
    /// A row read back from the database is not what geodns wrote.
    BadRow,
    /// A query failed.
    Database,
    /// The operation took longer than allowed.
    Timeout,
    /// The key already exists (unique violation).
    Conflict,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Bad URL, unknown scheme, unreadable secret file.
    #[error("storage configuration: {0}")]
    Config(String),
    /// The database did not accept connections within the retry window.
    #[error(
        "cannot connect to {backend} database `{database}` on {host} after {attempts} attempts: {cause}"
    )]
    Connect {
        /// `sqlite`, `mysql` or `postgres`.
        backend: &'static str,
        /// Host (or file path for SQLite).
        host: String,
        /// Database name.
        database: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        cause: String,
    },
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migrate(String),
    /// A record broke a rule; nothing was written for it.
    #[error("invalid {what}: {source}")]
    InvalidRecord {
        /// What kind of record (`usage row`, `outage`, ...).
        what: &'static str,
        /// The rule broken.
        #[source]
        source: RecordError,
    },
    /// A row in the database cannot be decoded.
    #[error("bad row in {table}: {reason}")]
    BadRow {
        /// Table.
        table: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The key exists already.
    #[error("{what} already exists")]
    Conflict {
        /// What collided.
        what: String,
    },
    /// A query failed.
    #[error("{operation}: {source}")]
    Database {
        /// What was being done.
        operation: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The operation exceeded its time limit.
    #[error("{operation}: timed out after {millis} ms")]
    Timeout {
        /// What was being done.
        operation: &'static str,
        /// The limit.
        millis: u128,
    },
}

impl ErrorKind {
    /// Every kind.
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::Config,
        ErrorKind::Connect,
        ErrorKind::Migrate,
        ErrorKind::InvalidRecord,
        ErrorKind::BadRow,
        ErrorKind::Database,
        ErrorKind::Timeout,
        ErrorKind::Conflict,
    ];

    /// Short name, for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::Connect => "connect",
            ErrorKind::Migrate => "migrate",
            ErrorKind::InvalidRecord => "invalid_record",
            ErrorKind::BadRow => "bad_row",
            ErrorKind::Database => "database",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Conflict => "conflict",
        }
    }
}

/// Failed store operations by kind, shared by a store handle's clones (not global).
#[derive(Debug, Default)]
pub(crate) struct ErrorCounts(std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>>);

impl ErrorCounts {
    pub(crate) fn count(&self, error: &StoreError) {
        let mut counts = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *counts.entry(error.kind().as_str()).or_default() += 1;
    }

    pub(crate) fn snapshot(&self) -> std::collections::BTreeMap<&'static str, u64> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl StoreError {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Config(_) => ErrorKind::Config,
            StoreError::Connect { .. } => ErrorKind::Connect,
            StoreError::Migrate(_) => ErrorKind::Migrate,
            StoreError::InvalidRecord { .. } => ErrorKind::InvalidRecord,
            StoreError::BadRow { .. } => ErrorKind::BadRow,
            StoreError::Conflict { .. } => ErrorKind::Conflict,
            StoreError::Database { .. } => ErrorKind::Database,
            StoreError::Timeout { .. } => ErrorKind::Timeout,
        }
    }

    /// True for failures that a retry of the same statement may cure (deadlock, lock
    /// wait, serialization failure, SQLite busy).
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database { source, .. } => is_transient(source),
            _ => false,
        }
    }
}

pub(crate) fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // SQLSTATE 40001 (MySQL deadlock / serialization), 40P01 (PostgreSQL deadlock),
            // MySQL 1205 lock wait timeout is HY000 with that message; SQLite 5/6 BUSY/LOCKED.
            matches!(
                code.as_ref(),
                "40001" | "40P01" | "5" | "6" | "517" | "261" | "262"
            ) || db.message().contains("Lock wait timeout")
                || db.message().contains("Deadlock found")
        }
        sqlx::Error::PoolTimedOut => true,
        _ => false,
    }
}

pub(crate) fn db(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Database { operation, source }
}

pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db.is_unique_violation(),
        _ => false,
    }
}
