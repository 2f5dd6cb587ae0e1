//! A minimal HTTP/1.1 server side for the fake providers: read one request (headers and a
//! `Content-Length` or chunked body), write one response with `Connection: close`. One
//! request per connection keeps the servers simple; clients see the close and reconnect.

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};

/// Requests larger than this (headers or body) are dropped.
const MAX_SIZE: usize = 1 << 20;
/// More header lines than this and the request is dropped.
const MAX_HEADERS: usize = 100;

/// One parsed request.
#[derive(Debug)]
pub(crate) struct HttpRequest {
    pub(crate) method: String,
    /// Path and query, as sent.
    pub(crate) target: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl HttpRequest {
    /// The first header named `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Reads one request; `None` if the client closed or sent something that is not HTTP/1.x.
pub(crate) async fn read_request<S>(stream: &mut S) -> Option<HttpRequest>
where
    S: AsyncRead + Unpin,
{
    let mut reader = BufReader::new(stream);
    let request_line = read_line(&mut reader).await?;
    let mut parts = request_line.split_ascii_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let line = read_line(&mut reader).await?;
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return None;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let mut request = HttpRequest {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|value| value.to_ascii_lowercase().contains("chunked"));
    if chunked {
        request.body = read_chunked(&mut reader).await?;
    } else if let Some(length) = request.header("content-length") {
        let length: usize = length.parse().ok()?;
        if length > MAX_SIZE {
            return None;
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await.ok()?;
        request.body = body;
    }
    Some(request)
}

/// Writes a complete response and shuts the write side (a TLS close_notify on TLS).
pub(crate) async fn write_response<S>(stream: &mut S, status: u16, body: &str)
where
    S: AsyncWrite + Unpin,
{
    let content_type =
        if !body.is_empty() && serde_json::from_str::<serde_json::Value>(body).is_ok() {
            "Content-Type: application/json\r\n"
        } else if body.is_empty() {
            ""
        } else {
            "Content-Type: text/plain; charset=utf-8\r\n"
        };
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Length: {}\r\n{content_type}Connection: close\r\n\r\n",
        reason(status),
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
}

/// Reads and discards until the client closes: a server that took the request and never
/// answers.
pub(crate) async fn hold_until_closed<S>(stream: &mut S)
where
    S: AsyncRead + Unpin,
{
    let _ = tokio::io::copy(stream, &mut tokio::io::sink()).await;
}

async fn read_line<R>(reader: &mut R) -> Option<String>
where
    R: AsyncBufRead + Unpin,
{
    let mut line = Vec::new();
    let read = (&mut *reader)
        .take(MAX_SIZE as u64)
        .read_until(b'\n', &mut line)
        .await
        .ok()?;
    if read == 0 || !line.ends_with(b"\n") {
        return None;
    }
    let line = String::from_utf8(line).ok()?;
    Some(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn read_chunked<R>(reader: &mut R) -> Option<Vec<u8>>
where
    R: AsyncBufRead + Unpin,
{
    let mut body = Vec::new();
    loop {
        let size_line = read_line(reader).await?;
        let size = size_line.split(';').next()?.trim();
        let size = usize::from_str_radix(size, 16).ok()?;
        if size == 0 {
            // Trailers, up to the blank line.
            while !read_line(reader).await?.is_empty() {}
            return Some(body);
        }
        if body.len() + size > MAX_SIZE {
            return None;
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).await.ok()?;
        if !read_line(reader).await?.is_empty() {
            return None;
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}
