//! Outage history is exact however decisions arrive: duplicate and reordered finalizes
//! from three monitors, read by two collators at once on one real database (MariaDB and
//! PostgreSQL), give one outage row per outage, one OutageOpened/OutageClosed pair in
//! Redis (the alerts' trigger), and one consensus log entry per decision.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use geodns_bus::MemoryBus;
use geodns_collator::history;
use geodns_consensus::message::Proposal;
use geodns_store::{OutageFilter, OutageStore, SqlStore};
use geodns_test_support::{Kind, TestDatabase};
use redis::AsyncCommands as _;
use redis::streams::StreamRangeReply;

use crate::collator::{Collator, down_proposal, live_config, wait_for};

/// The `[redis]` section publishing under `prefix`.
fn redis_section(prefix: &str) -> String {
    let url = geodns_test_support::service_url("GEODNS_TEST_REDIS_URL");
    format!("[redis]\nurl = \"{url}\"\nstream_prefix = \"{prefix}\"\nstream_max_len = 1000\n")
}

async fn stream_names(stream: &str) -> Vec<String> {
    let url = geodns_test_support::service_url("GEODNS_TEST_REDIS_URL");
    let mut raw = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let entries: StreamRangeReply = raw.xrange_all(stream).await.unwrap();
    entries
        .ids
        .iter()
        .map(|entry| entry.get::<String>("name").unwrap())
        .collect()
}

fn up_proposal(id: &str) -> Proposal {
    let mut up = down_proposal(id);
    up.status = true;
    up.error = String::new();
    up
}

fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

async fn scenario(kind: Kind) {
    let database = TestDatabase::create(kind).await;
    let store = SqlStore::open(database.store_config()).await.unwrap();
    let other_store = SqlStore::connect(database.store_config()).await.unwrap();
    let (dir1, dir2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let prefix = format!("geodns-it-order-{}-{kind:?}", std::process::id());
    let bus = MemoryBus::new("collator-1");
    let live1 = live_config(dir1.path(), "collator-1", &redis_section(&prefix)).await;
    let live2 = live_config(dir2.path(), "collator-2", &redis_section(&prefix)).await;
    let one = Collator::start_on(bus.clone(), store.clone(), live1).await;
    let two = Collator::start_on(bus.join("collator-2"), other_store, live2).await;
    let monitor = &one.monitor;
    let votes = [("m1", true), ("m2", true), ("m3", false)];

    // First outage: the recovery's finalize overtakes the outage's, and every deciding
    // monitor sends its own copy of each, with its own decision time (in the past: a
    // decision dated after its arrival is recorded when it arrived).
    let t0 = geodns_node::clock::now() - TimeDelta::minutes(5);
    let at = |millis: i64| t0 + TimeDelta::milliseconds(millis);
    let (down, up) = (down_proposal("p-down-1"), up_proposal("p-up-1"));
    monitor.propose_and_vote(&down, &votes).await;
    monitor.propose_and_vote(&up, &votes).await;
    monitor.finalize_at(&up, "m2", true, at(5_000)).await;
    monitor.finalize_at(&down, "m1", true, at(0)).await;
    monitor.finalize_at(&down, "m2", true, at(3)).await;
    monitor.finalize_at(&up, "m1", true, at(5_002)).await;
    monitor.finalize_at(&down, "m3", true, at(7)).await;
    monitor.finalize_at(&up, "m3", true, at(5_009)).await;

    // Second outage, in order, with the copies interleaved.
    let (down2, up2) = (down_proposal("p-down-2"), up_proposal("p-up-2"));
    monitor.propose_and_vote(&down2, &votes).await;
    monitor.finalize_at(&down2, "m1", true, at(10_000)).await;
    monitor.finalize_at(&down2, "m2", true, at(10_004)).await;
    monitor.propose_and_vote(&up2, &votes).await;
    monitor.finalize_at(&up2, "m2", true, at(20_000)).await;
    monitor.finalize_at(&down2, "m3", true, at(10_008)).await;
    monitor.finalize_at(&up2, "m1", true, at(20_001)).await;

    // The warm-up decision and four decisions, each recorded once by each collator.
    for collator in [&one, &two] {
        wait_for("every decision", &collator.queue, |r| {
            r.stored >= 5 && r.pending == 0
        })
        .await;
    }
    let stream = format!("{prefix}:Amforc");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while stream_names(&stream).await.len() < 4 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give a duplicate alert time to show up, if one were coming.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        stream_names(&stream).await,
        [
            "OutageOpened",
            "OutageClosed",
            "OutageOpened",
            "OutageClosed"
        ],
        "one alert per outage change, from one collator"
    );

    let mut outages = store.outages(&OutageFilter::default()).await.unwrap();
    outages.reverse();
    assert_eq!(outages.len(), 2, "{outages:#?}");
    let spans: Vec<(i64, Option<i64>)> = outages
        .iter()
        .map(|o| (ms(o.start), o.end.map(ms)))
        .collect();
    assert_eq!(
        spans,
        [
            (ms(at(0)), Some(ms(at(5_000)))),
            (ms(at(10_000)), Some(ms(at(20_000))))
        ]
    );
    assert_eq!(outages[0].votes.len(), 3);
    assert!(store.current_outages().await.unwrap().is_empty());

    let logged: Vec<String> = history::read(&store, 1)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, entry)| entry.unwrap().proposal)
        .collect();
    let mut sorted = logged.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["p-down-1", "p-down-2", "p-up-1", "p-up-2", "warm-up"],
        "each decision logged once: {logged:?}"
    );

    for collator in [one, two] {
        collator.stop().await;
    }
    let url = geodns_test_support::service_url("GEODNS_TEST_REDIS_URL");
    let mut raw = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = raw.del(&stream).await.unwrap();
    store.close().await;
    database.drop_now().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_collators_record_reordered_copies_once_on_mariadb() {
    scenario(Kind::MySql).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_collators_record_reordered_copies_once_on_postgres() {
    scenario(Kind::Postgres).await;
}

/// A recovery that overtook its outage is kept in the database: the collator that held
/// it restarts before the outage's decision arrives, and the restarted one records the
/// outage already closed.
#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_recovery_survives_a_collator_restart() {
    let database = TestDatabase::create(Kind::MySql).await;
    let store = SqlStore::open(database.store_config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let votes = [("m1", true), ("m2", true)];
    let t0 = geodns_node::clock::now() - TimeDelta::minutes(5);
    let (down, up) = (down_proposal("p-down-r"), up_proposal("p-up-r"));

    let live = live_config(dir.path(), "collator-r", "").await;
    let first = Collator::start_on(MemoryBus::new("collator-r"), store.clone(), live).await;
    first.monitor.propose_and_vote(&up, &votes).await;
    first
        .monitor
        .finalize_at(&up, "m1", true, t0 + TimeDelta::seconds(5))
        .await;
    wait_for("the recovery held", &first.queue, |r| r.stored >= 2).await;
    first.stop().await;

    let live = live_config(dir.path(), "collator-r", "").await;
    let second = Collator::start_on(MemoryBus::new("collator-r"), store.clone(), live).await;
    second.monitor.propose_and_vote(&down, &votes).await;
    second.monitor.finalize_at(&down, "m1", true, t0).await;
    wait_for("the outage recorded", &second.queue, |r| r.stored >= 2).await;
    let outages = store.outages(&OutageFilter::default()).await.unwrap();
    let spans: Vec<(i64, Option<i64>)> = outages
        .iter()
        .map(|o| (ms(o.start), o.end.map(ms)))
        .collect();
    assert_eq!(spans, [(ms(t0), Some(ms(t0 + TimeDelta::seconds(5))))]);
    assert!(store.current_outages().await.unwrap().is_empty());
    let held = geodns_collator::ordering::key(&down.key);
    let left = geodns_store::ClusterStore::state(&store, &held)
        .await
        .unwrap();
    assert!(left.is_none(), "the used recovery is forgotten");
    second.stop().await;
    store.close().await;
    database.drop_now().await;
}
