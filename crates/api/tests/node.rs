//! The node routes over real HTTP: a router served on 127.0.0.1 and asked with reqwest,
//! over a fake node whose state each test sets.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::sync::Arc;

use common::{Fake, at, empty, get, serve};
use geodns_consensus::results::{ResultEntry, Results, Snapshot};
use geodns_core::ids::MemberId;
use geodns_core::model::CheckKind;
use geodns_core::records::CheckKey;
use serde_json::json;

fn key(
    kind: CheckKind,
    check: &str,
    member: &str,
    domain: &str,
    endpoint: &str,
    ipv6: bool,
) -> CheckKey {
    CheckKey {
        kind,
        check: check.into(),
        member: MemberId::parse(member).unwrap(),
        domain: domain.into(),
        endpoint: endpoint.into(),
        ipv6,
    }
}

fn entry(status: bool, error: &str, minute: u32) -> ResultEntry {
    ResultEntry {
        status,
        error: error.into(),
        data: Some(json!({"AvgRtt": 12}).as_object().unwrap().clone()),
        at: at(minute),
    }
}

fn snapshot(entries: Vec<(CheckKey, ResultEntry)>) -> Arc<Snapshot> {
    let mut results = Results::new();
    for (key, entry) in entries {
        results.set(key, entry);
    }
    results.snapshot()
}

#[tokio::test]
async fn health_and_every_answer_carry_cors() {
    let base = serve(empty()).await;
    for path in [
        "/health",
        "/ready",
        "/results",
        "/api/cluster",
        "/api/consensus",
        "/api/health",
        "/nowhere",
    ] {
        let (_, headers, _) = get(&base, path).await;
        assert_eq!(headers["access-control-allow-origin"], "*", "{path}");
    }
    let (status, _, body) = get(&base, "/health").await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let (status, _, body) = get(&base, "/nowhere").await;
    assert_eq!((status, body), (404, json!({"error": "not found"})));
    let (_, _, body) = get(&base, "/api/health").await;
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["timestamp"], "2026-11-30T10:00:00Z");
    assert_eq!(body["ssl"], "disabled");
}

#[tokio::test]
async fn ready_names_what_is_not() {
    let base = serve(empty()).await;
    let (status, _, body) = get(&base, "/ready").await;
    assert_eq!(status, 200);
    assert_eq!(body["ready"], true);
    let base = serve(Fake {
        store_ok: false,
        ..empty()
    })
    .await;
    let (status, _, body) = get(&base, "/ready").await;
    assert_eq!(status, 503);
    assert_eq!(body["ready"], false);
    assert_eq!(
        body["checks"][0],
        json!({"name": "store", "ok": false, "detail": "connection refused"})
    );
}

#[tokio::test]
async fn results_have_the_original_shape_and_source() {
    let official = snapshot(vec![
        (
            key(CheckKind::Site, "ping", "Amforc", "", "", false),
            entry(true, "", 1),
        ),
        (
            key(CheckKind::Site, "ping", "Rotko", "", "", false),
            entry(false, "100% packet loss", 2),
        ),
        (
            key(
                CheckKind::Domain,
                "ssl",
                "Amforc",
                "polkadot.dotters.network",
                "",
                false,
            ),
            entry(true, "", 3),
        ),
        (
            key(
                CheckKind::Endpoint,
                "wss",
                "Amforc",
                "polkadot.dotters.network",
                "wss://polkadot.dotters.network",
                true,
            ),
            entry(false, "Syncing", 4),
        ),
    ]);
    let local = snapshot(vec![(
        key(CheckKind::Site, "ping", "Amforc", "", "", false),
        entry(false, "local view", 5),
    )]);
    let base = serve(Fake {
        official,
        local: local.clone(),
        ..empty()
    })
    .await;
    let (status, headers, body) = get(&base, "/results").await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-ibp-results-source"], "official");
    assert_eq!(
        body["SiteResults"],
        json!([{"CheckName": "ping", "IsIPv6": false, "Results": [
            {"Status": true, "MemberName": "Amforc", "ErrorText": "", "Data": {"AvgRtt": 12}, "IsIPv6": false, "Checktime": "2026-11-30T10:01:00Z"},
            {"Status": false, "MemberName": "Rotko", "ErrorText": "100% packet loss", "Data": {"AvgRtt": 12}, "IsIPv6": false, "Checktime": "2026-11-30T10:02:00Z"}
        ]}])
    );
    assert_eq!(
        body["DomainResults"][0]["Domain"],
        "polkadot.dotters.network"
    );
    assert!(body["DomainResults"][0].get("RpcUrl").is_none());
    let endpoint = &body["EndpointResults"][0];
    assert_eq!(
        (
            endpoint["CheckName"].as_str(),
            endpoint["RpcUrl"].as_str(),
            endpoint["IsIPv6"].as_bool()
        ),
        (
            Some("wss"),
            Some("wss://polkadot.dotters.network"),
            Some(true)
        )
    );

    // Nothing decided yet: this node's own results, labelled local.
    let base = serve(Fake {
        official: snapshot(Vec::new()),
        local,
        ..empty()
    })
    .await;
    let (_, headers, body) = get(&base, "/results").await;
    assert_eq!(headers["x-ibp-results-source"], "local");
    assert_eq!(
        body["SiteResults"][0]["Results"][0]["ErrorText"],
        "local view"
    );
    assert_eq!(body["DomainResults"], json!([]));

    // Nothing at all: an empty official set, with empty lists (never null).
    let base = serve(empty()).await;
    let (_, headers, body) = get(&base, "/results").await;
    assert_eq!(headers["x-ibp-results-source"], "official");
    assert_eq!(
        body,
        json!({"SiteResults": [], "DomainResults": [], "EndpointResults": []})
    );
}

#[tokio::test]
async fn cluster_and_consensus_are_what_the_node_reports() {
    let base = serve(empty()).await;
    let (_, _, cluster) = get(&base, "/api/cluster").await;
    assert_eq!(cluster[0]["role"], "IBPMonitor");
    let (_, _, consensus) = get(&base, "/api/consensus").await;
    assert_eq!(consensus["node"], "mon-1");
}

#[tokio::test]
async fn metrics_are_the_text_format_with_cors() {
    let base = serve(empty()).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        response.text().await.unwrap(),
        "# HELP fake_queries_total Queries.\n# TYPE fake_queries_total counter\n\
         fake_queries_total{rcode=\"NOERROR\"} 2\n"
    );
}

#[tokio::test]
async fn the_status_page_and_its_data() {
    let base = serve(empty()).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let page = client.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let html = page.text().await.unwrap();
    assert!(html.contains("name=\"viewport\""), "readable on a phone");
    assert!(html.contains("fetch(\"api/status\""), "refreshes itself");
    assert!(!html.contains("src=\"http"), "no external assets");

    let (status, _, body) = get(&base, "/api/status").await;
    assert_eq!(status, 200);
    assert_eq!(body["node"], "api-test");
    // Polkadot's hostname, served by Stake Plus (Rotko serves nothing).
    assert_eq!(
        body["hosts"],
        json!([{"host": "polkadot.dotters.network", "services": ["Polkadot"],
            "members": [{"member": "Stake Plus", "ipv4": "up", "ipv6": "up"}]}])
    );
    assert_eq!(body["countries"].as_array().unwrap().len(), 8);
    assert_eq!(body["routes"][2]["country"], "US");
    assert_eq!(body["routes"][2]["ipv4"]["members"][0], "Stake Plus");
    assert_eq!(body["ongoing"], json!([]));
    assert_eq!(body["problems"], json!([]));
}
