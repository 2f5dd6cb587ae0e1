//! Opening and closing outages, each in one transaction with the alert it owes (the
//! outbox, `alerts.rs`): the row and its alert commit together or not at all, so a crash
//! or a lost connection between them cannot leave an outage nobody is told about, and a
//! retry after an unknown commit outcome finds the outage (a copy) and owes nothing more.

use std::time::Duration;

use chrono::{DateTime, Utc};
use geodns_core::records::{CheckKey, OutageStart};
use sqlx::{AssertSqlSafe, Row};

use super::{CloseOutcome, OpenOutcome, check_key_digest, invalid};
use crate::alerts::{AlertKind, OwedAlert};
use crate::connect::SqlStore;
use crate::dialect::Backend;
use crate::error::{StoreError, db, is_unique_violation};
use crate::time::{from_ms, to_ms};
use crate::traits::Result;

impl SqlStore {
    /// Opens an outage unless history has it or moved past it; owes `alert` with it.
    pub(super) async fn open_with(
        &self,
        outage: &OutageStart,
        alert: Option<&OwedAlert>,
    ) -> Result<OpenOutcome> {
        outage.validate().map_err(invalid)?;
        let digest = check_key_digest(&outage.key);
        if let Some(outcome) = self.history_past(&digest, outage.start).await? {
            return Ok(outcome);
        }
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        match self
            .insert_outage(&mut tx, outage, None, digest.clone())
            .await
        {
            // The open key is unique while the outage is open: it finds the new row on every
            // backend (MySQL 8 has no RETURNING; the portable driver drops SQLite's row id).
            Ok(()) => {
                let Some(id) = self.open_id_on(&mut tx, &digest).await? else {
                    return Err(StoreError::Conflict {
                        what: format!("open outage for {} (closed while opening)", outage.key),
                    });
                };
                if let Some(alert) = alert {
                    let kind = (id, AlertKind::Offline);
                    self.owe(&mut tx, kind, (outage.start, None), alert)
                        .await
                        .map_err(db("owe an alert"))?;
                }
                tx.commit().await.map_err(db("commit"))?;
                Ok(OpenOutcome::Opened { id })
            }
            // Another open of this check (the open key), or this very outage recorded by a
            // concurrent writer (check and start).
            Err(error) if is_unique_violation(&error) => {
                drop(tx);
                if let Some(id) = self.row_at(&digest, outage.start).await? {
                    return Ok(OpenOutcome::AlreadyRecorded { id });
                }
                match self.open_id(&digest).await? {
                    Some(id) => Ok(OpenOutcome::AlreadyOpen { id }),
                    None => Err(StoreError::Conflict {
                        what: format!("open outage for {}", outage.key),
                    }),
                }
            }
            Err(source) => Err(StoreError::Database {
                operation: "open outage",
                source,
            }),
        }
    }

    /// Ends the open outage of `key` at `end` (deletes it, leaving a tombstone, when it
    /// was a flap); owes `alert` with it.
    pub(super) async fn close_with(
        &self,
        key: &CheckKey,
        end: DateTime<Utc>,
        alert: Option<&OwedAlert>,
    ) -> Result<CloseOutcome> {
        key.validate().map_err(invalid)?;
        let digest = check_key_digest(key);
        let mut tx = self.pool.begin().await.map_err(db("begin"))?;
        let lock = if self.backend == Backend::Sqlite {
            ""
        } else {
            " FOR UPDATE"
        };
        let sql = self
            .backend
            .sql(&format!(
                "SELECT id, start_ms FROM member_events WHERE open_key = ?{lock}"
            ))
            .into_owned();
        let Some(row) = sqlx::query(AssertSqlSafe(sql))
            .bind(digest.clone())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("find open outage"))?
        else {
            drop(tx);
            return self.nothing_open(&digest, end).await;
        };
        let id: i64 = row.try_get("id").map_err(db("decode outage"))?;
        let start = from_ms(
            row.try_get("start_ms").map_err(db("decode outage"))?,
            "member_events",
        )?;
        if start > end {
            return Ok(CloseOutcome::Stale { id });
        }
        let duration = (end - start).to_std().unwrap_or(Duration::ZERO);
        let flap = self
            .config
            .drop_outages_shorter_than
            .is_some_and(|minimum| duration < minimum);
        let sql = if flap {
            "DELETE FROM member_events WHERE id = ?".to_owned()
        } else {
            "UPDATE member_events SET end_ms = ?, open_key = NULL WHERE id = ?".to_owned()
        };
        let mut query = sqlx::query(AssertSqlSafe(self.backend.sql(&sql).into_owned()));
        if !flap {
            query = query.bind(to_ms(end));
        }
        query
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db("close outage"))?;
        if flap {
            self.tombstone(&digest, (start, end), id)
                .execute(&mut *tx)
                .await
                .map_err(db("leave a flap's tombstone"))?;
        }
        if let Some(alert) = alert {
            let kind = (id, AlertKind::Online);
            self.owe(&mut tx, kind, (start, Some(end)), alert)
                .await
                .map_err(db("owe an alert"))?;
        }
        tx.commit().await.map_err(db("commit"))?;
        Ok(if flap {
            CloseOutcome::Dropped { id, duration }
        } else {
            CloseOutcome::Closed { id, duration }
        })
    }
}
