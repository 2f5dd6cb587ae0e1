//! The original collator's `/api/members` over real HTTP, field by field: every member,
//! or one by name or slug, with `override` showing maintenance now.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use common::{empty, serve};
use serde_json::{Value, json};

async fn get(base: &str, path: &str) -> (u16, Value) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = client.get(format!("{base}{path}")).send().await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_str(&response.text().await.unwrap()).unwrap(),
    )
}

#[tokio::test]
async fn members_have_the_original_fields() {
    let base = serve(empty()).await;
    let (status, all) = get(&base, "/api/members").await;
    assert_eq!(status, 200);
    assert_eq!(
        all,
        json!([
            {"name": "Rotko", "level": 5, "joined_date": "1970-01-01", "region": "EU",
             "latitude": 50.1, "longitude": 8.7, "service_ipv4": "192.0.2.2", "services": [],
             "active": true, "override": true},
            {"name": "Stake Plus", "website": "https://stake.plus", "level": 6,
             "joined_date": "2023-11-14", "region": "NA", "latitude": 35.08, "longitude": -106.65,
             "service_ipv4": "192.0.2.1", "service_ipv6": "2001:db8::1", "services": ["Polkadot"],
             "active": true, "override": false}
        ])
    );
    for name in ["Stake+Plus", "stake%20plus", "stakeplus", "STAKEPLUS"] {
        let (status, one) = get(&base, &format!("/api/members?name={name}")).await;
        assert_eq!(
            (status, one["name"].as_str()),
            (200, Some("Stake Plus")),
            "{name}"
        );
    }
    let (status, body) = get(&base, "/api/members?name=Nobody").await;
    assert_eq!(
        (status, body),
        (404, json!({"error": "name: no member `Nobody`"}))
    );
}
