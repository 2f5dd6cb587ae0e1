//! The original collator's downtime routes (`/api/downtime/events`, `/current`,
//! `/summary`), with its parameters, defaults and shapes: `start`/`end` are days
//! (`YYYY-MM-DD`, default today, `end` inclusive to 23:59:59 UTC), events come newest
//! first with `duration` as `1d 2h 3m`, `2h 3m` or `3m`, and an empty answer is `[]`.
//! Unlike the original, a bad parameter's 400 names it, and ranges and answers are
//! bounded.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use geodns_core::model::CheckKind;
use geodns_core::records::Outage;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Node;

/// Longest range a query may cover.
pub const MAX_DAYS: i64 = 366;
/// Most events one answer holds (the newest).
pub const MAX_EVENTS: u32 = 10_000;

/// What the node is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DowntimeQuery {
    /// Outages overlapping `[from, to]`.
    pub from: DateTime<Utc>,
    /// End of the window.
    pub to: DateTime<Utc>,
    /// Only this member.
    pub member: Option<String>,
    /// Only this hostname.
    pub domain: Option<String>,
    /// Only this kind of check.
    pub kind: Option<CheckKind>,
    /// Only ongoing (`true`) or resolved (`false`) outages.
    pub ongoing: Option<bool>,
    /// At most this many, newest first.
    pub limit: u32,
}

/// The query string of the downtime routes.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params {
    start: Option<String>,
    end: Option<String>,
    member: Option<String>,
    service: Option<String>,
    domain: Option<String>,
    check_type: Option<String>,
    status: Option<String>,
}

/// One event, as the original answers it.
#[derive(Debug, Serialize)]
pub struct Event {
    id: i64,
    member_name: String,
    check_type: &'static str,
    check_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    domain_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    endpoint: String,
    start_time: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_time: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    duration: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    error: String,
    is_ipv6: bool,
    status: &'static str,
}

fn event(outage: Outage, now: DateTime<Utc>) -> Event {
    let key = outage.key;
    Event {
        id: outage.id,
        member_name: key.member.to_string(),
        check_type: key.kind.as_str(),
        check_name: key.check,
        domain_name: key.domain,
        endpoint: key.endpoint,
        start_time: outage.start,
        end_time: outage.end,
        duration: duration(outage.end.unwrap_or(now) - outage.start),
        error: outage.error,
        is_ipv6: key.ipv6,
        status: if outage.end.is_some() {
            "resolved"
        } else {
            "ongoing"
        },
    }
}

/// The original's `formatDuration`.
pub fn duration(length: TimeDelta) -> String {
    let minutes = length.num_minutes().max(0);
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    if days > 0 {
        format!("{days}d {hours}h {minutes}m")
    } else if hours > 0 {
        format!("{hours}h {minutes}m")
    } else {
        format!("{minutes}m")
    }
}

/// An error answer: its status and `{"error": …}` text.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: &str) -> ApiError {
        ApiError {
            status,
            message: message.to_owned(),
        }
    }

    pub(crate) fn database(error: String) -> ApiError {
        database(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

/// A 400 naming `parameter`.
pub(crate) fn bad(parameter: &str, message: String) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        message: format!("{parameter}: {message}"),
    }
}

fn database(error: String) -> ApiError {
    ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("database error: {error}"),
    }
}

/// `start` and `end` as the original reads them (default today; `end` to 23:59:59).
fn window(params: &Params, now: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    window_of(params.start.as_deref(), params.end.as_deref(), now)
}

/// `start` and `end` query values as the original reads them.
pub(crate) fn window_of(
    start: Option<&str>,
    end: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let day = |name: &str, value: Option<&str>| -> Result<NaiveDate, ApiError> {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(now.date_naive()),
            Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| bad(name, format!("`{text}` is not a day (YYYY-MM-DD)"))),
        }
    };
    let start = day("start", start)?;
    let end = day("end", end)?;
    if end < start {
        return Err(bad("end", format!("{end} is before start {start}")));
    }
    if (end - start).num_days() >= MAX_DAYS {
        return Err(bad("end", format!("a range is at most {MAX_DAYS} days")));
    }
    let from = start.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    let to = end.and_hms_opt(23, 59, 59).unwrap_or_default().and_utc();
    Ok((from, to))
}

/// `^[a-zA-Z0-9_\-\.]+$` (members may also have spaces), as the original checks.
pub(crate) fn identifier(value: &str, spaces: bool) -> bool {
    !value.is_empty()
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') || (spaces && c == ' ')
        })
}

fn text<'a>(
    name: &str,
    value: &'a Option<String>,
    spaces: bool,
) -> Result<Option<&'a str>, ApiError> {
    match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) if identifier(v, spaces) && v.len() <= 255 => Ok(Some(v)),
        Some(v) => Err(bad(
            name,
            format!("`{v}` has characters that are not allowed"),
        )),
    }
}

async fn query_events<N: Node>(node: &N, params: &Params) -> Result<Vec<Event>, ApiError> {
    let now = node.now();
    let (from, to) = window(params, now)?;
    let member = text("member", &params.member, true)?;
    let service = text("service", &params.service, false)?;
    let domain = text("domain", &params.domain, false)?;
    let kind = match text("check_type", &params.check_type, false)? {
        None => None,
        Some(name) => Some(CheckKind::parse(name).ok_or_else(|| {
            bad(
                "check_type",
                format!("`{name}` is not site, domain or endpoint"),
            )
        })?),
    };
    let ongoing = match text("status", &params.status, false)? {
        None => None,
        Some("ongoing") => Some(true),
        Some("resolved") => Some(false),
        Some(other) => {
            return Err(bad(
                "status",
                format!("`{other}` is not ongoing or resolved"),
            ));
        }
    };
    let query = DowntimeQuery {
        from,
        to,
        member: member.map(str::to_owned),
        domain: domain.map(str::to_owned),
        kind,
        ongoing,
        limit: MAX_EVENTS,
    };
    let outages = node.outages(&query).await.map_err(database)?;
    Ok(outages
        .into_iter()
        // The original's service filter: events of that service's hostnames, and site
        // events (they concern every service).
        .filter(|o| match service {
            Some(service) if !o.key.domain.is_empty() => {
                node.service_of(&o.key.domain).as_deref() == Some(service)
            }
            _ => true,
        })
        .map(|o| event(o, now))
        .collect())
}

pub(crate) async fn events<N: Node>(
    State(node): State<N>,
    Query(params): Query<Params>,
) -> Response {
    match query_events(&node, &params).await {
        Ok(events) => Json(events).into_response(),
        Err(error) => error.into_response(),
    }
}

pub(crate) async fn current<N: Node>(State(node): State<N>) -> Response {
    let now = node.now();
    let query = DowntimeQuery {
        from: DateTime::UNIX_EPOCH,
        to: now,
        member: None,
        domain: None,
        kind: None,
        ongoing: Some(true),
        limit: MAX_EVENTS,
    };
    match node.outages(&query).await {
        Ok(outages) => {
            let events: Vec<Event> = outages.into_iter().map(|o| event(o, now)).collect();
            Json(events).into_response()
        }
        Err(error) => database(error).into_response(),
    }
}

pub(crate) async fn summary<N: Node>(
    State(node): State<N>,
    Query(params): Query<Params>,
) -> Response {
    let now = node.now();
    let (from, to) = match window(&params, now) {
        Ok(window) => window,
        Err(error) => return error.into_response(),
    };
    let query = DowntimeQuery {
        from,
        to,
        member: None,
        domain: None,
        kind: None,
        ongoing: None,
        limit: u32::MAX,
    };
    let outages = match node.outages(&query).await {
        Ok(outages) => outages,
        Err(error) => return database(error).into_response(),
    };
    let ongoing = outages.iter().filter(|o| o.end.is_none()).count();
    let resolved = outages.len() - ongoing;
    let members: std::collections::BTreeSet<&str> =
        outages.iter().map(|o| o.key.member.as_str()).collect();
    let minutes: f64 = outages
        .iter()
        .map(|o| {
            let end = o.end.unwrap_or(now).min(to);
            let start = o.start.max(from);
            (end - start).num_milliseconds().max(0) as f64 / 60_000.0
        })
        .sum();
    let hours = minutes / 60.0;
    Json(json!({
        "start_date": from.format("%Y-%m-%d").to_string(),
        "end_date": to.format("%Y-%m-%d").to_string(),
        "total_events": outages.len(),
        "ongoing_events": ongoing,
        "resolved_events": resolved,
        "affected_members": members.len(),
        "total_downtime_hours": hours,
        "average_downtime_hours": if resolved > 0 { hours / resolved as f64 } else { 0.0 },
    }))
    .into_response()
}
