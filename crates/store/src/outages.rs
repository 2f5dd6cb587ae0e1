//! Outages: open once per check, close (or drop a flap), list, summarise.
//!
//! An open outage holds `open_key` = SHA-256 of its check key, under a unique index, so
//! the database itself guarantees at most one open outage per check however many
//! collators record at once. Closing clears `open_key`; the row stays, so resolved
//! outages remain in every history and uptime query, and a repeat outage is a new row.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use geodns_core::ids::{MemberId, NodeId};
use geodns_core::model::CheckKind;
use geodns_core::records::{CheckKey, Outage, OutageStart, Votes};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use crate::alerts::OwedAlert;
use crate::connect::SqlStore;
use crate::error::{StoreError, db};
use crate::time::{from_ms, to_ms};
use crate::traits::{OutageStore, Result};

/// What opening did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenOutcome {
    /// A new outage row; send the alert.
    Opened {
        /// Row id.
        id: i64,
    },
    /// This check already has an open outage; nothing changed.
    AlreadyOpen {
        /// The open outage's id.
        id: i64,
    },
    /// This outage (same check, same start) is already in the history, open or closed:
    /// a repeated decision, or another collator's copy of it. Nothing changed.
    AlreadyRecorded {
        /// Its row id.
        id: i64,
    },
    /// The history of this check has moved past this decision (a later outage or a later
    /// close is stored): a late copy that must not reopen anything. Nothing changed.
    Stale {
        /// The later row's id.
        id: i64,
    },
    /// A flap of this check (deleted, or never stored, for being shorter than the flap
    /// threshold) was at or after this time: a late copy of its open, which must not
    /// bring it back. Nothing changed.
    Tombstoned {
        /// The flap's row id (0 when it was never stored).
        id: i64,
    },
}

/// What closing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseOutcome {
    /// The outage now has an end.
    Closed {
        /// Row id.
        id: i64,
        /// How long it lasted.
        duration: Duration,
    },
    /// It was shorter than the flap threshold and was deleted.
    Dropped {
        /// The deleted row's id.
        id: i64,
        /// How long it lasted.
        duration: Duration,
    },
    /// This close is already stored: an outage of this check spans its time and has
    /// ended. Nothing changed.
    AlreadyClosed {
        /// The closed outage's id.
        id: i64,
    },
    /// The open outage started after this close was decided: a late copy of an older
    /// recovery, which must not end a newer outage. Nothing changed.
    Stale {
        /// The open outage's id.
        id: i64,
    },
    /// No outage of this check is open or spans this time (its open may still be on the
    /// way: a close can overtake its open).
    NothingToClose,
}

/// What recording an outage that is already over did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// A new, closed outage row; alert (it went down and came back).
    Recorded {
        /// Row id.
        id: i64,
        /// How long it lasted.
        duration: Duration,
    },
    /// An outage of this check overlapping the span is stored (open or closed: this one,
    /// or another monitor's copy of it); nothing changed.
    AlreadyRecorded {
        /// Its row id.
        id: i64,
    },
    /// Shorter than the flap threshold: not stored.
    TooShort {
        /// How long it lasted.
        duration: Duration,
    },
}

/// Open, resolved or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutageState {
    /// Every outage.
    #[default]
    All,
    /// Still open.
    Ongoing,
    /// Ended.
    Resolved,
}

/// Which outages to list. A time window selects outages that overlap it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutageFilter {
    /// Only this member.
    pub member: Option<MemberId>,
    /// Only this hostname.
    pub domain: Option<String>,
    /// Only this kind of check.
    pub kind: Option<CheckKind>,
    /// Overlapping from this time.
    pub from: Option<DateTime<Utc>>,
    /// Overlapping until this time.
    pub to: Option<DateTime<Utc>>,
    /// Open, resolved or both.
    pub state: OutageState,
    /// At most this many, newest first.
    pub limit: Option<u32>,
}

/// Downtime within a window.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DowntimeSummary {
    /// Outages overlapping the window.
    pub total_events: usize,
    /// Of those, still open.
    pub ongoing_events: usize,
    /// Of those, ended.
    pub resolved_events: usize,
    /// Distinct members affected.
    pub affected_members: usize,
    /// Downtime inside the window, summed over outages.
    pub total_downtime: Duration,
    /// `total_downtime / total_events`.
    pub average_downtime: Duration,
}

const SELECT: &str = "SELECT id, check_type, check_name, member_name, domain_name, endpoint, is_ipv6, \
    start_ms, end_ms, error, vote_data, additional_data FROM member_events";

mod history;
mod tombstones;
mod write;

fn check_key_digest(key: &CheckKey) -> Vec<u8> {
    Sha256::digest(key.canonical().as_bytes()).to_vec()
}

fn invalid(source: geodns_core::records::RecordError) -> StoreError {
    StoreError::InvalidRecord {
        what: "outage",
        source,
    }
}

fn decode(row: &AnyRow) -> Result<Outage> {
    const TABLE: &str = "member_events";
    let bad = |reason: String| StoreError::BadRow {
        table: TABLE,
        reason,
    };
    let get_text = |name: &str| row.try_get::<String, _>(name).map_err(db("decode outage"));
    let kind = match get_text("check_type")?.as_str() {
        "site" | "1" => CheckKind::Site,
        "domain" | "2" => CheckKind::Domain,
        "endpoint" | "3" => CheckKind::Endpoint,
        other => return Err(bad(format!("check_type `{other}`"))),
    };
    let member_text = get_text("member_name")?;
    let member = MemberId::parse(&member_text).map_err(|e| bad(e.to_string()))?;
    let votes_text = get_text("vote_data")?;
    let raw_votes: Map<String, Value> =
        serde_json::from_str(&votes_text).map_err(|e| bad(format!("vote_data: {e}")))?;
    let mut votes = Votes::new();
    for (node, agree) in raw_votes {
        let node = NodeId::parse(&node).map_err(|e| bad(format!("vote_data: {e}")))?;
        votes.insert(
            node,
            agree
                .as_bool()
                .ok_or_else(|| bad("vote_data: a vote is not a boolean".to_owned()))?,
        );
    }
    let data_text = get_text("additional_data")?;
    let data: Map<String, Value> =
        serde_json::from_str(&data_text).map_err(|e| bad(format!("additional_data: {e}")))?;
    let end: Option<i64> = row.try_get("end_ms").map_err(db("decode outage"))?;
    Ok(Outage {
        id: row.try_get("id").map_err(db("decode outage"))?,
        key: CheckKey {
            kind,
            check: get_text("check_name")?,
            member,
            domain: get_text("domain_name")?,
            endpoint: get_text("endpoint")?,
            ipv6: row
                .try_get::<i64, _>("is_ipv6")
                .map_err(db("decode outage"))?
                != 0,
        },
        start: from_ms(row.try_get("start_ms").map_err(db("decode outage"))?, TABLE)?,
        end: end.map(|ms| from_ms(ms, TABLE)).transpose()?,
        error: get_text("error")?,
        votes,
        data,
    })
}

impl SqlStore {
    async fn open_id(&self, digest: &[u8]) -> Result<Option<i64>> {
        let mut conn = self.pool.acquire().await.map_err(db("connect"))?;
        self.open_id_on(&mut conn, digest).await
    }

    /// The open outage of the check `digest`, read on `conn` (a transaction sees its own
    /// insert).
    async fn open_id_on(&self, conn: &mut AnyConnection, digest: &[u8]) -> Result<Option<i64>> {
        let sql = self
            .backend
            .sql("SELECT id FROM member_events WHERE open_key = ?")
            .into_owned();
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(digest.to_vec())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db("find open outage"))?;
        row.map(|r| r.try_get::<i64, _>("id").map_err(db("decode outage id")))
            .transpose()
    }

    /// Inserts an outage row on `conn`: open (`end` `None`, holding the open key) or
    /// already over.
    async fn insert_outage(
        &self,
        conn: &mut AnyConnection,
        outage: &OutageStart,
        end: Option<DateTime<Utc>>,
        digest: Vec<u8>,
    ) -> std::result::Result<(), sqlx::Error> {
        let key = &outage.key;
        let votes: Map<String, Value> = outage
            .votes
            .iter()
            .map(|(node, agree)| (node.to_string(), Value::Bool(*agree)))
            .collect();
        let sql = "INSERT INTO member_events (check_type, check_name, member_name, domain_name, endpoint, is_ipv6, \
             start_ms, end_ms, error, vote_data, additional_data, check_key, open_key) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)".to_string();
        let query = sqlx::query(AssertSqlSafe(self.backend.sql(&sql).into_owned()))
            .bind(key.kind.as_str().to_owned())
            .bind(key.check.clone())
            .bind(key.member.as_str().to_owned())
            .bind(key.domain.clone())
            .bind(key.endpoint.clone())
            .bind(i16::from(key.ipv6))
            .bind(to_ms(outage.start))
            .bind(end.map(to_ms))
            .bind(outage.error.clone())
            .bind(Value::Object(votes).to_string())
            .bind(Value::Object(outage.data.clone()).to_string())
            .bind(digest.clone())
            .bind(end.is_none().then_some(digest));
        query.execute(&mut *conn).await?;
        Ok(())
    }
}

impl OutageStore for SqlStore {
    async fn open_outage(&self, outage: &OutageStart) -> Result<OpenOutcome> {
        self.counted(self.open_with(outage, None).await)
    }

    async fn open_outage_alerting(
        &self,
        outage: &OutageStart,
        alert: Option<&OwedAlert>,
    ) -> Result<OpenOutcome> {
        self.counted(self.open_with(outage, alert).await)
    }

    async fn close_outage(&self, key: &CheckKey, end: DateTime<Utc>) -> Result<CloseOutcome> {
        self.counted(self.close_with(key, end, None).await)
    }

    async fn close_outage_alerting(
        &self,
        key: &CheckKey,
        end: DateTime<Utc>,
        alert: Option<&OwedAlert>,
    ) -> Result<CloseOutcome> {
        self.counted(self.close_with(key, end, alert).await)
    }

    async fn record_closed_outage(
        &self,
        outage: &OutageStart,
        end: DateTime<Utc>,
    ) -> Result<RecordOutcome> {
        self.counted(self.record_closed(outage, end, None).await)
    }

    async fn record_closed_outage_alerting(
        &self,
        outage: &OutageStart,
        end: DateTime<Utc>,
        alert: Option<&OwedAlert>,
    ) -> Result<RecordOutcome> {
        self.counted(self.record_closed(outage, end, alert).await)
    }

    async fn expire_tombstones(&self, now: DateTime<Utc>) -> Result<u64> {
        self.counted(self.delete_expired_tombstones(now).await)
    }

    async fn outages(&self, filter: &OutageFilter) -> Result<Vec<Outage>> {
        self.counted(
            async {
                let mut sql = format!("{SELECT} WHERE 1 = 1");
                let mut binds: Vec<Bind> = Vec::new();
                if let Some(member) = &filter.member {
                    sql.push_str(" AND member_name = ?");
                    binds.push(Bind::Text(member.to_string()));
                }
                if let Some(domain) = &filter.domain {
                    sql.push_str(" AND domain_name = ?");
                    binds.push(Bind::Text(domain.clone()));
                }
                if let Some(kind) = filter.kind {
                    sql.push_str(" AND check_type = ?");
                    binds.push(Bind::Text(kind.as_str().to_owned()));
                }
                if let Some(to) = filter.to {
                    sql.push_str(" AND start_ms <= ?");
                    binds.push(Bind::Int(to_ms(to)));
                }
                if let Some(from) = filter.from {
                    sql.push_str(" AND (end_ms IS NULL OR end_ms >= ?)");
                    binds.push(Bind::Int(to_ms(from)));
                }
                match filter.state {
                    OutageState::All => {}
                    OutageState::Ongoing => sql.push_str(" AND end_ms IS NULL"),
                    OutageState::Resolved => sql.push_str(" AND end_ms IS NOT NULL"),
                }
                sql.push_str(" ORDER BY start_ms DESC, id DESC");
                if let Some(limit) = filter.limit {
                    sql.push_str(" LIMIT ?");
                    binds.push(Bind::Int(i64::from(limit)));
                }
                let mut query = sqlx::query(AssertSqlSafe(self.backend.sql(&sql).into_owned()));
                for bind in binds {
                    query = match bind {
                        Bind::Text(text) => query.bind(text),
                        Bind::Int(number) => query.bind(number),
                    };
                }
                let rows = query
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("list outages"))?;
                rows.iter().map(decode).collect()
            }
            .await,
        )
    }

    async fn current_outages(&self) -> Result<Vec<Outage>> {
        self.counted(
            async {
                self.outages(&OutageFilter {
                    state: OutageState::Ongoing,
                    ..OutageFilter::default()
                })
                .await
            }
            .await,
        )
    }

    async fn downtime_summary(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<DowntimeSummary> {
        self.counted(
            async {
                let outages = self
                    .outages(&OutageFilter {
                        from: Some(from),
                        to: Some(to),
                        ..OutageFilter::default()
                    })
                    .await?;
                Ok(summarise(&outages, from, to))
            }
            .await,
        )
    }
}

/// A bound value of a dynamically built query.
enum Bind {
    Text(String),
    Int(i64),
}

/// Counts and downtime clipped to `[from, to]`; open outages count until `to`.
pub(crate) fn summarise(
    outages: &[Outage],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> DowntimeSummary {
    let mut summary = DowntimeSummary {
        total_events: outages.len(),
        ..DowntimeSummary::default()
    };
    let mut members = BTreeSet::new();
    for outage in outages {
        if outage.end.is_some() {
            summary.resolved_events += 1;
        } else {
            summary.ongoing_events += 1;
        }
        members.insert(outage.key.member.clone());
        let start = outage.start.max(from);
        let end = outage.end.unwrap_or(to).min(to);
        summary.total_downtime += (end - start).to_std().unwrap_or(Duration::ZERO);
    }
    summary.affected_members = members.len();
    if summary.total_events > 0 {
        summary.average_downtime =
            summary.total_downtime / u32::try_from(summary.total_events).unwrap_or(u32::MAX);
    }
    summary
}
