//! Tombstones of flaps: an outage shorter than the flap threshold is deleted when it
//! ends (or never stored, when its close came first), and leaves a row in
//! `outage_tombstones` for `StoreConfig::flap_tombstone`. A late copy of its open (a
//! lagging collator, another monitor's finalize) meets the tombstone where it would have
//! met the outage, and inserts nothing: the flap is not resurrected.
//!
//! A tombstone takes part in ordering exactly as the row it stands for: an open decided
//! at or before its end is a copy of it or older than it (`OpenOutcome::Tombstoned`), a
//! close at a time it spans is its close (`CloseOutcome::AlreadyClosed`).

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;
use sqlx::any::AnyArguments;

use crate::connect::SqlStore;
use crate::error::db;
use crate::time::to_ms;
use crate::traits::Result;

/// The tombstone table.
const TABLE: &str = "outage_tombstones";

/// A tombstone an open decided at the bound time belongs to or is older than.
pub(super) const PAST: &str = "(start_ms >= ? OR end_ms >= ?)";

/// A tombstone whose span holds a close decided at the bound time.
pub(super) const SPANNING: &str = "start_ms <= ? AND end_ms >= ?";

impl SqlStore {
    /// The statement that leaves (or extends) the tombstone of a flap of the check
    /// `digest` over `[start, end]` (row `id`; 0 when it was never stored). Idempotent:
    /// a repeat keeps the later expiry.
    pub(super) fn tombstone(
        &self,
        digest: &[u8],
        (start, end): (DateTime<Utc>, DateTime<Utc>),
        id: i64,
    ) -> sqlx::query::Query<'static, sqlx::Any, AnyArguments> {
        let keep = chrono::TimeDelta::from_std(self.config.flap_tombstone)
            .unwrap_or(chrono::TimeDelta::MAX);
        let expires = end
            .checked_add_signed(keep)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let sql = format!(
            "INSERT INTO {TABLE} (check_key, start_ms, end_ms, outage_id, expires_ms) \
             VALUES (?, ?, ?, ?, ?){}",
            self.backend
                .upsert_max(TABLE, "check_key, start_ms", "expires_ms")
        );
        sqlx::query(AssertSqlSafe(self.backend.sql(&sql).into_owned()))
            .bind(digest.to_vec())
            .bind(to_ms(start))
            .bind(to_ms(end))
            .bind(id)
            .bind(to_ms(expires))
    }

    /// The flap of this check whose tombstone matches `condition` ([`PAST`] or
    /// [`SPANNING`]) at time `at`, if any.
    pub(super) async fn tombstone_at(
        &self,
        condition: &str,
        digest: &[u8],
        at: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        let ms = to_ms(at);
        self.latest_id((TABLE, "outage_id"), condition, digest, &[ms, ms])
            .await
    }

    /// Deletes the tombstones that expired by `now`; returns how many.
    pub(super) async fn delete_expired_tombstones(&self, now: DateTime<Utc>) -> Result<u64> {
        let sql = format!("DELETE FROM {TABLE} WHERE expires_ms < ?");
        let done = sqlx::query(AssertSqlSafe(self.backend.sql(&sql).into_owned()))
            .bind(to_ms(now))
            .execute(&self.pool)
            .await
            .map_err(db("expire outage tombstones"))?;
        Ok(done.rows_affected())
    }
}
