//! The original collator's `GET /api/members`: every member (or one, `?name=`) with its
//! details, location, addresses, services, whether it is active and whether it is in
//! maintenance now (`override`, the original's name for it).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use geodns_core::model::Member;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::Node;

/// One member, in the original's shape.
#[derive(Debug, Serialize)]
pub struct MemberInfo {
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    website: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    logo: String,
    level: u8,
    /// `YYYY-MM-DD`; `1970-01-01` when unknown, as the original answers then.
    joined_date: String,
    region: String,
    latitude: f64,
    longitude: f64,
    #[serde(skip_serializing_if = "String::is_empty")]
    service_ipv4: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    service_ipv6: String,
    services: Vec<String>,
    active: bool,
    /// In maintenance now (configuration or a run-time change).
    #[serde(rename = "override")]
    maintenance: bool,
}

impl MemberInfo {
    /// The answer for `member`.
    pub fn of(member: &Member) -> MemberInfo {
        MemberInfo {
            name: member.id.to_string(),
            website: member.website.clone().unwrap_or_default(),
            logo: member.logo.clone().unwrap_or_default(),
            level: member.level,
            joined_date: member
                .joined
                .map_or_else(|| "1970-01-01".to_owned(), |day| day.to_string()),
            region: member.region.clone(),
            latitude: member.location.latitude(),
            longitude: member.location.longitude(),
            service_ipv4: member.ipv4.map(|a| a.to_string()).unwrap_or_default(),
            service_ipv6: member.ipv6.map(|a| a.to_string()).unwrap_or_default(),
            services: member.services.iter().map(ToString::to_string).collect(),
            active: member.active,
            maintenance: member.maintenance,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params {
    name: Option<String>,
}

pub(crate) async fn members<N: Node>(
    State(node): State<N>,
    Query(params): Query<Params>,
) -> Response {
    let config = node.config();
    let members = &config.catalog.members;
    let Some(name) = params
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    else {
        let all: Vec<MemberInfo> = members.values().map(MemberInfo::of).collect();
        return Json(all).into_response();
    };
    // By name, as the wire and the downtime routes write it, or by slug (the original's
    // key), in any case.
    let found = members
        .values()
        .find(|m| m.id.as_str().eq_ignore_ascii_case(name) || m.slug.eq_ignore_ascii_case(name));
    match found {
        Some(member) => Json(MemberInfo::of(member)).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("name: no member `{name}`") })),
        )
            .into_response(),
    }
}
