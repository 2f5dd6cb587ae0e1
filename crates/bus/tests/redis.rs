//! Stream publishing against a real Redis: the single instance of `scripts/services`, and
//! a three-node cluster started for the test.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::BTreeMap;

use geodns_bus::redis::{EventPublisher, RedisClient, RedisConfig, StreamEvent};
use geodns_test_support::{RedisCluster, service_url};
use redis::AsyncCommands;
use redis::streams::StreamRangeReply;

fn event(member: &str, id: &str) -> StreamEvent {
    StreamEvent {
        name: "OutageOpened".into(),
        signal: format!("{{\"member\":\"{member}\",\"id\":\"{id}\"}}"),
        member: member.into(),
        domain: "polkadot.dotters.network".into(),
        request_id: id.into(),
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        std::time::UNIX_EPOCH.elapsed().unwrap().as_nanos()
    )
}

#[tokio::test]
async fn single_instance_stream_publishing() {
    let url = service_url("GEODNS_TEST_REDIS_URL");
    let client = RedisClient::connect(&RedisConfig::from_url(&url))
        .await
        .unwrap();
    let prefix = unique("geodns-test");
    let mut publisher = EventPublisher::new(client, &prefix, 100);
    let id = publisher
        .publish(&event("Stake Plus", "p-1"))
        .await
        .unwrap();
    assert!(id.contains('-'), "stream ids look like <ms>-<seq>: {id}");

    let mut raw = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let stream = format!("{prefix}:Stake Plus");
    let entries: StreamRangeReply = raw.xrange_all(&stream).await.unwrap();
    assert_eq!(entries.ids.len(), 1);
    let fields: BTreeMap<String, String> = entries.ids[0]
        .map
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                redis::from_redis_value::<String>(v.clone()).unwrap(),
            )
        })
        .collect();
    assert_eq!(fields["name"], "OutageOpened");
    assert_eq!(fields["member"], "Stake Plus");
    assert_eq!(fields["domain"], "polkadot.dotters.network");
    assert_eq!(fields["messageType"], "signalMessage");
    assert_eq!(fields["requestId"], "p-1");
    assert_eq!(
        fields["signal"],
        "{\"member\":\"Stake Plus\",\"id\":\"p-1\"}"
    );

    for i in 0..1_000 {
        publisher
            .publish(&event("Stake Plus", &format!("p-{i}")))
            .await
            .unwrap();
    }
    let length: usize = raw.xlen(&stream).await.unwrap();
    assert!(
        (100..1_000).contains(&length),
        "approximate MAXLEN keeps the stream near 100 entries, got {length}"
    );
    let _: () = raw.del(&stream).await.unwrap();
}

#[tokio::test]
async fn a_dead_server_fails_the_ping_with_the_seeds_error_kind() {
    let mut config = RedisConfig::from_url("redis://127.0.0.1:1");
    config.dial_timeout = std::time::Duration::from_millis(500);
    let error = RedisClient::connect(&config).await.unwrap_err();
    assert!(
        error.to_string().starts_with("redis: ping failed: "),
        "{error}"
    );
}

#[tokio::test]
async fn cluster_stream_publishing() {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .unwrap();
    let vars: BTreeMap<String, String> = [
        ("REDIS_CLUSTER_MODE_ON".to_owned(), "true".to_owned()),
        (
            "REDIS_CLUSTER_ADDRESSES".to_owned(),
            cluster.addresses().join(","),
        ),
    ]
    .into();
    let config = RedisConfig::from_env(&vars).unwrap().unwrap();
    let client = RedisClient::connect(&config).await.unwrap();
    let mut publisher = EventPublisher::new(client, "geodns-stream", 1_000);
    // Members hash to different slots, so the writes land on different masters.
    for member in [
        "Amforc",
        "Stake Plus",
        "Dwellir",
        "Rotko Networks",
        "Gatotech",
    ] {
        let id = publisher.publish(&event(member, "c-1")).await.unwrap();
        assert!(id.contains('-'), "{id}");
    }
    drop(cluster);
}
