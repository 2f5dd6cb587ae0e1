//! The original collator's request routes: `/api/requests/country`, `/asn`, `/service`,
//! `/member` (hits per day and group, most first within a day) and `/summary`. Filters
//! are comma-separated lists (`country=DE,FR`), at most 50 values in all, checked with
//! the original's rules. Unlike the original: a 400 names the parameter, an empty answer
//! is `[]` (not `null`), `service` always means that service's hostnames (the original
//! matched a substring of the hostname on one route and silently dropped an unknown
//! service on the others), and `date` is `YYYY-MM-DD` as its documentation shows.

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Node;
use crate::downtime::{ApiError, bad, identifier, window_of};

/// Most filter values one query may carry, all parameters together (the original's).
pub const MAX_FILTERS: usize = 50;
/// Most rows one answer holds; a larger answer is refused, not cut.
pub const MAX_ROWS: u32 = 100_000;

/// What the hits are grouped by, besides the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// Country code (label: country name).
    Country,
    /// ASN (label: network name).
    Asn,
    /// Hostname.
    Domain,
    /// Member.
    Member,
}

/// The rows a request query covers: days inclusive; each list matches any of its values,
/// an empty list everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFilter {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// Country codes (upper case).
    pub countries: Vec<String>,
    /// ASNs (`AS3320`).
    pub asns: Vec<String>,
    /// Network name substrings (any case).
    pub networks: Vec<String>,
    /// Member names.
    pub members: Vec<String>,
    /// Hostnames (lower case), including those of the services asked for.
    pub domains: Vec<String>,
    /// At most this many rows.
    pub limit: u32,
}

/// Hits of one group on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyHits {
    /// Day.
    pub date: NaiveDate,
    /// Country code, ASN, hostname or member.
    pub key: String,
    /// Country name, network name, or the key again.
    pub label: String,
    /// Hits.
    pub hits: i64,
}

/// Totals over a range of days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestTotals {
    /// Hits.
    pub requests: i64,
    /// Distinct country codes.
    pub countries: i64,
    /// Distinct known ASNs.
    pub asns: i64,
    /// Distinct members.
    pub members: i64,
    /// Distinct hostnames.
    pub domains: i64,
}

/// The query string of the request routes.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params {
    start: Option<String>,
    end: Option<String>,
    country: Option<String>,
    asn: Option<String>,
    network: Option<String>,
    service: Option<String>,
    member: Option<String>,
    domain: Option<String>,
}

/// One answer row: the fields of the original's `RequestStats`, empty ones omitted.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct Row {
    date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    asn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    member: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<String>,
    requests: i64,
}

/// The values of a comma-separated parameter, trimmed, empty ones dropped.
fn list(value: &Option<String>) -> Vec<String> {
    value
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(|part| part.replace('\0', "").trim().to_owned())
        .filter(|part| !part.is_empty())
        .collect()
}

/// Checks every value of `name` with `rule`, which returns the value to query with.
fn each(
    name: &str,
    values: Vec<String>,
    rule: impl Fn(&str) -> Result<String, String>,
) -> Result<Vec<String>, ApiError> {
    values
        .iter()
        .map(|value| rule(value).map_err(|why| bad(name, format!("`{value}` {why}"))))
        .collect()
}

/// The filter of a query string, checked: dates, each value, and the total count.
pub(crate) fn filter<N: Node>(node: &N, params: &Params) -> Result<RequestFilter, ApiError> {
    let (from, to) = window_of(params.start.as_deref(), params.end.as_deref(), node.now())?;
    let raw = [
        &params.country,
        &params.asn,
        &params.network,
        &params.service,
        &params.member,
        &params.domain,
    ];
    let count: usize = raw.iter().map(|value| list(value).len()).sum();
    if count > MAX_FILTERS {
        let message = format!("{count} filter values given; at most {MAX_FILTERS} in all");
        return Err(bad("filters", message));
    }
    let countries = each("country", list(&params.country), |v| {
        let upper = v.to_ascii_uppercase();
        match upper.len() == 2 && upper.bytes().all(|b| b.is_ascii_uppercase()) {
            true => Ok(upper),
            false => Err("is not a country code (two letters)".into()),
        }
    })?;
    let asns = each("asn", list(&params.asn), |v| {
        let upper = v.to_ascii_uppercase();
        let digits = upper.strip_prefix("AS").unwrap_or_default();
        match !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            true => Ok(upper),
            false => Err("is not an ASN (AS followed by digits)".into()),
        }
    })?;
    let networks = each("network", list(&params.network), |v| match v.len() <= 100 {
        true => Ok(v.to_owned()),
        false => Err("is longer than 100 characters".into()),
    })?;
    let members = each("member", list(&params.member), |v| {
        match v.len() <= 255 && identifier(v, true) {
            true => Ok(v.to_owned()),
            false => Err("has characters a member name cannot have".into()),
        }
    })?;
    let mut domains = each("domain", list(&params.domain), |v| {
        match v.len() <= 255 && identifier(v, false) {
            true => Ok(v.to_ascii_lowercase()),
            false => Err("has characters a hostname cannot have".into()),
        }
    })?;
    let config = node.config();
    for service in list(&params.service) {
        let found = config
            .catalog
            .services
            .values()
            .find(|s| s.id.as_str().eq_ignore_ascii_case(&service));
        match found {
            Some(found) => domains.extend(found.hostnames.iter().map(|h| h.to_string())),
            None => return Err(bad("service", format!("no service is named `{service}`"))),
        }
    }
    domains.sort();
    domains.dedup();
    Ok(RequestFilter {
        from: from.date_naive(),
        to: to.date_naive(),
        countries,
        asns,
        networks,
        members,
        domains,
        limit: MAX_ROWS + 1,
    })
}

fn row<N: Node>(node: &N, by: Dimension, hits: DailyHits) -> Row {
    let known = |text: String, unknown: &str| match text.is_empty() {
        true => unknown.to_owned(),
        false => text,
    };
    let mut row = Row {
        date: hits.date.format("%Y-%m-%d").to_string(),
        country: None,
        country_name: None,
        asn: None,
        network: None,
        service: None,
        member: None,
        domain: None,
        requests: hits.hits,
    };
    match by {
        Dimension::Country => {
            row.country = Some(hits.key);
            row.country_name = Some(hits.label).filter(|name| !name.is_empty());
        }
        Dimension::Asn => {
            row.asn = Some(known(hits.key, "Unknown"));
            row.network = Some(known(hits.label, "Unknown"));
        }
        Dimension::Domain => {
            row.service = node.service_of(&hits.key);
            row.domain = Some(hits.key);
        }
        Dimension::Member => row.member = Some(known(hits.key, "(none)")),
    }
    row
}

async fn rows<N: Node>(node: &N, params: &Params, by: Dimension) -> Result<Vec<Row>, ApiError> {
    let filter = filter(node, params)?;
    let found = node
        .requests(&filter, by)
        .await
        .map_err(ApiError::database)?;
    if found.len() > MAX_ROWS as usize {
        let message = format!(
            "the answer would hold more than {MAX_ROWS} rows; ask for fewer days or filter"
        );
        return Err(bad("end", message));
    }
    Ok(found
        .into_iter()
        // The original's service route leaves out rows without a hostname.
        .filter(|hits| by != Dimension::Domain || !hits.key.is_empty())
        .map(|hits| row(node, by, hits))
        .collect())
}

async fn answer<N: Node>(node: N, params: Params, by: Dimension) -> Response {
    match rows(&node, &params, by).await {
        Ok(rows) => Json(rows).into_response(),
        Err(error) => error.into_response(),
    }
}

pub(crate) async fn by_country<N: Node>(
    State(node): State<N>,
    Query(params): Query<Params>,
) -> Response {
    answer(node, params, Dimension::Country).await
}

pub(crate) async fn by_asn<N: Node>(
    State(node): State<N>,
    Query(params): Query<Params>,
) -> Response {
    answer(node, params, Dimension::Asn).await
}

pub(crate) async fn by_service<N: Node>(
    State(node): State<N>,
    Query(params): Query<Params>,
) -> Response {
    answer(node, params, Dimension::Domain).await
}

pub(crate) async fn by_member<N: Node>(
    State(node): State<N>,
    Query(params): Query<Params>,
) -> Response {
    answer(node, params, Dimension::Member).await
}

/// `start` and `end` only, as the original (other parameters are ignored).
pub(crate) async fn summary<N: Node>(
    State(node): State<N>,
    Query(params): Query<Params>,
) -> Response {
    let (from, to) = match window_of(params.start.as_deref(), params.end.as_deref(), node.now()) {
        Ok(window) => window,
        Err(error) => return error.into_response(),
    };
    let (from, to) = (from.date_naive(), to.date_naive());
    match node.requests_summary((from, to)).await {
        Ok(totals) => Json(json!({
            "start_date": from.format("%Y-%m-%d").to_string(),
            "end_date": to.format("%Y-%m-%d").to_string(),
            "total_requests": totals.requests,
            "unique_countries": totals.countries,
            "unique_asns": totals.asns,
            "unique_members": totals.members,
            "unique_domains": totals.domains,
        }))
        .into_response(),
        Err(error) => ApiError::database(error).into_response(),
    }
}
