//! Ordering of outage history: the look-ups that keep a repeated, late or reordered
//! decision from changing history twice, and the recording of an outage whose close
//! arrived before its open.
//!
//! Every decision carries the time it was decided, so a copy of it (another monitor's
//! finalize, another collator's write) is recognised by its check and its time: an open
//! by `(check_key, start_ms)` (unique in the schema), a close by a closed row spanning
//! its time. A flap's tombstone counts as its row (`tombstones.rs`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use geodns_core::records::OutageStart;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::{CloseOutcome, OpenOutcome, RecordOutcome, check_key_digest, invalid, tombstones};
use crate::alerts::{AlertKind, OwedAlert};
use crate::connect::SqlStore;
use crate::error::{StoreError, db, is_unique_violation};
use crate::time::to_ms;
use crate::traits::Result;

impl SqlStore {
    /// The id of the latest outage of this check matching `condition` (binds: digest,
    /// then `times`).
    async fn first_row(
        &self,
        condition: &str,
        digest: &[u8],
        times: &[i64],
    ) -> Result<Option<i64>> {
        self.latest_id(("member_events", "id"), condition, digest, times)
            .await
    }

    /// The `column` of the latest row of `table` for this check matching `condition`
    /// (binds: digest, then `times`).
    pub(super) async fn latest_id(
        &self,
        table: (&str, &str),
        condition: &str,
        digest: &[u8],
        times: &[i64],
    ) -> Result<Option<i64>> {
        let mut conn = self.pool.acquire().await.map_err(db("connect"))?;
        self.latest_id_on(&mut conn, table, condition, digest, times)
            .await
    }

    /// [`SqlStore::latest_id`] on `conn` (a transaction sees its own writes).
    async fn latest_id_on(
        &self,
        conn: &mut AnyConnection,
        (table, column): (&str, &str),
        condition: &str,
        digest: &[u8],
        times: &[i64],
    ) -> Result<Option<i64>> {
        let sql = format!(
            "SELECT {column} FROM {table} WHERE check_key = ? AND {condition} \
             ORDER BY start_ms DESC LIMIT 1"
        );
        let mut query =
            sqlx::query(AssertSqlSafe(self.backend.sql(&sql).into_owned())).bind(digest.to_vec());
        for time in times {
            query = query.bind(*time);
        }
        let row = query
            .fetch_optional(&mut *conn)
            .await
            .map_err(db("read outage history"))?;
        row.map(|r| r.try_get::<i64, _>(column).map_err(db("decode outage id")))
            .transpose()
    }

    /// The outage of this check that started at `start`, open or closed.
    pub(super) async fn row_at(&self, digest: &[u8], start: DateTime<Utc>) -> Result<Option<i64>> {
        self.first_row("start_ms = ?", digest, &[to_ms(start)])
            .await
    }

    /// Why an open decided at `start` must not be inserted, if it must not: this outage
    /// is already stored, or a later outage or a later close of the check is.
    pub(super) async fn history_past(
        &self,
        digest: &[u8],
        start: DateTime<Utc>,
    ) -> Result<Option<OpenOutcome>> {
        if let Some(id) = self.row_at(digest, start).await? {
            return Ok(Some(OpenOutcome::AlreadyRecorded { id }));
        }
        let ms = to_ms(start);
        let later = self
            .first_row("(start_ms > ? OR end_ms >= ?)", digest, &[ms, ms])
            .await?;
        if let Some(id) = later {
            return Ok(Some(OpenOutcome::Stale { id }));
        }
        let flap = self.tombstone_at(tombstones::PAST, digest, start).await?;
        Ok(flap.map(|id| OpenOutcome::Tombstoned { id }))
    }

    /// A close found no open outage: it is a copy of a stored close, or it overtook its
    /// open.
    pub(super) async fn nothing_open(
        &self,
        digest: &[u8],
        end: DateTime<Utc>,
    ) -> Result<CloseOutcome> {
        let ms = to_ms(end);
        let spanning = self
            .first_row("start_ms <= ? AND end_ms >= ?", digest, &[ms, ms])
            .await?;
        if let Some(id) = spanning {
            return Ok(CloseOutcome::AlreadyClosed { id });
        }
        Ok(
            match self.tombstone_at(tombstones::SPANNING, digest, end).await? {
                Some(id) => CloseOutcome::AlreadyClosed { id },
                None => CloseOutcome::NothingToClose,
            },
        )
    }

    /// Records an outage that is already over (its close arrived first), unless it is
    /// already stored or shorter than the flap threshold.
    pub(crate) async fn record_closed(
        &self,
        outage: &OutageStart,
        end: DateTime<Utc>,
        alert: Option<&OwedAlert>,
    ) -> Result<RecordOutcome> {
        outage.validate().map_err(invalid)?;
        if end < outage.start {
            return Err(StoreError::InvalidRecord {
                what: "outage",
                source: geodns_core::records::RecordError::Invalid {
                    field: "end",
                    reason: "before the start".to_owned(),
                },
            });
        }
        let duration = (end - outage.start).to_std().unwrap_or(Duration::ZERO);
        let digest = check_key_digest(&outage.key);
        if self
            .config
            .drop_outages_shorter_than
            .is_some_and(|minimum| duration < minimum)
        {
            // Never stored, but tombstoned: another collator's copy of its open alone
            // must not store it either.
            self.tombstone(&digest, (outage.start, end), 0)
                .execute(&self.pool)
                .await
                .map_err(db("leave a flap's tombstone"))?;
            return Ok(RecordOutcome::TooShort { duration });
        }
        // This outage, or another copy of it (a finalize of another monitor, with its own
        // decision time), overlaps the span: it is recorded already.
        let overlapping = self
            .first_row(
                "start_ms <= ? AND (end_ms IS NULL OR end_ms >= ?)",
                &digest,
                &[to_ms(end), to_ms(outage.start)],
            )
            .await?;
        if let Some(id) = overlapping {
            return Ok(RecordOutcome::AlreadyRecorded { id });
        }
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        match self
            .insert_outage(&mut tx, outage, Some(end), digest.clone())
            .await
        {
            Ok(()) => {
                let times = [to_ms(outage.start)];
                let found = self
                    .latest_id_on(
                        &mut tx,
                        ("member_events", "id"),
                        "start_ms = ?",
                        &digest,
                        &times,
                    )
                    .await?;
                let Some(id) = found else {
                    return Err(StoreError::Conflict {
                        what: format!("outage of {} (deleted while recording)", outage.key),
                    });
                };
                if let Some(alert) = alert {
                    let kind = (id, AlertKind::Online);
                    self.owe(&mut tx, kind, (outage.start, Some(end)), alert)
                        .await
                        .map_err(db("owe an alert"))?;
                }
                tx.commit().await.map_err(db("commit"))?;
                Ok(RecordOutcome::Recorded { id, duration })
            }
            Err(error) if is_unique_violation(&error) => {
                drop(tx);
                match self.row_at(&digest, outage.start).await? {
                    Some(id) => Ok(RecordOutcome::AlreadyRecorded { id }),
                    None => Err(StoreError::Conflict {
                        what: format!("outage of {}", outage.key),
                    }),
                }
            }
            Err(source) => Err(StoreError::Database {
                operation: "record outage",
                source,
            }),
        }
    }
}
