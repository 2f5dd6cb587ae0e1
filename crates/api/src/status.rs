//! The status page: `GET /` serves one self-contained HTML page (no build step, no
//! external assets) that reads `GET /api/status` every 10 s and shows each service
//! hostname × member with its official health per family, ongoing outages with their
//! duration and votes, the last 24 hours of events, and which member answers each
//! hostname for a few sample countries.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use geodns_consensus::results::{IpFamily, Snapshot};
use geodns_core::config::Config;
use geodns_core::model::Member;
use geodns_core::records::Outage;
use serde_json::{Value, json};

use crate::Node;
use crate::downtime::{DowntimeQuery, MAX_EVENTS, duration};

/// Countries whose routes the page shows.
pub const SAMPLE_COUNTRIES: [&str; 8] = ["DE", "GB", "US", "BR", "IN", "JP", "AU", "ZA"];

const PAGE: &str = include_str!("status.html");

pub(crate) async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
        .into_response()
}

/// A member's official health for one hostname and family: `up` or `down` by the rule
/// DNS answers by ([`Snapshot::is_member_online`]), `maintenance`, or `none` (no
/// address of that family).
fn health(official: &Snapshot, member: &Member, host: &str, ipv6: bool) -> &'static str {
    let has_address = if ipv6 {
        member.ipv6.is_some()
    } else {
        member.ipv4.is_some()
    };
    if !has_address {
        "none"
    } else if member.maintenance {
        "maintenance"
    } else if official.is_member_online(host, &member.id, IpFamily::of(ipv6)) {
        "up"
    } else {
        "down"
    }
}

/// Every served hostname with the members that serve it.
fn hosts(config: &Config, official: &Snapshot) -> Vec<Value> {
    let members = &config.catalog.members;
    config
        .catalog
        .hostnames
        .iter()
        .map(|(host, services)| {
            let serving: Vec<Value> = members
                .values()
                .filter(|m| m.active && m.services.iter().any(|s| services.contains(s)))
                .map(|m| {
                    json!({
                        "member": m.id.as_str(),
                        "ipv4": health(official, m, host.as_str(), false),
                        "ipv6": health(official, m, host.as_str(), true),
                    })
                })
                .collect();
            let services: Vec<&str> = services.iter().map(|s| s.as_str()).collect();
            json!({"host": host.as_str(), "services": services, "members": serving})
        })
        .collect()
}

fn event(outage: &Outage, now: DateTime<Utc>) -> Value {
    let key = &outage.key;
    let votes: BTreeMap<&str, bool> = outage
        .votes
        .iter()
        .map(|(node, agree)| (node.as_str(), *agree))
        .collect();
    json!({
        "member": key.member.as_str(),
        "check": key.check,
        "kind": key.kind.as_str(),
        "domain": key.domain,
        "endpoint": key.endpoint,
        "ipv6": key.ipv6,
        "start": outage.start,
        "end": outage.end,
        "duration": duration(outage.end.unwrap_or(now) - outage.start),
        "error": outage.error,
        "votes": votes,
    })
}

pub(crate) async fn data<N: Node>(State(node): State<N>) -> Response {
    let now = node.now();
    let config = node.config();
    let official = node.official();
    let query = |from: DateTime<Utc>, ongoing: Option<bool>| DowntimeQuery {
        from,
        to: now,
        member: None,
        domain: None,
        kind: None,
        ongoing,
        limit: MAX_EVENTS,
    };
    let mut problems = Vec::new();
    let mut read = |found: Result<Vec<Outage>, String>| match found {
        Ok(outages) => outages.iter().map(|o| event(o, now)).collect(),
        Err(error) => {
            problems.push(format!("outages: {error}"));
            Vec::new()
        }
    };
    let ongoing: Vec<Value> = read(node.outages(&query(DateTime::UNIX_EPOCH, Some(true))).await);
    let recent: Vec<Value> = read(node.outages(&query(now - TimeDelta::hours(24), None)).await);
    let routes = match node.routes(&SAMPLE_COUNTRIES).await {
        Ok(routes) => routes,
        Err(error) => {
            problems.push(format!("routes: {error}"));
            Vec::new()
        }
    };
    Json(json!({
        "node": config.node.id.as_str(),
        "generated": now,
        "official_results": official.len(),
        "hosts": hosts(&config, &official),
        "ongoing": ongoing,
        "recent": recent,
        "countries": SAMPLE_COUNTRIES,
        "routes": routes,
        "problems": problems,
    }))
    .into_response()
}
