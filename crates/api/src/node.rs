//! The node routes: `/health`, `/ready`, `/results`, `/api/cluster`, `/api/consensus`
//! and `/api/health`.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::NodeInfo;

/// The header that names the source of `/results`.
pub const RESULTS_SOURCE: &str = "x-ibp-results-source";

/// The node routes over `node`, with CORS on every answer.
pub fn router<N: NodeInfo>(node: N) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready::<N>))
        .route("/results", get(results::<N>))
        .route("/metrics", get(metrics::<N>))
        .route("/dns", axum::routing::post(crate::pdns::dns::<N>))
        .route("/api/cluster", get(cluster::<N>))
        .route("/api/consensus", get(consensus::<N>))
        .route("/api/health", get(api_health::<N>))
        .route("/api/members", get(crate::members::members::<N>))
        .route("/api/members/stats", get(crate::stats::member_stats::<N>))
        .route(
            "/api/requests/country",
            get(crate::requests::by_country::<N>),
        )
        .route("/api/requests/asn", get(crate::requests::by_asn::<N>))
        .route(
            "/api/requests/service",
            get(crate::requests::by_service::<N>),
        )
        .route("/api/requests/member", get(crate::requests::by_member::<N>))
        .route("/api/requests/summary", get(crate::requests::summary::<N>))
        .route("/api/services", get(crate::services::services::<N>))
        .route("/api/services/summary", get(crate::services::summary::<N>))
        .route("/api/downtime/events", get(crate::downtime::events::<N>))
        .route("/api/downtime/current", get(crate::downtime::current::<N>))
        .route("/api/downtime/summary", get(crate::downtime::summary::<N>))
        .route(
            "/api/members/{name}/maintenance",
            axum::routing::put(crate::change::set_maintenance::<N>),
        )
        .route(
            "/api/overrides/{domain}/{country}",
            axum::routing::put(crate::change::set_override::<N>)
                .delete(crate::change::remove_override::<N>),
        )
        .route(
            "/api/overrides/{domain}",
            axum::routing::delete(crate::change::clear_overrides::<N>),
        )
        .fallback(not_found)
        .with_state(node)
        .layer(axum::middleware::from_fn(cors))
}

/// CORS as the original: every answer may be read by any page, and a preflight
/// (`OPTIONS`) is answered at once.
async fn cors(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut response = if request.method() == axum::http::Method::OPTIONS {
        StatusCode::OK.into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        (
            header::ACCESS_CONTROL_ALLOW_METHODS,
            "GET, POST, PUT, DELETE, OPTIONS",
        ),
        (
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Content-Type, Authorization, X-Requested-With",
        ),
        (header::ACCESS_CONTROL_MAX_AGE, "3600"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn health() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

async fn ready<N: NodeInfo>(State(node): State<N>) -> Response {
    let readiness = node.readiness().await;
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(readiness)).into_response()
}

async fn results<N: NodeInfo>(State(node): State<N>) -> Response {
    let (official, local) = (node.official(), node.local());
    let (body, source) = crate::results::results(&official, &local);
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(
        HeaderName::from_static(RESULTS_SOURCE),
        HeaderValue::from_static(source.as_str()),
    );
    response
}

async fn metrics<N: NodeInfo>(State(node): State<N>) -> Response {
    let text = crate::metrics::encode(&node.metrics().await);
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response()
}

async fn cluster<N: NodeInfo>(State(node): State<N>) -> Response {
    axum::Json(node.cluster()).into_response()
}

async fn consensus<N: NodeInfo>(State(node): State<N>) -> Response {
    axum::Json(node.consensus()).into_response()
}

/// The original collator's health answer: `{status, timestamp, version, ssl}`.
async fn api_health<N: NodeInfo>(State(node): State<N>) -> Response {
    axum::Json(json!({
        "status": "healthy",
        "timestamp": node.now(),
        "version": env!("CARGO_PKG_VERSION"),
        "ssl": node.ssl(),
    }))
    .into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({ "error": "not found" })),
    )
        .into_response()
}
