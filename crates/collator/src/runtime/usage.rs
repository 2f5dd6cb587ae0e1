//! Usage collection over the bus: at every multiple of `[collator] usage_every` (the top
//! of every UTC hour by default; and on demand, `geodns collect usage`) ask every active
//! DNS node for its rows with `dns.usage.getUsage`, wait
//! until each answered or the timeout passed, and store each node's rows under that node
//! (see `geodns_collator::usage` for the days asked and the max-mode rules).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::CollatorQueue;
use crate::usage::{
    CollectionReport, LAST_RUN, Window, fan_out_window, last_collected, store_answer,
};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use geodns_bus::wire::{UsageRecord, UsageRequest, UsageResponse, WireRole, decode};
use geodns_bus::{Bus, ClusterHandle, subjects};
use geodns_core::ids::NodeId;
use geodns_core::records::{UsageKey, UsageRow};
use geodns_store::{ClusterStore, SqlStore};
use tokio_util::sync::CancellationToken;

use geodns_node::LiveConfig;

/// Runs a collection at every multiple of `[collator] usage_every` until `shutdown`.
pub(super) async fn run_collections<B: Bus>(
    bus: B,
    (cluster, store): (ClusterHandle, SqlStore),
    live: LiveConfig,
    queue: CollatorQueue,
    shutdown: CancellationToken,
) {
    loop {
        let wait = until_next(
            geodns_node::clock::now(),
            live.current().collator.usage_every,
        );
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        let timeout = live.current().collator.usage_timeout;
        let nodes = cluster.active_ids(&WireRole::Dns);
        let collection = collect(
            &bus,
            &store,
            nodes,
            None,
            geodns_node::clock::now(),
            timeout,
        );
        let report = tokio::select! {
            () = shutdown.cancelled() => return,
            report = collection => report,
        };
        queue.collected(report);
    }
}

/// How long from `now` until the next multiple of `every` since the Unix epoch (for an
/// hour, the next top of a UTC hour), at least a second.
pub fn until_next(now: DateTime<Utc>, every: Duration) -> Duration {
    let every_ns = every.as_nanos().max(1);
    let since_epoch = u128::try_from(now.timestamp_nanos_opt().unwrap_or(0)).unwrap_or(0);
    let left = every_ns - since_epoch % every_ns;
    Duration::from_nanos(u64::try_from(left).unwrap_or(u64::MAX)).max(Duration::from_secs(1))
}

/// One collection from `nodes` at `now`: the days each needs (or `window`, when given),
/// every answer stored under its node, the report logged and saved.
pub async fn collect<B: Bus>(
    bus: &B,
    store: &SqlStore,
    nodes: Vec<String>,
    window: Option<Window>,
    now: DateTime<Utc>,
    timeout: Duration,
) -> CollectionReport {
    let mut report = CollectionReport {
        at: Some(now),
        ..CollectionReport::default()
    };
    let expected: BTreeSet<String> = nodes.into_iter().collect();
    let window = match window {
        Some(window) => window,
        None => match last_collected(store, expected.iter().cloned()).await {
            Ok(last) => fan_out_window(&last, now),
            Err(error) => {
                // Without the cursors, ask for what a node never collected would get:
                // nothing already collected is lost by asking for more.
                tracing::warn!(%error, "cannot read when DNS nodes were last collected");
                fan_out_window(&expected.iter().map(|n| (n.clone(), None)).collect(), now)
            }
        },
    };
    report.window = Some(window);
    if expected.is_empty() {
        tracing::info!("usage collection: no active DNS node");
        return finish(store, report).await;
    }
    let request = UsageRequest {
        start_date: window.from.to_string(),
        end_date: window.to.to_string(),
        domain: String::new(),
        member_name: String::new(),
        country: String::new(),
    };
    let payload = Bytes::from(serde_json::to_vec(&request).unwrap_or_default());
    let identify = |message: &geodns_bus::BusMessage| {
        decode::<UsageResponse>("usage response", &message.payload)
            .ok()
            .map(|r| r.node_id)
            .filter(|id| !id.is_empty())
    };
    let gathered = match bus
        .gather(
            subjects::USAGE_REQUEST,
            payload,
            &expected,
            timeout,
            identify,
        )
        .await
    {
        Ok(gathered) => gathered,
        Err(error) => {
            tracing::warn!(%error, "usage collection: cannot ask the DNS nodes");
            report.missing = expected.into_iter().collect();
            return finish(store, report).await;
        }
    };
    report.missing = gathered.missing.iter().cloned().collect();
    for (node, reply) in gathered.replies {
        match rows_of(&node, &reply.payload) {
            Ok(rows) => match NodeId::parse(&node) {
                Ok(id) => match store_answer(store, &id, rows, now).await {
                    Ok(stored) => {
                        report.stored.insert(node, stored);
                    }
                    Err(error) => {
                        report.failed.insert(node, error);
                    }
                },
                Err(error) => {
                    report.failed.insert(node, format!("node id: {error}"));
                }
            },
            Err(error) => {
                report.failed.insert(node, error);
            }
        }
    }
    finish(store, report).await
}

/// Logs the report and keeps it in the key-value state.
async fn finish(store: &SqlStore, report: CollectionReport) -> CollectionReport {
    if report.missing.is_empty() && report.failed.is_empty() {
        tracing::info!(window = ?report.window, stored = ?report.stored, "usage collected");
    } else {
        tracing::warn!(
            window = ?report.window,
            stored = ?report.stored,
            missing = ?report.missing,
            failed = ?report.failed,
            "usage collection incomplete: these DNS nodes are collected at the next run"
        );
    }
    let json = serde_json::to_vec(&report).unwrap_or_default();
    if let Err(error) = store.store_state(LAST_RUN, &json).await {
        tracing::warn!(%error, "cannot save the usage collection report");
    }
    report
}

/// The rows of one node's answer, or why it cannot be used.
fn rows_of(node: &str, payload: &[u8]) -> Result<Vec<UsageRow>, String> {
    let response: UsageResponse = decode("usage response", payload).map_err(|e| e.to_string())?;
    if !response.error.is_empty() {
        return Err(format!("it answered with an error: {}", response.error));
    }
    let node_id = NodeId::parse(node).map_err(|e| format!("node id: {e}"))?;
    let mut rows = Vec::new();
    for (index, record) in response
        .usage_records
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        rows.push(row(&node_id, record).map_err(|e| format!("usageRecords[{index}]: {e}"))?);
    }
    Ok(rows)
}

fn row(node: &NodeId, record: UsageRecord) -> Result<UsageRow, String> {
    let date: NaiveDate = record
        .date
        .get(..10)
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| format!("date `{}` is not YYYY-MM-DD", record.date))?;
    let row = UsageRow {
        key: UsageKey {
            date,
            node: node.clone(),
            domain: record.domain,
            member: record.member_name,
            asn: record.asn,
            network: record.network_name,
            country_code: record.country_code,
            country_name: record.country_name,
            ipv6: record.is_ipv6,
        },
        hits: record.hits,
    };
    row.validate().map_err(|e| e.to_string())?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_next_collection_is_at_the_next_multiple_of_the_interval() {
        let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().to_utc();
        const HOUR: Duration = Duration::from_secs(3600);
        let until_next_hour = |now| until_next(now, HOUR);
        assert_eq!(
            until_next_hour(at("2026-12-07T10:59:30Z")),
            Duration::from_secs(30)
        );
        assert_eq!(
            until_next_hour(at("2026-12-07T10:00:00Z")),
            Duration::from_secs(3600)
        );
        assert_eq!(
            until_next_hour(at("2026-12-07T10:59:59.500Z")),
            Duration::from_secs(1),
            "at least a second"
        );
        let minute = Duration::from_secs(60);
        assert_eq!(
            until_next(at("2026-12-07T10:17:45Z"), minute),
            Duration::from_secs(15)
        );
        assert_eq!(
            until_next(at("2026-12-07T10:17:45Z"), 6 * HOUR),
            Duration::from_secs(3600 + 42 * 60 + 15),
            "multiples of six hours are 00, 06, 12 and 18 UTC"
        );
    }
}
