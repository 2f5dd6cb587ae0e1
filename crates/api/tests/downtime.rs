//! The original collator's downtime routes over real HTTP, checked field by field against
//! the shapes of its `downtime.go` (reference §8.3): defaults (today, end of day
//! inclusive), filters, newest first, `duration` text, omitted empty fields, `[]` for
//! nothing, and a 400 that names the bad parameter.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use chrono::{DateTime, TimeZone, Utc};
use common::{Fake, empty, get_json as get, serve};
use geodns_core::ids::MemberId;
use geodns_core::model::CheckKind;
use geodns_core::records::{CheckKey, Outage, Votes};
use serde_json::{Value, json};

fn time(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, minute, 0)
        .unwrap()
}

#[allow(
    clippy::too_many_arguments,
    reason = "one outage per call, spelled out"
)]
fn outage(
    id: i64,
    kind: CheckKind,
    check: &str,
    member: &str,
    domain: &str,
    ipv6: bool,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
) -> Outage {
    let endpoint = if kind == CheckKind::Endpoint {
        format!("wss://{domain}")
    } else {
        String::new()
    };
    Outage {
        id,
        key: CheckKey {
            kind,
            check: check.into(),
            member: MemberId::parse(member).unwrap(),
            domain: domain.into(),
            endpoint,
            ipv6,
        },
        start,
        end,
        error: if id == 1 {
            "Syncing".into()
        } else {
            String::new()
        },
        votes: Votes::new(),
        data: serde_json::Map::new(),
    }
}

fn history() -> Fake {
    Fake {
        outages: vec![
            outage(
                1,
                CheckKind::Endpoint,
                "wss",
                "Amforc",
                "polkadot.dotters.network",
                false,
                time(30, 8, 0),
                Some(time(30, 9, 30)),
            ),
            outage(
                2,
                CheckKind::Site,
                "ping",
                "Rotko",
                "",
                true,
                time(30, 9, 15),
                None,
            ),
            outage(
                3,
                CheckKind::Domain,
                "ssl",
                "Amforc",
                "kusama.dotters.network",
                false,
                time(28, 10, 0),
                Some(time(28, 12, 0)),
            ),
        ],
        ..empty()
    }
}

fn ids(events: &Value) -> Vec<i64> {
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn events_default_to_today_with_the_original_fields() {
    let base = serve(history()).await;
    let (status, events) = get(&base, "/api/downtime/events").await;
    assert_eq!(status, 200);
    assert_eq!(
        events,
        json!([
            {"id": 2, "member_name": "Rotko", "check_type": "site", "check_name": "ping",
             "start_time": "2026-11-30T09:15:00Z", "duration": "45m", "is_ipv6": true, "status": "ongoing"},
            {"id": 1, "member_name": "Amforc", "check_type": "endpoint", "check_name": "wss",
             "domain_name": "polkadot.dotters.network", "endpoint": "wss://polkadot.dotters.network",
             "start_time": "2026-11-30T08:00:00Z", "end_time": "2026-11-30T09:30:00Z",
             "duration": "1h 30m", "error": "Syncing", "is_ipv6": false, "status": "resolved"}
        ])
    );
    let (_, all) = get(
        &base,
        "/api/downtime/events?start=2026-11-28&end=2026-11-30",
    )
    .await;
    assert_eq!(ids(&all), [2, 1, 3]);
    let (_, before) = get(
        &base,
        "/api/downtime/events?start=2026-11-01&end=2026-11-02",
    )
    .await;
    assert_eq!(before, json!([]), "nothing is [], never null");
}

#[tokio::test]
async fn events_filter_as_the_original() {
    let base = serve(history()).await;
    let range = "start=2026-11-28&end=2026-11-30";
    for (filter, want) in [
        ("member=Amforc", vec![1, 3]),
        ("check_type=site", vec![2]),
        ("status=ongoing", vec![2]),
        ("status=resolved", vec![1, 3]),
        ("domain=kusama.dotters.network", vec![3]),
        // A service keeps its hostnames' events and every site event.
        ("service=Polkadot", vec![2, 1]),
    ] {
        let (status, events) = get(&base, &format!("/api/downtime/events?{range}&{filter}")).await;
        assert_eq!((status, ids(&events)), (200, want), "{filter}");
    }
    let (_, current) = get(&base, "/api/downtime/current").await;
    assert_eq!(ids(&current), [2]);
    assert_eq!(current[0]["status"], "ongoing");
}

#[tokio::test]
async fn bad_parameters_are_named() {
    let base = serve(history()).await;
    for (query, parameter) in [
        ("start=30-11-2026", "start"),
        ("end=yesterday", "end"),
        ("start=2026-11-30&end=2026-11-01", "end"),
        ("start=2024-01-01&end=2026-11-30", "end"),
        ("check_type=bogus", "check_type"),
        ("status=down", "status"),
        ("member=Amforc%3Bdrop", "member"),
        ("domain=a%2Fb", "domain"),
        ("service=a%20b", "service"),
    ] {
        let (status, body) = get(&base, &format!("/api/downtime/events?{query}")).await;
        let error = body["error"].as_str().unwrap();
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            error.starts_with(&format!("{parameter}: ")),
            "{query}: {error}"
        );
    }
    // Member names may have spaces, written `+` or `%20`.
    for query in ["member=Stake+Plus", "member=Stake%20Plus"] {
        assert_eq!(
            get(&base, &format!("/api/downtime/events?{query}")).await.0,
            200,
            "{query}"
        );
    }
}

#[tokio::test]
async fn summary_counts_and_clips_to_the_window() {
    let base = serve(history()).await;
    let (status, summary) = get(&base, "/api/downtime/summary").await;
    assert_eq!(status, 200);
    assert_eq!(
        summary,
        json!({"start_date": "2026-11-30", "end_date": "2026-11-30", "total_events": 2,
               "ongoing_events": 1, "resolved_events": 1, "affected_members": 2,
               "total_downtime_hours": 2.25, "average_downtime_hours": 2.25})
    );
    let (_, week) = get(
        &base,
        "/api/downtime/summary?start=2026-11-28&end=2026-11-30",
    )
    .await;
    assert_eq!(
        (
            week["total_events"].as_u64(),
            week["total_downtime_hours"].as_f64()
        ),
        (Some(3), Some(4.25))
    );
    assert_eq!(get(&base, "/api/downtime/summary?start=nope").await.0, 400);
}

#[tokio::test]
async fn preflight_requests_are_answered_for_any_route() {
    let base = serve(empty()).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let response = client
        .request(
            reqwest::Method::OPTIONS,
            format!("{base}/api/members/Amforc/maintenance"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("PUT")
    );
    assert!(
        headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("Authorization")
    );
}
