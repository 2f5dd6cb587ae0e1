//! Real clients for the fake providers' own tests: TLS that trusts a [`TestPki`] CA and
//! verifies like the monitor will, hand-written HTTP/1.1 requests, and WebSocket JSON-RPC.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::pki::TestPki;

/// Connects to `addr` and does a verifying TLS handshake for `server_name`.
pub(crate) async fn tls_connect(
    addr: SocketAddr,
    pki: &TestPki,
    server_name: &str,
) -> io::Result<TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der()).expect("the CA certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(server_name.to_owned()).expect("a server name");
    let stream = TcpStream::connect(addr).await?;
    connector.connect(name, stream).await
}

/// The rustls certificate error inside a failed handshake's I/O error.
pub(crate) fn certificate_error(error: &io::Error) -> Option<&rustls::CertificateError> {
    match error.get_ref()?.downcast_ref::<rustls::Error>()? {
        rustls::Error::InvalidCertificate(certificate) => Some(certificate),
        _ => None,
    }
}

/// Sends one HTTP/1.1 request and reads the whole response: `(status, body)`.
pub(crate) async fn http_request<S>(
    stream: &mut S,
    method: &str,
    host: &str,
    path: &str,
    body: &str,
) -> (u16, String)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("receive");
    let response = String::from_utf8(response).expect("UTF-8");
    let (head, body) = response.split_once("\r\n\r\n").expect("a response head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .expect("a status");
    (status, body.to_owned())
}

/// Plain HTTP to `addr`, presenting `host`.
pub(crate) async fn http_plain(
    addr: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    http_request(&mut stream, method, host, path, body).await
}

/// A WebSocket client over `stream` for `url` (its host becomes the `Host` header).
pub(crate) async fn ws_connect<S>(stream: S, url: &str) -> WebSocketStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (socket, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("WebSocket handshake");
    socket
}

/// A plain WebSocket client to `addr` presenting `ws://HOST/PATH`.
pub(crate) async fn ws_plain(addr: SocketAddr, url: &str) -> WebSocketStream<TcpStream> {
    ws_connect(TcpStream::connect(addr).await.expect("connect"), url).await
}

/// Sends `request` and waits for the next text message, parsed. `None` if the server closed.
pub(crate) async fn ws_call<S>(socket: &mut WebSocketStream<S>, request: &Value) -> Option<Value>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    socket.send(Message::text(request.to_string())).await.ok()?;
    loop {
        match socket.next().await? {
            Ok(Message::Text(text)) => return Some(serde_json::from_str(&text).expect("JSON")),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

/// A JSON-RPC 2.0 call object.
pub(crate) fn call(id: u64, method: &str, params: Value) -> Value {
    serde_json::json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
}

/// The `result` of a call over WebSocket, or a panic naming the error.
pub(crate) async fn ws_result<S>(
    socket: &mut WebSocketStream<S>,
    method: &str,
    params: Value,
) -> Value
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let answer = ws_call(socket, &call(1, method, params))
        .await
        .expect("an answer");
    assert_eq!(answer["id"], 1, "{answer}");
    answer
        .get("result")
        .cloned()
        .unwrap_or_else(|| panic!("{method} failed: {answer}"))
}
