//! A fake HTTP(S) health endpoint: every request on any path gets the configured status
//! and body (`application/json` when the body is JSON), switchable at run time, or, when
//! hanging, is read and never answered.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncWrite};

use super::common::{ANY_LOOPBACK_PORT, Observed, Seen, SeenHandle, Serving, lock};
use super::http1::{hold_until_closed, read_request, write_response};

/// A running fake HTTP endpoint on 127.0.0.1; it stops when dropped.
#[derive(Debug)]
pub struct HttpEndpoint {
    serving: Serving,
    shared: Arc<Shared>,
}

impl HttpEndpoint {
    /// A plain `http://` endpoint answering `status` and `body`.
    pub async fn start(status: u16, body: &str) -> HttpEndpoint {
        HttpEndpoint::start_with(status, body, None).await
    }

    /// An `https://` endpoint presenting `config`'s certificate.
    pub async fn start_tls(
        status: u16,
        body: &str,
        config: Arc<rustls::ServerConfig>,
    ) -> HttpEndpoint {
        HttpEndpoint::start_with(status, body, Some(config)).await
    }

    async fn start_with(
        status: u16,
        body: &str,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> HttpEndpoint {
        let shared = Arc::new(Shared {
            seen: Arc::new(Mutex::new(Seen::default())),
            state: Mutex::new(State {
                status,
                body: body.to_owned(),
                hang: false,
                requests: 0,
            }),
        });
        let serving = Serving::start_maybe_tls(
            (ANY_LOOPBACK_PORT, tls),
            Arc::clone(&shared),
            Arc::clone(&shared.seen),
            |stream, shared| async move { serve(stream, &shared).await },
        )
        .await
        .expect("bind a fake provider on 127.0.0.1");
        HttpEndpoint { serving, shared }
    }

    /// Answers `status` and `body` from the next request on.
    pub fn set(&self, status: u16, body: &str) {
        let mut state = lock(&self.shared.state);
        state.status = status;
        state.body = body.to_owned();
    }

    /// While `true`, requests are read and never answered (the connection stays open until
    /// the client closes it).
    pub fn set_hang(&self, hang: bool) {
        lock(&self.shared.state).hang = hang;
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.serving.addr()
    }

    /// How many requests were read (answered or not).
    pub fn requests(&self) -> usize {
        lock(&self.shared.state).requests
    }
}

/// What the accept loop and the handle share.
#[derive(Debug)]
struct Shared {
    seen: SeenHandle,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    status: u16,
    body: String,
    hang: bool,
    requests: usize,
}

async fn serve<S>(mut stream: S, shared: &Shared)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    {
        let mut seen = lock(&shared.seen);
        seen.host = request.header("host").map(str::to_owned);
        seen.path = Some(request.target.clone());
    }
    let (status, body, hang) = {
        let mut state = lock(&shared.state);
        state.requests += 1;
        (state.status, state.body.clone(), state.hang)
    };
    if hang {
        hold_until_closed(&mut stream).await;
    } else {
        write_response(&mut stream, status, &body).await;
    }
}

impl Observed for HttpEndpoint {
    fn seen(&self) -> &SeenHandle {
        &self.shared.seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::pki::{TestPki, Validity};
    use crate::providers::test_client::{http_plain, http_request, tls_connect};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    const HEALTHY: &str = r#"{"status":"ok"}"#;

    #[tokio::test]
    async fn answers_the_configured_status_and_body_on_any_path() {
        let endpoint = HttpEndpoint::start(200, HEALTHY).await;
        let mut stream = TcpStream::connect(endpoint.addr()).await.expect("connect");
        let request = "GET /health?deep=1 HTTP/1.1\r\nHost: api.test.example\r\n\r\n";
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("receive");
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(
            response.contains("Content-Type: application/json\r\n"),
            "{response}"
        );
        assert!(response.ends_with(HEALTHY), "{response}");
        assert_eq!(endpoint.last_host().as_deref(), Some("api.test.example"));
        assert_eq!(endpoint.last_path().as_deref(), Some("/health?deep=1"));

        endpoint.set(503, "maintenance");
        let answer = http_plain(endpoint.addr(), "GET", "api.test.example", "/other", "").await;
        assert_eq!(answer, (503, "maintenance".to_owned()));
        assert_eq!(endpoint.last_path().as_deref(), Some("/other"));
        assert_eq!(endpoint.requests(), 2);
    }

    #[tokio::test]
    async fn a_hanging_endpoint_reads_the_request_and_never_answers() {
        let endpoint = HttpEndpoint::start(200, HEALTHY).await;
        endpoint.set_hang(true);
        let mut stream = TcpStream::connect(endpoint.addr()).await.expect("connect");
        let request = "GET / HTTP/1.1\r\nHost: api.test.example\r\n\r\n";
        stream.write_all(request.as_bytes()).await.expect("send");
        // The endpoint holds the connection until we close our side, then closes silently.
        stream.shutdown().await.expect("half-close");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("receive");
        assert!(response.is_empty());
        assert_eq!(endpoint.requests(), 1);

        endpoint.set_hang(false);
        let answer = http_plain(endpoint.addr(), "GET", "api.test.example", "/", "").await;
        assert_eq!(answer, (200, HEALTHY.to_owned()));
    }

    #[tokio::test]
    async fn https_records_the_sni_and_the_host() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let pki = TestPki::new(dir.path());
        let config = pki.server_config(&["api.test.example"], Validity::VALID);
        let endpoint = HttpEndpoint::start_tls(200, HEALTHY, config).await;
        let mut stream = tls_connect(endpoint.addr(), &pki, "api.test.example")
            .await
            .expect("TLS handshake");
        let answer = http_request(&mut stream, "GET", "api.test.example", "/", "").await;
        assert_eq!(answer, (200, HEALTHY.to_owned()));
        assert_eq!(endpoint.last_sni().as_deref(), Some("api.test.example"));
        assert_eq!(endpoint.last_host().as_deref(), Some("api.test.example"));
    }
}
