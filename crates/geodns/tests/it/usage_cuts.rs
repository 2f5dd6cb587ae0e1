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

use crate::dns::{DNS_ONLY, config_text, send_queries, stored_hits, until_hits};
use crate::node::Node;
use crate::support::{database_behind_proxy, write};

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
    // The writes after it (every second) change nothing: each is a total, kept as a
    // maximum.
    let watch = geodns_node::clock::Stopwatch::start();
    while watch.elapsed() < Duration::from_secs(3) {
        assert_eq!(stored_hits(&direct).await, sent, "counted once");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
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
