//! Usage statistics of the DNS role: the workers' counters are collected every
//! `[dns] usage_journal` into cumulative totals (`crate::usage_totals`), appended to the
//! journal in the data directory, and written to the store every `[dns] usage_flush`
//! keeping the larger total (`WriteMode::Max`), so a write repeated after an unknown
//! outcome, or a collator's older copy, changes nothing and a crash
//! loses at most one journal interval. At start the journal is replayed and the store's
//! own rows taken where larger; at shutdown the last counts go to the journal first, then
//! to the store if it answers in time. `dns.usage.getUsage` is answered from the store in
//! the original's shape.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::server::Server;
use crate::usage::{day_of, rows};
use crate::usage_totals::Totals;
use chrono::NaiveDate;
use geodns_bus::wire::{UsageRecord, UsageRequest, UsageResponse, decode};
use geodns_bus::{Bus, Subscription};
use geodns_core::ids::NodeId;
use geodns_core::records::{UsageKey, UsageRow};
use geodns_store::{SqlStore, StoreError, UsageFilter, UsageStore, WriteMode};
use tokio_util::sync::CancellationToken;

use geodns_node::LiveConfig;

use geodns_node::journal::Journal;

use super::metrics::{DnsCounters, Flush};

/// How long a collection waits for the UDP workers.
const COLLECT_WAIT: Duration = Duration::from_secs(2);

/// How long the write at shutdown may take (the node stops within 3 s of SIGTERM); what
/// it does not write stays in the journal for the next start.
const LAST_FLUSH: Duration = Duration::from_millis(1000);

/// Counters the totals hold at most (about 200 bytes each); beyond, the oldest days go.
const MAX_COUNTERS: usize = 500_000;

/// Written counters are kept this many days back (so a late increment finds its total).
const KEEP_DAYS: i64 = 2;

/// Today (UTC) as a day number.
pub fn today() -> i32 {
    day_of(geodns_node::clock::now().date_naive())
}

/// The store operation in flight: reading this node's stored totals, or a write.
type Writing = Pin<Box<dyn Future<Output = Done> + Send>>;

/// What a store operation did.
enum Done {
    /// The store's totals of this node (`None`: it did not answer).
    Seeded(Option<Vec<UsageRow>>),
    /// A write.
    Wrote(Written),
}

/// What a write did: the rows the store took, and how many it did not.
struct Written {
    taken: Vec<UsageRow>,
    failed: usize,
}

/// Collects, journals and writes usage until `shutdown`, then journals the workers'
/// last counts and writes once more if the store answers in time.
pub(super) async fn run_flusher(
    (server, counters): (Arc<Server>, DnsCounters),
    live: LiveConfig,
    store: SqlStore,
    shutdown: CancellationToken,
) {
    let config = live.current();
    let node = config.node.id.clone();
    let mut journal = super::journal::open(&config.node.data_dir);
    let mut totals = super::journal::load(&journal).await;
    compact(&mut journal, &totals).await;
    let mut seeded = false;
    let mut collect_tick = tokio::time::interval(config.dns.usage_journal);
    let mut flush_tick = tokio::time::interval(config.dns.usage_flush);
    for tick in [&mut collect_tick, &mut flush_tick] {
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    let mut writing: Option<Writing> = None;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = collect_tick.tick() => {
                let counts = server.collect(COLLECT_WAIT).await;
                journal_increments(&mut journal, &mut totals, increments(&counts, &node, &counters)).await;
                counters.pending(totals.dirty_len());
                if journal.grown() {
                    // The store has not taken a write for long: keep the file bounded.
                    prune(&mut totals, &counters);
                    compact(&mut journal, &totals).await;
                }
            }
            _ = flush_tick.tick(), if writing.is_none() => {
                writing = next_operation(&store, &node, &mut totals, (seeded, &counters));
            }
            done = in_flight(&mut writing), if writing.is_some() => {
                writing = None;
                match done {
                    Done::Seeded(Some(stored)) => {
                        totals.seed(stored);
                        seeded = true;
                        writing = next_operation(&store, &node, &mut totals, (seeded, &counters));
                    }
                    Done::Seeded(None) => {}
                    Done::Wrote(written) => taken(&mut journal, &mut totals, written, &counters).await,
                }
            }
        }
    }
    // A write cut here may have committed part of its rows: harmless in max mode.
    drop(writing);
    let last = server.stop(COLLECT_WAIT).await;
    journal_increments(
        &mut journal,
        &mut totals,
        increments(&last, &node, &counters),
    )
    .await;
    if totals.has_dirty() {
        let last_write = async {
            if !seeded {
                let stored = seed(store.clone(), node.clone(), seed_days(&totals)).await?;
                totals.seed(stored);
            }
            Some(write(store.clone(), totals.to_write()).await)
        };
        match tokio::time::timeout(LAST_FLUSH, last_write).await {
            Ok(Some(written)) => taken(&mut journal, &mut totals, written, &counters).await,
            Ok(None) => {}
            Err(_) => {
                tracing::warn!(limit = ?LAST_FLUSH, "the store did not take the last usage in time")
            }
        }
    }
    let (rows, hits) = totals.unwritten();
    if rows > 0 {
        counters.unwritten(rows, 0);
        tracing::warn!(rows, hits, path = %super::journal::FILE, "usage not in the store at shutdown: kept in the journal, written at the next start");
    }
}

/// What to do with the store next: read this node's stored totals first (once), then
/// write the dirty totals. Runs as the operation in flight, so shutdown never waits on a
/// slow store.
fn next_operation(
    store: &SqlStore,
    node: &NodeId,
    totals: &mut Totals,
    (seeded, counters): (bool, &DnsCounters),
) -> Option<Writing> {
    if !seeded {
        let read = seed(store.clone(), node.clone(), seed_days(totals));
        return Some(Box::pin(async move { Done::Seeded(read.await) }));
    }
    if !totals.has_dirty() {
        return None;
    }
    prune(totals, counters);
    let written = write(store.clone(), totals.to_write());
    Some(Box::pin(async move { Done::Wrote(written.await) }))
}

/// The operation in flight (never polled without one: the select's guard).
async fn in_flight(writing: &mut Option<Writing>) -> Done {
    match writing.as_mut() {
        Some(write) => write.await,
        None => std::future::pending().await,
    }
}

/// Adds increments to the totals and appends them to the journal.
async fn journal_increments(
    journal: &mut Journal,
    totals: &mut Totals,
    increments: BTreeMap<UsageKey, i64>,
) {
    if increments.is_empty() {
        return;
    }
    totals.add(&increments);
    if let Err(error) = journal.append(Totals::increments_line(&increments)).await {
        tracing::error!(%error, "cannot append to the usage journal: a crash now would lose these counts");
    }
}

/// Marks what the store took as written, and rewrites the journal as one snapshot.
async fn taken(
    journal: &mut Journal,
    totals: &mut Totals,
    written: Written,
    counters: &DnsCounters,
) {
    totals.written(&written.taken);
    let kept = totals.dirty_len();
    let flush = if written.taken.is_empty() && written.failed > 0 {
        Flush::Failed { kept }
    } else {
        Flush::Done {
            written: written.taken.len() as u64,
            kept,
        }
    };
    counters.flush(flush);
    compact(journal, totals).await;
}

async fn compact(journal: &mut Journal, totals: &Totals) {
    if let Err(error) = journal.compact(totals.snapshot_line()).await {
        tracing::error!(%error, "cannot rewrite the usage journal");
    }
}

/// The days to read the store's totals of: those held, and the last [`KEEP_DAYS`].
fn seed_days(totals: &Totals) -> (NaiveDate, NaiveDate) {
    let today = geodns_node::clock::now().date_naive();
    let days = totals.days();
    let from = days
        .first()
        .copied()
        .unwrap_or(today)
        .min(today - chrono::TimeDelta::days(KEEP_DAYS));
    (from, today.max(days.last().copied().unwrap_or(today)))
}

/// This node's stored totals of the days `(from, to)`, read before the first write so a
/// lost or old journal cannot make the node write less than the store holds; `None`
/// when the store did not answer (nothing is written until it does).
async fn seed(
    store: SqlStore,
    node: NodeId,
    (from, to): (NaiveDate, NaiveDate),
) -> Option<Vec<UsageRow>> {
    let filter = UsageFilter {
        nodes: vec![node.to_string()],
        ..UsageFilter::between(from, to)
    };
    match store.usage_totals(&filter).await {
        Ok(stored) => Some(
            stored
                .into_iter()
                .map(|total| UsageRow {
                    key: UsageKey {
                        date: total.date,
                        node: node.clone(),
                        domain: total.domain,
                        member: total.member,
                        asn: total.asn,
                        network: total.network,
                        country_code: total.country_code,
                        country_name: total.country_name,
                        ipv6: total.ipv6,
                    },
                    hits: total.hits,
                })
                .collect(),
        ),
        Err(error) => {
            tracing::warn!(%error, "cannot read this node's stored usage yet; writing waits for it");
            None
        }
    }
}

/// Drops written counters older than [`KEEP_DAYS`], and whole old days beyond
/// [`MAX_COUNTERS`] (counted and logged: those hits are lost).
fn prune(totals: &mut Totals, counters: &DnsCounters) {
    let today = geodns_node::clock::now().date_naive();
    let dropped = totals.prune(today - chrono::TimeDelta::days(KEEP_DAYS), MAX_COUNTERS);
    if dropped.unwritten_rows > 0 {
        counters.unwritten(0, dropped.unwritten_hits);
        tracing::error!(
            rows = dropped.unwritten_rows,
            hits = dropped.unwritten_hits,
            "usage of the oldest days dropped unwritten: the store has been unreachable too long"
        );
    }
}

/// The workers' counts as increments per counter, added to the metrics.
fn increments(
    counts: &crate::usage::Counts,
    node: &NodeId,
    counters: &DnsCounters,
) -> BTreeMap<UsageKey, i64> {
    if counts.fallback > 0 {
        tracing::warn!(
            answers = counts.fallback,
            "answers given with no healthy member"
        );
    }
    counters.add(counts);
    rows(&counts.hits, node)
}

/// Writes `rows` (cumulative totals) keeping the larger of stored and written. Rows the store can never take are logged and
/// counted as taken (retrying them would never end).
async fn write(store: SqlStore, rows: Vec<UsageRow>) -> Written {
    match store.write_usage(&rows, WriteMode::Max).await {
        Ok(report) => {
            let mut failed = std::collections::BTreeSet::new();
            for row in report.failed {
                if let StoreError::InvalidRecord { .. } = row.error {
                    tracing::error!(error = %row.error, "usage row dropped");
                    continue;
                }
                failed.insert(row.row.key);
            }
            let failed_count = failed.len();
            if failed_count > 0 {
                tracing::warn!(rows = failed_count, "usage rows kept for the next write");
            }
            let taken = rows
                .into_iter()
                .filter(|row| !failed.contains(&row.key))
                .collect();
            Written {
                taken,
                failed: failed_count,
            }
        }
        Err(error) => {
            tracing::warn!(%error, rows = rows.len(), "usage write failed; kept for the next one");
            Written {
                taken: Vec::new(),
                failed: rows.len(),
            }
        }
    }
}

/// Answers `dns.usage.getUsage` until `shutdown`; a request without an inbox is
/// answered on `dns.usage.usageData`, as the original does.
///
/// With `[dns] usage = false` nothing is counted, so every request gets the empty set
/// (the original's `null`), and the log says why, once.
pub async fn answer_usage<B: Bus>(
    bus: B,
    requests: Subscription,
    store: SqlStore,
    (node, live): (String, LiveConfig),
    shutdown: CancellationToken,
) {
    let told = Arc::new(AtomicBool::new(false));
    let reply = |message: geodns_bus::BusMessage| {
        let (store, node, live, told) = (store.clone(), node.clone(), live.clone(), told.clone());
        async move {
            let response = if live.current().dns.usage {
                respond(&store, &node, &message.payload).await
            } else {
                if !told.swap(true, Ordering::Relaxed) {
                    tracing::info!(
                        "usage requests are answered with nothing: this node counts no usage ([dns] usage = false)"
                    );
                }
                UsageResponse {
                    node_id: node,
                    usage_records: None,
                    error: String::new(),
                }
            };
            Some(serde_json::to_vec(&response).unwrap_or_default())
        }
    };
    let no_inbox = Some(geodns_bus::subjects::USAGE_DATA);
    geodns_node::bus::answer_requests(bus, requests, no_inbox, shutdown, reply).await;
}

/// The reply to one request: the original's validation (10-character dates, start not
/// after end) and shape (this node's rows, `nodeid` empty, `null` when none).
pub(super) async fn respond(store: &SqlStore, node: &str, payload: &[u8]) -> UsageResponse {
    let error = |text: String| UsageResponse {
        node_id: node.to_owned(),
        usage_records: Some(Vec::new()),
        error: text,
    };
    let request: UsageRequest = match decode("usage request", payload) {
        Ok(request) => request,
        Err(e) => return error(e.to_string()),
    };
    let date = |text: &str, field: &str| {
        if text.len() != 10 {
            return Err(format!("{field} must be YYYY-MM-DD, got `{text}`"));
        }
        text.parse::<NaiveDate>()
            .map_err(|_| format!("{field} `{text}` is not a date"))
    };
    let (from, to) = match (
        date(&request.start_date, "startDate"),
        date(&request.end_date, "endDate"),
    ) {
        (Ok(from), Ok(to)) if from <= to => (from, to),
        (Ok(_), Ok(_)) => return error("startDate is after endDate".to_owned()),
        (Err(e), _) | (_, Err(e)) => return error(e),
    };
    let text = |value: &str| Some(value.trim().to_owned()).filter(|v| !v.is_empty());
    let filter = UsageFilter {
        domains: text(&request.domain)
            .map(|d| d.to_ascii_lowercase())
            .into_iter()
            .collect(),
        members: text(&request.member_name).into_iter().collect(),
        countries: text(&request.country)
            .map(|c| c.to_ascii_uppercase())
            .into_iter()
            .collect(),
        // This node's own rows, as the original's local table: a collator stores each
        // node's reply under that node, so another node's rows must not be in it.
        nodes: vec![node.to_owned()],
        ..UsageFilter::between(from, to)
    };
    match store.usage_totals(&filter).await {
        Ok(totals) if totals.is_empty() => UsageResponse {
            node_id: node.to_owned(),
            usage_records: None,
            error: String::new(),
        },
        Ok(totals) => UsageResponse {
            node_id: node.to_owned(),
            usage_records: Some(totals.into_iter().map(record).collect()),
            error: String::new(),
        },
        Err(e) => error(format!("cannot read usage: {e}")),
    }
}

fn record(total: geodns_store::UsageTotal) -> UsageRecord {
    UsageRecord {
        node_id: String::new(),
        date: total.date.to_string(),
        domain: total.domain,
        member_name: total.member,
        country_code: total.country_code,
        asn: total.asn,
        network_name: total.network,
        country_name: total.country_name,
        hits: total.hits,
        is_ipv6: total.ipv6,
    }
}
