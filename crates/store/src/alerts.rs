//! The alert outbox (`outage_alerts`): the alert each change of outage history owes,
//! written in the same transaction as the change (see `outages/write.rs`), so a committed
//! outage always has its alert and an alert never exists without its outage. One row per
//! outage and kind (OFFLINE when it opens, ONLINE when it ends), under a primary key, so
//! however many collators record the same outage it owes one of each.
//!
//! A row belongs to the collator that wrote it (`owner`), which sends it and marks it
//! sent with the Matrix event it made. A collator whose heartbeat stopped loses its unsent
//! rows to the first collator that claims them: the claim is one conditional update, so
//! each row moves once. Sent rows are kept while their outage is open (the ONLINE edit
//! needs the OFFLINE event) and pruned once the outage is over and every alert of it
//! went out.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use crate::connect::SqlStore;
use crate::error::db;
use crate::time::{from_ms, to_ms};
use crate::traits::Result;

const TABLE: &str = "outage_alerts";

/// Which message of an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertKind {
    /// The outage began.
    Offline,
    /// The outage ended (an edit of the OFFLINE message, when there is one).
    Online,
}

impl AlertKind {
    fn code(self) -> i64 {
        match self {
            AlertKind::Offline => 0,
            AlertKind::Online => 1,
        }
    }

    fn of_code(code: i64) -> Option<AlertKind> {
        match code {
            0 => Some(AlertKind::Offline),
            1 => Some(AlertKind::Online),
            _ => None,
        }
    }
}

/// The alert a change owes, given with the change: who sends it and what it says (the
/// store keeps the payload as it is; the outage's id and times are its own columns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwedAlert {
    /// The collator that sends it.
    pub owner: String,
    /// What to send, in the sender's format.
    pub payload: String,
    /// When it was owed.
    pub at: DateTime<Utc>,
}

/// What became of the OFFLINE alert of an outage, as its ONLINE alert sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offline {
    /// No OFFLINE alert was owed (the outage was recorded already over, or by a
    /// collator that sends none).
    None,
    /// Owed and not sent yet: the ONLINE alert waits for it.
    Unsent,
    /// Sent, as this Matrix event (`None`: Matrix refused it).
    Sent(Option<String>),
}

/// An unsent alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAlert {
    /// The outage's row id.
    pub outage: i64,
    /// Which message.
    pub kind: AlertKind,
    /// Who sends it.
    pub owner: String,
    /// What to send.
    pub payload: String,
    /// When the outage began.
    pub start: DateTime<Utc>,
    /// When it ended (ONLINE).
    pub end: Option<DateTime<Utc>>,
    /// When it was owed.
    pub created: DateTime<Utc>,
    /// For an ONLINE alert, its OFFLINE alert; [`Offline::None`] for an OFFLINE one.
    pub offline: Offline,
}

impl SqlStore {
    /// Owes `alert` of `kind` for outage `id` over `(start, end)`, on `conn` (the
    /// transaction of the change). One row per outage and kind: a second is a unique
    /// violation.
    pub(crate) async fn owe(
        &self,
        conn: &mut AnyConnection,
        (id, kind): (i64, AlertKind),
        (start, end): (DateTime<Utc>, Option<DateTime<Utc>>),
        alert: &OwedAlert,
    ) -> std::result::Result<(), sqlx::Error> {
        let sql = format!(
            "INSERT INTO {TABLE} (outage_id, kind, owner, payload, start_ms, end_ms, created_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?)"
        );
        sqlx::query(AssertSqlSafe(self.backend.sql(&sql).into_owned()))
            .bind(id)
            .bind(kind.code())
            .bind(alert.owner.clone())
            .bind(alert.payload.clone())
            .bind(to_ms(start))
            .bind(end.map(to_ms))
            .bind(to_ms(alert.at))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    pub(crate) async fn owed(&self, owner: &str, limit: u32) -> Result<Vec<PendingAlert>> {
        let sql = format!(
            "SELECT a.outage_id, a.kind, a.owner, a.payload, a.start_ms, a.end_ms, a.created_ms, \
             o.created_ms AS offline_created, o.sent_ms AS offline_sent, o.event_id AS offline_event \
             FROM {TABLE} a LEFT JOIN {TABLE} o ON o.outage_id = a.outage_id AND o.kind = 0 AND a.kind = 1 \
             WHERE a.owner = ? AND a.sent_ms IS NULL ORDER BY a.outage_id, a.kind LIMIT ?"
        );
        let rows = sqlx::query(AssertSqlSafe(self.backend.sql(&sql).into_owned()))
            .bind(owner.to_owned())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db("read owed alerts"))?;
        rows.iter().map(decode).collect()
    }

    pub(crate) async fn sent(
        &self,
        (outage, kind): (i64, AlertKind),
        owner: &str,
        event: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let sql = format!(
            "UPDATE {TABLE} SET sent_ms = ?, event_id = ? \
             WHERE outage_id = ? AND kind = ? AND owner = ? AND sent_ms IS NULL"
        );
        let done = sqlx::query(AssertSqlSafe(self.backend.sql(&sql).into_owned()))
            .bind(to_ms(at))
            .bind(event.map(str::to_owned))
            .bind(outage)
            .bind(kind.code())
            .bind(owner.to_owned())
            .execute(&self.pool)
            .await
            .map_err(db("mark an alert sent"))?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn owners(&self) -> Result<Vec<String>> {
        let sql =
            format!("SELECT DISTINCT owner FROM {TABLE} WHERE sent_ms IS NULL ORDER BY owner");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(db("read alert owners"))?;
        rows.iter()
            .map(|row| {
                row.try_get::<String, _>("owner")
                    .map_err(db("decode alert owner"))
            })
            .collect()
    }

    pub(crate) async fn claim(&self, from: &str, to: &str) -> Result<u64> {
        let sql = format!(
            "UPDATE {TABLE} SET owner = ?, claimed_from = ? WHERE owner = ? AND sent_ms IS NULL"
        );
        let done = sqlx::query(AssertSqlSafe(self.backend.sql(&sql).into_owned()))
            .bind(to.to_owned())
            .bind(from.to_owned())
            .bind(from.to_owned())
            .execute(&self.pool)
            .await
            .map_err(db("claim alerts"))?;
        Ok(done.rows_affected())
    }

    /// Deletes the rows of outages that are over, whose alerts all went out, the last
    /// owed before `before`; returns how many rows.
    pub(crate) async fn prune_sent(&self, before: DateTime<Utc>) -> Result<u64> {
        let sql = format!(
            "SELECT outage_id FROM {TABLE} \
             WHERE outage_id NOT IN (SELECT id FROM member_events WHERE open_key IS NOT NULL) \
             GROUP BY outage_id \
             HAVING SUM(CASE WHEN sent_ms IS NULL THEN 1 ELSE 0 END) = 0 AND MAX(created_ms) < ? \
             LIMIT 1000"
        );
        let mut pruned = 0;
        loop {
            let rows = sqlx::query(AssertSqlSafe(self.backend.sql(&sql).into_owned()))
                .bind(to_ms(before))
                .fetch_all(&self.pool)
                .await
                .map_err(db("find sent alerts"))?;
            if rows.is_empty() {
                return Ok(pruned);
            }
            let ids = rows
                .iter()
                .map(|row| row.try_get::<i64, _>("outage_id").map(|id| id.to_string()))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(db("decode an outage id"))?;
            // Ids are integers the database gave: safe to inline.
            let delete = format!(
                "DELETE FROM {TABLE} WHERE sent_ms IS NOT NULL AND outage_id IN ({})",
                ids.join(", ")
            );
            let done = sqlx::query(AssertSqlSafe(delete))
                .execute(&self.pool)
                .await
                .map_err(db("prune sent alerts"))?;
            pruned += done.rows_affected();
            if rows.len() < 1000 {
                return Ok(pruned);
            }
        }
    }
}

fn decode(row: &AnyRow) -> Result<PendingAlert> {
    let bad = |reason: String| crate::StoreError::BadRow {
        table: TABLE,
        reason,
    };
    let get = |name: &str| row.try_get::<i64, _>(name).map_err(db("decode an alert"));
    let get_opt = |name: &str| {
        row.try_get::<Option<i64>, _>(name)
            .map_err(db("decode an alert"))
    };
    let code = get("kind")?;
    let kind = AlertKind::of_code(code).ok_or_else(|| bad(format!("kind {code}")))?;
    let offline = match (get_opt("offline_created")?, get_opt("offline_sent")?) {
        (None, _) => Offline::None,
        (Some(_), None) => Offline::Unsent,
        (Some(_), Some(_)) => Offline::Sent(
            row.try_get::<Option<String>, _>("offline_event")
                .map_err(db("decode an alert"))?,
        ),
    };
    Ok(PendingAlert {
        outage: get("outage_id")?,
        kind,
        owner: row.try_get("owner").map_err(db("decode an alert"))?,
        payload: row.try_get("payload").map_err(db("decode an alert"))?,
        start: from_ms(get("start_ms")?, TABLE)?,
        end: get_opt("end_ms")?
            .map(|ms| from_ms(ms, TABLE))
            .transpose()?,
        created: from_ms(get("created_ms")?, TABLE)?,
        offline,
    })
}

impl crate::traits::AlertStore for SqlStore {
    async fn owed_alerts(&self, owner: &str, limit: u32) -> Result<Vec<PendingAlert>> {
        self.counted(self.owed(owner, limit).await)
    }

    async fn mark_alert_sent(
        &self,
        alert: (i64, AlertKind),
        owner: &str,
        event: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        self.counted(self.sent(alert, owner, event, at).await)
    }

    async fn alert_owners(&self) -> Result<Vec<String>> {
        self.counted(self.owners().await)
    }

    async fn claim_alerts(&self, from: &str, to: &str) -> Result<u64> {
        self.counted(self.claim(from, to).await)
    }

    async fn owe_alert(
        &self,
        alert: (i64, AlertKind),
        span: (DateTime<Utc>, Option<DateTime<Utc>>),
        owed: &OwedAlert,
    ) -> Result<bool> {
        self.counted(
            async {
                let mut conn = self.pool.acquire().await.map_err(db("connect"))?;
                match self.owe(&mut conn, alert, span, owed).await {
                    Ok(()) => Ok(true),
                    Err(error) if crate::error::is_unique_violation(&error) => Ok(false),
                    Err(source) => Err(crate::StoreError::Database {
                        operation: "owe an alert",
                        source,
                    }),
                }
            }
            .await,
        )
    }

    async fn prune_sent_alerts(&self, before: DateTime<Utc>) -> Result<u64> {
        self.counted(self.prune_sent(before).await)
    }
}
