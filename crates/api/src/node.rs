//! The router, and the node's own routes: `/health`, `/ready`, `/results`, `/metrics`,
//! `/api/cluster`, `/api/consensus` and `/api/health`.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::Node;

/// The header that names the source of `/results`.
pub const RESULTS_SOURCE: &str = "x-ibp-results-source";

/// Every route of [`crate::routes::routes`] over `node`, with CORS on every answer.
pub fn router<N: Node>(node: N) -> Router {
    let mut router = Router::new();
    for (path, handler) in crate::routes::by_path::<N>() {
        router = router.route(path, handler);
    }
    router
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

pub(crate) async fn health() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

pub(crate) async fn ready<N: Node>(State(node): State<N>) -> Response {
    let readiness = node.readiness().await;
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(readiness)).into_response()
}

pub(crate) async fn results<N: Node>(State(node): State<N>) -> Response {
    let (official, local) = (node.official(), node.local());
    let (body, source) = crate::results::results(&official, &local);
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(
        HeaderName::from_static(RESULTS_SOURCE),
        HeaderValue::from_static(source.as_str()),
    );
    response
}

pub(crate) async fn metrics<N: Node>(State(node): State<N>) -> Response {
    let text = geodns_node::metrics::encode(&node.metrics().await);
    (
        [(header::CONTENT_TYPE, geodns_node::metrics::CONTENT_TYPE)],
        text,
    )
        .into_response()
}

pub(crate) async fn cluster<N: Node>(State(node): State<N>) -> Response {
    axum::Json(node.cluster()).into_response()
}

pub(crate) async fn consensus<N: Node>(State(node): State<N>) -> Response {
    axum::Json(node.consensus()).into_response()
}

/// The original collator's health answer: `{status, timestamp, version, ssl}`.
pub(crate) async fn api_health<N: Node>(State(node): State<N>) -> Response {
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
