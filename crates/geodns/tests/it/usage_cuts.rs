//! Usage written through connections cut with a statement in flight: the proxy lets an
//! `INSERT` of usage reach the database, which runs and commits it, and closes the
//! connection before the reply, five times, while a DNS node answers 100,000 queries. The
//! node cannot know the write happened and writes again: the store ends with exactly the
//! hits sent. Closes the window where a retry after an unknown commit outcome added the
//! same counts twice (add mode); on MariaDB and PostgreSQL.

use std::time::Duration;

use geodns_bus::MemoryBus;
use geodns_store::{SqlStore, StoreConfig};
use geodns_test_support::Kind;

use crate::dns::{DNS_ONLY, config_text, send_queries, stored_hits, unknown_row, until_hits};
use crate::node::Node;
use crate::support::{database_behind_proxy, until, write};

/// Queries per batch, and at least this many in all.
const BATCH: u16 = 5_000;
const TOTAL: i64 = 100_000;
/// Writes cut in flight.
const CUTS: usize = 5;

async fn cut_mid_statement(kind: Kind) {
    let (database, proxy, url) = database_behind_proxy(kind).await;
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "dns.toml",
        &config_text(dir.path(), r#"["dns"]"#, url.as_str(), 9),
    );
    let node = Node::start(MemoryBus::new("dns-it"), &path, DNS_ONLY).await;
    let direct = SqlStore::connect(StoreConfig::new(database.url.clone()))
        .await
        .unwrap();
    let server = node.dns();
    let mut sent = 0i64;
    proxy.cut_after(b"INSERT INTO requests", CUTS);
    // Traffic keeps flowing (so the node keeps writing) until five writes were cut after
    // reaching the database; then the rest of the 100,000 queries.
    let watch = geodns_node::clock::Stopwatch::start();
    while proxy.cuts_made() < CUTS {
        assert!(
            watch.elapsed() < Duration::from_secs(120),
            "{} of {CUTS} cuts made",
            proxy.cuts_made()
        );
        tokio::task::spawn_blocking(move || send_queries(server, BATCH))
            .await
            .unwrap();
        sent += i64::from(BATCH);
    }
    while sent < TOTAL {
        let batch = BATCH.min(u16::try_from(TOTAL - sent).unwrap_or(BATCH));
        tokio::task::spawn_blocking(move || send_queries(server, batch))
            .await
            .unwrap();
        sent += i64::from(batch);
    }
    until_hits(&direct, sent).await;
    // Once nothing waits to be written, no later write can change the count.
    let pending = || node.metric("geodns_usage_rows_pending");
    until("no usage row pending", Duration::from_secs(30), || {
        pending() == Some(0.0)
    })
    .await;
    assert_eq!(stored_hits(&direct).await, sent, "counted once");
    node.stop().await;
    assert_eq!(stored_hits(&direct).await, sent);
    database.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_cut_in_flight_count_once_on_mariadb() {
    cut_mid_statement(Kind::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_cut_in_flight_count_once_on_postgres() {
    cut_mid_statement(Kind::Postgres).await;
}

/// A write while the database cannot be reached fails whole within the pool's retries,
/// whatever its size: rows are tried one by one only when the statement failed for its
/// data. Closes the window where a database outage held one write for every row times
/// every retry (hours for a busy node), so no write failed, was counted or logged while
/// the outage lasted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_to_an_unreachable_database_fails_at_once() {
    use geodns_store::{HealthCheck, UsageStore, WriteMode};

    let (database, proxy, url) = database_behind_proxy(Kind::MySql).await;
    let mut config = StoreConfig::new(url.to_string());
    config.pool.acquire_timeout = Duration::from_millis(200);
    config.pool.min_idle = 0;
    let store = SqlStore::connect(config).await.unwrap();
    let rows: Vec<_> = (0..600)
        .map(|i| unknown_row("dns-cut", &format!("h{i}.geo.example"), 1))
        .collect();
    // The pooled connections die; new ones hang (a database host gone silent), so every
    // try ends in the pool's acquire timeout.
    proxy.cut();
    while store.health(Duration::from_secs(1)).await.is_ok() {
        tokio::task::yield_now().await;
    }
    proxy.stall();
    // Row by row this takes 600 rows x 5 tries x 200 ms; whole, 5 x 200 ms per chunk.
    let write = store.write_usage(&rows, WriteMode::Max);
    let report = tokio::time::timeout(Duration::from_secs(60), write)
        .await
        .expect("the write fails within a minute")
        .unwrap();
    assert_eq!((report.written, report.failed.len()), (0, rows.len()));
    assert!(
        report.failed[0].error.to_string().contains("timed out"),
        "{}",
        report.failed[0].error
    );
    proxy.restore();
    let report = store.write_usage(&rows, WriteMode::Max).await.unwrap();
    assert_eq!((report.written, report.failed.len()), (rows.len(), 0));
    store.close().await;
    database.drop_now().await;
}
