//! The original collator's `/api/members` and `/api/members/stats` over real HTTP, field
//! by field: every member, or one by name or slug, with `override` showing maintenance
//! now; a member's requests, downtime (overlaps merged) and uptime.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use chrono::{TimeZone, Utc};
use common::{Fake, empty, get_json as get, serve};
use geodns_core::ids::MemberId;
use geodns_core::model::CheckKind;
use geodns_core::records::{CheckKey, Outage, Votes};
use serde_json::json;

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

fn outage(id: i64, check: &str, start: (u32, u32), end: Option<(u32, u32)>) -> Outage {
    let at = |(day, hour): (u32, u32)| Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap();
    Outage {
        id,
        key: CheckKey {
            kind: CheckKind::Site,
            check: check.into(),
            member: MemberId::parse("Stake Plus").unwrap(),
            domain: String::new(),
            endpoint: String::new(),
            ipv6: false,
        },
        start: at(start),
        end: end.map(at),
        error: String::new(),
        votes: Votes::new(),
        data: serde_json::Map::new(),
    }
}

#[tokio::test]
async fn member_stats_merge_overlapping_outages() {
    // Two checks down together from 02:00 to 05:00 (3 h), then one from 08:00 to 09:00,
    // on the 29th: 4 hours down out of 48.
    let fake = Fake {
        outages: vec![
            outage(1, "ping", (29, 2), Some((29, 4))),
            outage(2, "tcp", (29, 3), Some((29, 5))),
            outage(3, "ping", (29, 8), Some((29, 9))),
        ],
        ..empty()
    };
    let base = serve(fake).await;
    let (status, stats) = get(
        &base,
        "/api/members/stats?name=stakeplus&start=2026-11-29&end=2026-11-30",
    )
    .await;
    assert_eq!(status, 200, "{stats}");
    let uptime = stats["uptime_percentage"].as_f64().unwrap();
    assert!(
        (uptime - (48.0 - 4.0) / (48.0 - 1.0 / 3600.0) * 100.0).abs() < 0.01,
        "{uptime}"
    );
    let mut stats = stats;
    stats.as_object_mut().unwrap().remove("uptime_percentage");
    assert_eq!(
        stats,
        json!({"member_name": "stakeplus", "start_date": "2026-11-29", "end_date": "2026-11-30",
               "total_requests": 42, "total_downtime_events": 3, "total_downtime_hours": 4.0,
               "top_countries": [{"country": "DE", "name": "Germany", "requests": 30},
                                 {"country": "US", "name": "United States", "requests": 12}],
               "service_breakdown": [{"service": "Polkadot", "domain": "polkadot.dotters.network", "requests": 42}]})
    );
    let (_, quiet) = get(&base, "/api/members/stats?name=Rotko").await;
    assert_eq!(
        (
            quiet["top_countries"].clone(),
            quiet["uptime_percentage"].as_f64()
        ),
        (json!([]), Some(100.0))
    );
    let (status, body) = get(&base, "/api/members/stats").await;
    assert_eq!(
        (
            status,
            body["error"].as_str().unwrap().starts_with("name: ")
        ),
        (400, true)
    );
    assert_eq!(get(&base, "/api/members/stats?name=Nobody").await.0, 404);
    assert_eq!(
        get(&base, "/api/members/stats?name=Rotko&start=soon")
            .await
            .0,
        400
    );
}
