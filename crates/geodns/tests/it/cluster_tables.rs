//! The collator keeps the cluster tables: consensus messages in the message log, cluster
//! membership in node state, and for every service hostname and country the member that
//! answers now in routes, following health and the run-time overrides the API saved.

use std::time::Duration;

use geodns_api::change::OverrideChange;
use geodns_api::runtime::changes::{change_override, set_maintenance};
use geodns_bus::wire::WireRole;
use geodns_bus::{MemoryBus, SelfInfo, run_membership};
use geodns_consensus::results::ResultEntry;
use geodns_core::ids::{MemberId, NodeId};
use geodns_core::model::CheckKind;
use geodns_core::records::CheckKey;
use geodns_node::LiveConfig;
use geodns_store::{ClusterStore, MessageQuery, SqlStore, StoreConfig};
use serde_json::{Value, json};

use crate::collator::{Collator, down_proposal};
use crate::support::{load_config, write};

fn config(dir: &std::path::Path) -> String {
    format!(
        r#"
[node]
id = "collator"
roles = ["collator"]
data_dir = "{}"

[consensus]
auth = "off"

[collator]
tables_interval = "100ms"

[dns]
zones = ["geo.example"]

{NEAR_AND_FAR}"#,
        dir.display(),
        NEAR_AND_FAR = crate::dns::NEAR_AND_FAR,
    )
}

async fn wait_until<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn route(store: &SqlStore, destination: &str) -> Option<Vec<String>> {
    let route = store.route(destination).await.unwrap()?;
    Some(
        route["ipv4"]["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().to_owned())
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn membership_runtime_config_routes_and_messages_reach_the_tables() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/cluster.db", dir.path().display());
    let store = SqlStore::open(StoreConfig::new(url)).await.unwrap();
    let live =
        LiveConfig::new(load_config(&write(dir.path(), "c.toml", &config(dir.path()))).await);
    let bus = MemoryBus::new("collator");
    // A monitor that joins.
    let stop = tokio_util::sync::CancellationToken::new();
    let monitor = SelfInfo {
        node_id: "monitor-7".into(),
        roles: vec![WireRole::Monitor],
        public_address: String::new(),
        listen_address: "127.0.0.1".into(),
        listen_port: "0".into(),
    };
    let monitor_view = geodns_node::bus::cluster_handle(&live.current());
    tokio::spawn(run_membership(
        bus.join("monitor-7"),
        monitor,
        monitor_view,
        stop.clone(),
    ));
    let collator = Collator::start_on(bus.clone(), store.clone(), live.clone()).await;

    // Everyone healthy: Germany gets Near, the United States Far.
    wait_until("routes", || async {
        route(&store, "rpc.geo.example/DE").await == Some(vec!["Near".into()])
            && route(&store, "rpc.geo.example/US").await == Some(vec!["Far".into()])
    })
    .await;
    let full = store.route("rpc.geo.example/DE").await.unwrap().unwrap();
    assert_eq!(full["ipv4"]["addresses"], json!(["127.0.0.11"]));
    assert_eq!(full["ipv4"]["mode"], "healthy");
    assert!(
        store.routes().await.unwrap().len() > 200,
        "one route per country"
    );

    // Near goes down officially: Germany is sent to Far.
    let key = CheckKey {
        kind: CheckKind::Site,
        check: "ping".into(),
        member: MemberId::parse("Near").unwrap(),
        domain: String::new(),
        endpoint: String::new(),
        ipv6: false,
    };
    let down = ResultEntry {
        status: false,
        error: "down".into(),
        data: None,
        at: geodns_node::clock::now(),
    };
    collator.handle.adopt("test", vec![(key, down)]).await;
    wait_until("Germany routed to Far", || async {
        route(&store, "rpc.geo.example/DE").await == Some(vec!["Far".into()])
    })
    .await;

    // Maintenance and a country override made through the API's change path: saved once
    // under their keys, and the routes follow the saved override.
    set_maintenance(&collator.ctx, "Far", true, "test")
        .await
        .unwrap();
    let set = OverrideChange::Set {
        domain: "rpc.geo.example".into(),
        country: "FR".into(),
        member: String::new(),
        ipv4: "192.0.2.7".into(),
        ipv6: String::new(),
    };
    change_override(&collator.ctx, set, "test").await.unwrap();
    wait_until("runtime config and the French route", || async {
        store.runtime_config("maintenance").await.unwrap() == Some(json!({"Far": true}))
            && store.runtime_config("overrides").await.unwrap()
                == Some(json!({"rpc.geo.example": {"FR": {"ipv4": "192.0.2.7"}}}))
            && route(&store, "rpc.geo.example/FR").await == Some(vec!["override:FR".into()])
    })
    .await;
    assert_eq!(
        store.runtime_config("maintenance_overrides").await.unwrap(),
        None,
        "one key for maintenance"
    );

    // Membership and consensus messages.
    let monitor_7 = NodeId::parse("monitor-7").unwrap();
    wait_until("the monitor in node state", || async {
        store.node_state(&monitor_7).await.unwrap().is_some()
    })
    .await;
    let node = store.node_state(&monitor_7).await.unwrap().unwrap();
    assert_eq!(node["active"], Value::Bool(true));
    assert_eq!(node["role"], "IBPMonitor");
    let proposal = down_proposal("p-logged");
    collator
        .monitor
        .propose_and_vote(&proposal, &[("m1", true), ("m2", false)])
        .await;
    wait_until("the proposal and votes in the message log", || async {
        let query = MessageQuery::default();
        let ids: Vec<String> = store
            .messages(&query)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        ["propose/p-logged", "vote/p-logged/m1", "vote/p-logged/m2"]
            .iter()
            .all(|id| ids.contains(&(*id).to_owned()))
    })
    .await;
    stop.cancel();
    collator.stop().await;
    store.close().await;
}
