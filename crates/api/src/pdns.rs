//! `POST /dns`: the PowerDNS remote backend (HTTP connector, `post=1,post_json=1`), with
//! the original's methods: `initialize`, `lookup`, `list`, `getDomainInfo`,
//! `getAllDomains`, `getAllDomainMetadata`, `getDomainMetadata`, `getDomainKeys` and the
//! custom `getMemberEvents`. Answers come from the node's DNS role ([`Backend`]), so
//! PowerDNS in front serves what the native server would.
//!
//! Errors keep the original's shapes (400 `{"result":"Invalid Request"}` for an unknown
//! method, 400 `{"result":"Bad request","error":…}` for a body that is not a request),
//! and the body is limited to 1 MB. PowerDNS takes `{"result":false}` as "nothing here".
//!
//! The endpoint faces PowerDNS only: it answers when `[api] pdns = true` (404 otherwise),
//! to a source address in `[api] pdns_allow` (loopback by default) or a request with the
//! `pdns_token` as bearer token (403 otherwise); `list` (a whole zone, as AXFR) only when
//! `[api] pdns_list = true`; and a qname that is not a DNS name is refused before use.

use std::net::IpAddr;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use geodns_core::pdns::absolute;
pub use geodns_core::pdns::{Backend, Question, Record, Zone};

use crate::Node;
use crate::downtime::DowntimeQuery;

/// Largest request body.
pub const MAX_BODY: usize = 1 << 20;

#[derive(Debug, Deserialize)]
struct Request {
    method: String,
    #[serde(default)]
    parameters: serde_json::Map<String, Value>,
}

fn result(value: Value) -> Response {
    Json(json!({ "result": value })).into_response()
}

/// Why a call is not served, as PowerDNS logs it.
fn refused(status: StatusCode, why: &str) -> Response {
    (status, Json(json!({"result": false, "log": [why]}))).into_response()
}

/// The call may be served: the backend is on, and the caller is allowed.
fn admitted<N: Node>(node: &N, request: &axum::extract::Request) -> Result<(), Refusal> {
    let config = node.config();
    let api = &config.api;
    if !api.pdns {
        let why = "the PowerDNS backend is off on this node ([api] pdns)";
        return Err(Refusal(StatusCode::NOT_FOUND, why));
    }
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    if peer.is_some_and(|ip| api.pdns_allow.iter().any(|net| net.contains(ip))) {
        return Ok(());
    }
    let token = crate::auth::bearer(request.headers());
    if token.is_some_and(|token| node.tokens().is_pdns(token)) {
        return Ok(());
    }
    let why = "not allowed: the source is not in [api] pdns_allow and no pdns token was given";
    Err(Refusal(StatusCode::FORBIDDEN, why))
}

/// A call refused by the gate: its status and why.
#[derive(Debug)]
struct Refusal(StatusCode, &'static str);

pub(crate) async fn dns<N: Node>(
    State(node): State<N>,
    request: axum::extract::Request,
) -> Response {
    if let Err(Refusal(status, why)) = admitted(&node, &request) {
        return refused(status, why);
    }
    let body: Body = request.into_body();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        let error = format!("the body is larger than {MAX_BODY} bytes, or was cut off");
        let answer = json!({"result": "Bad request", "error": error});
        return (StatusCode::PAYLOAD_TOO_LARGE, Json(answer)).into_response();
    };
    let request: Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            let answer = json!({"result": "Bad request", "error": error.to_string()});
            return (StatusCode::BAD_REQUEST, Json(answer)).into_response();
        }
    };
    let text = |name: &str| {
        request
            .parameters
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match request.method.as_str() {
        "initialize" => result(json!(true)),
        "getMemberEvents" => member_events(&node, &request.parameters).await,
        "getDomainKeys" | "getDomainMetadata" => result(json!([])),
        "getAllDomainMetadata" => {
            let known = with_backend(&node, |b| find_zone(b, &text("name")).is_some());
            match known {
                Ok(true) => result(json!({"PRESIGNED": ["0"]})),
                Ok(false) => result(json!({})),
                Err(no_dns) => no_dns.into_response(),
            }
        }
        "lookup" => {
            let question = question(&request.parameters);
            if !is_dns_name(&question.qname) {
                return refused(StatusCode::BAD_REQUEST, "qname is not a DNS name");
            }
            match with_backend(&node, |b| b.lookup(&question)) {
                Ok(records) => result(json!(records)),
                Err(no_dns) => no_dns.into_response(),
            }
        }
        "list" if !node.config().api.pdns_list => refused(
            StatusCode::FORBIDDEN,
            "zone listing is off ([api] pdns_list), as AXFR is",
        ),
        "list" => match with_backend(&node, |b| b.list(&text("zonename"))) {
            Ok(Some(records)) => result(json!(records)),
            Ok(None) => result(json!(false)),
            Err(no_dns) => no_dns.into_response(),
        },
        "getAllDomains" => match with_backend(&node, |b| b.zones()) {
            Ok(zones) => result(Value::Array(zones.iter().map(domain_info).collect())),
            Err(no_dns) => no_dns.into_response(),
        },
        "getDomainInfo" => {
            let name = Some(text("name")).filter(|n| !n.is_empty());
            let name = name.unwrap_or_else(|| text("qname"));
            match with_backend(&node, |b| find_zone(b, &name)) {
                Ok(Some(zone)) => result(domain_info(&zone)),
                Ok(None) => result(json!(false)),
                Err(no_dns) => no_dns.into_response(),
            }
        }
        _ => (
            StatusCode::BAD_REQUEST,
            Json(json!({"result": "Invalid Request"})),
        )
            .into_response(),
    }
}

/// This node does not run the DNS role: PowerDNS logs the `log` line and answers
/// SERVFAIL (a misconfiguration, not an empty zone).
#[derive(Debug)]
struct NoDns;

impl IntoResponse for NoDns {
    fn into_response(self) -> Response {
        let log = "this geodns node does not run the dns role; point PowerDNS at one that does";
        let answer = json!({"result": false, "log": [log]});
        (StatusCode::SERVICE_UNAVAILABLE, Json(answer)).into_response()
    }
}

/// Runs `f` on the DNS role.
fn with_backend<N: Node, T>(node: &N, f: impl FnOnce(&dyn Backend) -> T) -> Result<T, NoDns> {
    node.dns().map(|backend| f(backend.as_ref())).ok_or(NoDns)
}

/// A name PowerDNS may ask about: the root (`.`, when it looks for a zone), or at most
/// 253 characters (without the final dot) in labels of 1 to 63 letters, digits, `-`, `_`
/// or `*`.
fn is_dns_name(name: &str) -> bool {
    if name == "." {
        return true;
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'*'))
        })
}

fn find_zone(backend: &dyn Backend, name: &str) -> Option<Zone> {
    let wanted = absolute(name);
    backend.zones().into_iter().find(|zone| zone.name == wanted)
}

fn domain_info(zone: &Zone) -> Value {
    json!({
        "id": zone.id,
        "zone": zone.name,
        "kind": "native",
        "serial": zone.serial,
        "notified_serial": zone.serial,
        "last_check": 0,
        "masters": [],
    })
}

/// The question of a `lookup`: `real-remote` (an address or a subnet) before `remote`,
/// as the original; PowerDNS's own lookups (`0.0.0.0`) have no client.
fn question(parameters: &serde_json::Map<String, Value>) -> Question {
    let text = |name: &str| parameters.get(name).and_then(Value::as_str).unwrap_or("");
    let address = |value: &str| -> Option<IpAddr> {
        let value = value.trim().trim_start_matches('[');
        let value = value.split(['%', ']']).next().unwrap_or_default();
        value
            .parse::<IpAddr>()
            .ok()
            .or_else(|| value.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok()))
            .filter(|ip| !ip.is_unspecified())
    };
    let (real, length) = match text("real-remote").split_once('/') {
        Some((ip, length)) => (address(ip), length.parse::<u8>().ok()),
        None => (address(text("real-remote")), None),
    };
    let subnet = real.zip(length).filter(|(ip, length)| {
        let full = if ip.is_ipv4() { 32 } else { 128 };
        *length < full
    });
    let client = match subnet {
        // A subnet locates the client; the resolver that sent it is `remote`.
        Some(_) => address(text("remote")).or(real),
        None => real.or_else(|| address(text("remote"))),
    };
    Question {
        qname: text("qname").to_owned(),
        qtype: text("qtype").to_owned(),
        client,
        subnet,
    }
}

/// The original's custom method: a member's outages from `startTime` (default: a day
/// before `endTime`) to `endTime` (default: now), RFC 3339.
async fn member_events<N: Node>(node: &N, parameters: &serde_json::Map<String, Value>) -> Response {
    let text = |name: &str| parameters.get(name).and_then(Value::as_str).unwrap_or("");
    // Err: the parameter that is not a time.
    let time = |name: &'static str| -> Result<Option<DateTime<Utc>>, &'static str> {
        match text(name) {
            "" => Ok(None),
            value => DateTime::parse_from_rfc3339(value)
                .map(|t| Some(t.to_utc()))
                .map_err(|_| name),
        }
    };
    let (start, end) = match (time("startTime"), time("endTime")) {
        (Ok(start), Ok(end)) => (start, end),
        (Err(name), _) | (_, Err(name)) => {
            let answer = json!({"result": format!("invalid {name}")});
            return (StatusCode::BAD_REQUEST, Json(answer)).into_response();
        }
    };
    let end = end.unwrap_or_else(|| node.now());
    let start = start.unwrap_or(end - TimeDelta::hours(24));
    let member = Some(text("memberName").to_owned()).filter(|m| !m.is_empty());
    let domain = Some(text("domain").to_ascii_lowercase()).filter(|d| !d.is_empty());
    let query = DowntimeQuery {
        from: start,
        to: end,
        member,
        domain,
        kind: None,
        ongoing: None,
        limit: crate::downtime::MAX_EVENTS,
    };
    match node.outages(&query).await {
        Ok(outages) => result(Value::Array(outages.iter().map(event_record).collect())),
        Err(error) => {
            let answer = json!({"result": false, "error": format!("database error: {error}")});
            (StatusCode::INTERNAL_SERVER_ERROR, Json(answer)).into_response()
        }
    }
}

/// The original's `EventRecord` (Go field names, Go's zero time while open).
fn event_record(outage: &geodns_core::records::Outage) -> Value {
    let zero = "0001-01-01T00:00:00Z";
    let key = &outage.key;
    json!({
        "CheckType": key.kind.as_str(),
        "CheckName": key.check,
        "MemberName": key.member.as_str(),
        "DomainName": key.domain,
        "Endpoint": key.endpoint,
        "Status": false,
        "ErrorText": outage.error,
        "Data": if outage.data.is_empty() { Value::Null } else { Value::Object(outage.data.clone()) },
        "IsIPv6": key.ipv6,
        "StartTime": outage.start,
        "EndTime": outage.end.map_or(json!(zero), |end| json!(end)),
        "StartDate": outage.start.format("%Y-%m-%d").to_string(),
        "EndDate": outage.end.map(|end| end.format("%Y-%m-%d").to_string()).unwrap_or_default(),
    })
}
