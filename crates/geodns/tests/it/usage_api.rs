//! A single `geodns run` with every role on SQLite counts each query once in the API:
//! the DNS role writes its own cumulative totals every second and the collator stores
//! its collected copy of the same node's rows every 10 s (`[collator] usage_every`) in
//! the same store, in bursts between and across collections. Closes the window where a
//! collected copy, read before a flush and written back in replace mode after it, set
//! the node's own count back (or, added, doubled it).

use std::net::SocketAddr;
use std::time::Duration;

use crate::dns::{config_text, kdig, send_queries};
use crate::fleet::metric;
use crate::support::{Process, free_port, write};

const BURST: u16 = 1_000;
const BURSTS: u16 = 3;

/// Complete usage collections the node's collator ran.
async fn collections(api: u16) -> u64 {
    let series = "geodns_usage_collections_total{result=\"complete\"}";
    metric(api, series).await.map_or(0, |value| value as u64)
}

/// Waits until the collator completed `count` more collections than `from`.
async fn until_collections(api: u16, from: u64, count: u64, log: &std::path::Path) -> u64 {
    let watch = geodns_node::clock::Stopwatch::start();
    loop {
        let now = collections(api).await;
        if now >= from + count {
            return now;
        }
        assert!(
            watch.elapsed() < Duration::from_secs(60),
            "{now} collections, waiting for {}; log:\n{}",
            from + count,
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `total_requests` of `/api/requests/summary` (today, UTC).
async fn api_total(api: u16) -> i64 {
    let client = geodns_node::http::client(Duration::from_secs(5)).unwrap();
    let url = format!("http://127.0.0.1:{api}/api/requests/summary");
    let summary = crate::observe::get_json(&client, &url).await.unwrap();
    summary["total_requests"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_every_role_counts_each_query_once_in_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let (dns_port, api) = (free_port(), free_port());
    let dns: SocketAddr = ([127, 0, 0, 1], dns_port).into();
    let storage = format!("sqlite://{}/node.db", dir.path().display());
    let text = config_text(
        dir.path(),
        r#"["monitor", "dns", "collator", "api"]"#,
        &storage,
        9,
    )
    .replace(
        "dns = \"127.0.0.1:0\"",
        &format!("dns = \"127.0.0.1:{dns_port}\"\napi = \"127.0.0.1:{api}\""),
    );
    let text = format!("{text}\n[collator]\nusage_every = \"10s\"\nusage_timeout = \"5s\"\n");
    let log = dir.path().join("node.log");
    let node = Process::start(&write(dir.path(), "node.toml", &text), &log);
    // Ready when it answers; a name outside its zones is refused, and not counted.
    let watch = geodns_node::clock::Stopwatch::start();
    while !kdig(dns, &["example.org", "A"]).contains("REFUSED") {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(watch.elapsed() < Duration::from_secs(30), "{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut seen = until_collections(api, 0, 1, &log).await;
    for _ in 0..BURSTS {
        tokio::task::spawn_blocking(move || send_queries(dns, BURST))
            .await
            .unwrap();
        seen = until_collections(api, seen, 1, &log).await;
    }
    let sent = i64::from(BURST * BURSTS);
    // The node's own writes reach the store within a second or two; every collection
    // after that stores the same totals again and changes nothing.
    let watch = geodns_node::clock::Stopwatch::start();
    while api_total(api).await != sent {
        assert!(
            watch.elapsed() < Duration::from_secs(30),
            "the API counts {} of {sent}",
            api_total(api).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for _ in 0..2 {
        seen = until_collections(api, seen, 1, &log).await;
        assert_eq!(api_total(api).await, sent, "counted once");
    }
    let answered = metric(api, "geodns_dns_responses_total{rcode=\"NOERROR\"}").await;
    assert_eq!(answered, Some(sent as f64), "every query was answered");
    node.stop().await;
}
