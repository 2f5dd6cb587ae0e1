//! The routes that change the cluster, behind bearer tokens: a member's maintenance and
//! the country overrides. A missing or unknown token is 401, a member token acting on
//! another member (or on overrides, which move other members' traffic) is 403, and in
//! every refused case nothing changes.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::Node;
use crate::auth::Principal;

/// A country override to set, remove or clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverrideChange {
    /// Send `country`'s clients for `domain` to a member or literal addresses.
    Set {
        /// Hostname.
        domain: String,
        /// ISO country code.
        country: String,
        /// The member (wins over addresses when set).
        member: String,
        /// Literal IPv4 address.
        ipv4: String,
        /// Literal IPv6 address.
        ipv6: String,
    },
    /// Remove the override of one country.
    Remove {
        /// Hostname.
        domain: String,
        /// ISO country code.
        country: String,
    },
    /// Remove every override of a hostname.
    Clear {
        /// Hostname.
        domain: String,
    },
}

/// Why a change was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeError {
    /// No such member (404).
    UnknownMember(String),
    /// The request is wrong (400), with what is wrong.
    Invalid(String),
    /// The change could not be stored or sent (503); nothing was applied.
    Unavailable(String),
}

impl IntoResponse for ChangeError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ChangeError::UnknownMember(member) => {
                (StatusCode::NOT_FOUND, format!("no member `{member}`"))
            }
            ChangeError::Invalid(message) => (StatusCode::BAD_REQUEST, message),
            ChangeError::Unavailable(message) => (StatusCode::SERVICE_UNAVAILABLE, message),
        };
        error(status, &message)
    }
}

/// The request's JSON body, or the 400 answer naming what is wrong with it.
fn body_of<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, Refusal> {
    body.map(|Json(body)| body)
        .map_err(|rejection| Refusal::BadRequest(format!("body: {}", rejection.body_text())))
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// A request refused before anything was looked at.
#[derive(Debug)]
enum Refusal {
    /// 401: no token, or one nobody holds.
    Unauthorized(&'static str),
    /// 403: a token acting beyond its member.
    Forbidden(String),
    /// 400: a body that cannot be read, and why.
    BadRequest(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Unauthorized(message) => {
                let mut response = error(StatusCode::UNAUTHORIZED, message);
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer"),
                );
                response
            }
            Refusal::Forbidden(message) => error(StatusCode::FORBIDDEN, &message),
            Refusal::BadRequest(message) => error(StatusCode::BAD_REQUEST, &message),
        }
    }
}

/// The principal of the request's bearer token.
fn authenticate<N: Node>(node: &N, headers: &HeaderMap) -> Result<Principal, Refusal> {
    let Some(token) = crate::auth::bearer(headers) else {
        return Err(Refusal::Unauthorized(
            "missing bearer token (Authorization: Bearer TOKEN)",
        ));
    };
    node.tokens()
        .principal(token)
        .ok_or(Refusal::Unauthorized("unknown token"))
}

/// `PUT /api/members/{name}/maintenance` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MaintenanceBody {
    maintenance: bool,
}

pub(crate) async fn set_maintenance<N: Node>(
    State(node): State<N>,
    Path(member): Path<String>,
    headers: HeaderMap,
    body: Result<Json<MaintenanceBody>, JsonRejection>,
) -> Response {
    let principal = match authenticate(&node, &headers) {
        Ok(principal) => principal,
        Err(refusal) => return refusal.into_response(),
    };
    if !principal.may_act_on(&member) {
        return Refusal::Forbidden(format!("this token may not act on `{member}`")).into_response();
    }
    let body = match body_of(body) {
        Ok(body) => body,
        Err(refusal) => return refusal.into_response(),
    };
    match node
        .set_maintenance(&member, body.maintenance, &principal.label())
        .await
    {
        Ok(()) => {
            Json(json!({ "member": member, "maintenance": body.maintenance })).into_response()
        }
        Err(error) => error.into_response(),
    }
}

/// `PUT /api/overrides/{domain}/{country}` body: a member, or literal addresses.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OverrideBody {
    #[serde(default)]
    member: String,
    #[serde(default)]
    ipv4: String,
    #[serde(default)]
    ipv6: String,
}

/// Overrides move every member's traffic: the root token only.
fn root_only<N: Node>(node: &N, headers: &HeaderMap) -> Result<Principal, Refusal> {
    let principal = authenticate(node, headers)?;
    match principal {
        Principal::Root => Ok(principal),
        Principal::Member(_) => Err(Refusal::Forbidden(
            "country overrides need the root token".to_owned(),
        )),
    }
}

pub(crate) async fn set_override<N: Node>(
    State(node): State<N>,
    Path((domain, country)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<OverrideBody>, JsonRejection>,
) -> Response {
    let principal = match root_only(&node, &headers) {
        Ok(principal) => principal,
        Err(refusal) => return refusal.into_response(),
    };
    let body = match body_of(body) {
        Ok(body) => body,
        Err(refusal) => return refusal.into_response(),
    };
    let change = OverrideChange::Set {
        domain,
        country,
        member: body.member,
        ipv4: body.ipv4,
        ipv6: body.ipv6,
    };
    apply(&node, change, &principal).await
}

pub(crate) async fn remove_override<N: Node>(
    State(node): State<N>,
    Path((domain, country)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    match root_only(&node, &headers) {
        Ok(principal) => {
            apply(
                &node,
                OverrideChange::Remove { domain, country },
                &principal,
            )
            .await
        }
        Err(refusal) => refusal.into_response(),
    }
}

pub(crate) async fn clear_overrides<N: Node>(
    State(node): State<N>,
    Path(domain): Path<String>,
    headers: HeaderMap,
) -> Response {
    match root_only(&node, &headers) {
        Ok(principal) => apply(&node, OverrideChange::Clear { domain }, &principal).await,
        Err(refusal) => refusal.into_response(),
    }
}

async fn apply<N: Node>(node: &N, change: OverrideChange, principal: &Principal) -> Response {
    match node.change_override(change, &principal.label()).await {
        Ok(()) => Json(json!({ "ok": true })).into_response(),
        Err(error) => error.into_response(),
    }
}
