//! The routes that change things, over real HTTP: maintenance and country overrides with
//! root and member tokens; 401 for a missing or unknown token and 403 for a token acting
//! beyond its member, with nothing changed; 400 naming what is wrong; 404 for an unknown
//! member.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::sync::{Arc, Mutex};

use common::empty;
use serde_json::{Value, json};

async fn serve() -> (String, Arc<Mutex<Vec<String>>>) {
    let fake = empty();
    let changes = fake.changes.clone();
    (common::serve(fake).await, changes)
}

async fn call(method: &str, url: &str, token: Option<&str>, body: Option<&str>) -> (u16, Value) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut request = client.request(method.parse().unwrap(), url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_str(&response.text().await.unwrap()).unwrap(),
    )
}

#[tokio::test]
async fn maintenance_needs_a_token_for_its_member() {
    let (base, changes) = serve().await;
    let url = format!("{base}/api/members/Amforc/maintenance");
    let on = Some(r#"{"maintenance": true}"#);
    let (status, body) = call("PUT", &url, None, on).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"].as_str().unwrap().contains("bearer token"));
    assert_eq!(call("PUT", &url, Some("guess"), on).await.0, 401);
    let rotko = format!("{base}/api/members/Rotko/maintenance");
    let (status, body) = call("PUT", &rotko, Some("amforc-secret"), on).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        changes.lock().unwrap().is_empty(),
        "refused requests change nothing"
    );

    let (status, body) = call("PUT", &url, Some("amforc-secret"), on).await;
    assert_eq!(
        (status, body),
        (200, json!({"member": "Amforc", "maintenance": true}))
    );
    let off = Some(r#"{"maintenance": false}"#);
    assert_eq!(call("PUT", &rotko, Some("root-secret"), off).await.0, 200);
    assert_eq!(
        *changes.lock().unwrap(),
        [
            "maintenance Amforc true by member:Amforc",
            "maintenance Rotko false by root"
        ]
    );

    // Bad bodies name the problem; an unknown member is 404.
    let (status, body) = call(
        "PUT",
        &url,
        Some("root-secret"),
        Some(r#"{"maintenance": "yes"}"#),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("maintenance"),
        "{body}"
    );
    let (status, _) = call("PUT", &url, Some("root-secret"), Some("{}")).await;
    assert_eq!(status, 400);
    let nobody = format!("{base}/api/members/Nobody/maintenance");
    let (status, body) = call("PUT", &nobody, Some("root-secret"), on).await;
    assert_eq!(
        (status, body),
        (404, json!({"error": "no member `Nobody`"}))
    );
    assert_eq!(changes.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn overrides_need_the_root_token() {
    let (base, changes) = serve().await;
    let de = format!("{base}/api/overrides/rpc.example.org/DE");
    let body = Some(r#"{"member": "Amforc"}"#);
    assert_eq!(call("PUT", &de, None, body).await.0, 401);
    let (status, answer) = call("PUT", &de, Some("amforc-secret"), body).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(
        call("DELETE", &de, Some("amforc-secret"), None).await.0,
        403
    );
    assert!(changes.lock().unwrap().is_empty());

    assert_eq!(call("PUT", &de, Some("root-secret"), body).await.0, 200);
    let jp = format!("{base}/api/overrides/rpc.example.org/JP");
    let literal = Some(r#"{"ipv4": "198.51.100.7"}"#);
    assert_eq!(call("PUT", &jp, Some("root-secret"), literal).await.0, 200);
    assert_eq!(call("DELETE", &de, Some("root-secret"), None).await.0, 200);
    let clear = format!("{base}/api/overrides/rpc.example.org");
    assert_eq!(
        call("DELETE", &clear, Some("root-secret"), None).await.0,
        200
    );
    let bad = format!("{base}/api/overrides/rpc.example.org/Germany");
    let (status, answer) = call("PUT", &bad, Some("root-secret"), body).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("countryCode"),
        "{answer}"
    );
    let (status, answer) = call("PUT", &de, Some("root-secret"), Some(r#"{"member": 5}"#)).await;
    assert_eq!(status, 400, "{answer}");
    let made = changes.lock().unwrap().clone();
    assert_eq!(made.len(), 4, "{made:?}");
    assert!(
        made[0]
            .starts_with("Set { domain: \"rpc.example.org\", country: \"DE\", member: \"Amforc\"")
    );
    assert!(made[3].starts_with("Clear"));
}
