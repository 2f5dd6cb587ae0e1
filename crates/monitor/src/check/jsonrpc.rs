//! JSON-RPC 2.0 clients for the checks: over one WebSocket (Substrate, Ethereum `ws://`)
//! and over HTTP POST (Ethereum `http://`). Every answer is read within a limit; a JSON-RPC
//! error object fails the step with its message.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use url::Url;

use super::connect::{self, Io};
use crate::outcome::{Failure, Reason};

/// A JSON-RPC session: over a WebSocket or as HTTP requests.
pub(crate) enum Rpc {
    /// One WebSocket for every call.
    Ws {
        socket: Box<WebSocketStream<Box<dyn Io>>>,
        read_timeout: Duration,
        next_id: u64,
    },
    /// One POST per call.
    Http {
        client: reqwest::Client,
        url: Url,
        next_id: u64,
    },
}

impl Rpc {
    /// Opens a WebSocket to `url` through `addr` (the member's address), presenting the
    /// URL's host in the handshake and as SNI.
    pub(crate) async fn websocket(
        tls: Arc<rustls::ClientConfig>,
        url: &Url,
        addr: SocketAddr,
        connect_timeout: Duration,
        read_timeout: Duration,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Rpc, Failure> {
        let secure = url.scheme() == "wss" || url.scheme() == "https";
        let host = url.host_str().unwrap_or_default();
        let started = tokio::time::Instant::now();
        let stream = connect::stream(tls, addr, secure, host, connect_timeout, now).await?;
        let mut ws_url = url.clone();
        // `ws`/`wss` in the request line whatever the configured scheme says.
        let scheme = if secure { "wss" } else { "ws" };
        ws_url.set_scheme(scheme).ok();
        let request = ws_url
            .as_str()
            .into_client_request()
            .map_err(|e| Failure::new(Reason::Config, format!("bad WebSocket URL {url}: {e}")))?;
        let left = connect_timeout.saturating_sub(started.elapsed());
        let handshake = tokio_tungstenite::client_async(request, stream);
        let (socket, _) = tokio::time::timeout(left, handshake)
            .await
            .map_err(|_| {
                Failure::new(
                    Reason::Timeout,
                    format!("no WebSocket handshake within {connect_timeout:?}"),
                )
            })?
            .map_err(|e| {
                Failure::new(Reason::Protocol, format!("WebSocket handshake failed: {e}"))
            })?;
        Ok(Rpc::Ws {
            socket: Box::new(socket),
            read_timeout,
            next_id: 0,
        })
    }

    /// Calls over HTTP POST to `url`, connecting to `addr` whatever DNS says.
    pub(crate) fn http(
        tls: &rustls::ClientConfig,
        url: &Url,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<Rpc, Failure> {
        let (client, url) = http_client(tls, url, addr, timeout)?;
        Ok(Rpc::Http {
            client,
            url,
            next_id: 0,
        })
    }

    /// Calls `method` with `params`; the `result`, or why there is none.
    pub(crate) async fn call(&mut self, method: &str, params: Value) -> Result<Value, Failure> {
        match self {
            Rpc::Ws {
                socket,
                read_timeout,
                next_id,
            } => {
                *next_id += 1;
                let id = *next_id;
                let request =
                    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
                socket
                    .send(Message::Text(request.to_string().into()))
                    .await
                    .map_err(|e| {
                        Failure::new(Reason::Protocol, format!("{method}: cannot send: {e}"))
                    })?;
                let answer = read_answer(socket, id, *read_timeout, method).await?;
                result_of(method, answer)
            }
            Rpc::Http {
                client,
                url,
                next_id,
            } => {
                *next_id += 1;
                let request =
                    json!({"jsonrpc": "2.0", "id": *next_id, "method": method, "params": params});
                let response = client
                    .post(url.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(request.to_string())
                    .send()
                    .await
                    .map_err(|e| http_failure(method, &e))?;
                let status = response.status();
                if !status.is_success() {
                    return Err(Failure::new(
                        Reason::Protocol,
                        format!("{method}: HTTP status {status}"),
                    ));
                }
                let body = response
                    .bytes()
                    .await
                    .map_err(|e| http_failure(method, &e))?;
                let answer: Value = serde_json::from_slice(&body).map_err(|e| {
                    Failure::new(
                        Reason::Protocol,
                        format!("{method}: the answer is not JSON: {e}"),
                    )
                })?;
                result_of(method, answer)
            }
        }
    }

    /// Closes a WebSocket politely (best effort).
    pub(crate) async fn close(self) {
        if let Rpc::Ws { mut socket, .. } = self {
            let _ = tokio::time::timeout(Duration::from_millis(200), socket.close()).await;
        }
    }
}

/// Reads frames until the answer with `id`; pings and notifications are skipped.
async fn read_answer(
    socket: &mut WebSocketStream<Box<dyn Io>>,
    id: u64,
    limit: Duration,
    method: &str,
) -> Result<Value, Failure> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .map_err(|_| {
                Failure::new(
                    Reason::Timeout,
                    format!("{method}: no answer within {limit:?}"),
                )
            })?;
        let text = match frame {
            None | Some(Ok(Message::Close(_))) => {
                return Err(Failure::new(
                    Reason::Protocol,
                    format!("{method}: the server closed the connection"),
                ));
            }
            Some(Err(error)) => {
                return Err(Failure::new(Reason::Protocol, format!("{method}: {error}")));
            }
            Some(Ok(Message::Text(text))) => text.as_str().to_owned(),
            Some(Ok(Message::Binary(bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
            Some(Ok(_)) => continue,
        };
        let value: Value = serde_json::from_str(&text).map_err(|e| {
            Failure::new(
                Reason::Protocol,
                format!("{method}: the answer is not JSON: {e}"),
            )
        })?;
        if value.get("id").and_then(Value::as_u64) == Some(id) {
            return Ok(value);
        }
    }
}

/// The `result` of a JSON-RPC answer, or its `error` in words.
fn result_of(method: &str, answer: Value) -> Result<Value, Failure> {
    if let Some(error) = answer.get("error").filter(|e| !e.is_null()) {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("(no message)");
        let code = error.get("code").map(Value::to_string).unwrap_or_default();
        return Err(Failure::new(
            Reason::RpcError,
            format!("{method}: RPC error {code}: {message}"),
        ));
    }
    answer.get("result").cloned().ok_or_else(|| {
        Failure::new(
            Reason::Protocol,
            format!("{method}: the answer has no result"),
        )
    })
}

fn http_failure(method: &str, error: &reqwest::Error) -> Failure {
    let Failure(reason, text) = reqwest_failure(error);
    Failure(reason, format!("{method}: {text}"))
}

/// A reqwest error as a check failure: the reason from its kind, the text with every
/// cause (reqwest's own text rarely says what went wrong underneath).
pub(crate) fn reqwest_failure(error: &reqwest::Error) -> Failure {
    let reason = if error.is_timeout() {
        Reason::Timeout
    } else if error.is_connect() {
        Reason::Connect
    } else {
        Reason::Protocol
    };
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text.push_str(&format!(": {inner}"));
        source = inner.source();
    }
    Failure::new(reason, text)
}

/// An HTTP client that sends every request for `url`'s host to `addr`, with the checks'
/// trust roots, no redirects and no proxy; and the URL to request (an IP literal host is
/// replaced by the member's address, so the request never goes elsewhere).
pub(crate) fn http_client(
    tls: &rustls::ClientConfig,
    url: &Url,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<(reqwest::Client, Url), Failure> {
    let mut url = url.clone();
    match url.scheme() {
        "ws" => url.set_scheme("http").ok(),
        "wss" => url.set_scheme("https").ok(),
        _ => Some(()),
    };
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls.clone())
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("geodns-monitor/", env!("CARGO_PKG_VERSION")));
    match url.host() {
        Some(url::Host::Domain(host)) => {
            let host = host.to_owned();
            builder = builder.resolve(&host, addr);
        }
        _ => {
            url.set_ip_host(addr.ip()).ok();
        }
    }
    url.set_port(Some(addr.port())).ok();
    let client = builder
        .build()
        .map_err(|e| Failure::new(Reason::Config, format!("cannot make an HTTP client: {e}")))?;
    Ok((client, url))
}
