//! `POST /dns`, the PowerDNS remote backend, over HTTP against a recording backend: each
//! method's answer, how `remote` and `real-remote` become the client and its subnet, the
//! original's error shapes, the size limit, and a node without the DNS role; the gate:
//! off unless enabled, loopback or the pdns token, `list` off unless allowed, qnames
//! checked.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::sync::{Arc, Mutex};

use chrono::{TimeZone, Utc};
use common::{Fake, config_with, empty, serve};
use geodns_api::auth::Tokens;
use geodns_api::pdns::{Backend, Question, Record, Zone};
use geodns_core::ids::MemberId;
use geodns_core::model::CheckKind;
use geodns_core::records::{CheckKey, Outage, Votes};
use serde_json::{Value, json};

#[derive(Default)]
struct Recorder {
    asked: Mutex<Vec<Question>>,
}

impl Backend for Recorder {
    fn lookup(&self, question: &Question) -> Vec<Record> {
        self.asked.lock().unwrap().push(question.clone());
        match question.qname.to_ascii_lowercase().as_str() {
            "rpc.geo.example." => vec![Record {
                qtype: "A".into(),
                qname: "rpc.geo.example.".into(),
                content: "192.0.2.1".into(),
                ttl: 30,
                auth: true,
                domain_id: 1,
                scope_mask: 24,
            }],
            _ => Vec::new(),
        }
    }
    fn list(&self, zone: &str) -> Option<Vec<Record>> {
        (zone == "geo.example.").then(Vec::new)
    }
    fn zones(&self) -> Vec<Zone> {
        vec![Zone {
            id: 1,
            name: "geo.example.".into(),
            serial: 2026113001,
        }]
    }
}

async fn post(base: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = client
        .post(format!("{base}/dns"))
        .header("content-type", "text/javascript; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_str(&response.text().await.unwrap()).unwrap(),
    )
}

async fn backend() -> (String, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let base = serve(Fake {
        dns: Some(recorder.clone()),
        outages: vec![Outage {
            id: 7,
            key: CheckKey {
                kind: CheckKind::Site,
                check: "ping".into(),
                member: MemberId::parse("Rotko").unwrap(),
                domain: String::new(),
                endpoint: String::new(),
                ipv6: false,
            },
            start: Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap(),
            end: None,
            error: "timeout".into(),
            votes: Votes::new(),
            data: serde_json::Map::new(),
        }],
        config: config_with(ON),
        ..empty()
    })
    .await;
    (base, recorder)
}

/// The backend on, zone listing on.
const ON: &str = "[api]\npdns = true\npdns_list = true\n";

#[tokio::test]
async fn lookups_answer_in_powerdns_records() {
    let (base, recorder) = backend().await;
    // The body PowerDNS 4.7 sends (captured), with EDNS Client Subnet processing on.
    let body = r#"{"method": "lookup", "parameters": {"local": "127.0.0.1", "qname": "RPC.geo.example.", "qtype": "ANY", "real-remote": "81.2.69.0/24", "remote": "127.0.0.1", "zone-id": -1}}"#;
    let (status, answer) = post(&base, body).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"result": [{"qtype": "A", "qname": "rpc.geo.example.", "content": "192.0.2.1",
            "ttl": 30, "auth": true, "domain_id": 1, "scopeMask": 24}]})
    );
    // Nothing here: an empty list, which PowerDNS reads as no data.
    let nothing = r#"{"method": "lookup", "parameters": {"qname": "x.geo.example.", "qtype": "SOA", "remote": "0.0.0.0", "real-remote": "0.0.0.0/0", "local": "0.0.0.0", "zone-id": -1}}"#;
    assert_eq!(post(&base, nothing).await, (200, json!({"result": []})));
    // Without a subnet, `real-remote` (an address) is the client, as the original.
    let plain = r#"{"method": "lookup", "parameters": {"qname": "rpc.geo.example", "qtype": "A", "remote": "10.0.0.1", "real-remote": "198.51.100.7/32"}}"#;
    post(&base, plain).await;
    let asked = recorder.asked.lock().unwrap();
    assert_eq!(asked[0].client, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(asked[0].subnet, Some(("81.2.69.0".parse().unwrap(), 24)));
    assert_eq!(asked[1].client, None, "PowerDNS's own zone lookup");
    assert_eq!(asked[2].client, Some("198.51.100.7".parse().unwrap()));
    assert_eq!(asked[2].subnet, None);
}

#[tokio::test]
async fn zone_methods_and_the_rest() {
    let (base, _) = backend().await;
    let call = |method: &str, parameters: Value| {
        json!({"method": method, "parameters": parameters}).to_string()
    };
    let domain = json!({"id": 1, "zone": "geo.example.", "kind": "native", "serial": 2026113001u32,
        "notified_serial": 2026113001u32, "last_check": 0, "masters": []});
    for (body, want) in [
        (call("initialize", json!({})), json!({"result": true})),
        (
            call("getAllDomains", json!({"include_disabled": true})),
            json!({"result": [domain.clone()]}),
        ),
        (
            call("getDomainInfo", json!({"name": "Geo.Example"})),
            json!({"result": domain}),
        ),
        (
            call("getDomainInfo", json!({"name": "example.org."})),
            json!({"result": false}),
        ),
        (
            call("getAllDomainMetadata", json!({"name": "geo.example."})),
            json!({"result": {"PRESIGNED": ["0"]}}),
        ),
        (
            call("getAllDomainMetadata", json!({"name": "example.org."})),
            json!({"result": {}}),
        ),
        (
            call("getDomainKeys", json!({"name": "geo.example."})),
            json!({"result": []}),
        ),
        (
            call("list", json!({"zonename": "geo.example.", "domain_id": 1})),
            json!({"result": []}),
        ),
        (
            call("list", json!({"zonename": "example.org."})),
            json!({"result": false}),
        ),
    ] {
        assert_eq!(post(&base, body.clone()).await, (200, want), "{body}");
    }
}

#[tokio::test]
async fn member_events_are_the_original_event_records() {
    let (base, _) = backend().await;
    let body = r#"{"method": "getMemberEvents", "parameters": {"memberName": "Rotko"}}"#;
    let (status, answer) = post(&base, body).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"result": [{"CheckType": "site", "CheckName": "ping", "MemberName": "Rotko",
            "DomainName": "", "Endpoint": "", "Status": false, "ErrorText": "timeout", "Data": null,
            "IsIPv6": false, "StartTime": "2026-11-30T09:00:00Z", "EndTime": "0001-01-01T00:00:00Z",
            "StartDate": "2026-11-30", "EndDate": ""}]})
    );
    let bad = r#"{"method": "getMemberEvents", "parameters": {"startTime": "yesterday"}}"#;
    assert_eq!(
        post(&base, bad).await,
        (400, json!({"result": "invalid startTime"}))
    );
}

#[tokio::test]
async fn errors_keep_the_original_shapes() {
    let (base, _) = backend().await;
    assert_eq!(
        post(&base, r#"{"method": "feedEnts", "parameters": {}}"#).await,
        (400, json!({"result": "Invalid Request"}))
    );
    let (status, answer) = post(&base, "{not json").await;
    assert_eq!(status, 400);
    assert_eq!(answer["result"], "Bad request");
    assert!(
        answer["error"].as_str().unwrap().contains("line 1"),
        "{answer}"
    );
    let huge = format!(
        r#"{{"method": "lookup", "parameters": {{"qname": "{}"}}}}"#,
        "a".repeat(1 << 20)
    );
    let (status, answer) = post(&base, huge).await;
    assert_eq!(status, 413);
    assert_eq!(answer["result"], "Bad request");

    // A node without the DNS role says so to PowerDNS's log (PowerDNS answers SERVFAIL).
    let base = serve(Fake {
        config: config_with(ON),
        ..empty()
    })
    .await;
    let lookup = r#"{"method": "lookup", "parameters": {"qname": "rpc.geo.example."}}"#;
    let (status, answer) = post(&base, lookup).await;
    assert_eq!(status, 503);
    assert_eq!(answer["result"], false);
    assert!(answer["log"][0].as_str().unwrap().contains("dns role"));
}

/// A lookup with `token` as bearer token (none: without).
async fn lookup_with(base: &str, token: Option<&str>) -> u16 {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut request = client
        .post(format!("{base}/dns"))
        .body(r#"{"method": "lookup", "parameters": {"qname": "rpc.geo.example.", "qtype": "A"}}"#);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn the_backend_answers_only_when_enabled_and_only_allowed_callers() {
    let recorder = Arc::new(Recorder::default());
    let with = |api: &str| Fake {
        dns: Some(recorder.clone()),
        config: config_with(api),
        tokens: Tokens::default().with_pdns(Tokens::digest("pdns-secret")),
        ..empty()
    };
    // Off by default: not there.
    let off = serve(with("")).await;
    assert_eq!(lookup_with(&off, None).await, 404);
    assert_eq!(lookup_with(&off, Some("pdns-secret")).await, 404);
    // On, for loopback by default (PowerDNS on the same host).
    let local = serve(with("[api]\npdns = true\n")).await;
    assert_eq!(lookup_with(&local, None).await, 200);
    // On for another network only: this caller needs the token.
    let elsewhere = serve(with(
        "[api]\npdns = true\npdns_allow = [\"192.0.2.0/24\"]\n",
    ))
    .await;
    let (status, answer) = post(&elsewhere, r#"{"method": "initialize"}"#).await;
    assert_eq!(status, 403);
    assert!(
        answer["log"][0].as_str().unwrap().contains("pdns_allow"),
        "{answer}"
    );
    assert_eq!(lookup_with(&elsewhere, Some("root-secret")).await, 403);
    assert_eq!(lookup_with(&elsewhere, Some("pdns-secret")).await, 200);
    // Zone listing is refused unless allowed, as AXFR is.
    let list = r#"{"method": "list", "parameters": {"zonename": "geo.example."}}"#;
    let (status, answer) = post(&local, list).await;
    assert_eq!(status, 403);
    assert!(
        answer["log"][0].as_str().unwrap().contains("pdns_list"),
        "{answer}"
    );
    // A qname that is not a DNS name is refused before any use.
    for qname in [
        "",
        "a..b",
        &"x".repeat(64),
        &format!("{}.example", "a.".repeat(130)),
        "a b.example",
    ] {
        let body = json!({"method": "lookup", "parameters": {"qname": qname, "qtype": "A"}});
        let (status, answer) = post(&local, body.to_string()).await;
        assert_eq!(status, 400, "{qname}: {answer}");
    }
    assert_eq!(
        recorder.asked.lock().unwrap().len(),
        2,
        "only the allowed lookups ran"
    );
}
