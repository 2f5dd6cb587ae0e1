//! The monitor role end to end: three monitors check one real (fake) Substrate provider,
//! agree over the bus that it went offline and came back, each records one outage in its
//! own log, and answers downtime requests from it. In-process bus, then nats-server.

use std::path::Path;
use std::time::Duration;

use geodns_bus::wire::DowntimeResponse;
use geodns_bus::wire::WireRole;
use geodns_bus::{Bus, MemoryBus, subjects};
use geodns_store::{OutageFilter, OutageStore};
use geodns_test_support::providers::{Observed, SubstrateBehaviour, SubstrateNode};

use crate::node::{Node, Roles};
use crate::support::{ask, until, write};

const MONITOR_ONLY: Roles = Roles {
    monitor: true,
    dns: false,
};

const ROOT: &str = "0x29d0d972cd27cbc511e9589fcb7a4506d5eb6a9e8df205f00472e5ab354a4e17";
const MONITORS: [&str; 3] = ["MON-A", "MON-B", "MON-C"];

fn config_text(dir: &Path, id: &str, port: u16) -> String {
    let data = dir.join(id);
    std::fs::create_dir_all(&data).unwrap();
    format!(
        r#"
[node]
id = "{id}"
roles = ["monitor"]
data_dir = "{data}"

[storage]
url = "sqlite://{data}/monitor.db"

[cluster]
heartbeat = "1s"
active_window = "3s"
purge_after = "60s"

[consensus]
auth = "off"

[monitor]
workers = 4
separation = "10ms"
minimum_offline = "0s"

[[checks]]
name = "wss"
type = "substrate_rpc"
interval = "1s"
timeout = "5s"
read_timeout = "2s"

[[services]]
name = "Polkadot"
type = "substrate_rpc"
network = "Polkadot"
state_root = "{ROOT}"
endpoints = ["ws://rpc.test.example:{port}"]

[[members]]
name = "Amforc"
ipv4 = "127.0.0.1"
latitude = 50.1
longitude = 8.7
services = ["Polkadot"]
"#,
        data = data.display()
    )
}

/// The official status of the `wss` check of Amforc on each node.
fn officials(nodes: &[Node]) -> Vec<Option<bool>> {
    nodes
        .iter()
        .map(|node| {
            let snapshot = node.handle.official.borrow().clone();
            snapshot
                .iter()
                .find(|(key, _)| key.check == "wss")
                .map(|(_, e)| e.status)
        })
        .collect()
}

async fn wait_official(nodes: &[Node], want: bool) {
    let what = format!("official wss status {want} on every monitor");
    until(&what, Duration::from_secs(40), || {
        officials(nodes).iter().all(|s| *s == Some(want))
    })
    .await;
}

/// Sends `request` to `monitor.stats.getDowntime` and reads the first reply.
async fn ask_downtime<B: Bus>(asker: &B, request: serde_json::Value) -> DowntimeResponse {
    ask(asker, subjects::DOWNTIME_REQUEST, request).await
}

async fn scenario<B: Bus>(buses: Vec<B>, asker: B) {
    let dir = tempfile::tempdir().unwrap();
    let provider = SubstrateNode::start("Polkadot", ROOT).await;
    let mut nodes = Vec::new();
    for (id, bus) in MONITORS.iter().zip(buses) {
        let path = write(
            dir.path(),
            &format!("{id}.toml"),
            &config_text(dir.path(), id, provider.addr().port()),
        );
        nodes.push(Node::start(bus, &path, MONITOR_ONLY).await);
    }
    until("every monitor sees three", Duration::from_secs(20), || {
        nodes
            .iter()
            .all(|n| n.cluster.count_active(&WireRole::Monitor) == 3)
    })
    .await;
    wait_official(&nodes, true).await;
    assert_eq!(
        provider.last_host().unwrap(),
        format!("rpc.test.example:{}", provider.addr().port())
    );

    provider.set(SubstrateBehaviour::WrongChain);
    wait_official(&nodes, false).await;
    provider.set(SubstrateBehaviour::Healthy);
    wait_official(&nodes, true).await;

    for (id, node) in MONITORS.iter().zip(&nodes) {
        let store = node.store.clone();
        let filter = OutageFilter::default();
        let mut outages = Vec::new();
        for _ in 0..100 {
            outages = store.outages(&filter).await.unwrap();
            if outages.len() == 1 && outages[0].end.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(outages.len(), 1, "{id}: {outages:?}");
        let outage = &outages[0];
        assert!(outage.end.is_some(), "{id}: closed");
        assert!(
            outage.error.contains("Wrong network"),
            "{id}: {}",
            outage.error
        );
        assert_eq!(
            outage.key.endpoint,
            format!("ws://rpc.test.example:{}", provider.addr().port())
        );
    }

    // Downtime over the bus, in the original's shapes.
    let response = ask_downtime(
        &asker,
        serde_json::json!({
            "startTime": "2000-01-01T00:00:00Z",
            "endTime": "2100-01-01T00:00:00Z",
            "memberName": "Amforc",
        }),
    )
    .await;
    assert!(
        MONITORS.contains(&response.node_id.as_str()),
        "{response:?}"
    );
    let events = response.events.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].check_name, "wss");
    assert_eq!(events[0].check_type, "endpoint");
    let response = ask_downtime(
        &asker,
        serde_json::json!({
            "startTime": "2100-01-01T00:00:00Z",
            "endTime": "2000-01-01T00:00:00Z",
        }),
    )
    .await;
    assert_eq!(response.error, "endTime is before startTime");

    for node in &nodes {
        node.cancel();
    }
    for node in &nodes {
        node.stopped().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_monitors_take_a_provider_offline_and_back_over_the_memory_bus() {
    let hub = MemoryBus::new("hub");
    let buses = MONITORS.iter().map(|id| hub.join(id)).collect();
    scenario(buses, hub.join("ASKER")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_monitors_take_a_provider_offline_and_back_over_nats() {
    let server = geodns_test_support::NatsServer::start();
    let config = geodns_bus::NatsConfig::new(vec![server.url()]);
    let mut buses = Vec::new();
    for id in MONITORS {
        buses.push(
            geodns_bus::NatsBus::connect(id, &config, &tokio_util::task::TaskTracker::new())
                .await
                .unwrap(),
        );
    }
    let asker =
        geodns_bus::NatsBus::connect("ASKER", &config, &tokio_util::task::TaskTracker::new())
            .await
            .unwrap();
    scenario(buses, asker).await;
}
