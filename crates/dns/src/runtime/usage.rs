//! Usage statistics of the DNS role: the workers' counters are collected every
//! `[dns] usage_flush` and at shutdown and added to the store under this node's id; rows
//! the store did not take stay pending for the next flush (nothing lost, nothing counted
//! twice). `dns.usage.getUsage` is answered from the store in the original's shape.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::server::Server;
use crate::usage::{day_of, rows, to_rows};
use chrono::NaiveDate;
use geodns_bus::wire::{UsageRecord, UsageRequest, UsageResponse, decode};
use geodns_bus::{Bus, Subscription};
use geodns_core::ids::NodeId;
use geodns_core::records::UsageKey;
use geodns_store::{SqlStore, StoreError, UsageFilter, UsageStore, WriteMode};
use tokio_util::sync::CancellationToken;

use geodns_node::LiveConfig;

use super::metrics::{DnsCounters, Flush};

/// How long a collection waits for the UDP workers.
const COLLECT_WAIT: Duration = Duration::from_secs(2);

/// How long the flush at shutdown may take (the node stops within 3 s of SIGTERM).
const LAST_FLUSH: Duration = Duration::from_millis(1500);

/// How often the workers' counters are collected between flushes.
const COLLECT_EVERY: Duration = Duration::from_secs(5);

/// Today (UTC) as a day number.
pub fn today() -> i32 {
    day_of(geodns_node::clock::now().date_naive())
}

/// Flushes every `[dns] usage_flush` until `shutdown`, then once more with what the
/// workers counted last. The workers' counters are collected more often (every
/// [`COLLECT_EVERY`]) so `/metrics` is at most that far behind.
pub(super) async fn run_flusher(
    (server, counters): (Arc<Server>, DnsCounters),
    live: LiveConfig,
    store: SqlStore,
    shutdown: CancellationToken,
) {
    let node = live.current().node.id.clone();
    let mut pending: BTreeMap<UsageKey, i64> = BTreeMap::new();
    let mut since_flush = Duration::ZERO;
    // A flush cut short by the shutdown may have written part of its rows: those are
    // then not offered to the store again (reported unwritten rather than counted twice).
    let mut interrupted = false;
    loop {
        let every = live.current().dns.usage_flush;
        let wait = COLLECT_EVERY.min(every.saturating_sub(since_flush));
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(wait) => {}
        }
        since_flush += wait;
        let counts = server.collect(COLLECT_WAIT).await;
        add(&counts, &node, &mut pending, &counters);
        if since_flush >= every {
            since_flush = Duration::ZERO;
            tokio::select! {
                () = shutdown.cancelled() => {
                    interrupted = true;
                    break;
                }
                flushed = flush(&store, &mut pending) => counters.flush(flushed),
            }
        }
    }
    // The workers stop on the same token: wait for their last counters.
    let last = server.stop(COLLECT_WAIT).await;
    add(&last, &node, &mut pending, &counters);
    if !interrupted {
        match tokio::time::timeout(LAST_FLUSH, flush(&store, &mut pending)).await {
            Ok(flushed) => counters.flush(flushed),
            Err(_) => {
                tracing::warn!(limit = ?LAST_FLUSH, "the store did not take the last usage in time")
            }
        }
    }
    if !pending.is_empty() {
        let hits: i64 = pending.values().sum();
        counters.unwritten(pending.len(), hits);
        tracing::error!(
            rows = pending.len(),
            hits,
            "usage not written at shutdown: the store did not take it"
        );
    }
}

/// Adds collected counters to the pending rows and the metrics.
fn add(
    counts: &crate::usage::Counts,
    node: &NodeId,
    pending: &mut BTreeMap<UsageKey, i64>,
    counters: &DnsCounters,
) {
    if counts.fallback > 0 {
        tracing::warn!(
            answers = counts.fallback,
            "answers given with no healthy member"
        );
    }
    counters.add(counts);
    for (key, hits) in rows(&counts.hits, node) {
        *pending.entry(key).or_insert(0) += hits;
    }
}

/// Writes pending rows in add mode; keeps those the store did not take (except invalid
/// ones, which would never be taken: they are logged and dropped).
pub(super) async fn flush(store: &SqlStore, pending: &mut BTreeMap<UsageKey, i64>) -> Flush {
    if pending.is_empty() {
        return Flush::Done {
            written: 0,
            kept: 0,
        };
    }
    let batch = to_rows(pending);
    match store.write_usage(&batch, WriteMode::Add).await {
        Ok(report) => {
            pending.clear();
            for failed in report.failed {
                if let StoreError::InvalidRecord { .. } = failed.error {
                    tracing::error!(error = %failed.error, "usage row dropped");
                    continue;
                }
                *pending.entry(failed.row.key).or_insert(0) += failed.row.hits;
            }
            tracing::debug!(
                written = report.written,
                kept = pending.len(),
                "usage flushed"
            );
            if !pending.is_empty() {
                tracing::warn!(rows = pending.len(), "usage rows kept for the next flush");
            }
            Flush::Done {
                written: report.written as u64,
                kept: pending.len(),
            }
        }
        Err(error) => {
            tracing::warn!(%error, rows = pending.len(), "usage flush failed; kept for the next one");
            Flush::Failed {
                kept: pending.len(),
            }
        }
    }
}

/// Answers `dns.usage.getUsage` until `shutdown`; a request without an inbox is
/// answered on `dns.usage.usageData`, as the original does.
pub async fn answer_usage<B: Bus>(
    bus: B,
    requests: Subscription,
    store: SqlStore,
    node: String,
    shutdown: CancellationToken,
) {
    let reply = |message: geodns_bus::BusMessage| {
        let (store, node) = (store.clone(), node.clone());
        async move {
            let response = respond(&store, &node, &message.payload).await;
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
