//! Usage counters: batched upserts in `Add` and `Replace` mode, and grouped queries.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use geodns_core::records::{UsageKey, UsageRow};
use sha2::{Digest, Sha256};
use sqlx::any::AnyArguments;
use sqlx::{AssertSqlSafe, Row};

use crate::connect::SqlStore;
use crate::dialect::Backend;
use crate::error::{StoreError, db, is_transient};
use crate::traits::{Result, UsageStore};

/// Rows per statement. 11 parameters each stays far below every backend's limit.
const CHUNK: usize = 500;
/// Statements of one batch in flight at once (MySQL and PostgreSQL).
const WRITE_LANES: usize = 4;
/// Attempts for a statement that hit a deadlock or a busy database.
const ATTEMPTS: u32 = 5;
const COLUMNS: &str = "row_key, date, node_id, domain_name, member_name, network_asn, \
    network_name, country_code, country_name, is_ipv6, hits";

/// How written hits combine with stored ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// `hits = hits + n`: a DNS node flushing its own counters.
    Add,
    /// `hits = n`: importing a node's totals; replaying the same period is harmless.
    Replace,
    /// `hits = max(hits, n)`: a cumulative total (a DNS node's own, or one a collator
    /// collected). Writing it again, or an older copy of it, changes nothing, so two
    /// writers of the same counter never lower each other's total.
    Max,
}

/// A row that was not written, and why; the caller keeps it to retry.
#[derive(Debug)]
pub struct FailedRow {
    /// The row as given.
    pub row: UsageRow,
    /// Why it was not written.
    pub error: StoreError,
}

/// Outcome of a batch write.
#[derive(Debug, Default)]
pub struct BatchReport {
    /// Distinct counters written (rows with the same key are merged first).
    pub written: usize,
    /// Rows not written.
    pub failed: Vec<FailedRow>,
}

/// Which usage rows a query covers. Dates are inclusive; each list matches any of its
/// values and an empty list matches everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageFilter {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// Only these hostnames.
    pub domains: Vec<String>,
    /// Only these members.
    pub members: Vec<String>,
    /// Only these country codes.
    pub countries: Vec<String>,
    /// Only these ASNs (`AS3320`).
    pub asns: Vec<String>,
    /// Only networks whose name contains one of these (any case).
    pub networks: Vec<String>,
    /// Only rows of these DNS nodes.
    pub nodes: Vec<String>,
    /// At most this many rows (grouped queries only).
    pub limit: Option<u32>,
}

impl UsageFilter {
    /// Every row from `from` to `to`.
    pub fn between(from: NaiveDate, to: NaiveDate) -> Self {
        UsageFilter {
            from,
            to,
            domains: Vec::new(),
            members: Vec::new(),
            countries: Vec::new(),
            asns: Vec::new(),
            networks: Vec::new(),
            nodes: Vec::new(),
            limit: None,
        }
    }

    /// `{head} FROM requests WHERE … {tail}` in `backend`'s dialect, the filter's values bound.
    pub(crate) fn statement(
        &self,
        backend: Backend,
        head: &str,
        tail: &str,
    ) -> sqlx::query::Query<'static, sqlx::Any, AnyArguments> {
        let (where_sql, values) = self.where_clause();
        let sql = format!("{head} FROM requests{where_sql}{tail}");
        let mut query = sqlx::query(AssertSqlSafe(backend.sql(&sql).into_owned()));
        for value in values {
            query = query.bind(value);
        }
        query
    }

    fn where_clause(&self) -> (String, Vec<String>) {
        let mut sql = String::from(" WHERE date >= ? AND date <= ?");
        let mut values = vec![self.from.to_string(), self.to.to_string()];
        for (column, list) in [
            ("domain_name", &self.domains),
            ("member_name", &self.members),
            ("country_code", &self.countries),
            ("network_asn", &self.asns),
            ("node_id", &self.nodes),
        ] {
            if !list.is_empty() {
                let marks = vec!["?"; list.len()].join(", ");
                sql.push_str(&format!(" AND {column} IN ({marks})"));
                values.extend(list.iter().cloned());
            }
        }
        if !self.networks.is_empty() {
            // `!` escapes LIKE's wildcards in the value: the same on every backend.
            let likes = vec!["LOWER(network_name) LIKE ? ESCAPE '!'"; self.networks.len()];
            sql.push_str(&format!(" AND ({})", likes.join(" OR ")));
            values.extend(self.networks.iter().map(|name| {
                let escaped = name
                    .to_lowercase()
                    .replace('!', "!!")
                    .replace('%', "!%")
                    .replace('_', "!_");
                format!("%{escaped}%")
            }));
        }
        (sql, values)
    }
}

/// What usage is grouped by (besides the day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageGroup {
    /// Country code; label: country name.
    Country,
    /// ASN; label: network name.
    Asn,
    /// Hostname.
    Domain,
    /// Member.
    Member,
}

impl UsageGroup {
    fn columns(self) -> (&'static str, &'static str) {
        match self {
            UsageGroup::Country => ("country_code", "country_name"),
            UsageGroup::Asn => ("network_asn", "network_name"),
            UsageGroup::Domain => ("domain_name", "domain_name"),
            UsageGroup::Member => ("member_name", "member_name"),
        }
    }
}

/// Hits of one group on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageBucket {
    /// Day.
    pub date: NaiveDate,
    /// Country code, ASN, hostname or member.
    pub key: String,
    /// Country name, network name, or the key again.
    pub label: String,
    /// Sum of hits.
    pub hits: i64,
}

/// Totals over a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UsageSummary {
    /// Sum of hits.
    pub total_hits: i64,
    /// Distinct country codes (including `??`; an empty one not counted).
    pub countries: i64,
    /// Distinct ASNs (the empty one, unknown, not counted).
    pub asns: i64,
    /// Distinct members.
    pub members: i64,
    /// Distinct hostnames.
    pub domains: i64,
}

/// The primary key: SHA-256 of the natural key's fields, NUL-separated.
pub(crate) fn row_key(key: &UsageKey) -> Vec<u8> {
    let mut hasher = Sha256::new();
    for part in [
        key.date.to_string().as_str(),
        key.node.as_str(),
        &key.domain,
        &key.member,
        &key.asn,
        &key.network,
        &key.country_code,
        &key.country_name,
        if key.ipv6 { "6" } else { "4" },
    ] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hasher.finalize().to_vec()
}

fn insert_sql(backend: Backend, rows: usize, mode: WriteMode) -> String {
    let one = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    let values = vec![one; rows].join(", ");
    let tail = match mode {
        WriteMode::Add => backend.upsert_add("requests", "row_key", "hits"),
        WriteMode::Replace => backend.upsert_set("row_key", &["hits"]),
        WriteMode::Max => backend.upsert_max("requests", "row_key", "hits"),
    };
    backend
        .sql(&format!(
            "INSERT INTO requests ({COLUMNS}) VALUES {values}{tail}"
        ))
        .into_owned()
}

fn bind_row<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, AnyArguments>,
    key: &UsageKey,
    hits: i64,
) -> sqlx::query::Query<'q, sqlx::Any, AnyArguments> {
    query
        .bind(row_key(key))
        .bind(key.date.to_string())
        .bind(key.node.as_str().to_owned())
        .bind(key.domain.clone())
        .bind(key.member.clone())
        .bind(key.asn.clone())
        .bind(key.network.clone())
        .bind(key.country_code.clone())
        .bind(key.country_name.clone())
        .bind(i16::from(key.ipv6))
        .bind(hits)
}

/// Merges rows with equal keys (sum for `Add`, last for `Replace`, largest for `Max`) and sorts them, so one
/// statement never touches a key twice and concurrent writers lock keys in one order.
fn merge(
    rows: Vec<UsageRow>,
    mode: WriteMode,
    failed: &mut Vec<FailedRow>,
) -> BTreeMap<UsageKey, (i64, Vec<UsageRow>)> {
    let mut merged: BTreeMap<UsageKey, (i64, Vec<UsageRow>)> = BTreeMap::new();
    for row in rows {
        let entry = merged.entry(row.key.clone()).or_insert((0, Vec::new()));
        let next = match mode {
            WriteMode::Add => entry.0.checked_add(row.hits),
            WriteMode::Replace => Some(row.hits),
            WriteMode::Max => Some(entry.0.max(row.hits)),
        };
        match next {
            Some(value) => {
                entry.0 = value;
                entry.1.push(row);
            }
            None => failed.push(FailedRow {
                error: StoreError::InvalidRecord {
                    what: "usage row",
                    source: geodns_core::records::RecordError::Invalid {
                        field: "hits",
                        reason: "sum overflows 64 bits".to_owned(),
                    },
                },
                row,
            }),
        }
    }
    merged
}

impl SqlStore {
    async fn execute_with_retry(
        &self,
        sql: &str,
        rows: &[(&UsageKey, i64)],
    ) -> std::result::Result<(), sqlx::Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut query = sqlx::query(AssertSqlSafe(sql.to_owned()));
            for (key, hits) in rows {
                query = bind_row(query, key, *hits);
            }
            match query.execute(&self.pool).await {
                Ok(_) => return Ok(()),
                Err(error) if attempt < ATTEMPTS && is_transient(&error) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10 << attempt)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Deletes usage rows of the days `from..=to` (retention, benchmarks); returns how many.
    pub async fn delete_usage_between(&self, from: NaiveDate, to: NaiveDate) -> Result<u64> {
        let sql = self
            .backend
            .sql("DELETE FROM requests WHERE date >= ? AND date <= ?")
            .into_owned();
        let result = sqlx::query(AssertSqlSafe(sql))
            .bind(from.to_string())
            .bind(to.to_string())
            .execute(&self.pool)
            .await
            .map_err(db("delete usage"))?;
        Ok(result.rows_affected())
    }

    /// Writes one row per statement, without merging: the baseline the benchmark compares
    /// batching against. Prefer [`UsageStore::write_usage`].
    pub async fn write_usage_unbatched(
        &self,
        rows: &[UsageRow],
        mode: WriteMode,
    ) -> Result<BatchReport> {
        let sql = insert_sql(self.backend, 1, mode);
        let mut report = BatchReport::default();
        for row in rows {
            if let Err(source) = row.validate() {
                report.failed.push(FailedRow {
                    row: row.clone(),
                    error: StoreError::InvalidRecord {
                        what: "usage row",
                        source,
                    },
                });
                continue;
            }
            match self.execute_with_retry(&sql, &[(&row.key, row.hits)]).await {
                Ok(()) => report.written += 1,
                Err(source) => report.failed.push(FailedRow {
                    row: row.clone(),
                    error: StoreError::Database {
                        operation: "write usage",
                        source,
                    },
                }),
            }
        }
        Ok(report)
    }

    /// Writes one chunk in one statement. When the statement fails for its data (a
    /// database error that is not a lock conflict), the rows are tried one by one so one
    /// bad row does not hold back the others; when the database cannot be reached (a
    /// connection, pool or lock error, after the retries), every row of the chunk fails
    /// at once and the error is returned, so the caller fails the rest without trying.
    async fn write_chunk(
        &self,
        chunk: &[(&UsageKey, &(i64, Vec<UsageRow>))],
        mode: WriteMode,
        report: &mut BatchReport,
    ) -> Option<sqlx::Error> {
        let values: Vec<(&UsageKey, i64)> =
            chunk.iter().map(|(key, (hits, _))| (*key, *hits)).collect();
        let sql = insert_sql(self.backend, values.len(), mode);
        let error = match self.execute_with_retry(&sql, &values).await {
            Ok(()) => {
                report.written += values.len();
                return None;
            }
            Err(error) => error,
        };
        if !matches!(error, sqlx::Error::Database(_)) || is_transient(&error) {
            fail_chunk(chunk, &error, report);
            return Some(error);
        }
        tracing::warn!(%error, rows = values.len(), "batched usage write failed; retrying row by row");
        let single = insert_sql(self.backend, 1, mode);
        for (key, (hits, originals)) in chunk {
            match self.execute_with_retry(&single, &[(*key, *hits)]).await {
                Ok(()) => report.written += 1,
                Err(source) => fail_rows(originals, &source, report),
            }
        }
        None
    }
}

/// Every original row of `chunk` failed with `error`.
fn fail_chunk(
    chunk: &[(&UsageKey, &(i64, Vec<UsageRow>))],
    error: &sqlx::Error,
    report: &mut BatchReport,
) {
    for (_, (_, originals)) in chunk {
        fail_rows(originals, error, report);
    }
}

/// Every row of `originals` (the rows merged into one written row) failed with `error`.
fn fail_rows(originals: &[UsageRow], error: &sqlx::Error, report: &mut BatchReport) {
    for row in originals {
        report.failed.push(FailedRow {
            row: row.clone(),
            error: StoreError::Database {
                operation: "write usage",
                source: clone_error(error),
            },
        });
    }
}

/// `sqlx::Error` is not `Clone`; keep its message for every row it failed.
fn clone_error(error: &sqlx::Error) -> sqlx::Error {
    sqlx::Error::Protocol(error.to_string())
}

impl UsageStore for SqlStore {
    async fn write_usage(&self, rows: &[UsageRow], mode: WriteMode) -> Result<BatchReport> {
        self.counted(
            async {
                let mut report = BatchReport::default();
                let mut valid = Vec::with_capacity(rows.len());
                for row in rows {
                    match row.validate() {
                        Ok(()) => valid.push(row.clone()),
                        Err(source) => report.failed.push(FailedRow {
                            row: row.clone(),
                            error: StoreError::InvalidRecord {
                                what: "usage row",
                                source,
                            },
                        }),
                    }
                }
                let merged = merge(valid, mode, &mut report.failed);
                let entries: Vec<(&UsageKey, &(i64, Vec<UsageRow>))> = merged.iter().collect();
                let chunks: Vec<_> = entries.chunks(CHUNK).collect();
                // Chunks hold disjoint keys, so several can run at once on separate connections.
                // SQLite has one writer at a time: there it stays sequential.
                let lanes = match self.backend {
                    Backend::Sqlite => 1,
                    Backend::MySql | Backend::Postgres => WRITE_LANES
                        .min(self.config.pool.max_connections as usize)
                        .max(1),
                };
                let lane_reports = futures_util::future::join_all((0..lanes).map(|lane| {
                    let mine: Vec<_> = chunks.iter().skip(lane).step_by(lanes).copied().collect();
                    async move {
                        let mut lane_report = BatchReport::default();
                        let mut unreachable = None;
                        for chunk in mine {
                            match &unreachable {
                                Some(error) => fail_chunk(chunk, error, &mut lane_report),
                                None => {
                                    unreachable =
                                        self.write_chunk(chunk, mode, &mut lane_report).await;
                                }
                            }
                        }
                        lane_report
                    }
                }))
                .await;
                for lane_report in lane_reports {
                    report.written += lane_report.written;
                    report.failed.extend(lane_report.failed);
                }
                Ok(report)
            }
            .await,
        )
    }

    async fn usage(&self, filter: &UsageFilter, group: UsageGroup) -> Result<Vec<UsageBucket>> {
        self.counted(
            async {
                let (key, label) = group.columns();
                let hits = self.backend.int("SUM(hits)");
                let head = format!(
                    "SELECT date, {key} AS bucket_key, {label} AS bucket_label, {hits} AS hits"
                );
                let mut tail =
                    format!(" GROUP BY date, {key}, {label} ORDER BY date, hits DESC, bucket_key");
                if let Some(limit) = filter.limit {
                    tail.push_str(&format!(" LIMIT {limit}"));
                }
                let rows = filter
                    .statement(self.backend, &head, &tail)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("query usage"))?;
                rows.iter()
                    .map(|row| {
                        let date: String = row.try_get("date").map_err(db("decode usage"))?;
                        Ok(UsageBucket {
                            date: parse_date(&date)?,
                            key: row.try_get("bucket_key").map_err(db("decode usage"))?,
                            label: row.try_get("bucket_label").map_err(db("decode usage"))?,
                            hits: row.try_get("hits").map_err(db("decode usage"))?,
                        })
                    })
                    .collect()
            }
            .await,
        )
    }

    async fn usage_summary(&self, filter: &UsageFilter) -> Result<UsageSummary> {
        self.counted(async {
            let hits = self.backend.int("COALESCE(SUM(hits), 0)");
            // Empty values (an unknown ASN, say) are not counted as one more.
            let count = |column: &str| {
                self.backend
                    .int(&format!("COUNT(DISTINCT NULLIF({column}, ''))"))
            };
            let head = format!(
                "SELECT {hits} AS total, {} AS countries, {} AS asns, {} AS members, {} AS domains",
                count("country_code"),
                count("network_asn"),
                count("member_name"),
                count("domain_name"),
            );
            let row = filter
                .statement(self.backend, &head, "")
                .fetch_one(&self.pool)
                .await
                .map_err(db("summarise usage"))?;
            let get = |name: &str| {
                row.try_get::<i64, _>(name)
                    .map_err(db("decode usage summary"))
            };
            Ok(UsageSummary {
                total_hits: get("total")?,
                countries: get("countries")?,
                asns: get("asns")?,
                members: get("members")?,
                domains: get("domains")?,
            })
        }.await)
    }
}

/// A `requests.date` value (`YYYY-MM-DD`).
pub(crate) fn parse_date(text: &str) -> Result<NaiveDate> {
    text.parse().map_err(|_| StoreError::BadRow {
        table: "requests",
        reason: format!("date `{text}`"),
    })
}
