//! ACME challenge TXT content fetched from a local HTTP server: trimming, retries, the
//! size limit and the per-attempt timeout.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use geodns_dns::acme::{self, AcmeError, AcmeLimits};
use url::Url;

/// Counts the requests each route saw.
type Hits = Arc<AtomicUsize>;

async fn token(State(hits): State<Hits>) -> &'static str {
    hits.fetch_add(1, Ordering::SeqCst);
    "  \n gfj9Xq-Rp_4Lq1sW8y3K2m5N7v0bZ6cT1dE9hJ4kA2s \r\n"
}

async fn flaky(State(hits): State<Hits>) -> Response {
    let attempt = hits.fetch_add(1, Ordering::SeqCst) + 1;
    if attempt < 3 {
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    } else {
        "third time lucky".into_response()
    }
}

async fn long(State(hits): State<Hits>) -> String {
    hits.fetch_add(1, Ordering::SeqCst);
    "x".repeat(600)
}

async fn huge(State(hits): State<Hits>) -> String {
    hits.fetch_add(1, Ordering::SeqCst);
    "y".repeat(100_000)
}

async fn slow(State(hits): State<Hits>) -> &'static str {
    hits.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(30)).await;
    "too late"
}

async fn missing(State(hits): State<Hits>) -> StatusCode {
    hits.fetch_add(1, Ordering::SeqCst);
    StatusCode::NOT_FOUND
}

async fn binary(State(hits): State<Hits>) -> Vec<u8> {
    hits.fetch_add(1, Ordering::SeqCst);
    vec![0xff, 0xfe, 0x00, 0x41]
}

async fn empty(State(hits): State<Hits>) -> &'static str {
    hits.fetch_add(1, Ordering::SeqCst);
    " \n"
}

struct Server {
    addr: SocketAddr,
    hits: Hits,
    client: reqwest::Client,
}

impl Server {
    async fn start() -> Server {
        let hits = Hits::default();
        let app = Router::new()
            .route("/token", get(token))
            .route("/flaky", get(flaky))
            .route("/long", get(long))
            .route("/huge", get(huge))
            .route("/slow", get(slow))
            .route("/missing", get(missing))
            .route("/binary", get(binary))
            .route("/empty", get(empty))
            .with_state(hits.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        Server { addr, hits, client }
    }

    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://{}{path}", self.addr)).unwrap()
    }

    async fn fetch(&self, path: &str) -> Result<String, AcmeError> {
        acme::fetch_txt(&self.client, &self.url(path), &limits()).await
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// The original's limits with short times, so the tests take well under a second.
fn limits() -> AcmeLimits {
    AcmeLimits {
        timeout: Duration::from_millis(200),
        pause: Duration::from_millis(50),
        ..AcmeLimits::default()
    }
}

#[test]
fn the_default_limits_are_the_originals() {
    let limits = AcmeLimits::default();
    assert_eq!(limits.timeout, Duration::from_secs(5));
    assert_eq!(limits.attempts, 3);
    assert_eq!(limits.pause, Duration::from_secs(1));
    assert_eq!(limits.max_read, 2048);
    assert_eq!(limits.max_text, 512);
}

#[tokio::test]
async fn the_text_is_trimmed() {
    let server = Server::start().await;
    let text = server.fetch("/token").await.unwrap();
    assert_eq!(text, "gfj9Xq-Rp_4Lq1sW8y3K2m5N7v0bZ6cT1dE9hJ4kA2s");
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn whitespace_only_is_an_empty_text() {
    let server = Server::start().await;
    assert_eq!(server.fetch("/empty").await.unwrap(), "");
}

#[tokio::test]
async fn server_errors_are_retried_until_the_third_attempt() {
    let server = Server::start().await;
    let text = server.fetch("/flaky").await.unwrap();
    assert_eq!(text, "third time lucky");
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn a_status_error_after_every_attempt_names_the_status_and_the_url() {
    let server = Server::start().await;
    let error = server.fetch("/missing").await.unwrap_err();
    assert!(
        matches!(error, AcmeError::Status { status: 404, .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!("{} answered HTTP 404", server.url("/missing"))
    );
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn a_body_over_512_bytes_is_too_long() {
    let server = Server::start().await;
    let error = server.fetch("/long").await.unwrap_err();
    assert!(
        matches!(
            error,
            AcmeError::TooLong {
                bytes: 600,
                max: 512,
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("600 bytes, more than 512"), "{message}");
    assert!(message.contains("/long"), "{message}");
    assert_eq!(server.hits(), 1, "the content is the answer: no retry");
}

#[tokio::test]
async fn reading_stops_at_max_read() {
    let server = Server::start().await;
    let error = server.fetch("/huge").await.unwrap_err();
    assert!(
        matches!(error, AcmeError::TooLong { bytes: 2048, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_slow_server_times_out_after_every_attempt() {
    let server = Server::start().await;
    let started = tokio::time::Instant::now();
    let error = server.fetch("/slow").await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(error, AcmeError::Timeout { .. }), "{error:?}");
    assert!(error.to_string().contains("/slow"), "{error}");
    assert_eq!(server.hits(), 3);
    // Three timeouts of 200 ms and two pauses of 50 ms.
    assert!(elapsed >= Duration::from_millis(700), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_rejected() {
    let server = Server::start().await;
    let error = server.fetch("/binary").await.unwrap_err();
    assert!(matches!(error, AcmeError::NotUtf8 { .. }), "{error:?}");
    assert!(error.to_string().contains("/binary"), "{error}");
}

#[tokio::test]
async fn a_refused_connection_is_a_connection_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = Url::parse(&format!("http://{addr}/token")).unwrap();

    let error = acme::fetch_txt(&client, &url, &limits()).await.unwrap_err();
    assert!(matches!(error, AcmeError::Connection { .. }), "{error:?}");
    assert!(error.to_string().contains(&addr.to_string()), "{error}");
}
