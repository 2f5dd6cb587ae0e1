//! The API's own accept loop (axum 0.8's `serve` sets no header timeout and no
//! connection cap): every connection takes a slot (a global cap, per client address and
//! per client network, refused at once over a cap and counted), a TLS handshake must end
//! within [`Limits::handshake`], request headers must arrive within
//! [`Limits::header_timeout`] (hyper's HTTP/1 timer), a request must be answered
//! within [`Limits::request_timeout`] (a body trickled in included: 408), and a
//! connection is closed gracefully after [`Limits::lifetime`] or at shutdown.
//!
//! Each request carries the peer's address as `axum::extract::ConnectInfo<SocketAddr>`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use geodns_core::config::ApiSection;
use geodns_node::Tasks;
use geodns_node::slots::{Caps, Slots};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// How long a connection closing gracefully may take to finish its requests.
const DRAIN: Duration = Duration::from_secs(5);

/// The limits of the listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connection caps.
    pub caps: Caps,
    /// Request headers must arrive within this.
    pub header_timeout: Duration,
    /// A request must be answered within this.
    pub request_timeout: Duration,
    /// A connection is closed after this.
    pub lifetime: Duration,
    /// A TLS handshake must end within this.
    pub handshake: Duration,
}

impl Limits {
    /// The limits `[api]` sets.
    pub fn of(api: &ApiSection) -> Limits {
        Limits {
            caps: Caps {
                total: api.max_connections as usize,
                per_client: api.per_client as usize,
                per_network: api.per_network as usize,
            },
            header_timeout: api.header_timeout,
            request_timeout: api.request_timeout,
            lifetime: api.connection_lifetime,
            handshake: api.header_timeout.max(Duration::from_secs(5)),
        }
    }
}

/// Serves `app` on `listener` (over TLS with `tls`) until the token of `tasks` is
/// cancelled, each connection a task of `tasks`, taking a slot of `slots`.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    (slots, limits): (Slots, Limits),
    tasks: Tasks,
) {
    let app = app.layer(tower_http::timeout::TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        limits.request_timeout,
    ));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(64 << 10);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(64);
    let acceptor = tls.map(TlsAcceptor::from);
    let shutdown = tasks.token().clone();
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::debug!(%error, "API accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let slot = match slots.take(peer.ip()) {
            Ok(slot) => slot,
            Err(why) => {
                tracing::debug!(%peer, cap = why.as_str(), "API connection refused: too many open");
                continue;
            }
        };
        let connection = Connection {
            builder: builder.clone(),
            app: app.clone(),
            peer,
            limits,
            shutdown: shutdown.clone(),
        };
        let acceptor = acceptor.clone();
        tasks.spawn("api: connection", async move {
            connection.run(stream, acceptor).await;
            drop(slot);
        });
    }
}

/// One accepted connection.
struct Connection {
    builder: auto::Builder<TokioExecutor>,
    app: Router,
    peer: SocketAddr,
    limits: Limits,
    shutdown: CancellationToken,
}

impl Connection {
    async fn run(self, stream: TcpStream, acceptor: Option<TlsAcceptor>) {
        let Some(acceptor) = acceptor else {
            return self.http(stream).await;
        };
        let peer = self.peer;
        let handshake = tokio::select! {
            () = self.shutdown.cancelled() => return,
            done = tokio::time::timeout(self.limits.handshake, acceptor.accept(stream)) => done,
        };
        match handshake {
            Ok(Ok(tls)) => self.http(tls).await,
            Ok(Err(error)) => tracing::debug!(%peer, %error, "API TLS handshake failed"),
            Err(_) => tracing::debug!(%peer, "API TLS handshake timed out"),
        }
    }

    /// Serves HTTP on `io` until the client leaves, the lifetime ends or shutdown.
    async fn http<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (app, peer) = (self.app, self.peer);
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request.map(axum::body::Body::new))
        });
        let connection = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(io), service);
        tokio::pin!(connection);
        let ended = tokio::select! {
            served = connection.as_mut() => Some(served),
            () = self.shutdown.cancelled() => None,
            () = tokio::time::sleep(self.limits.lifetime) => None,
        };
        if let Some(Err(error)) = ended {
            tracing::debug!(%peer, %error, "API connection ended");
            return;
        }
        if ended.is_none() {
            connection.as_mut().graceful_shutdown();
            tokio::time::timeout(DRAIN, connection).await.ok();
        }
    }
}
