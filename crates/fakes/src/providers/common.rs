//! What every fake provider shares: the accept loop that owns its connections (all of them
//! stop when the server handle drops), what a server last saw from a client (SNI, `Host`,
//! request target), the TLS accept that records SNI before the handshake can fail, the
//! WebSocket accept that records the upgrade request, and JSON-RPC 2.0 framing.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

/// Locks a provider's state; a test that panicked while holding it has already failed, so
/// the state is used as it is.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a server last saw from a client, so a test can assert that a check connected to
/// 127.0.0.1 while presenting the public hostname.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// The server name in the last TLS ClientHello (recorded even if the handshake failed).
    pub(crate) sni: Option<String>,
    /// The `Host` header of the last HTTP request or WebSocket upgrade.
    pub(crate) host: Option<String>,
    /// The request target (path and query) of the last HTTP request or WebSocket upgrade.
    pub(crate) path: Option<String>,
}

/// Shared, switchable record of [`Seen`].
pub type SeenHandle = Arc<Mutex<Seen>>;

/// A fake provider that records what clients presented (SNI, `Host`, request target).
pub trait Observed {
    /// The record its accept code keeps.
    fn seen(&self) -> &SeenHandle;

    /// The `Host` header of the last HTTP request or WebSocket upgrade.
    fn last_host(&self) -> Option<String> {
        lock(self.seen()).host.clone()
    }

    /// The request target (path and query) of the last HTTP request or WebSocket upgrade.
    fn last_path(&self) -> Option<String> {
        lock(self.seen()).path.clone()
    }

    /// The server name of the last TLS ClientHello, also when the handshake then failed
    /// (TLS listeners only).
    fn last_sni(&self) -> Option<String> {
        lock(self.seen()).sni.clone()
    }
}

/// 127.0.0.1, any port.
pub(crate) const ANY_LOOPBACK_PORT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// A running accept loop on a loopback address. Dropping it aborts the loop, and with it every
/// connection task (they live in the loop's `JoinSet`).
#[derive(Debug)]
pub(crate) struct Serving {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Serving {
    /// Binds 127.0.0.1:0 and runs `connection` for every accepted TCP stream.
    pub(crate) async fn start<F, Fut>(connection: F) -> Serving
    where
        F: FnMut(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Serving::start_at(ANY_LOOPBACK_PORT, connection)
            .await
            .expect("bind a fake provider on 127.0.0.1")
    }

    /// Binds `addr` (a loopback address) and runs `connection` for every accepted TCP
    /// stream.
    pub(crate) async fn start_at<F, Fut>(
        addr: SocketAddr,
        mut connection: F,
    ) -> std::io::Result<Serving>
    where
        F: FnMut(TcpStream) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => {
                            connections.spawn(connection(stream));
                        }
                        // Out of descriptors or similar: wait a little rather than spin.
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    },
                    Some(_) = connections.join_next() => {}
                }
            }
        });
        Ok(Serving { addr, task })
    }

    /// Like [`Serving::start`], for a server that speaks TLS when given `tls` (recording
    /// the SNI in `seen`) and plain TCP otherwise: `serve` gets either stream, boxed, with
    /// the server's `shared` state.
    pub(crate) async fn start_maybe_tls<T, F, Fut>(
        (addr, tls): (SocketAddr, Option<Arc<rustls::ServerConfig>>),
        shared: Arc<T>,
        seen: SeenHandle,
        serve: F,
    ) -> std::io::Result<Serving>
    where
        T: Send + Sync + 'static,
        F: Fn(ClientStream, Arc<T>) -> Fut + Copy + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Serving::start_at(addr, move |stream| {
            let (tls, shared, seen) = (tls.clone(), Arc::clone(&shared), Arc::clone(&seen));
            async move {
                let stream: ClientStream = match tls {
                    Some(config) => match accept_tls(config, stream, &seen).await {
                        Some(stream) => Box::new(stream),
                        None => return,
                    },
                    None => Box::new(stream),
                };
                serve(stream, shared).await;
            }
        })
        .await
    }

    /// Where clients connect.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A client's byte stream, TLS or plain.
pub(crate) type ClientStream = Box<dyn ClientIo>;

/// What a client stream can do.
pub(crate) trait ClientIo: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> ClientIo for T {}

impl Drop for Serving {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads the ClientHello, records its SNI, then completes the handshake with `config`.
/// `None` when the client went away or the handshake failed (e.g. the client rejected the
/// certificate).
pub(crate) async fn accept_tls(
    config: Arc<rustls::ServerConfig>,
    stream: TcpStream,
    seen: &SeenHandle,
) -> Option<TlsStream<TcpStream>> {
    let acceptor = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
    let start = acceptor.await.ok()?;
    let sni = start.client_hello().server_name().map(str::to_owned);
    lock(seen).sni = sni;
    start.into_stream(config).await.ok()
}

/// Completes a WebSocket handshake, recording the upgrade request's `Host` and target.
pub(crate) async fn accept_websocket<S>(stream: S, seen: &SeenHandle) -> Option<WebSocketStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let seen = Arc::clone(seen);
    // The signature is tungstenite's `Callback`; its error type is not ours to shrink.
    #[allow(clippy::result_large_err)]
    let record = move |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let mut seen = lock(&seen);
        seen.host = request
            .headers()
            .get("host")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        seen.path = request
            .uri()
            .path_and_query()
            .map(|target| target.to_string());
        Ok(response)
    };
    tokio_tungstenite::accept_hdr_async(stream, record)
        .await
        .ok()
}

/// A JSON-RPC error object.
#[derive(Debug, Clone)]
pub(crate) struct RpcError {
    pub(crate) code: i64,
    pub(crate) message: String,
}

impl RpcError {
    /// `-32601 Method not found`.
    pub(crate) fn method_not_found() -> RpcError {
        RpcError {
            code: -32601,
            message: "Method not found".to_owned(),
        }
    }

    /// `-32602 Invalid params`.
    pub(crate) fn invalid_params() -> RpcError {
        RpcError {
            code: -32602,
            message: "Invalid params".to_owned(),
        }
    }

    /// `-32000 node is overloaded`: what the broken providers answer to every call.
    pub(crate) fn overloaded() -> RpcError {
        RpcError {
            code: -32000,
            message: "node is overloaded".to_owned(),
        }
    }
}

/// Answers one JSON-RPC 2.0 message (a single call or a batch) with `dispatch(method,
/// params)`. `None` when there is nothing to send back (only notifications).
pub(crate) fn answer_rpc(
    text: &str,
    dispatch: &mut dyn FnMut(&str, &Value) -> Result<Value, RpcError>,
) -> Option<String> {
    let Ok(message) = serde_json::from_str::<Value>(text) else {
        return Some(error_reply(Value::Null, -32700, "Parse error").to_string());
    };
    match message {
        Value::Array(calls) if !calls.is_empty() => {
            let answers: Vec<Value> = calls
                .iter()
                .filter_map(|call| answer_call(call, dispatch))
                .collect();
            (!answers.is_empty()).then(|| Value::Array(answers).to_string())
        }
        call => answer_call(&call, dispatch).map(|answer| answer.to_string()),
    }
}

fn answer_call(
    call: &Value,
    dispatch: &mut dyn FnMut(&str, &Value) -> Result<Value, RpcError>,
) -> Option<Value> {
    let Some(object) = call.as_object() else {
        return Some(error_reply(Value::Null, -32600, "Invalid Request"));
    };
    let id = object.get("id").cloned();
    let Some(method) = object.get("method").and_then(Value::as_str) else {
        return Some(error_reply(
            id.unwrap_or(Value::Null),
            -32600,
            "Invalid Request",
        ));
    };
    let params = object.get("params").cloned().unwrap_or(json!([]));
    let outcome = dispatch(method, &params);
    // A call without an id is a notification: it gets no answer.
    let id = id?;
    Some(match outcome {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err(error) => error_reply(id, error.code, &error.message),
    })
}

fn error_reply(id: Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

/// `0x`-prefixed lower-case hex, as Ethereum and Substrate write quantities.
pub(crate) fn hex_quantity(value: u64) -> String {
    format!("{value:#x}")
}
