//! The original collator's service routes over HTTP: one service field by field (the
//! original's `ServiceInfo`), the flat list, the relay-chain hierarchy and the summary,
//! read from the configuration.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use common::{Fake, config_from, empty, get_json, serve};
use serde_json::json;

const SERVICES: &str = r#"
[node]
id = "api-test"

[[services]]
name = "Paseo"
type = "substrate_rpc"
network = "Paseo"
level_required = 5
display_name = "Paseo"
network_type = "Relay"
website = "https://paseo.network"
logo = "https://paseo.network/logo.svg"
description = "Community testnet"
endpoints = ["wss://paseo.dotters.network", "wss://paseo.ibp.network"]
resources = { nodes = 2, cores = 8, memory = 32, disk = 1000, bandwidth = 500 }
[services.providers]
ibp = ["wss://paseo.ibp.network"]
Dotters = ["wss://paseo.dotters.network"]

[[services]]
name = "Asset-Hub-Paseo"
type = "substrate_rpc"
display_name = "Asset Hub (Paseo)"
network_type = "System"
relay_network = "Paseo"
endpoints = ["wss://asset-hub-paseo.dotters.network"]
resources = { nodes = 1, cores = 4, memory = 16, disk = 320, bandwidth = 300 }

[[services]]
name = "Bridge-Hub-Paseo"
type = "substrate_rpc"
display_name = "Bridge Hub (Paseo)"
network_type = "System"
relay_network = "Paseo"
endpoints = ["wss://bridge-hub-paseo.dotters.network"]

[[services]]
name = "Hydration-Paseo"
type = "substrate_rpc"
display_name = "Hydration (Paseo)"
network_type = "Community"
relay_network = "Paseo"
active = false
endpoints = ["wss://hydration-paseo.dotters.network"]

[[services]]
name = "Moonbase"
type = "eth_rpc"
display_name = "Moonbase Alpha"
network_type = "Community"
relay_network = "Westend"
endpoints = ["https://moonbase.dotters.network"]

[[members]]
name = "Stake Plus"
ipv4 = "192.0.2.1"
latitude = 35.08
longitude = -106.65
services = ["Paseo", "Asset-Hub-Paseo"]

[[members]]
name = "Rotko"
ipv4 = "192.0.2.2"
latitude = 50.1
longitude = 8.7
services = ["Paseo"]
maintenance = true
"#;

async fn base() -> String {
    serve(Fake {
        config: config_from(SERVICES),
        ..empty()
    })
    .await
}

#[tokio::test]
async fn one_service_has_every_field_of_the_original() {
    let base = base().await;
    let (status, body) = get_json(&base, "/api/services?name=paseo").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({
            "name": "Paseo",
            "display_name": "Paseo",
            "service_type": "RPC",
            "network_name": "Paseo",
            "relay_network": "",
            "network_type": "Relay",
            "website_url": "https://paseo.network",
            "logo_url": "https://paseo.network/logo.svg",
            "description": "Community testnet",
            "active": true,
            "level_required": 5,
            "resources": {"nodes": 2, "cores": 8.0, "memory": 32.0, "disk": 1000.0, "bandwidth": 500.0},
            // Sorted by name in any case, as the original.
            "providers": [
                {"name": "Dotters", "rpc_urls": ["wss://paseo.dotters.network"]},
                {"name": "ibp", "rpc_urls": ["wss://paseo.ibp.network"]},
            ],
            // Rotko is in maintenance.
            "member_count": 1,
            "total_monthly_cost": 0.0,
        })
    );
    let (status, body) = get_json(&base, "/api/services?name=Kusama").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "name: no service is named `Kusama`");
}

#[tokio::test]
async fn the_flat_list_and_the_hierarchy() {
    let base = base().await;
    let (_, body) = get_json(&base, "/api/services").await;
    assert_eq!(body["total"], 5);
    let names: Vec<&str> = body["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Asset-Hub-Paseo",
            "Bridge-Hub-Paseo",
            "Hydration-Paseo",
            "Moonbase",
            "Paseo"
        ]
    );
    assert_eq!(body["services"][3]["service_type"], "ETHRPC");
    assert_eq!(body["services"][3]["providers"], json!([]));

    let (_, body) = get_json(&base, "/api/services?hierarchy=true").await;
    let chains = body["relay_chains"].as_array().unwrap();
    assert_eq!(chains.len(), 1);
    assert_eq!(chains[0]["relay"]["name"], "Paseo");
    let names = |list: &serde_json::Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(&chains[0]["system_chains"]),
        ["Asset-Hub-Paseo", "Bridge-Hub-Paseo"]
    );
    assert_eq!(names(&chains[0]["community_chains"]), ["Hydration-Paseo"]);
    // Its relay (Westend) is not configured: an orphan, where the original dropped it.
    assert_eq!(names(&body["orphans"]), ["Moonbase"]);
    // Anything but `true` is the flat list, as the original.
    let (_, body) = get_json(&base, "/api/services?hierarchy=1").await;
    assert_eq!(body["total"], 5);
}

#[tokio::test]
async fn the_summary_counts_and_totals_resources() {
    let base = base().await;
    let (status, body) = get_json(&base, "/api/services/summary").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({
            "total_services": 5,
            "active_services": 4,
            "relay_chains": 1,
            "service_types": {"ETHRPC": 1, "RPC": 4},
            "network_types": {"Community": 2, "Relay": 1, "System": 2},
            // Per-node figures times nodes: Paseo 2 × (8, 32, 1000, 500), Asset Hub 1 × (4, 16, 320, 300).
            "total_resources": {"nodes": 3, "cores": 20.0, "memory": 80.0, "disk": 2320.0, "bandwidth": 1300.0},
        })
    );
    let (_, body) = get_json(&serve(empty()).await, "/api/services/summary").await;
    assert_eq!(body["total_services"], 1);
}
