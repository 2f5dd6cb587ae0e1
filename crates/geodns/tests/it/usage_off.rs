//! `[dns] usage = false` is honoured: a DNS node that answered and collected 1,000
//! queries keeps nothing to write or journal, stores no usage row, and answers usage requests with the
//! empty set (the original's `null`).

use std::time::Duration;

use geodns_bus::wire::UsageResponse;
use geodns_bus::{MemoryBus, subjects};
use geodns_store::SqlStore;
use geodns_test_support::{Kind, TestDatabase};

use crate::dns::{DNS_ONLY, config_text, send_queries, stored_hits};
use crate::node::Node;
use crate::support::{ask, until, write};

#[tokio::test(flavor = "multi_thread")]
async fn usage_off_stores_nothing_after_a_thousand_queries() {
    let database = TestDatabase::create(Kind::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(dir.path(), r#"["dns"]"#, &database.url, 9).replace(
        "usage_flush = \"1s\"",
        "usage_flush = \"1s\"\nusage = false",
    );
    assert!(text.contains("usage = false"), "{text}");
    let path = write(dir.path(), "dns.toml", &text);
    let bus = MemoryBus::new("dns-it");
    let node = Node::start(bus.clone(), &path, DNS_ONLY).await;
    let server = node.dns();
    tokio::task::spawn_blocking(move || send_queries(server, 1000))
        .await
        .unwrap();
    let metric = |name: &str| node.metric(name).unwrap_or(0.0);
    until("the queries counted", Duration::from_secs(30), || {
        metric("geodns_dns_queries_total") >= 1000.0
    })
    .await;
    // The collection that brought the query counts would have brought their usage too:
    // nothing is waiting to be written, nor journaled, nor stored.
    assert_eq!(metric("geodns_usage_rows_pending"), 0.0);
    let journal = std::fs::read_to_string(dir.path().join("usage.journal")).unwrap_or_default();
    let (totals, _) = geodns_dns::usage_totals::Totals::replay(&journal);
    assert_eq!(totals.unwritten(), (0, 0), "nothing journaled: {journal}");
    let store = SqlStore::open(database.store_config()).await.unwrap();
    assert_eq!(stored_hits(&store).await, 0, "no usage stored");

    let today = geodns_node::clock::now().date_naive().to_string();
    let request = serde_json::json!({"startDate": today, "endDate": today});
    let response: UsageResponse = ask(&bus, subjects::USAGE_REQUEST, request).await;
    assert_eq!(response.usage_records, None);
    assert_eq!(response.error, "");
    node.stop().await;
    store.close().await;
}
