//! 1,000 decisions (500 outages, each opened and closed) stored by a collator while its
//! MariaDB or PostgreSQL connection is cut five times, in the proxy modes of the usage tests: after an
//! outage insert ran, at a `COMMIT` whose reply is dropped (twice), refused connections,
//! and a stalled host. Every outage is stored once and alerted once: one OFFLINE message
//! and one edit of it in a real Synapse room, whatever the database's answers were lost.
//! The window it closes: an outage committed with its reply lost was retried as a copy,
//! and its alert never sent.

use std::collections::BTreeSet;
use std::time::Duration;

use geodns_bus::MemoryBus;
use geodns_store::{OutageFilter, OutageStore, SqlStore, StoreConfig};
use geodns_test_support::Kind;
use serde_json::Value;

use crate::collator::{Collator, down_proposal, live_config, wait_for};
use crate::matrix::{User, matrix_section, users_and_room};
use crate::support::{database_behind_proxy, until};

/// Outages per batch; five batches, one cut each.
const PER_BATCH: usize = 100;
const BATCHES: usize = 5;

/// Every `m.room.message` of the room, paging back from the newest.
async fn all_messages(user: &User, room: &str) -> Vec<Value> {
    let mut messages = Vec::new();
    let mut from = String::new();
    loop {
        let room = url::form_urlencoded::byte_serialize(room.as_bytes()).collect::<String>();
        let mut path = format!("rooms/{room}/messages?dir=b&limit=500");
        if !from.is_empty() {
            path.push_str(&format!("&from={from}"));
        }
        let page = user.call(reqwest::Method::GET, &path, None).await;
        let chunk = page["chunk"].as_array().cloned().unwrap_or_default();
        messages.extend(
            chunk
                .iter()
                .filter(|e| e["type"] == "m.room.message")
                .cloned(),
        );
        match page["end"].as_str() {
            Some(end) if !chunk.is_empty() => from = end.to_owned(),
            _ => return messages,
        }
    }
}

/// Sends batch `batch`: each of its outages opened, then closed a minute later.
async fn send_batch(collator: &Collator, batch: usize) {
    let t0 = geodns_node::clock::now();
    let votes = [("m1", true), ("m2", true), ("m3", false)];
    for i in batch * PER_BATCH..(batch + 1) * PER_BATCH {
        let mut down = down_proposal(&format!("p-cut-{i}-down"));
        down.key.domain = format!("rpc{i}.example");
        let mut up = down.clone();
        up.id = geodns_consensus::message::ProposalId::parse(&format!("p-cut-{i}-up")).unwrap();
        up.status = true;
        let monitor = &collator.monitor;
        monitor.propose_and_vote(&down, &votes).await;
        monitor.finalize_at(&down, "m1", true, t0).await;
        monitor.propose_and_vote(&up, &votes).await;
        let back = t0 + chrono::TimeDelta::seconds(60);
        monitor.finalize_at(&up, "m1", true, back).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_decisions_through_five_mariadb_cuts_store_and_alert_each_outage_once() {
    through_five_cuts(Kind::MySql).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_decisions_through_five_postgres_cuts_store_and_alert_each_outage_once() {
    through_five_cuts(Kind::Postgres).await;
}

async fn through_five_cuts(kind: Kind) {
    let (_bot, contact, room) = users_and_room().await;
    let (database, proxy, url) = database_behind_proxy(kind).await;
    let mut config = StoreConfig::new(url.to_string());
    config.pool.min_idle = 0;
    config.pool.acquire_timeout = Duration::from_secs(1);
    let store = SqlStore::connect(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let matrix = matrix_section(
        &geodns_test_support::service_url("GEODNS_TEST_MATRIX_URL"),
        &room,
    );
    let live = live_config(dir.path(), "collator", &matrix).await;
    let collator = Collator::start_on(MemoryBus::new("collator"), store, live).await;
    let queue = &collator.queue;
    let stored = |batch: usize| 1 + 2 * PER_BATCH as u64 * (batch as u64 + 1);

    for batch in 0..BATCHES {
        match batch {
            // The insert runs (and, without a transaction, commits); its reply is lost.
            0 => proxy.cut_after(b"INSERT INTO member_events", 1),
            // The commit runs; its reply is lost.
            1 | 4 => proxy.cut_at(b"COMMIT", 1),
            _ => {}
        }
        send_batch(&collator, batch).await;
        match batch {
            2 => {
                proxy.cut();
                tokio::time::sleep(Duration::from_secs(1)).await;
                proxy.restore();
            }
            3 => {
                proxy.stall();
                tokio::time::sleep(Duration::from_secs(2)).await;
                proxy.restore();
            }
            _ => {}
        }
        wait_for("the batch stored", queue, |r| {
            r.pending == 0 && r.stored >= stored(batch)
        })
        .await;
    }
    assert_eq!(proxy.cuts_made(), 3, "the three marked cuts were made");
    let report = queue.report();
    assert!(
        report.retries >= 4,
        "every cut made a write fail: {report:?}"
    );

    let direct = SqlStore::connect(database.store_config()).await.unwrap();
    let outages = direct.outages(&OutageFilter::default()).await.unwrap();
    let checks: BTreeSet<_> = outages.iter().map(|o| o.key.domain.clone()).collect();
    assert_eq!(outages.len(), PER_BATCH * BATCHES, "one row per outage");
    assert_eq!(checks.len(), PER_BATCH * BATCHES);
    assert!(outages.iter().all(|o| o.end.is_some()), "all closed");

    let expected = 2 * PER_BATCH * BATCHES;
    contact
        .wait_messages(&room, 1, Duration::from_secs(30))
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let mut messages = all_messages(&contact, &room).await;
    while messages.len() < expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {expected} messages",
            messages.len()
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        messages = all_messages(&contact, &room).await;
    }
    until("the outbox is empty", Duration::from_secs(30), || {
        collator_pending(&collator) == 0.0
    })
    .await;
    let messages = all_messages(&contact, &room).await;
    assert_eq!(
        messages.len(),
        expected,
        "one OFFLINE and one edit per outage"
    );
    let offline: BTreeSet<&str> = messages
        .iter()
        .filter(|m| m["content"]["m.relates_to"].is_null())
        .map(|m| m["event_id"].as_str().unwrap())
        .collect();
    let edited: BTreeSet<&str> = messages
        .iter()
        .filter_map(|m| m["content"]["m.relates_to"]["event_id"].as_str())
        .collect();
    assert_eq!(offline.len(), PER_BATCH * BATCHES, "one OFFLINE per outage");
    assert_eq!(edited, offline, "each OFFLINE edited once");
    collator.stop().await;
    direct.close().await;
    database.drop_now().await;
}

fn collator_pending(collator: &Collator) -> f64 {
    let text = geodns_node::metrics::encode(&collator.ctx.metrics.families());
    text.lines()
        .find_map(|l| {
            l.strip_prefix("geodns_matrix_alerts_pending ")?
                .parse()
                .ok()
        })
        .unwrap_or(f64::MAX)
}
