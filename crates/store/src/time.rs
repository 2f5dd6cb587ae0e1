//! UTC timestamps as stored: milliseconds since the Unix epoch.

use chrono::{DateTime, Utc};

use crate::error::StoreError;

/// Milliseconds since the epoch.
pub(crate) fn to_ms(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

/// Back from milliseconds; out-of-range values are a bad row, not a panic.
pub(crate) fn from_ms(ms: i64, table: &'static str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| StoreError::BadRow {
        table,
        reason: format!("timestamp {ms} ms is out of range"),
    })
}

/// Now, for bookkeeping columns (`updated_ms`). Decisions never depend on it: callers pass
/// the times that matter (outage start and end, message timestamps) explicitly.
#[allow(
    clippy::disallowed_methods,
    reason = "bookkeeping timestamps in the storage adapter"
)]
pub(crate) fn now_ms() -> i64 {
    to_ms(Utc::now())
}
