//! Hourly usage collection over a real nats-server into a real MariaDB and PostgreSQL:
//! two DNS nodes (each with its own store, answering `dns.usage.getUsage` as the DNS role
//! does) are collected under their own ids with IPv4 and IPv6 apart; collecting again,
//! or two collections at once, changes nothing; hits of the last hour of a UTC day are
//! collected after midnight (the collector's clock is driven by the test); a silent node
//! is reported and caught up at the next run.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use geodns_bus::{Bus, NatsBus, NatsConfig, subjects};
use geodns_collator::runtime::usage::collect;
use geodns_core::ids::NodeId;
use geodns_core::records::{UsageKey, UsageRow};
use geodns_store::{ClusterStore, SqlStore, UsageFilter, UsageStore, WriteMode};
use geodns_test_support::{Kind, NatsServer, TestDatabase};
use tokio_util::sync::CancellationToken;

const TIMEOUT: Duration = Duration::from_secs(3);

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

fn at(d: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, d, hour, minute, 0).unwrap()
}

fn row(node: &str, date: NaiveDate, country: &str, ipv6: bool, hits: i64) -> UsageRow {
    UsageRow {
        key: UsageKey {
            date,
            node: NodeId::parse(node).unwrap(),
            domain: "rpc.example.org".into(),
            member: "Amforc".into(),
            asn: "AS3320".into(),
            network: "Deutsche Telekom AG".into(),
            country_code: country.into(),
            country_name: country.into(),
            ipv6,
        },
        hits,
    }
}

/// A DNS node's usage responder on its own NATS connection and store.
struct DnsNode {
    id: &'static str,
    store: SqlStore,
    _database: TestDatabase,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl DnsNode {
    async fn new(id: &'static str) -> DnsNode {
        let database = TestDatabase::create(Kind::Sqlite).await;
        let store = SqlStore::open(database.store_config()).await.unwrap();
        DnsNode {
            id,
            store,
            _database: database,
            stop: CancellationToken::new(),
            task: None,
        }
    }

    async fn answer(&mut self, url: &str) {
        let bus = NatsBus::connect(
            self.id,
            &NatsConfig::new(vec![url.to_owned()]),
            &tokio_util::task::TaskTracker::new(),
        )
        .await
        .unwrap();
        let requests = bus.subscribe(subjects::USAGE_REQUEST).await.unwrap();
        self.stop = CancellationToken::new();
        let task = geodns_dns::runtime::usage::answer_usage(
            bus,
            requests,
            self.store.clone(),
            (self.id.to_owned(), self.config().await),
            self.stop.clone(),
        );
        self.task = Some(tokio::spawn(task));
    }

    /// A DNS node's configuration (usage counted, as by default).
    async fn config(&self) -> geodns_node::LiveConfig {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[node]\nid = \"{}\"\nroles = [\"dns\"]\ndata_dir = \"{}\"\n",
            self.id,
            dir.path().display()
        );
        let path = crate::support::write(dir.path(), "dns.toml", &text);
        geodns_node::LiveConfig::new(crate::support::load_config(&path).await)
    }

    async fn silence(&mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    async fn count(&self, rows: &[UsageRow]) {
        let report = self.store.write_usage(rows, WriteMode::Add).await.unwrap();
        assert!(report.failed.is_empty());
    }
}

/// Hits per (node, date, country, family) in the collator's store.
async fn totals(store: &SqlStore) -> BTreeMap<(String, NaiveDate, String, bool), i64> {
    let mut out = BTreeMap::new();
    for node in ["dns-1", "dns-2"] {
        let filter = UsageFilter {
            nodes: vec![node.to_owned()],
            ..UsageFilter::between(day(20), day(30))
        };
        for total in store.usage_totals(&filter).await.unwrap() {
            let key = (node.to_owned(), total.date, total.country_code, total.ipv6);
            *out.entry(key).or_insert(0) += total.hits;
        }
    }
    out
}

fn entry(
    node: &str,
    d: u32,
    country: &str,
    ipv6: bool,
    hits: i64,
) -> ((String, NaiveDate, String, bool), i64) {
    ((node.to_owned(), day(d), country.to_owned(), ipv6), hits)
}

async fn scenario(kind: Kind) {
    let server = NatsServer::start();
    let url = server.url();
    let database = TestDatabase::create(kind).await;
    let store = SqlStore::open(database.store_config()).await.unwrap();
    let bus = NatsBus::connect(
        "collator-1",
        &NatsConfig::new(vec![url.clone()]),
        &tokio_util::task::TaskTracker::new(),
    )
    .await
    .unwrap();
    let (mut one, mut two) = (DnsNode::new("dns-1").await, DnsNode::new("dns-2").await);
    one.answer(&url).await;
    two.answer(&url).await;
    let nodes = || vec!["dns-1".to_owned(), "dns-2".to_owned()];
    one.count(&[
        row("dns-1", day(29), "DE", false, 10),
        row("dns-1", day(29), "DE", true, 4),
    ])
    .await;
    two.count(&[row("dns-2", day(29), "FR", false, 7)]).await;

    let report = collect(&bus, &store, nodes(), None, at(29, 23, 30), TIMEOUT).await;
    assert!(
        report.missing.is_empty() && report.failed.is_empty(),
        "{report:?}"
    );
    assert_eq!(report.stored.len(), 2, "{report:?}");
    let first = totals(&store).await;
    let want: BTreeMap<_, _> = [
        entry("dns-1", 29, "DE", false, 10),
        entry("dns-1", 29, "DE", true, 4),
        entry("dns-2", 29, "FR", false, 7),
    ]
    .into();
    assert_eq!(
        first, want,
        "each node under its own id, IPv4 and IPv6 apart"
    );

    // Again, and two collectors at once: the totals do not move.
    let other = SqlStore::connect(database.store_config()).await.unwrap();
    let other_bus = NatsBus::connect(
        "collator-2",
        &NatsConfig::new(vec![url.clone()]),
        &tokio_util::task::TaskTracker::new(),
    )
    .await
    .unwrap();
    let (a, b) = tokio::join!(
        collect(&bus, &store, nodes(), None, at(29, 23, 40), TIMEOUT),
        collect(&other_bus, &other, nodes(), None, at(29, 23, 40), TIMEOUT),
    );
    assert_eq!((a.stored.len(), b.stored.len()), (2, 2), "{a:?} {b:?}");
    assert_eq!(totals(&store).await, want);

    // Hits in the last twenty minutes of the day; dns-2 is silent after midnight.
    one.count(&[row("dns-1", day(29), "DE", false, 5)]).await;
    two.count(&[row("dns-2", day(29), "FR", false, 3)]).await;
    two.silence().await;
    let report = collect(&bus, &store, nodes(), None, at(30, 0, 0), TIMEOUT).await;
    assert_eq!(
        report.missing,
        ["dns-2"],
        "the silent node is named: {report:?}"
    );
    let window = report.window.unwrap();
    assert_eq!((window.from, window.to), (day(29), day(30)));
    let saved = store
        .state(geodns_collator::usage::LAST_RUN)
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8(saved).unwrap().contains("dns-2"));
    let after_midnight = totals(&store).await;
    assert_eq!(after_midnight[&entry("dns-1", 29, "DE", false, 0).0], 15);
    assert_eq!(after_midnight[&entry("dns-2", 29, "FR", false, 0).0], 7);

    // dns-2 answers again an hour later: it is asked from the day it was last collected.
    two.answer(&url).await;
    let report = collect(&bus, &store, nodes(), None, at(30, 1, 0), TIMEOUT).await;
    assert!(report.missing.is_empty(), "{report:?}");
    assert_eq!(report.window.unwrap().from, day(29));
    let caught_up = totals(&store).await;
    assert_eq!(caught_up[&entry("dns-2", 29, "FR", false, 0).0], 10);
    assert_eq!(caught_up[&entry("dns-1", 29, "DE", true, 0).0], 4);

    // The same on demand: `geodns collect usage` with explicit days.
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[node]\nid = \"collector-cli\"\nroles = [\"collator\"]\ndata_dir = \"{}\"\n\
         [bus]\nmode = \"nats\"\nurls = [\"{url}\"]\n[storage]\nurl = \"{}\"\n",
        dir.path().display(),
        database.url,
    );
    let config = crate::support::write(dir.path(), "collect.toml", &text);
    let config = config.to_str().unwrap();
    let args = [
        "collect",
        "usage",
        "-c",
        config,
        "--dns-node",
        "dns-1",
        "--dns-node",
        "dns-2",
    ];
    let dates = ["--from", "2026-11-29", "--to", "2026-11-30", "--json"];
    let run = crate::support::geodns(&[&args[..], &dates[..]].concat(), &[]);
    assert!(run.status.success(), "{}", crate::support::stderr(&run));
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["stored"].as_object().unwrap().len(), 2, "{report}");
    assert_eq!(
        totals(&store).await,
        caught_up,
        "an on-demand run changes nothing"
    );
    two.silence().await;
    let run = crate::support::geodns(&[&args[..], &["--timeout", "1s"][..]].concat(), &[]);
    assert!(!run.status.success(), "a missing node fails the command");
    let out = String::from_utf8(run.stdout).unwrap();
    assert!(out.contains("missing: dns-2"), "{out}");

    one.silence().await;
    store.close().await;
    other.close().await;
    database.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_collected_per_node_without_loss_into_mariadb() {
    scenario(Kind::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_collected_per_node_without_loss_into_postgres() {
    scenario(Kind::Postgres).await;
}
