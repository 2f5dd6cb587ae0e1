//! The original collator's `GET /api/members/stats?name=…&start=…&end=…`: a member's
//! requests (total, top ten countries, per hostname) and downtime over the days asked,
//! with its uptime. Unlike the original, overlapping outages (two checks down at once)
//! are merged before they count, so downtime is never counted twice, and lists with
//! nothing in them are `[]`.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use crate::Node;
use crate::downtime::{ApiError, DowntimeQuery, window_of};

/// How usage is grouped for [`Node::member_usage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageBy {
    /// Per country code (label: country name).
    Country,
    /// Per hostname.
    Domain,
}

/// One usage group summed over the days asked: key, label and hits.
pub type UsageTotal = (String, String, i64);

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params {
    name: Option<String>,
    start: Option<String>,
    end: Option<String>,
}

/// Hours covered by `spans` once each, after merging overlaps.
pub fn merged_hours(mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)>) -> f64 {
    spans.sort();
    let mut total = 0i64;
    let mut current: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    for (start, end) in spans {
        match current {
            Some((from, to)) if start <= to => current = Some((from, to.max(end))),
            Some((from, to)) => {
                total += (to - from).num_milliseconds();
                current = Some((start, end));
            }
            None => current = Some((start, end)),
        }
    }
    if let Some((from, to)) = current {
        total += (to - from).num_milliseconds();
    }
    total.max(0) as f64 / 3_600_000.0
}

pub(crate) async fn member_stats<N: Node>(
    State(node): State<N>,
    Query(params): Query<Params>,
) -> Response {
    match stats(&node, &params).await {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn stats<N: Node>(node: &N, params: &Params) -> Result<serde_json::Value, ApiError> {
    let now = node.now();
    let (from, to) = window_of(params.start.as_deref(), params.end.as_deref(), now)?;
    let Some(asked) = params
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "name: a member name is required",
        ));
    };
    let config = node.config();
    let Some(member) =
        config.catalog.members.values().find(|m| {
            m.id.as_str().eq_ignore_ascii_case(asked) || m.slug.eq_ignore_ascii_case(asked)
        })
    else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            &format!("name: no member `{asked}`"),
        ));
    };
    let name = member.id.to_string();
    let days = (from.date_naive(), to.date_naive());
    let countries = node
        .member_usage(&name, days, UsageBy::Country)
        .await
        .map_err(ApiError::database)?;
    let domains = node
        .member_usage(&name, days, UsageBy::Domain)
        .await
        .map_err(ApiError::database)?;
    let query = DowntimeQuery {
        from,
        to,
        member: Some(name.clone()),
        domain: None,
        kind: None,
        ongoing: None,
        limit: u32::MAX,
    };
    let outages = node.outages(&query).await.map_err(ApiError::database)?;
    let spans = outages
        .iter()
        .map(|o| (o.start.max(from), o.end.unwrap_or(now).min(to)))
        .filter(|(start, end)| end > start)
        .collect();
    let down = merged_hours(spans);
    let hours = (to - from).num_seconds() as f64 / 3600.0;
    let uptime = if hours > 0.0 {
        ((hours - down) / hours * 100.0).max(0.0)
    } else {
        100.0
    };
    let total: i64 = countries.iter().map(|(_, _, hits)| hits).sum();
    let top: Vec<serde_json::Value> = countries
        .iter()
        .take(10)
        .map(|(code, label, hits)| json!({ "country": code, "name": label, "requests": hits }))
        .collect();
    let services: Vec<serde_json::Value> = domains
        .iter()
        .filter(|(domain, _, _)| !domain.is_empty())
        .map(|(domain, _, hits)| {
            let service = node.service_of(domain).unwrap_or_default();
            json!({ "service": service, "domain": domain, "requests": hits })
        })
        .collect();
    Ok(json!({
        "member_name": asked,
        "start_date": from.format("%Y-%m-%d").to_string(),
        "end_date": to.format("%Y-%m-%d").to_string(),
        "total_requests": total,
        "total_downtime_events": outages.len(),
        "total_downtime_hours": down,
        "uptime_percentage": uptime,
        "top_countries": top,
        "service_breakdown": services,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use chrono::TimeZone;

    use super::*;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, hour, 0, 0).unwrap()
    }

    #[test]
    fn overlapping_outages_count_once() {
        assert_eq!(
            merged_hours(vec![(at(1), at(3)), (at(2), at(4)), (at(6), at(7))]),
            4.0
        );
        assert_eq!(merged_hours(vec![(at(1), at(5)), (at(2), at(3))]), 4.0);
        assert_eq!(merged_hours(Vec::new()), 0.0);
    }
}
