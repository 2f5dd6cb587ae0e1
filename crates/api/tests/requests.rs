//! The original collator's request routes over HTTP: each answer's shape field by field
//! (written from the original's `RequestStats` and summary), the default dates, CSV
//! filters and their limits, a service widened to its hostnames, and every bad
//! parameter's 400 naming it.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use chrono::NaiveDate;
use common::{empty, get_json, serve};
use serde_json::json;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

#[tokio::test]
async fn each_route_has_the_original_shape() {
    let base = serve(empty()).await;
    let range = "?start=2026-11-29&end=2026-11-30";
    let (status, body) = get_json(&base, &format!("/api/requests/country{range}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!([
            {"date": "2026-11-29", "country": "DE", "country_name": "Germany", "requests": 15},
            {"date": "2026-11-29", "country": "??", "requests": 2},
            {"date": "2026-11-30", "country": "DE", "country_name": "Germany", "requests": 1},
        ])
    );
    let (_, body) = get_json(&base, &format!("/api/requests/asn{range}")).await;
    assert_eq!(
        body,
        json!([
            {"date": "2026-11-29", "asn": "AS3320", "network": "Deutsche Telekom AG", "requests": 15},
            {"date": "2026-11-29", "asn": "Unknown", "network": "Unknown", "requests": 2},
        ])
    );
    // Rows without a hostname are left out; `service` only where the hostname has one.
    let (_, body) = get_json(&base, &format!("/api/requests/service{range}")).await;
    assert_eq!(
        body,
        json!([
            {"date": "2026-11-29", "service": "Polkadot", "domain": "polkadot.dotters.network", "requests": 15},
            {"date": "2026-11-29", "domain": "other.example", "requests": 3},
        ])
    );
    let (_, body) = get_json(&base, &format!("/api/requests/member{range}")).await;
    assert_eq!(
        body,
        json!([
            {"date": "2026-11-29", "member": "Stake Plus", "requests": 15},
            {"date": "2026-11-29", "member": "(none)", "requests": 2},
        ])
    );
    let (status, body) = get_json(&base, &format!("/api/requests/summary{range}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"start_date": "2026-11-29", "end_date": "2026-11-30", "total_requests": 18,
               "unique_countries": 2, "unique_asns": 1, "unique_members": 1, "unique_domains": 2})
    );
}

#[tokio::test]
async fn dates_default_to_today_and_filters_are_lists() {
    let fake = empty();
    let asked = fake.asked.clone();
    let base = serve(fake).await;
    let (status, _) = get_json(&base, "/api/requests/country").await;
    assert_eq!(status, 200);
    let (_, body) = get_json(&base, "/api/requests/summary").await;
    assert_eq!(body["start_date"], "2026-11-30");
    assert_eq!(body["end_date"], "2026-11-30");
    assert_eq!(body["total_requests"], 0);

    let query = "/api/requests/member?start=2026-11-01&end=2026-11-29\
                 &country=de,%20FR&asn=as3320,AS15169&network=Telekom&member=Stake+Plus,Rotko\
                 &domain=RPC.Example&service=polkadot";
    let (status, body) = get_json(&base, query).await;
    assert_eq!(status, 200, "{body}");
    let asked = asked.lock().unwrap();
    let first = &asked[0];
    assert_eq!((first.from, first.to), (day(30), day(30)));
    let filter = &asked[1];
    assert_eq!((filter.from, filter.to), (day(1), day(29)));
    assert_eq!(filter.countries, ["DE", "FR"]);
    assert_eq!(filter.asns, ["AS3320", "AS15169"]);
    assert_eq!(filter.networks, ["Telekom"]);
    assert_eq!(filter.members, ["Stake Plus", "Rotko"]);
    // The service's hostname joins the hostnames asked for (any case for its name).
    assert_eq!(filter.domains, ["polkadot.dotters.network", "rpc.example"]);
    assert!(filter.limit > 100_000, "one more than the most, to tell");
}

#[tokio::test]
async fn each_bad_parameter_is_named() {
    let base = serve(empty()).await;
    let fifty_one = vec!["DE"; 51].join(",");
    for (query, named) in [
        ("start=2026-13-01", "start: `2026-13-01` is not a day"),
        ("end=yesterday", "end: `yesterday` is not a day"),
        (
            "start=2026-11-30&end=2026-11-01",
            "end: 2026-11-01 is before start",
        ),
        (
            "start=2024-01-01&end=2026-11-30",
            "end: a range is at most 366 days",
        ),
        ("country=DEU", "country: `DEU` is not a country code"),
        ("asn=3320", "asn: `3320` is not an ASN"),
        ("member=Stake%3BPlus", "member: `Stake;Plus` has characters"),
        ("domain=a%20b", "domain: `a b` has characters"),
        ("service=Kusama", "service: no service is named `Kusama`"),
        (&format!("network={}", "x".repeat(101)), "network: `xxx"),
        (
            &format!("country={fifty_one}"),
            "filters: 51 filter values given; at most 50",
        ),
    ] {
        let (status, body) = get_json(&base, &format!("/api/requests/country?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.starts_with(named), "{query}: {error}");
    }
    // The summary reads only the dates, as the original.
    let (status, _) = get_json(&base, "/api/requests/summary?country=DEU").await;
    assert_eq!(status, 200);
    let (status, body) = get_json(&base, "/api/requests/summary?start=x").await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (400, "start: `x` is not a day (YYYY-MM-DD)")
    );
}

#[tokio::test]
async fn an_answer_over_the_row_limit_is_refused_not_cut() {
    let base = serve(empty()).await;
    let (status, body) = get_json(&base, "/api/requests/country?member=Busy").await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "end: the answer would hold more than 100000 rows; ask for fewer days or filter"
    );
    let (status, body) = get_json(&base, "/api/requests/country?member=Quiet").await;
    assert_eq!(status, 200);
    assert_eq!(body.as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_store_failure_is_a_500() {
    let base = serve(common::Fake {
        store_ok: false,
        ..empty()
    })
    .await;
    let (status, body) = get_json(&base, "/api/requests/asn").await;
    assert_eq!(status, 500);
    assert_eq!(body["error"], "database error: connection refused");
}
