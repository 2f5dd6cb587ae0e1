//! Usage survives a crash: a DNS node (a `geodns run` process) answers queries, and is
//! killed with SIGKILL more than one journal interval after the last one, before any
//! write to the store (`usage_flush` is an hour). Restarted, it replays its journal and
//! the store then holds every hit exactly once, and still does after further writes.
//! Closes the window where a crash lost up to a whole `usage_flush` of every node's
//! traffic; on SQLite and MariaDB.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use geodns_dns::usage_totals::Totals;
use geodns_store::SqlStore;
use geodns_test_support::{Kind, TestDatabase};

use crate::dns::{config_text, kdig, send_queries, stored_hits};
use crate::support::{Process, free_port, until, write};

const QUERIES: u16 = 2_000;

/// The node's file: DNS only, writing usage every `flush`.
fn node_file(dir: &Path, storage: &str, dns: u16, flush: &str) -> std::path::PathBuf {
    let text = config_text(dir, r#"["dns"]"#, storage, 9)
        .replace(
            "dns = \"127.0.0.1:0\"",
            &format!("dns = \"127.0.0.1:{dns}\""),
        )
        .replace(
            "usage_flush = \"1s\"",
            &format!("usage_flush = \"{flush}\""),
        );
    write(dir, "dns.toml", &text)
}

/// Unwritten hits in the journal (everything, while nothing reached the store).
fn journaled(dir: &Path) -> i64 {
    let text = std::fs::read_to_string(dir.join("usage.journal")).unwrap_or_default();
    Totals::replay(&text).0.unwritten().1
}

async fn survives_a_kill(storage: &str, store: SqlStore) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let dns: SocketAddr = ([127, 0, 0, 1], port).into();
    let config = node_file(dir.path(), storage, port, "1h");
    let log = dir.path().join("first.log");
    let node = Process::start(&config, &log);
    // Ready when it answers; a name outside its zones is refused, and not counted.
    let watch = geodns_node::clock::Stopwatch::start();
    while !kdig(dns, &["example.org", "A"]).contains("REFUSED") {
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(watch.elapsed() < Duration::from_secs(30), "{log}");
        std::thread::sleep(Duration::from_millis(100));
    }
    tokio::task::spawn_blocking(move || send_queries(dns, QUERIES))
        .await
        .unwrap();
    until(
        "every hit is in the journal",
        Duration::from_secs(10),
        || journaled(dir.path()) == i64::from(QUERIES),
    )
    .await;
    assert_eq!(
        stored_hits(&store).await,
        0,
        "nothing written before the kill"
    );
    drop(node); // SIGKILL
    let config = node_file(dir.path(), storage, port, "1s");
    let node = Process::start(&config, &dir.path().join("second.log"));
    until(
        "the journal's hits are in the store",
        Duration::from_secs(30),
        || journaled(dir.path()) == 0,
    )
    .await;
    assert_eq!(stored_hits(&store).await, i64::from(QUERIES));
    // More writes (every second) change nothing: each total is written as a maximum.
    let flushes = geodns_node::clock::Stopwatch::start();
    while flushes.elapsed() < Duration::from_secs(3) {
        assert_eq!(
            stored_hits(&store).await,
            i64::from(QUERIES),
            "counted once"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    node.stop().await;
    assert_eq!(stored_hits(&store).await, i64::from(QUERIES));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_dns_node_loses_no_usage_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let storage = format!("sqlite://{}/usage.db", dir.path().display());
    let store = SqlStore::open(geodns_store::StoreConfig::new(storage.clone()))
        .await
        .unwrap();
    survives_a_kill(&storage, store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_dns_node_loses_no_usage_on_mariadb() {
    let database = TestDatabase::create(Kind::MySql).await;
    let store = SqlStore::open(database.store_config()).await.unwrap();
    survives_a_kill(&database.url, store).await;
    database.drop_now().await;
}
