//! Stream publishing against a real Redis: the single instance of `scripts/services`, and
//! a three-node cluster started for the test. Every entry is read back (XRANGE/XLEN) and
//! compared with what was pushed; the cluster test also reads it from the node that owns
//! the key, and both check that the approximate MAXLEN cap keeps the newest entries.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::BTreeMap;

use geodns_bus::redis::{EventPublisher, RedisClient, RedisConfig, StreamEvent};
use geodns_test_support::{RedisCluster, service_url};
use redis::AsyncCommands;
use redis::aio::ConnectionLike;

/// One stream entry as XRANGE returns it: id and field/value pairs in stored order.
type Entry = (String, Vec<(String, String)>);

fn event(member: &str, id: &str) -> StreamEvent {
    StreamEvent {
        name: "OutageOpened".into(),
        signal: format!("{{\"member\":\"{member}\",\"id\":\"{id}\"}}"),
        member: member.into(),
        domain: "polkadot.dotters.network".into(),
        request_id: id.into(),
    }
}

/// The fields an entry must hold for `event`: exactly these six, nothing else.
fn expected_fields(event: &StreamEvent) -> BTreeMap<String, String> {
    [
        ("name", event.name.as_str()),
        ("signal", event.signal.as_str()),
        ("member", event.member.as_str()),
        ("domain", event.domain.as_str()),
        ("messageType", "signalMessage"),
        ("requestId", event.request_id.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Checks that `entries` are exactly `pushed` (ids returned by XADD and the events), in order.
fn assert_entries(stream: &str, entries: &[Entry], pushed: &[(String, StreamEvent)]) {
    let stored_ids: Vec<&str> = entries.iter().map(|(id, _)| id.as_str()).collect();
    let pushed_ids: Vec<&str> = pushed.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(stored_ids, pushed_ids, "{stream}: entry ids");
    for ((id, pairs), (_, event)) in entries.iter().zip(pushed) {
        let fields: BTreeMap<String, String> = pairs.iter().cloned().collect();
        assert_eq!(fields.len(), pairs.len(), "{stream} {id}: a field repeats");
        assert_eq!(fields, expected_fields(event), "{stream} {id}: fields");
    }
}

async fn xrange<C: ConnectionLike + Send>(connection: &mut C, stream: &str) -> Vec<Entry> {
    redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query_async(connection)
        .await
        .unwrap()
}

/// `stream-node-max-entries`: an approximate trim removes whole nodes of this many entries,
/// so a capped stream holds from `cap` to `cap + node - 1` entries.
async fn stream_node_size<C: ConnectionLike + Send>(connection: &mut C) -> usize {
    let reply: (String, String) = redis::cmd("CONFIG")
        .arg("GET")
        .arg("stream-node-max-entries")
        .query_async(connection)
        .await
        .unwrap();
    reply.1.parse().unwrap()
}

/// After pushing far more than `cap` entries: the stream holds the newest ones only, at
/// least `cap` and fewer than `cap + node`.
fn assert_capped(
    stream: &str,
    entries: &[Entry],
    pushed: &[(String, StreamEvent)],
    cap: usize,
    node: usize,
) {
    assert!(
        (cap..cap + node).contains(&entries.len()),
        "{stream}: MAXLEN ~ {cap} (nodes of {node}) keeps {cap}..{} entries, holds {} of {}",
        cap + node,
        entries.len(),
        pushed.len()
    );
    assert_entries(stream, entries, &pushed[pushed.len() - entries.len()..]);
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
    let cap = 100;
    let mut publisher = EventPublisher::new(client, &prefix, cap);
    let mut raw = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let stream = format!("{prefix}:Stake Plus");
    assert_eq!(publisher.stream("Stake Plus"), stream);

    let first = event("Stake Plus", "p-first");
    let id = publisher.publish(&first).await.unwrap();
    let mut pushed = vec![(id, first)];
    assert_entries(&stream, &xrange(&mut raw, &stream).await, &pushed);

    for i in 0..1_000 {
        let next = event("Stake Plus", &format!("p-{i}"));
        pushed.push((publisher.publish(&next).await.unwrap(), next));
    }
    let node = stream_node_size(&mut raw).await;
    let entries = xrange(&mut raw, &stream).await;
    assert_capped(&stream, &entries, &pushed, cap, node);
    let length: usize = raw.xlen(&stream).await.unwrap();
    assert_eq!(length, entries.len(), "XLEN agrees with XRANGE");
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

/// Asks every node for the stream's length over a plain (non-cluster) connection: exactly
/// one answers, the others redirect there with MOVED. Returns the owner and its answer.
async fn owner_of(cluster: &RedisCluster, stream: &str) -> (String, usize) {
    let mut owner = None;
    let mut redirects = Vec::new();
    for address in cluster.addresses() {
        let mut node = redis::Client::open(format!("redis://{address}"))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let reply: redis::RedisResult<usize> = node.xlen(stream).await;
        match reply {
            Ok(length) => {
                assert!(owner.is_none(), "{stream}: two nodes answer XLEN");
                owner = Some((address, length));
            }
            Err(error) => {
                let (target, _slot) = error
                    .redirect_node()
                    .unwrap_or_else(|| panic!("{stream} on {address}: {error}"));
                redirects.push(target.to_owned());
            }
        }
    }
    let (owner, length) = owner.unwrap_or_else(|| panic!("{stream}: no node owns the key"));
    for target in redirects {
        assert_eq!(target, owner, "{stream}: MOVED points at the owner");
    }
    (owner, length)
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
    let RedisClient::Cluster(mut through_cluster) = client.clone() else {
        panic!("REDIS_CLUSTER_MODE_ON=true must give a cluster client, got {client:?}");
    };
    let cap = 50;
    let mut publisher = EventPublisher::new(client, "geodns-stream", cap);
    let members = [
        "Amforc",
        "Stake Plus",
        "Dwellir",
        "Rotko Networks",
        "Gatotech",
    ];
    let mut pushed: BTreeMap<&str, Vec<(String, StreamEvent)>> = BTreeMap::new();
    for round in 0..3 {
        for member in members {
            let next = event(member, &format!("c-{round}"));
            let id = publisher.publish(&next).await.unwrap();
            pushed.entry(member).or_default().push((id, next));
        }
    }

    let mut owners = BTreeMap::new();
    for member in members {
        let stream = publisher.stream(member);
        let entries = xrange(&mut through_cluster, &stream).await;
        assert_entries(&stream, &entries, &pushed[member]);
        let (owner, length) = owner_of(&cluster, &stream).await;
        assert_eq!(length, 3, "{stream}: XLEN on its owner {owner}");
        let mut direct = redis::Client::open(format!("redis://{owner}"))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        assert_entries(
            &stream,
            &xrange(&mut direct, &stream).await,
            &pushed[member],
        );
        owners.insert(member, owner);
    }
    let distinct: std::collections::BTreeSet<&String> = owners.values().collect();
    assert!(
        distinct.len() >= 2,
        "the members' streams should spread over the masters: {owners:?}"
    );

    // The cap holds on a cluster node too: the newest entries stay, the oldest go.
    let member = "Amforc";
    for i in 0..400 {
        let next = event(member, &format!("cap-{i}"));
        let id = publisher.publish(&next).await.unwrap();
        pushed.entry(member).or_default().push((id, next));
    }
    let stream = publisher.stream(member);
    let mut direct = redis::Client::open(format!("redis://{}", owners[member]))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let node = stream_node_size(&mut direct).await;
    let entries = xrange(&mut through_cluster, &stream).await;
    assert_capped(&stream, &entries, &pushed[member], cap, node);
    let (_, length) = owner_of(&cluster, &stream).await;
    assert_eq!(length, entries.len(), "{stream}: XLEN on the owner");
    drop(cluster);
}
